package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// An operator's kick and a closed account reach each protocol's client in
// that protocol's terms: MSN hears OTH only for a login elsewhere (a plain
// OUT here), the protocols that carry words carry the reason.
func TestKickReasons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	for _, tc := range []struct {
		reason hub.KickReason
		words  string // what IMIP, SIP and MySpaceIM users are told
	}{
		{hub.KickOperator, "ended by an administrator"},
		{hub.KickAccountClosed, "account closed by an administrator"},
	} {
		t.Run(tc.words, func(t *testing.T) {
			base := 1000 + 10*uint32(tc.reason)
			emails := make([]string, 4)
			for i := range emails {
				emails[i] = fmt.Sprintf("user%d@example.com", base+uint32(i))
				addAccount(t, n, base+uint32(i), emails[i], "User", "pw")
			}
			msn := login(t, ctx, n.MSNPAddr, emails[0], "pw")
			ic, err := imipclient.Dial(ctx, n.IMIPAddr, imipclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ic.Close() })
			if _, err := ic.Login(ctx, fmt.Sprint(base+1), "pw"); err != nil {
				t.Fatal(err)
			}
			sc, err := sipclient.Dial(ctx, n.SIPAddr, sipclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sc.Close() })
			if err := sc.SignIn(ctx, emails[2], "pw"); err != nil {
				t.Fatal(err)
			}
			mc := loginMSIM(t, ctx, n.MSIMAddr, emails[3], "pw")
			for i := range emails {
				n.Hub.KickAll(ctx, base+uint32(i), tc.reason)
			}

			if d := next[client.Disconnected](t, ctx, msn.Events()); d.Reason != "" || !errors.Is(d.Err, client.ErrSignedOut) {
				t.Errorf("MSN: OUT %q, %v", d.Reason, d.Err)
			}
			if d := testenv.Next[imipclient.Disconnected](t, ctx, ic.Events()); d.Reason != tc.words || !errors.Is(d.Err, imipclient.ErrServerDisc) {
				t.Errorf("IMIP: %q, %v", d.Reason, d.Err)
			}
			if d := testenv.Next[sipclient.Deregistered](t, ctx, sc.Events()); d.Reason != tc.words {
				t.Errorf("SIP: deregistered for %q", d.Reason)
			}
			var se *msimclient.ServerError
			d := testenv.Next[msimclient.Disconnected](t, ctx, mc.Events())
			if !errors.As(d.Err, &se) || !errors.Is(d.Err, msimclient.ErrLoggedInElsewhere) || se.Message != "You have been logged out: "+tc.words+"." {
				t.Errorf("MySpaceIM: %v", d.Err)
			}
		})
	}
}
