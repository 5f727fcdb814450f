package node

import (
	"context"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/msnp/client"
)

func loginGG(t *testing.T, ctx context.Context, addr string, uin uint32, password string, status uint32, descr string, contacts ...uint32) *ggclient.Client {
	t.Helper()
	c, err := ggclient.Dial(ctx, addr, ggclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, uin, password, status, descr); err != nil {
		t.Fatalf("gg login %d: %v", uin, err)
	}
	list := make([]wire.Contact, len(contacts))
	for i, n := range contacts {
		list[i] = wire.Contact{UIN: n, Type: wire.UserNormal}
	}
	if err := c.NotifyList(ctx, list); err != nil {
		t.Fatal(err)
	}
	return c
}

// nextGG returns the next GG event of type T, skipping others.
func nextGG[T any](t *testing.T, ctx context.Context, c *ggclient.Client) T {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("gg events closed while waiting for %T: %v", *new(T), c.Err())
			}
			if v, ok := ev.(T); ok {
				return v
			}
		case <-ctx.Done():
			t.Fatalf("no %T: %v", *new(T), ctx.Err())
		}
	}
}

// nextGGStatus waits for uin's status to become want.
func nextGGStatus(t *testing.T, ctx context.Context, c *ggclient.Client, uin, want uint32) ggclient.Status {
	t.Helper()
	for {
		st := nextGG[ggclient.Status](t, ctx, c)
		if st.UIN == uin && st.Status == want {
			return st
		}
	}
}

// nextPresence waits for email's MSN status to become want.
func nextPresence(t *testing.T, ctx context.Context, c *client.Client, email, want string) {
	t.Helper()
	for {
		p := next[client.Presence](t, ctx, c.Events())
		if p.Email == email && p.Status == want {
			return
		}
	}
}

func TestGGAndMSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")

	// Presence both ways, with GG's description and the status mapping.
	alice := login(t, ctx, n.MSNPAddr, "alice@example.com", "pa")
	if _, err := alice.Add(ctx, client.ListForward, "gary@example.com", "Gary", 0); err != nil {
		t.Fatal(err)
	}
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvailDescr, "w pracy", 1001)
	initial := nextGGStatus(t, ctx, gary, 1001, wire.StatusAvail)
	if !initial.Initial {
		t.Errorf("alice's status came as a change, not in the notify reply")
	}
	nextPresence(t, ctx, alice, "gary@example.com", client.StatusOnline)
	if err := alice.SetStatus(ctx, client.StatusBusy); err != nil {
		t.Fatal(err)
	}
	nextGGStatus(t, ctx, gary, 1001, wire.StatusDND)
	if err := gary.SetStatus(ctx, wire.StatusBusy, ""); err != nil {
		t.Fatal(err)
	}
	nextPresence(t, ctx, alice, "gary@example.com", client.StatusAway)

	// MSN calls first: Gary joins the switchboard at once.
	asb := call(ctx, t, alice, "gary@example.com")
	next[client.Joined](t, ctx, asb.Events())
	if err := asb.SendTyping(ctx); err != nil {
		t.Fatal(err)
	}
	if ty := nextGG[ggclient.Typing](t, ctx, gary); ty.From != 1001 || ty.Length == 0 {
		t.Fatalf("typing %+v", ty)
	}
	if err := asb.SendText(ctx, "Zażółć gęślą jaźń"); err != nil {
		t.Fatal(err)
	}
	if m := nextGG[ggclient.Message](t, ctx, gary); m.From != 1001 || m.Text != "Zażółć gęślą jaźń" {
		t.Fatalf("gary got %+v", m)
	}
	// Gary answers: it comes into the same switchboard.
	if _, err := gary.SendMessage(ctx, 1001, "cześć Alice"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.From != "gary@example.com" || m.Text != "cześć Alice" {
		t.Fatalf("alice got %+v", m)
	}
	if err := gary.SendTyping(ctx, 1001, 3); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, asb.Events()); m.TypingUser != "gary@example.com" {
		t.Fatalf("alice got %+v instead of typing", m)
	}
}

func TestGGWritesFirstAndBothProtocols(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")

	// Bob is on MSN and GG at once; Gary's message reaches both.
	bob := login(t, ctx, n.MSNPAddr, "bob@example.com", "pb")
	bobGG := loginGG(t, ctx, n.GGAddr, 1002, "pb", wire.StatusAvail, "")
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "", 1002)
	if _, err := gary.SendMessage(ctx, 1002, "hej Bob"); err != nil {
		t.Fatal(err)
	}
	if m := nextGG[ggclient.Message](t, ctx, bobGG); m.From != 2001 || m.Text != "hej Bob" {
		t.Fatalf("bob's GG got %+v", m)
	}
	ring := next[client.Ring](t, ctx, bob.Events())
	if ring.Caller != "gary@example.com" {
		t.Fatalf("ring from %q", ring.Caller)
	}
	bsb, err := bob.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer bsb.Leave()
	if m := next[client.Message](t, ctx, bsb.Events()); m.From != "gary@example.com" || m.Text != "hej Bob" {
		t.Fatalf("bob's MSN got %+v", m)
	}
	// Bob answers from MSN: Gary gets it.
	if err := bsb.SendText(ctx, "hej Gary"); err != nil {
		t.Fatal(err)
	}
	if m := nextGG[ggclient.Message](t, ctx, gary); m.From != 1002 || m.Text != "hej Gary" {
		t.Fatalf("gary got %+v", m)
	}
}

func TestGGOfflineMessageToMSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "", 1002)
	if _, err := gary.SendMessage(ctx, 1002, "zostawiam wiadomość"); err != nil {
		t.Fatal(err)
	}
	bob := login(t, ctx, n.MSNPAddr, "bob@example.com", "pb")
	bsb, err := bob.Answer(ctx, next[client.Ring](t, ctx, bob.Events()))
	if err != nil {
		t.Fatal(err)
	}
	defer bsb.Leave()
	if m := next[client.Message](t, ctx, bsb.Events()); m.Text != "zostawiam wiadomość" {
		t.Fatalf("bob got %+v", m)
	}
}
