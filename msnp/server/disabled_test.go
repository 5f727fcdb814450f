package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/crosstalk-im/crosstalk/msnp/passport"
)

// Passport's login server gives a disabled account no ticket, whose
// password is right; enabled again, it gets one.
func TestPassportRefusesDisabledAccount(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	login := httptest.NewServer(env.srv.PassportHandler())
	defer login.Close()
	ctx := context.Background()
	for _, disabled := range []bool{true, false} {
		if err := env.store.SetDisabled(ctx, a.Number, disabled); err != nil {
			t.Fatal(err)
		}
		ticket, err := passportSignIn(login, "alice@example.com", "pa", "MBI")
		if disabled && !errors.Is(err, passport.ErrRefused) {
			t.Fatalf("disabled: ticket %q, %v", ticket, err)
		}
		if !disabled && (err != nil || ticket == "") {
			t.Fatalf("enabled: ticket %q, %v", ticket, err)
		}
	}
}
