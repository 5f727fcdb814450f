package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/metrics"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
)

// tally counts the messages one account's sessions received, by text.
type tally struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *tally) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *tally) add(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]int)
	}
	c.seen[text]++
}

// waitFor waits until every text was seen, then a moment more for
// duplicates, and fails on a missing or repeated one.
func (c *tally) check(t *testing.T, texts []string) {
	t.Helper()
	complete := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range texts {
			if c.seen[s] == 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(20 * time.Second); !complete(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	missing, twice := 0, 0
	for _, s := range texts {
		switch n := c.seen[s]; {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 {
		t.Fatalf("of %d acknowledged messages, %d never arrived and %d arrived more than once", len(texts), missing, twice)
	}
}

// collect adds the text of every message of type M among events to got;
// the returned channel closes when events does.
func collect[E any, M any](events <-chan E, got *tally, text func(M) string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			if m, ok := any(ev).(M); ok {
				got.add(text(m))
			}
		}
	}()
	return done
}

// recipient logs an account in through one protocol at addr and feeds
// what it receives to a tally; the returned channel closes when the
// connection ends.
type recipient struct {
	protocol string
	addr     func(n *Node) string
	login    func(t *testing.T, ctx context.Context, addr string, number uint32, got *tally) (ended <-chan struct{}, logout func(context.Context) error)
}

var recipients = []recipient{
	{"gg", func(n *Node) string { return n.GGAddr }, func(t *testing.T, ctx context.Context, addr string, number uint32, got *tally) (<-chan struct{}, func(context.Context) error) {
		c := loginGG(t, ctx, addr, number, "pw", wire.StatusAvail, "")
		done := collect(c.Events(), got, func(m ggclient.Message) string { return m.Text })
		return done, func(ctx context.Context) error { return c.SetStatus(ctx, wire.StatusNotAvail, "") }
	}},
	{"imip", func(n *Node) string { return n.IMIPAddr }, func(t *testing.T, ctx context.Context, addr string, number uint32, got *tally) (<-chan struct{}, func(context.Context) error) {
		c, err := imipclient.Dial(ctx, addr, imipclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		done := collect(c.Events(), got, func(m imipclient.Message) string { return m.Text })
		if _, err := c.Login(ctx, fmt.Sprint(number), "pw"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
		return done, c.Disconnect
	}},
	{"msim", func(n *Node) string { return n.MSIMAddr }, func(t *testing.T, ctx context.Context, addr string, number uint32, got *tally) (<-chan struct{}, func(context.Context) error) {
		c, err := msimclient.Dial(ctx, addr, msimclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		done := collect(c.Events(), got, func(m msimclient.Message) string { return m.Text })
		if _, err := c.Login(ctx, fmt.Sprintf("r%d@example.com", number), "pw"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ContactList(ctx); err != nil { // offline messages follow it
			t.Fatal(err)
		}
		return done, c.Logout
	}},
}

// TestSlowReaderLosesNothing: a recipient that stops reading while a GG
// user sends it messages. Its connection's output queue overflows on
// purpose (a proxy stops reading, the queue is small); every message the
// sender was told about reaches the recipient exactly once: before the
// connection closed, or from the mailbox at its next login.
func TestSlowReaderLosesNothing(t *testing.T) {
	for _, r := range recipients {
		t.Run(r.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			o := Options{DataDir: t.TempDir()}
			o.GG.PacketsPerSecond, o.GG.PacketBurst = 1e6, 1e6
			o.GG.MaxPendingBytes, o.IMIP.MaxPendingBytes, o.MSIM.MaxPendingBytes = 16<<10, 16<<10, 16<<10
			n := startNodeWith(t, o)
			addAccount(t, n, 1001, "sender@example.com", "Sender", "pw")
			addAccount(t, n, 1002, "r1002@example.com", "Reader", "pw")
			sender := loginGG(t, ctx, n.GGAddr, 1001, "pw", wire.StatusAvail, "")
			go func() {
				for range sender.Events() {
				}
			}()

			var got tally
			proxy := testenv.NewStallingProxy(t, r.addr(n))
			firstEnded, _ := r.login(t, ctx, proxy.Addr, 1002, &got)
			proxy.Stall()

			returned := metrics.MessageOutcomes.WithLabelValues("returned")
			before := metrics.Value(returned)
			filler := strings.Repeat("x", 8000)
			var acked []string
			for i := 0; i < 20000 && metrics.Value(returned) == before; i++ {
				text := fmt.Sprintf("message %05d %s", i, filler)
				if _, err := sender.SendMessage(ctx, 1002, text); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				acked = append(acked, text)
			}
			if metrics.Value(returned) == before {
				t.Fatalf("%d messages sent and the recipient's queue never overflowed", len(acked))
			}
			// A few more while the overflowed session leaves.
			for i := range 20 {
				text := fmt.Sprintf("after %02d", i)
				if _, err := sender.SendMessage(ctx, 1002, text); err != nil {
					t.Fatalf("message after the overflow: %v", err)
				}
				acked = append(acked, text)
			}
			proxy.Resume()
			select {
			case <-firstEnded:
			case <-ctx.Done():
				t.Fatal("the overflowed connection was not closed")
			}
			r.login(t, ctx, r.addr(n), 1002, &got)
			got.check(t, acked)
			t.Logf("%d messages acknowledged; %.0f returned to the mailbox by the overflow", len(acked), metrics.Value(returned)-before)
		})
	}
}

// TestQuickReloginNoDuplicates: 300 stored messages wait; the recipient
// logs in, logs out cleanly while they are still arriving, and straight
// back in. Every message arrives, and none twice.
func TestQuickReloginNoDuplicates(t *testing.T) {
	for _, r := range recipients {
		t.Run(r.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			n := startNode(t, t.TempDir(), "")
			addAccount(t, n, 1001, "sender@example.com", "Sender", "pw")
			addAccount(t, n, 1002, "r1002@example.com", "Reader", "pw")
			var texts []string
			for i := range 300 {
				text := fmt.Sprintf("stored %03d", i)
				if _, err := n.Store.QueueOffline(ctx, 1002, 1001, hub.Message{Text: text, Sent: time.Now()}, hub.MailboxLimits{}); err != nil {
					t.Fatal(err)
				}
				texts = append(texts, text)
			}
			var got tally
			ended, logout := r.login(t, ctx, r.addr(n), 1002, &got)
			for deadline := time.Now().Add(10 * time.Second); got.count() < 20 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if err := logout(ctx); err != nil {
				t.Fatalf("logout: %v", err)
			}
			<-ended
			first := got.count()
			r.login(t, ctx, r.addr(n), 1002, &got)
			got.check(t, texts)
			t.Logf("%d of 300 arrived before the logout", first)
		})
	}
}

// TestMailboxShare: one sender fills its share of an offline account's
// mailbox; its next message gets each protocol's mailbox-full answer, and
// another sender's message is still kept.
func TestMailboxShare(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1001, "gg@example.com", "Gie", "pw")
	addAccount(t, n, 1002, "away@example.com", "Away", "pw")
	addAccount(t, n, 1003, "imip@example.com", "Im", "pw")
	addAccount(t, n, 1004, "other@example.com", "Other", "pw")
	for _, from := range []uint32{1001, 1003} {
		for i := range hub.DefaultMailbox.PerSender {
			if _, err := n.Store.QueueOffline(ctx, 1002, from, hub.Message{Text: fmt.Sprint(i), Sent: time.Now()}, hub.DefaultMailbox); err != nil {
				t.Fatal(err)
			}
		}
	}

	gg := loginGG(t, ctx, n.GGAddr, 1001, "pw", wire.StatusAvail, "")
	_, err := gg.SendMessage(ctx, 1002, "one more")
	var refused *ggclient.MessageRefused
	if !errors.As(err, &refused) || refused.Status != wire.AckMailboxFull {
		t.Fatalf("GG sender past its share: %v", err)
	}

	ic, err := imipclient.Dial(ctx, n.IMIPAddr, imipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if _, err := ic.Login(ctx, "1003", "pw"); err != nil {
		t.Fatal(err)
	}
	var ackErr *imipclient.AckError
	if err := ic.SendMessageAcked(ctx, "1002", "one more"); !errors.As(err, &ackErr) || ackErr.Code != 803 {
		t.Fatalf("IMIP sender past its share: %v", err)
	}

	other := loginGG(t, ctx, n.GGAddr, 1004, "pw", wire.StatusAvail, "")
	if ack, err := other.SendMessage(ctx, 1002, "mine is kept"); err != nil || ack.Status != wire.AckQueued {
		t.Fatalf("another sender: %+v %v", ack, err)
	}
}
