package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// otherProtocol is a hub session of a frontend other than MSNP, as the GG
// or IMIP services will have.
type otherProtocol struct {
	mu     sync.Mutex
	events []hub.Event
	more   chan struct{}
}

func (o *otherProtocol) Deliver(ev hub.Event) bool {
	o.mu.Lock()
	o.events = append(o.events, ev)
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return true
}

func (o *otherProtocol) next(t *testing.T, kind hub.EventKind) hub.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		o.mu.Lock()
		for i, ev := range o.events {
			if ev.Kind == kind {
				o.events = append(o.events[:i], o.events[i+1:]...)
				o.mu.Unlock()
				return ev
			}
		}
		o.mu.Unlock()
		select {
		case <-o.more:
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

func attachOther(t *testing.T, env *testEnv, acct hub.Account) (*hub.Session, *otherProtocol) {
	t.Helper()
	o := &otherProtocol{more: make(chan struct{}, 1)}
	s, err := env.hub.Attach(context.Background(), acct, "other", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Detach(context.Background()) })
	return s, o
}

// readMSG reads one MSG line and its payload.
func (c *rawClient) readMSG() (head string, payload string) {
	c.t.Helper()
	head, err := c.line()
	var n int
	if err != nil {
		c.t.Fatalf("reading MSG: %v", err)
	}
	f := strings.Fields(head)
	if len(f) != 4 || f[0] != "MSG" {
		c.t.Fatalf("expected MSG, got %q", head)
	}
	fmt.Sscanf(f[3], "%d", &n)
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		c.t.Fatal(err)
	}
	return strings.Join(f[:3], " "), string(buf)
}

// answerRing reads an RNG and answers it in a new switchboard connection.
func answerRing(t *testing.T, ns *rawClient, email, from string) *rawClient {
	t.Helper()
	line, err := ns.line()
	if err != nil {
		t.Fatal(err)
	}
	return answerRingLine(t, line, email, from)
}

// answerRingLine answers the RNG line read.
func answerRingLine(t *testing.T, line, email, from string) *rawClient {
	t.Helper()
	var sid, addr, cookie, caller, name string
	if _, err := fmt.Sscanf(line, "RNG %s %s CKI %s %s %s", &sid, &addr, &cookie, &caller, &name); err != nil || caller != from {
		t.Fatalf("expected RNG from %s, got %q", from, line)
	}
	sb := dialRaw(t, addr)
	sb.send(fmt.Sprintf("ANS 1 %s %s %s\r\n", email, cookie, sid))
	return sb
}

func TestChatWithAnotherProtocol(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil)
	bob := env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")

	b := dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	b.send("CHG 4 NLN\r\n")
	b.expect("CHG 4 NLN")
	_, other := attachOther(t, env, carol)

	// Carol writes first: Bob is rung into a chat with her.
	for _, text := range []string{"Zażółć gęślą jaźń", "second"} {
		if d, err := env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: text, Format: &hub.Format{Bold: true, Color: "0000FF"}}, ""); err != nil || d != hub.Delivered {
			t.Fatalf("send: %v %v", d, err)
		}
	}
	sb := answerRing(t, b, "bob@example.com", "carol@example.com")
	sb.expect("IRO 1 1 1 carol@example.com Carol")
	sb.expect("ANS 1 OK")
	for _, text := range []string{"Zażółć gęślą jaźń", "second"} {
		head, payload := sb.readMSG()
		if head != "MSG carol@example.com Carol" || !strings.HasSuffix(payload, "\r\n\r\n"+text) ||
			!strings.Contains(payload, "X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=B; CO=ff0000;") {
			t.Fatalf("bob got %q %q", head, payload)
		}
	}
	// A later message comes into the same session, without a new ring.
	env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: "third"}, "")
	if _, payload := sb.readMSG(); !strings.HasSuffix(payload, "third") {
		t.Fatalf("third: %q", payload)
	}
	// Bob answers; Carol's frontend gets text and typing.
	typing := "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: bob@example.com\r\n\r\n\r\n"
	sb.send(fmt.Sprintf("MSG 2 U %d\r\n%s", len(typing), typing))
	if ev := other.next(t, hub.EventTyping); ev.From.Number != bob.Number {
		t.Fatalf("typing from %d", ev.From.Number)
	}
	reply := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Arial; EF=I; CO=ff; CS=0; PF=22\r\n\r\nhello Carol"
	sb.send(fmt.Sprintf("MSG 3 A %d\r\n%s", len(reply), reply))
	sb.expect("ACK 3")
	ev := other.next(t, hub.EventMessage)
	if ev.Message.Text != "hello Carol" || ev.From.Number != bob.Number || ev.Message.Format == nil ||
		!ev.Message.Format.Italic || ev.Message.Format.Color != "FF0000" || ev.Message.Format.Font != "Arial" {
		t.Fatalf("carol got %+v %+v", ev, ev.Message.Format)
	}
}

func TestCallContactOfAnotherProtocol(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	_, other := attachOther(t, env, carol)

	b := dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	sb := b.switchboard("bob@example.com", "Bob")
	sb.send("CAL 2 carol@example.com\r\n")
	line, _ := sb.line()
	if !strings.HasPrefix(line, "CAL 2 RINGING ") {
		t.Fatalf("CAL: %q", line)
	}
	sb.expect("JOI carol@example.com Carol")
	long := strings.Repeat("ą", 1000) // 2000 bytes: two MSN messages on the way back
	msg := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi Carol"
	sb.send(fmt.Sprintf("MSG 3 N %d\r\n%s", len(msg), msg))
	if ev := other.next(t, hub.EventMessage); ev.Message.Text != "hi Carol" {
		t.Fatalf("carol got %q", ev.Message.Text)
	}
	// Her answer comes into this session, split to fit MSN's size limit.
	env.hub.SendMessage(context.Background(), carol, 1002, hub.Message{Text: long}, "")
	var got string
	for len(got) < len(long) {
		_, payload := sb.readMSG()
		if len(payload) > 1664 {
			t.Fatalf("payload of %d bytes", len(payload))
		}
		_, body, _ := strings.Cut(payload, "\r\n\r\n")
		got += body
	}
	if got != long {
		t.Fatal("long message not reassembled intact")
	}
}

func TestOfflineMessagesReachMSN(t *testing.T) {
	ctx := context.Background()
	// The second login must answer its ring within the cookie's lifetime,
	// which a busy machine may stretch to hundreds of milliseconds.
	const cookieLifetime = time.Second
	env := newTestEnv(t, func(c *Config) { c.CookieLifetime = cookieLifetime })
	bob := env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	if d, _ := env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: "while you were out"}, ""); d != hub.Queued {
		t.Fatalf("delivery %v", d)
	}

	// First login: Bob ignores the ring. The message must still be there.
	b := dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	b.send("CHG 4 NLN\r\n")
	b.expect("CHG 4 NLN")
	if line, _ := b.line(); !strings.HasPrefix(line, "RNG ") {
		t.Fatalf("expected RNG, got %q", line)
	}
	time.Sleep(cookieLifetime + 200*time.Millisecond)
	if waiting, _ := env.store.CountOffline(ctx, bob.Number); waiting != 1 {
		t.Fatalf("%d offline messages after an unanswered ring", waiting)
	}
	b.send("OUT\r\n")
	b.expectClosed()

	// Second login: answered, delivered, and gone from the queue.
	b = dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	b.send("CHG 4 NLN\r\n")
	b.expect("CHG 4 NLN")
	sb := answerRing(t, b, "bob@example.com", "carol@example.com")
	sb.expect("IRO 1 1 1 carol@example.com Carol")
	sb.expect("ANS 1 OK")
	if _, payload := sb.readMSG(); !strings.HasSuffix(payload, "while you were out") {
		t.Fatalf("got %q", payload)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		waiting, _ := env.store.CountOffline(ctx, bob.Number)
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("delivered offline message still queued")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bobOnlineForCarol starts a server, with Bob online over MSN and Carol an
// account for another protocol's session.
func bobOnlineForCarol(t *testing.T, tweak func(*Config)) (env *testEnv, bob, carol hub.Account, ns *rawClient) {
	t.Helper()
	env = newTestEnv(t, tweak)
	bob = env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol = env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	ns = dialRaw(t, env.nsAddr)
	ns.login("bob@example.com", "pb")
	ns.send("CHG 4 NLN\r\n")
	ns.expect("CHG 4 NLN")
	return env, bob, carol, ns
}

// bridgedChat has carol's "hi" ring bob (online on ns), who answers: the
// switchboard connection of their chat, its first message read.
func bridgedChat(t *testing.T, env *testEnv, ns *rawClient, bob, carol hub.Account) *rawClient {
	t.Helper()
	if d, err := env.hub.SendMessage(context.Background(), carol, bob.Number, hub.Message{Text: "hi"}, ""); err != nil || d != hub.Delivered {
		t.Fatalf("send: %v %v", d, err)
	}
	sb := answerRing(t, ns, "bob@example.com", "carol@example.com")
	sb.expect("IRO 1 1 1 carol@example.com Carol")
	sb.expect("ANS 1 OK")
	sb.readMSG()
	return sb
}

func TestUnansweredRingRequeues(t *testing.T) {
	ctx := context.Background()
	env, bob, carol, b := bobOnlineForCarol(t, func(c *Config) { c.CookieLifetime = 200 * time.Millisecond })
	if d, _ := env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: "ring ring"}, ""); d != hub.Delivered {
		t.Fatalf("delivery %v", d)
	}
	if line, _ := b.line(); !strings.HasPrefix(line, "RNG ") {
		t.Fatalf("expected RNG, got %q", line)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		waiting, _ := env.store.OfflineMessages(ctx, bob.Number, "test", nil)
		if len(waiting) == 1 && waiting[0].Text == "ring ring" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("unanswered message not kept: %+v", waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An MSN client's message to a member of another protocol who has left
// and whose mailbox holds the sender's whole share is refused with NAK;
// with room, it is kept, and the sender gets its ACK.
func TestMailboxShareNAK(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t, nil)
	bob := env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	cs, _ := attachOther(t, env, carol)

	b := dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	b.send("CHG 4 NLN\r\n")
	b.expect("CHG 4 NLN")
	env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: "hi"}, "")
	sb := answerRing(t, b, "bob@example.com", "carol@example.com")
	sb.expect("IRO 1 1 1 carol@example.com Carol")
	sb.expect("ANS 1 OK")
	sb.readMSG()
	cs.Detach(ctx) // carol leaves; the chat keeps her as a member

	text := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nfor later"
	sb.send(fmt.Sprintf("MSG 2 A %d\r\n%s", len(text), text))
	sb.expect("ACK 2")
	for i := 1; i < hub.DefaultMailbox.PerSender; i++ {
		if _, err := env.store.QueueOffline(ctx, carol.Number, bob.Number, hub.Message{Text: "filler", Sent: time.Now()}, hub.DefaultMailbox); err != nil {
			t.Fatal(err)
		}
	}
	sb.send(fmt.Sprintf("MSG 3 A %d\r\n%s", len(text), text))
	sb.expect("NAK 3")
}

// TestSlowReaderHoldsNoSender: an MSN client that stops reading its chat
// with a member of another protocol lets its output fill until the
// connection is closed for it; the sender is never held waiting for that
// client's writes, which would time out only after WriteTimeout.
func TestSlowReaderHoldsNoSender(t *testing.T) {
	ctx := context.Background()
	env, bob, carol, b := bobOnlineForCarol(t, func(c *Config) { c.WriteTimeout = 10 * time.Minute })
	attachOther(t, env, carol)
	bridgedChat(t, env, b, bob, carol)

	// Bob reads no more; Carol sends far more than loopback's buffers and
	// the output queue hold.
	text := strings.Repeat("x", 1400)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10_000 {
			env.hub.SendMessage(ctx, carol, bob.Number, hub.Message{Text: text}, "")
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the sender is held by a client that does not read")
	}
}

// TestRefusedWriteGoesToMailbox: a message from another protocol that the
// MSN client's connection refuses to take (its output closed before the
// reader noticed) is neither delivered nor lost: it goes to the mailbox.
func TestRefusedWriteGoesToMailbox(t *testing.T) {
	ctx := context.Background()
	env, bob, carol, b := bobOnlineForCarol(t, nil)
	bridgedChat(t, env, b, bob, carol)

	env.srv.mu.Lock()
	chat := env.srv.bridges[bridgeKey{bob.Number, carol.Number}]
	env.srv.mu.Unlock()
	chat.mu.Lock()
	c := chat.client(bob.Number)
	chat.mu.Unlock()
	if c == nil {
		t.Fatal("bob is not in the chat")
	}
	c.out.Close()
	env.srv.deliverPending(ctx, c, []pendingMessage{{from: carol, msg: hub.Message{Text: "refused", Sent: time.Now()}}}, nil)

	// The hub returns it to the mailbox in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		waiting, err := env.store.OfflineMessages(ctx, bob.Number, "test", nil)
		if err == nil && len(waiting) == 1 && waiting[0].Text == "refused" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox holds %+v, %v; want the refused message", waiting, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
