package web

import (
	"context"
	"time"

	"github.com/crosstalk-im/crosstalk/store"
)

// DefaultInviteLifetime is how long an invite code is good for when its
// maker does not say.
const DefaultInviteLifetime = 7 * 24 * time.Hour

// Invite is a new invite code; only its hash is kept.
type Invite struct {
	Code    string
	Uses    int
	Expires time.Time
}

// NewInvite makes an invite code good for uses sign-ups within validFor.
func NewInvite(ctx context.Context, st store.Store, uses int, validFor time.Duration) (Invite, error) {
	inv := Invite{Code: newToken()[:22], Uses: uses, Expires: time.Now().Add(validFor).Truncate(time.Second)}
	return inv, st.CreateInvite(ctx, hashToken(inv.Code), uses, inv.Expires)
}
