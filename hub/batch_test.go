package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/internal/outbox"
)

// lineEndpoint is a session's connection as the frontends make it: each
// message one line in an outbox over a real socket, with a receipt, and
// the connection held in the sender's batch; a message the connection
// drops goes back to the mailbox.
type lineEndpoint struct {
	h   *hub.Hub
	to  uint32
	out *outbox.Outbox

	mu               sync.Mutex
	written, dropped []string
}

func (e *lineEndpoint) Deliver(ev hub.Event) bool {
	if ev.Kind != hub.EventMessage || ev.Message == nil {
		return true
	}
	from, msg := ev.From, *ev.Message
	return e.out.WriteTracked([]byte(msg.Text+"\n"), ev.Batch.Track(e.out, func(written bool) {
		e.mu.Lock()
		if written {
			e.written = append(e.written, msg.Text)
		} else {
			e.dropped = append(e.dropped, msg.Text)
		}
		e.mu.Unlock()
		if !written {
			e.h.Undelivered(e.to, from, msg, "test")
		}
	})) == nil
}

func (e *lineEndpoint) outcomes() (written, dropped []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.written), slices.Clone(e.dropped)
}

// batchFixture is alice, who sends in batch b (with ctx), and bob, online
// through e, whose client end is client.
type batchFixture struct {
	h          *hub.Hub
	st         hub.Store
	alice, bob hub.Account
	e          *lineEndpoint
	client     net.Conn
	b          hub.Batch
	ctx        context.Context
}

func newBatchFixture(t *testing.T) *batchFixture {
	t.Helper()
	f := &batchFixture{}
	f.h, f.st = newHub(t)
	f.alice, f.bob = account(t, f.st, 1, "alice@example.com"), account(t, f.st, 2, "bob@example.com")
	server, client := fakeserver.TCPPair(t)
	f.client = client
	f.e = &lineEndpoint{h: f.h, to: f.bob.Number, out: outbox.New(server, 1<<20, 5*time.Second)}
	t.Cleanup(f.e.out.Close)
	s, err := f.h.Attach(context.Background(), f.bob, "gg", f.e)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	f.ctx = hub.WithBatch(context.Background(), &f.b)
	return f
}

// Messages sent in a batch wait in the recipient's connection, none of
// them counted as written, until the batch is released; then they leave
// together, in order, and each one's receipt says written.
func TestBatchHoldsUntilRelease(t *testing.T) {
	ctx := context.Background()
	f := newBatchFixture(t)
	h, alice, bob, e, client, b, bctx := f.h, f.alice, f.bob, f.e, f.client, &f.b, f.ctx
	texts := []string{"one", "two", "three", "four"}
	var answers []string
	for _, text := range texts {
		d, err := h.SendMessage(bctx, alice, bob.Number, hub.Message{Text: text}, "")
		if err != nil {
			t.Fatal(err)
		}
		if !h.AnswerWaits(bctx, d) {
			t.Fatalf("%q: the answer of a message held in the batch does not wait", text)
		}
		h.Answer(bctx, d, func(d hub.Delivery) { answers = append(answers, fmt.Sprint(text, " ", d)) })
	}
	if b.Len() != 1 {
		t.Fatalf("the batch holds %d connections, want bob's one", b.Len())
	}
	if written, dropped := e.outcomes(); len(written)+len(dropped)+len(answers) != 0 {
		t.Fatalf("before the release: written %q, dropped %q, answered %q", written, dropped, answers)
	}
	b.Release()
	if written, dropped := e.outcomes(); !slices.Equal(written, texts) || len(dropped) != 0 {
		t.Fatalf("after the release: written %q, dropped %q; want all written in order", written, dropped)
	}
	for i, text := range texts {
		texts[i] = fmt.Sprint(text, " ", hub.Delivered)
	}
	if !slices.Equal(answers, texts) {
		t.Fatalf("answered %q, want %q", answers, texts)
	}
	texts = []string{"one", "two", "three", "four"}
	r := bufio.NewReader(client)
	for _, want := range texts {
		if line, err := r.ReadString('\n'); err != nil || line != want+"\n" {
			t.Fatalf("read %q %v, want %q", line, err, want)
		}
	}
	// Without a batch a message is written at once.
	if d, _ := h.SendMessage(ctx, alice, bob.Number, hub.Message{Text: "alone"}, ""); d != hub.Delivered || h.AnswerWaits(ctx, d) {
		t.Fatalf("%v, its answer waiting %v; want delivered, answered at once", d, h.AnswerWaits(ctx, d))
	}
	if written, _ := e.outcomes(); len(written) != len(texts)+1 {
		t.Fatalf("a message outside any batch waited: written %q", written)
	}
}

// A connection that closes while the batch holds messages for it writes
// none of them: the client reads nothing, no receipt says written, and
// each message is back in the mailbox before its sender is answered, as
// stored, never as delivered. One whose sender waits for no answer goes
// back to the mailbox too.
func TestBatchConnectionDiesMidBatch(t *testing.T) {
	ctx := context.Background()
	f := newBatchFixture(t)
	h, st, alice, bob, e, client, b, bctx := f.h, f.st, f.alice, f.bob, f.e, f.client, &f.b, f.ctx
	texts := []string{"held 1", "held 2", "unanswered"}
	answers := map[string]hub.Delivery{}
	for _, text := range texts {
		d, err := h.SendMessage(bctx, alice, bob.Number, hub.Message{Text: text}, "")
		if err != nil {
			t.Fatal(err)
		}
		if text != "unanswered" {
			h.Answer(bctx, d, func(d hub.Delivery) {
				msgs, err := st.OfflineMessages(ctx, bob.Number, "answer", nil)
				if err != nil || !slices.ContainsFunc(msgs, func(m hub.OfflineMessage) bool { return m.Text == text }) {
					t.Errorf("%q answered %v before it was in the mailbox (%v)", text, d, err)
				}
				answers[text] = d
			})
		}
	}
	e.out.Close() // the connection dies before the batch ends
	if len(answers) != 0 {
		t.Fatalf("answered before the batch ended: %v", answers)
	}
	b.Release()
	if want := map[string]hub.Delivery{"held 1": hub.Queued, "held 2": hub.Queued}; !maps.Equal(answers, want) {
		t.Fatalf("answered %v, want %v", answers, want)
	}
	if written, _ := e.outcomes(); len(written) != 0 {
		t.Fatalf("written %q from a connection that died holding them", written)
	}
	if got, err := io.ReadAll(client); err != nil || len(got) != 0 {
		t.Fatalf("the client read %q (%v) from a connection that died holding them", got, err)
	}
	// The unanswered one is stored on a goroutine of its own.
	var stored []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		msgs, err := st.OfflineMessages(ctx, bob.Number, "later", nil)
		if err != nil {
			t.Fatal(err)
		}
		stored = stored[:0]
		for _, m := range msgs {
			stored = append(stored, m.Text)
		}
		if len(stored) == len(texts) {
			break
		}
	}
	slices.Sort(stored)
	if !slices.Equal(stored, texts) {
		t.Fatalf("the mailbox holds %q, want %q", stored, texts)
	}
}
