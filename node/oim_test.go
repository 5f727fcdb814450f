package node

import (
	"context"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
)

// oimService signs in at the token service over HTTPS, as WLM does, and
// returns the offline-IM services with the tickets it issued for them.
func oimService(t *testing.T, ctx context.Context, n *Node, ca, email, password string) *client.OIMService {
	t.Helper()
	hc := passportClient(t, n, ca)
	tokens, err := passport.RequestTokens(ctx, hc, passport.DefaultRST, email, password, []passport.RequestedToken{
		{Address: "messenger.msn.com", Policy: "?id=507"}, {Address: "messengersecure.live.com", Policy: "MBI_SSL"}})
	if err != nil {
		t.Fatal(err)
	}
	return &client.OIMService{HTTP: hc, Ticket: tokens.Tickets["messenger.msn.com"], StoreTicket: tokens.Tickets["messengersecure.live.com"],
		From: email}
}

// TestOfflineIMsAcrossProtocols: the offline-IM services over HTTPS, at
// the host names WLM uses, on the one mailbox: what a GG user leaves for
// an offline MSN user is read with GetMessage and gone once deleted; what
// an MSN client stores with Store2 reaches a GG user, and an MSN 5 user,
// when they log in.
func TestOfflineIMsAcrossProtocols(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, ca := startHTTPSNode(t)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")

	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "")
	if _, err := gary.SendMessage(ctx, 1001, "zostawiam wiadomość"); err != nil {
		t.Fatal(err)
	}
	alice := oimService(t, ctx, n, ca, "alice@example.com", "pa")
	waiting, err := alice.List(ctx)
	if err != nil || len(waiting) != 1 || waiting[0].From != "gary@example.com" {
		t.Fatalf("GetMetadata: %+v %v", waiting, err)
	}
	m, err := alice.Get(ctx, waiting[0].ID)
	if err != nil || m.Text != "zostawiam wiadomość" || m.From != "gary@example.com" || m.FromName != "Gary" {
		t.Fatalf("GetMessage: %+v %v", m, err)
	}
	if err := alice.Delete(ctx, waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	if left, err := n.Store.CountOffline(ctx, 1001); err != nil || left != 0 {
		t.Fatalf("after DeleteMessages alice's mailbox holds %d (%v)", left, err)
	}

	gary.Close()
	// Two messages, the second on the lock key the first one earned.
	for _, text := range []string{"Gary, are you there?", "call me"} {
		if err := alice.Send(ctx, "gary@example.com", text); err != nil {
			t.Fatalf("Store2 %q: %v", text, err)
		}
	}
	if err := alice.Send(ctx, "bob@example.com", "for MSN 5"); err != nil {
		t.Fatal(err)
	}
	gary = loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "")
	for _, want := range []string{"Gary, are you there?", "call me"} {
		if got := nextGG[ggclient.Message](t, ctx, gary); got.From != 1001 || got.Text != want {
			t.Fatalf("gary got %+v, want %q", got, want)
		}
	}
	bob := loginDialect(t, ctx, n, passportClient(t, n, ca), 8, "bob@example.com", "pb")
	ring := next[client.Ring](t, ctx, bob.Events())
	sb, err := bob.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if got := next[client.Message](t, ctx, sb.Events()); got.From != "alice@example.com" || got.Text != "for MSN 5" {
		t.Fatalf("bob got %+v", got)
	}
}
