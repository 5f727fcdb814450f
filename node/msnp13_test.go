package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// TestMSNP13To18OverHTTPS runs each of MSNP13–18 with the client library
// against the server over loopback: tickets from the token service (with
// the MBI_KEY_OLD proof from MSNP15) and the lists from the address book
// services, both over HTTPS with a CA made by the tls ca command's code;
// then presence, a conversation, privacy and removal between two clients
// of the dialect.
func TestMSNP13To18OverHTTPS(t *testing.T) {
	for d := 13; d <= 18; d++ {
		t.Run(fmt.Sprintf("MSNP%d", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			alice, bob := dialectPair(t, ctx, d)

			if _, err := alice.Add(ctx, client.ListBlock, "bob@example.com", "", -1); err != nil {
				t.Fatalf("block: %v", err)
			}
			l, err := alice.Sync(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Forward) != 1 || l.Forward[0].Email != "bob@example.com" || l.Forward[0].Friendly != "Bob" || l.Forward[0].GUID == "" {
				t.Fatalf("alice's FL: %+v", l.Forward)
			}
			if len(l.Block) != 1 || l.Block[0].Email != "bob@example.com" || l.Friendly != "Alice" {
				t.Fatalf("alice's BL %+v, name %q", l.Block, l.Friendly)
			}
			if bl, err := bob.Sync(ctx, 0); err != nil || len(bl.Reverse) != 1 || bl.Reverse[0].Email != "alice@example.com" {
				t.Fatalf("bob's RL: %+v %v", bl, err)
			}
			if _, err := alice.Remove(ctx, client.ListForward, "bob@example.com", -1); err != nil {
				t.Fatalf("remove: %v", err)
			}
			if rl := next[client.ReverseRemoved](t, ctx, bob.Events()); rl.Email != "alice@example.com" {
				t.Fatalf("bob's RL: %+v", rl)
			}
			if l, err := alice.Sync(ctx, 0); err != nil || len(l.Forward) != 0 {
				t.Fatalf("after remove: %+v %v", l, err)
			}
		})
	}
}

// TestMSNPMultiplePointsOfPresence: one account signed in from two
// machines with MSNP18 stays signed in at both; both are rung for a chat
// and each can answer; the same machine signing in again takes over from
// its older connection only.
func TestMSNPMultiplePointsOfPresence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, hc := aliceBobNode(t)
	login := func(email, password, guid string) *client.Client {
		return loginMSNP18(t, ctx, n, hc, email, password, guid)
	}
	bob := login("bob@example.com", "pb", "{B0B00000-0000-0000-0000-000000000001}")
	if _, err := bob.Add(ctx, client.ListForward, "alice@example.com", "", -1); err != nil {
		t.Fatal(err)
	}
	home := login("alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000001A}")
	work := login("alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000002B}")
	nextPresence(t, ctx, bob, "alice@example.com", client.StatusOnline)

	bsb := call(ctx, t, bob, "alice@example.com")
	homeRing := next[client.Ring](t, ctx, home.Events())
	workRing := next[client.Ring](t, ctx, work.Events())
	if homeRing.SessionID != workRing.SessionID {
		t.Fatalf("rung into %s and %s", homeRing.SessionID, workRing.SessionID)
	}
	wsb, err := work.Answer(ctx, workRing)
	if err != nil {
		t.Fatal(err)
	}
	defer wsb.Leave()
	if j := next[client.Joined](t, ctx, bsb.Events()); j.Email != "alice@example.com" {
		t.Fatalf("bob sees %+v join", j)
	}
	// Home answers the same ring: both endpoints hear Bob.
	hsb, err := home.Answer(ctx, homeRing)
	if err != nil {
		t.Fatal(err)
	}
	defer hsb.Leave()
	if err := bsb.SendText(ctx, "which one are you?"); err != nil {
		t.Fatal(err)
	}
	for name, sb := range map[string]*client.Switchboard{"work": wsb, "home": hsb} {
		if m := next[client.Message](t, ctx, sb.Events()); m.Text != "which one are you?" {
			t.Fatalf("%s got %+v", name, m)
		}
	}

	again := login("alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000001A}")
	if d := next[client.Disconnected](t, ctx, home.Events()); d.Reason != "OTH" {
		t.Fatalf("home ended: %+v", d)
	}
	if err := work.Ping(ctx); err != nil {
		t.Fatalf("work was signed out too: %v", err)
	}
	if err := again.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
