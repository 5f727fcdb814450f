package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
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
	// The URLs as Pidgin writes them, with a doubled slash.
	return &client.OIMService{HTTP: hc, Ticket: tokens.Tickets["messenger.msn.com"], StoreTicket: tokens.Tickets["messengersecure.live.com"],
		From: email, Retrieval: "https://rsi.hotmail.com//rsi/rsi.asmx", Store: "https://ows.messenger.msn.com//OimWS/oim.asmx"}
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

// signOut closes c and waits until the hub has no session of the
// account left, so that a new login may claim what the old one held.
func signOut(t *testing.T, ctx context.Context, n *Node, c *client.Client, number uint32) {
	t.Helper()
	c.Close()
	for {
		if s, err := n.Hub.Sessions(ctx, number); err == nil && len(s) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("account %d still signed in: %v", number, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// leaveForAlice makes alice (1001) and gary (2001, GG) and has gary leave
// texts for the offline alice; it returns gary's client.
func leaveForAlice(t *testing.T, ctx context.Context, n *Node, texts ...string) *ggclient.Client {
	t.Helper()
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "")
	for _, text := range texts {
		if _, err := gary.SendMessage(ctx, 1001, text); err != nil {
			t.Fatal(err)
		}
	}
	return gary
}

// nextSystem waits for a system message of kind.
func nextSystem(t *testing.T, ctx context.Context, c *client.Client, kind string) client.SystemMessage {
	t.Helper()
	for {
		if sm := next[client.SystemMessage](t, ctx, c.Events()); sm.ContentType == kind {
			return sm
		}
	}
}

// nextMailData waits for a Mail-Data notification of kind and returns
// what it lists.
func nextMailData(t *testing.T, ctx context.Context, c *client.Client, kind string) ([]oim.Entry, bool) {
	t.Helper()
	sm := nextSystem(t, ctx, c, kind)
	entries, tooLarge, err := sm.OfflineMessages()
	if err != nil {
		t.Fatalf("%s: %v\n%s", kind, err, sm.Payload)
	}
	return entries, tooLarge
}

// TestOfflineIMNotifications: an MSNP13+ login is told what waits in the
// mailbox (Mail-Data) instead of being rung with it as chats, fetches it
// from the offline-IM service and deletes it there, which its clients are
// told (active-mail notification); what it does not
// delete is listed again at the next login; a message that reaches the
// mailbox while the client is online is announced on its own; a list
// longer than the server's MaxMailData says too-large, and the service
// lists them all.
func TestOfflineIMNotifications(t *testing.T) {
	for _, d := range []int{13, 15, 18} {
		t.Run(fmt.Sprintf("MSNP%d", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o, ca := httpsOptions(t)
			o.DataDir, o.MSNP = t.TempDir(), msnpserver.Config{MaxMailData: 2}
			n := startNodeWith(t, o)
			hc := passportClient(t, n, ca)
			gary := leaveForAlice(t, ctx, n, "pierwsza", "druga")

			alice := loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			listed, tooLarge := nextMailData(t, ctx, alice, client.ContentInitialMailData)
			if tooLarge || len(listed) != 2 || listed[0].From != "gary@example.com" || listed[0].FromName != "Gary" {
				t.Fatalf("initial Mail-Data: %+v %v", listed, tooLarge)
			}
			service := oimService(t, ctx, n, ca, "alice@example.com", "pa")
			first, err := service.Get(ctx, listed[0].ID)
			if err != nil || first.Text != "pierwsza" {
				t.Fatalf("GetMessage: %+v %v", first, err)
			}
			if err := service.Delete(ctx, listed[0].ID); err != nil {
				t.Fatal(err)
			}
			// The client hears that one moved to the trash.
			sm := nextSystem(t, ctx, alice, "text/x-msmsgsactivemailnotification")
			if sm.Fields.Get("Src-Folder") != ".!!OIM" || sm.Fields.Get("Dest-Folder") != ".!!trAsH" || sm.Fields.Get("Message-Delta") != "1" {
				t.Fatalf("after DeleteMessages: %q", sm.Payload)
			}
			signOut(t, ctx, n, alice, 1001)

			// The second message, read but not deleted, is listed again.
			alice = loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			if again, _ := nextMailData(t, ctx, alice, client.ContentInitialMailData); len(again) != 1 || again[0].ID != listed[1].ID {
				t.Fatalf("after deleting one, Mail-Data lists %+v", again)
			}
			// A message that reaches the mailbox while alice is online (a
			// connection that dropped it gives it back) is announced alone.
			n.Hub.Undelivered(1001, hub.Account{Number: 2001, Email: "gary@example.com", DisplayName: "Gary"}, hub.Message{Text: "trzecia"}, "gg")
			fresh, _ := nextMailData(t, ctx, alice, client.ContentOIMNotification)
			if len(fresh) != 1 || fresh[0].ID == listed[1].ID {
				t.Fatalf("new message notification: %+v", fresh)
			}
			if m, err := service.Get(ctx, fresh[0].ID); err != nil || m.Text != "trzecia" {
				t.Fatalf("the new message: %+v %v", m, err)
			}
			signOut(t, ctx, n, alice, 1001)

			if _, err := gary.SendMessage(ctx, 1001, "czwarta"); err != nil {
				t.Fatal(err)
			}
			alice = loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			if _, tooLarge := nextMailData(t, ctx, alice, client.ContentInitialMailData); !tooLarge {
				t.Fatal("three messages over a maximum of two were listed")
			}
			all, err := service.List(ctx)
			if err != nil || len(all) != 3 {
				t.Fatalf("GetMetadata after too-large: %+v %v", all, err)
			}
			ids := make([]string, len(all))
			for i, e := range all {
				ids[i] = e.ID
			}
			if err := service.Delete(ctx, ids...); err != nil {
				t.Fatal(err)
			}
			if left, err := n.Store.CountOffline(ctx, 1001); err != nil || left != 0 {
				t.Fatalf("the mailbox keeps %d (%v)", left, err)
			}
		})
	}
}

// TestOfflineIMsEveryEndpoint: two MSNP16 endpoints of one account, on
// one node or on two, are each listed every waiting offline message at
// login, as GetMetadata lists them, whichever endpoint claimed them; a
// message is announced to an endpoint once, even when the claims of an
// endpoint that signed out move to the other; what one endpoint deletes
// is gone for both, and deleting it again changes nothing.
func TestOfflineIMsEveryEndpoint(t *testing.T) {
	t.Run("one node", func(t *testing.T) {
		o, ca := httpsOptions(t)
		o.DataDir = t.TempDir()
		n := startNodeWith(t, o)
		testOfflineIMsEveryEndpoint(t, n, n, ca)
	})
	t.Run("two nodes", func(t *testing.T) {
		o, ca := httpsOptions(t)
		o.DataDir, o.NatsURL = t.TempDir(), testenv.NATS(t)
		testOfflineIMsEveryEndpoint(t, startNodeWith(t, o), startNodeWith(t, o), ca)
	})
}

func testOfflineIMsEveryEndpoint(t *testing.T, n1, n2 *Node, ca string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leaveForAlice(t, ctx, n1, "pierwsza", "druga")
	ids := func(entries []oim.Entry) []string {
		out := make([]string, len(entries))
		for i, e := range entries {
			out[i] = e.ID
		}
		return out
	}

	home := loginDialect(t, ctx, n1, passportClient(t, n1, ca), 16, "alice@example.com", "pa")
	atHome, _ := nextMailData(t, ctx, home, client.ContentInitialMailData)
	if len(atHome) != 2 {
		t.Fatalf("the first endpoint is listed %+v", atHome)
	}
	held, err := n1.Store.ReadOffline(ctx, 1001)
	if err != nil || len(held) != 2 || held[0].HeldBy == "" {
		t.Fatalf("the first endpoint claimed %+v (%v)", held, err)
	}
	work := loginDialect(t, ctx, n2, passportClient(t, n2, ca), 16, "alice@example.com", "pa")
	if home.MachineGUID() == work.MachineGUID() {
		t.Fatal("both endpoints have one machine GUID")
	}
	atWork, _ := nextMailData(t, ctx, work, client.ContentInitialMailData)
	if !slices.Equal(ids(atWork), ids(atHome)) {
		t.Fatalf("the second endpoint is listed %v, the first %v", ids(atWork), ids(atHome))
	}
	service := oimService(t, ctx, n2, ca, "alice@example.com", "pa")
	if listed, err := service.List(ctx); err != nil || !slices.Equal(ids(listed), ids(atHome)) {
		t.Fatalf("GetMetadata lists %v (%v), the notifications %v", ids(listed), err, ids(atHome))
	}

	// The first endpoint leaves without deleting: the second takes its
	// claims over and is not told of those messages again.
	homeHolder := held[0].HeldBy
	home.Close()
	for {
		held, err = n1.Store.ReadOffline(ctx, 1001)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) == 2 && held[0].HeldBy != "" && held[0].HeldBy != homeHolder && held[1].HeldBy == held[0].HeldBy {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the second endpoint never took the claims over: %+v", held)
		case <-time.After(10 * time.Millisecond):
		}
	}
	n1.Hub.Undelivered(1001, hub.Account{Number: 2001, Email: "gary@example.com", DisplayName: "Gary"}, hub.Message{Text: "trzecia"}, "gg")
	fresh, _ := nextMailData(t, ctx, work, client.ContentOIMNotification)
	if len(fresh) != 1 || slices.Contains(ids(atHome), fresh[0].ID) {
		t.Fatalf("after the first endpoint left, the second is told %+v", fresh)
	}

	if err := service.Delete(ctx, atHome[0].ID); err != nil {
		t.Fatal(err)
	}
	if sm := nextSystem(t, ctx, work, "text/x-msmsgsactivemailnotification"); sm.Fields.Get("Message-Delta") != "1" {
		t.Fatalf("after DeleteMessages: %q", sm.Payload)
	}
	if err := service.Delete(ctx, atHome[0].ID, atHome[1].ID); err != nil {
		t.Fatal(err)
	}
	if sm := nextSystem(t, ctx, work, "text/x-msmsgsactivemailnotification"); sm.Fields.Get("Message-Delta") != "1" {
		t.Fatalf("deleting one deleted message and one waiting: %q", sm.Payload)
	}
	if listed, err := service.List(ctx); err != nil || !slices.Equal(ids(listed), ids(fresh)) {
		t.Fatalf("GetMetadata lists %v (%v), want the one left %v", ids(listed), err, ids(fresh))
	}
}

// TestOfflineIMTicketRenewal: with tickets that last a second, the
// offline-IM service refuses an expired one (AuthenticationFailed), and
// the client gets a new one with the renewal token of its sign-in, no
// password, as Pidgin does, and reads on.
func TestOfflineIMTicketRenewal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, ca := httpsOptions(t)
	o.DataDir, o.MSNP = t.TempDir(), msnpserver.Config{Passport: passport.Tickets{Lifetime: time.Second}}
	n := startNodeWith(t, o)
	leaveForAlice(t, ctx, n, "na później")
	hc := passportClient(t, n, ca)
	readTicket := passport.RequestedToken{Address: "messenger.msn.com", Policy: "?id=507"}
	tokens, err := passport.RequestTokens(ctx, hc, passport.DefaultRST, "alice@example.com", "pa", []passport.RequestedToken{readTicket})
	if err != nil {
		t.Fatal(err)
	}
	service := &client.OIMService{HTTP: hc, Ticket: tokens.Tickets[readTicket.Address]}
	refused := func(err error) bool {
		var f *oim.Fault
		return errors.As(err, &f) && f.Code == oim.FaultAuthenticationFailed
	}
	// Wait for the ticket to expire.
	for {
		_, err := service.List(ctx)
		if refused(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the ticket never expired")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Renew on every refusal, as Pidgin does, until a renewed ticket reads.
	for renewals := 1; ; renewals++ {
		ticket, _, err := passport.RenewToken(ctx, hc, "https://login.live.com//RST.srf", tokens.Renewal, readTicket)
		if err != nil {
			t.Fatalf("renewal %d: %v", renewals, err)
		}
		if ticket == service.Ticket {
			t.Fatal("the renewal gave the expired ticket back")
		}
		service.Ticket = ticket
		listed, err := service.List(ctx)
		if refused(err) && ctx.Err() == nil {
			continue // expired again before it was used
		}
		if err != nil || len(listed) != 1 || listed[0].From != "gary@example.com" {
			t.Fatalf("with the renewed ticket: %+v %v", listed, err)
		}
		break
	}
	// The password is not needed, and the account must still be allowed.
	if err := n.Store.SetDisabled(ctx, 1001, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := passport.RenewToken(ctx, hc, passport.DefaultRST, tokens.Renewal, readTicket); !errors.Is(err, passport.ErrRefused) {
		t.Fatalf("renewal for a disabled account: %v", err)
	}
}

// TestOfflineIMsMSN7: MSN Messenger 7.0 and 7.5 (MSNP11, MSNP12) are told
// at login what waits (Mail-Data) and read it at the offline-IM service
// with their Passport 1.4 ticket, as they did from the real service;
// MSN 6.2 (MSNP10) still gets it as a chat at login.
func TestOfflineIMsMSN7(t *testing.T) {
	for _, d := range []int{10, 11, 12} {
		t.Run(fmt.Sprintf("MSNP%d", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, ca := startHTTPSNode(t)
			hc := passportClient(t, n, ca)
			leaveForAlice(t, ctx, n, "jutro")
			alice := loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			if d < 11 {
				sb, err := alice.Answer(ctx, next[client.Ring](t, ctx, alice.Events()))
				if err != nil {
					t.Fatal(err)
				}
				defer sb.Close()
				if m := next[client.Message](t, ctx, sb.Events()); m.From != "gary@example.com" || m.Text != "jutro" {
					t.Fatalf("MSNP%d got %+v", d, m)
				}
				return
			}
			listed, _ := nextMailData(t, ctx, alice, client.ContentInitialMailData)
			if len(listed) != 1 || listed[0].From != "gary@example.com" {
				t.Fatalf("initial Mail-Data: %+v", listed)
			}
			ticket, err := passport.SignIn(ctx, hc, passport.DefaultNexus, "alice@example.com", "pa", "lc=1033,id=507")
			if err != nil {
				t.Fatal(err)
			}
			service := &client.OIMService{HTTP: hc, Ticket: ticket}
			if m, err := service.Get(ctx, listed[0].ID); err != nil || m.Text != "jutro" {
				t.Fatalf("GetMessage: %+v %v", m, err)
			}
			if err := service.Delete(ctx, listed[0].ID); err != nil {
				t.Fatal(err)
			}
			if sm := nextSystem(t, ctx, alice, "text/x-msmsgsactivemailnotification"); sm.Fields.Get("Message-Delta") != "1" {
				t.Fatalf("after DeleteMessages: %q", sm.Payload)
			}
			if left, err := n.Store.CountOffline(ctx, 1001); err != nil || left != 0 {
				t.Fatalf("the mailbox keeps %d (%v)", left, err)
			}
		})
	}
}
