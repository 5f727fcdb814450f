package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

// numbered is n texts that say who they are for and their place.
func numbered(to string, n int) []string {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("%s %d", to, i)
	}
	return texts
}

// postMSN has c call email into a switchboard, sends texts there in one
// write, waits for every ACK and returns the switchboard.
func postMSN(t *testing.T, ctx context.Context, c *client.Client, email string, texts []string) *client.Switchboard {
	t.Helper()
	sb := call(ctx, t, c, email)
	next[client.Joined](t, ctx, sb.Events())
	payloads := make([][]byte, len(texts))
	for i, text := range texts {
		payloads[i] = client.TextPayload(text)
	}
	ds, err := sb.PostAll(ctx, payloads, 'A')
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if err := d.Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return sb
}

// expectMSN reads texts, in order, from sb.
func expectMSN(t *testing.T, ctx context.Context, sb *client.Switchboard, from string, texts []string) {
	t.Helper()
	for _, want := range texts {
		if m := next[client.Message](t, ctx, sb.Events()); m.From != from || m.Text != want {
			t.Fatalf("got %q from %s, want %q from %s", m.Text, m.From, want, from)
		}
	}
}

// Messages a client sends in one write to a user of another protocol on
// the same node, which the server hands to the recipient's connection
// together (hub.Batch, readbatch), arrive all and in order, each one
// acknowledged as delivered, from MSN to GG, IMIP and SIP and back.
func TestPipelinedMessagesAcrossProtocols(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNodeWith(t, Options{DataDir: t.TempDir(), MSNP: unlimitedMSNP})
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	addAccount(t, n, 3001, "ivy@example.com", "Ivy", "pi")
	alice := login(t, ctx, n.MSNPAddr, "alice@example.com", "pa")
	gary := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "")
	ivy := loginIMIP(t, ctx, n.IMIPAddr, 3001, "pi")
	addAccount(t, n, 4001, "sid@example.com", "Sid", "ps")
	sid, err := sipclient.Dial(ctx, n.SIPAddr, sipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sid.Close() })
	if err := sid.SignIn(ctx, "sid@example.com", "ps"); err != nil {
		t.Fatal(err)
	}
	const burst = 24

	t.Run("msn-gg", func(t *testing.T) {
		texts := numbered("gary", burst)
		sb := postMSN(t, ctx, alice, "gary@example.com", texts)
		for _, want := range texts {
			if m := nextGG[ggclient.Message](t, ctx, gary); m.From != 1001 || m.Text != want {
				t.Fatalf("gary got %q from %d, want %q", m.Text, m.From, want)
			}
		}

		texts = numbered("alice from gary", burst)
		ds, err := gary.PostAll(ctx, 1001, texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if ack, err := d.Wait(ctx); err != nil || ack.Status != 0 {
				t.Fatalf("message %d: status %#x, %v; want delivered", i, ack.Status, err)
			}
		}
		expectMSN(t, ctx, sb, "gary@example.com", texts)
	})

	t.Run("msn-imip", func(t *testing.T) {
		texts := numbered("ivy", burst)
		sb := postMSN(t, ctx, alice, "ivy@example.com", texts)
		for _, want := range texts {
			if m := testenv.Next[imipclient.Message](t, ctx, ivy.Events()); m.From != "1001" || m.Text != want {
				t.Fatalf("ivy got %q from %s, want %q", m.Text, m.From, want)
			}
		}

		texts = numbered("alice from ivy", burst)
		ds, err := ivy.PostMessages(ctx, "1001", texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if err := d.Wait(ctx); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		expectMSN(t, ctx, sb, "ivy@example.com", texts)
	})

	t.Run("msn-sip", func(t *testing.T) {
		texts := numbered("sid", burst)
		sb := postMSN(t, ctx, alice, "sid@example.com", texts)
		for _, want := range texts {
			if m := testenv.Next[sipclient.Message](t, ctx, sid.Events()); m.From != "sip:alice@example.com" || m.Text != want {
				t.Fatalf("sid got %q from %s, want %q", m.Text, m.From, want)
			}
		}

		// The first starts the IM session; the rest go in one write.
		texts = numbered("alice from sid", burst)
		ds, err := sid.PostMessages(ctx, "alice@example.com", texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if err := d.Wait(ctx); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		expectMSN(t, ctx, sb, "sid@example.com", texts)
	})
}
