package interop

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
)

// libgadu's enum gg_failure_t value for a refused password.
const ggFailurePassword = 6

// polish has every Polish diacritic, in UTF-8.
const polish = "Zażółć gęślą jaźń"

// startLibgadu builds testdata/gg_harness.c and logs acct in to the node's
// GG port with the real libgadu. script lines run once the login succeeded.
func startLibgadu(t *testing.T, n *node.Node, acct hub.Account, password string, script ...string) *proc {
	t.Helper()
	requireTools(t, "libgadu")
	bin := buildC(t, "gg_harness.c", "libgadu")
	host, port, _ := strings.Cut(n.GGAddr, ":")
	args := append([]string{host, port, strconv.FormatUint(uint64(acct.Number), 10), password}, script...)
	return startProc(t, fmt.Sprintf("libgadu %d", acct.Number), bin,
		[]string{"GG_HARNESS_DEBUG=1", "GG_HARNESS_LIFETIME=60"}, args...)
}

// loginGo logs acct in with our own GG client library, with a status and
// an (empty) notify list sent.
func loginGo(t *testing.T, ctx context.Context, n *node.Node, acct hub.Account, password string, status uint32, descr string, contacts ...uint32) *ggclient.Client {
	t.Helper()
	c, err := ggclient.Dial(ctx, n.GGAddr, ggclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, acct.Number, password, status, descr); err != nil {
		t.Fatalf("gg/client login %d: %v", acct.Number, err)
	}
	var list []wire.Contact
	for _, uin := range contacts {
		list = append(list, wire.Contact{UIN: uin, Type: wire.UserNormal})
	}
	if err := c.NotifyList(ctx, list); err != nil {
		t.Fatal(err)
	}
	return c
}

// nextGG returns the next event of type T from a gg/client, skipping others.
func nextGG[T ggclient.Event](t *testing.T, ctx context.Context, c *ggclient.Client) T {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("gg/client events closed while waiting for %T", *new(T))
			}
			if v, ok := ev.(T); ok {
				return v
			}
		case <-ctx.Done():
			t.Fatalf("gg/client: no %T: %v", *new(T), ctx.Err())
		}
	}
}

// nextMSN returns the next event of type T from an MSN event channel.
func nextMSN[T msnclient.Event](t *testing.T, ctx context.Context, events <-chan msnclient.Event) T {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("msnp/client events closed while waiting for %T", *new(T))
			}
			if v, ok := ev.(T); ok {
				return v
			}
		case <-ctx.Done():
			t.Fatalf("msnp/client: no %T: %v", *new(T), ctx.Err())
		}
	}
}

// statusLow parses a status number printed by the harness and drops the
// flag bits libgadu may pass through (description mask and so on).
func statusLow(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("status %q: %v", s, err)
	}
	return uint32(v) & 0xFF
}

func TestLibgaduLogin(t *testing.T) {
	requireTools(t, "libgadu")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, "127.0.0.1:0")
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "hasło-α")

	start := time.Now()
	gg := startLibgadu(t, n, alice, "hasło-α", "notify")
	gg.Expect(ctx, "EVENT CONN_SUCCESS")
	token := gg.Expect(ctx, "EVENT IMTOKEN (.+)")[1]
	gg.Expect(ctx, "OK notify")
	t.Logf("libgadu logged in after %v", time.Since(start).Round(time.Millisecond))
	if owner, ok := n.GG.TokenOwner(ctx, token); !ok || owner != alice.Number {
		t.Fatalf("IM token %q belongs to %d, %v", token, owner, ok)
	}

	gg.Do(ctx, "ping")
	gg.Expect(ctx, "EVENT PONG110")

	// A service notification arrives as an MPA JSON event (GG_EVENT110).
	const ticket = `{"id":"42","ack_status":"unknown","send_status":"in_progress"}`
	n.Hub.Notify(alice.Number, hub.Notification{Kind: "edisc/send_ticket_changed", Data: ticket})
	gg.Expect(ctx, "EVENT JSON_EVENT edisc/send_ticket_changed "+regexp.QuoteMeta(ticket))

	// Going offline: libgadu waits for GG_DISCONNECT_ACK before it hangs up.
	gg.Do(ctx, "status 21 do jutra") // GG_STATUS_NOT_AVAIL_DESCR
	gg.Expect(ctx, "EVENT DISCONNECT_ACK")
	if err := gg.Wait(ctx); err != nil {
		t.Fatalf("harness exit: %v", err)
	}
}

func TestLibgaduWrongPassword(t *testing.T) {
	requireTools(t, "libgadu")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, "127.0.0.1:0")
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "right")

	start := time.Now()
	gg := startLibgadu(t, n, alice, "wrong")
	// libgadu's own timeout would be 30 s or more; a refusal it understands
	// comes at once.
	quick, cancelQuick := context.WithTimeout(ctx, 5*time.Second)
	defer cancelQuick()
	failure := gg.Expect(quick, "EVENT CONN_(?:FAILED|SUCCESS)(?: (-?\\d+))?")
	if failure[0] != fmt.Sprintf("EVENT CONN_FAILED %d", ggFailurePassword) {
		t.Fatalf("wrong password gave %q, want GG_FAILURE_PASSWORD (%d)", failure[0], ggFailurePassword)
	}
	t.Logf("refused after %v", time.Since(start).Round(time.Millisecond))
	var exit *exec.ExitError
	if err := gg.Wait(ctx); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("harness exit: %v", err)
	}
}

// TestLibgaduConversation has libgadu (alice) talk to a contact logged in
// with gg/client (bob): presence with descriptions, messages both ways with
// acks, Polish text, typing both ways.
func TestLibgaduConversation(t *testing.T) {
	requireTools(t, "libgadu")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, "127.0.0.1:0")
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	bob := addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")

	b := loginGo(t, ctx, n, bob, "pb", wire.StatusAvailDescr, "na spacerze", alice.Number)
	gg := startLibgadu(t, n, alice, "pa", "notify 1002")
	gg.Expect(ctx, "EVENT CONN_SUCCESS")

	// Bob's state, as the answer to alice's notify list.
	m := gg.Expect(ctx, `EVENT NOTIFY60 1002 (\d+) (.*)`)
	if st := statusLow(t, m[1]); st != wire.StatusAvailDescr || m[2] != "na spacerze" {
		t.Fatalf("alice sees bob as %#x %q, want available with description", st, m[2])
	}
	// Alice came online after bob sent his list: bob is told.
	if s := nextGG[ggclient.Status](t, ctx, b); s.UIN != alice.Number || wire.StatusBase(s.Status) != wire.StatusAvail {
		t.Fatalf("bob sees %+v", s)
	}

	// A change of bob's status reaches libgadu as GG_STATUS80.
	if err := b.SetStatus(ctx, wire.StatusBusyDescr, polish); err != nil {
		t.Fatal(err)
	}
	m = gg.Expect(ctx, `EVENT STATUS60 1002 (\d+) (.*)`)
	if st := statusLow(t, m[1]); st != wire.StatusBusyDescr || m[2] != polish {
		t.Fatalf("alice sees bob as %#x %q, want busy %q", st, m[2], polish)
	}
	// And libgadu's own status change reaches bob.
	gg.Do(ctx, "status 4 przy biurku") // GG_STATUS_AVAIL_DESCR
	if s := nextGG[ggclient.Status](t, ctx, b); s.UIN != alice.Number || s.Status&0xFF != wire.StatusAvailDescr || s.Description != "przy biurku" {
		t.Fatalf("bob sees %+v", s)
	}

	// libgadu → bob: the server acks with the client's sequence number.
	gg.Send("msg 1002 " + polish + " — od alicji")
	seq := gg.Expect(ctx, `SENT (\d+)`)[1]
	gg.Expect(ctx, "OK msg")
	gg.Expect(ctx, "EVENT ACK110 1 "+seq)
	if msg := nextGG[ggclient.Message](t, ctx, b); msg.From != alice.Number || msg.Text != polish+" — od alicji" {
		t.Fatalf("bob got %+v", msg)
	}

	// bob → libgadu, UTF-8 intact; GG_CLASS_CHAT (8), not queued.
	ack, err := b.SendMessage(ctx, alice.Number, polish)
	if err != nil {
		t.Fatal(err)
	}
	if ack.MsgType != 1 {
		t.Fatalf("bob's ack %+v", ack)
	}
	m = gg.Expect(ctx, `EVENT MSG 1002 (\d+) (\d+) (.*)`)
	if m[3] != polish {
		t.Fatalf("alice got %q, want %q", m[3], polish)
	}
	if class, _ := strconv.Atoi(m[2]); class&0x01 != 0 {
		t.Fatalf("alice got a live message as queued (class %s)", m[2])
	}

	// Typing, both ways.
	gg.Do(ctx, "typing 1002 7")
	if ty := nextGG[ggclient.Typing](t, ctx, b); ty.From != alice.Number || ty.Length != 7 {
		t.Fatalf("bob got %+v", ty)
	}
	if err := b.SendTyping(ctx, alice.Number, 3); err != nil {
		t.Fatal(err)
	}
	gg.Expect(ctx, "EVENT TYPING 1002 3")
	if err := b.SendTyping(ctx, alice.Number, 0); err != nil {
		t.Fatal(err)
	}
	gg.Expect(ctx, "EVENT TYPING 1002 0")

	// Bob leaves: libgadu sees him go.
	if err := b.SetStatus(ctx, wire.StatusNotAvail, ""); err != nil {
		t.Fatal(err)
	}
	m = gg.Expect(ctx, `EVENT STATUS60 1002 (\d+) (.*)`)
	if st := statusLow(t, m[1]); st != wire.StatusNotAvail {
		t.Fatalf("alice sees bob as %#x after he left", st)
	}
	gg.Do(ctx, "quit")
}

// TestLibgaduWithMSN has a libgadu user (alice) and an MSN Messenger user
// (carol, msnp/client) see each other and talk both ways across protocols.
func TestLibgaduWithMSN(t *testing.T) {
	requireTools(t, "libgadu")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, "127.0.0.1:0")
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	carol := addAccount(t, n, 1003, "carol@example.com", "Carol", "pc")

	msn, err := msnclient.Dial(ctx, n.MSNPAddr, msnclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { msn.Close() })
	if err := msn.Login(ctx, carol.Email, "pc"); err != nil {
		t.Fatal(err)
	}
	if _, err := msn.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := msn.SetStatus(ctx, msnclient.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if _, err := msn.Add(ctx, msnclient.ListForward, alice.Email, alice.DisplayName, 0); err != nil {
		t.Fatal(err)
	}

	gg := startLibgadu(t, n, alice, "pa", "notify 1003")
	gg.Expect(ctx, "EVENT CONN_SUCCESS")
	// MSN's "busy" is GG's "do not disturb".
	m := gg.Expect(ctx, `EVENT NOTIFY60 1003 (\d+) (.*)`)
	if st := statusLow(t, m[1]); st != wire.StatusDND {
		t.Fatalf("alice sees carol as %#x, want DND", st)
	}
	if p := nextMSN[msnclient.Presence](t, ctx, msn.Events()); p.Email != alice.Email || p.Status != msnclient.StatusOnline {
		t.Fatalf("carol sees %+v", p)
	}
	if err := msn.SetStatus(ctx, msnclient.StatusOnline); err != nil {
		t.Fatal(err)
	}
	if st := statusLow(t, gg.Expect(ctx, `EVENT STATUS60 1003 (\d+) .*`)[1]); st != wire.StatusAvail {
		t.Fatalf("alice sees carol as %#x, want available", st)
	}

	// GG → MSN: the MSN client is rung into a chat with alice.
	gg.Send("msg 1003 " + polish)
	seq := gg.Expect(ctx, `SENT (\d+)`)[1]
	gg.Expect(ctx, "EVENT ACK110 1 "+seq)
	ring := nextMSN[msnclient.Ring](t, ctx, msn.Events())
	if ring.Caller != alice.Email {
		t.Fatalf("ring %+v", ring)
	}
	sb, err := msn.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	if msg := nextMSN[msnclient.Message](t, ctx, sb.Events()); msg.From != alice.Email || msg.Text != polish {
		t.Fatalf("carol got %+v", msg)
	}
	// An answer in the same session.
	if err := sb.SendText(ctx, "odpowiedź z MSN"); err != nil {
		t.Fatal(err)
	}
	if got := gg.Expect(ctx, `EVENT MSG 1003 \d+ \d+ (.*)`)[1]; got != "odpowiedź z MSN" {
		t.Fatalf("alice got %q", got)
	}
	if err := sb.Leave(); err != nil {
		t.Fatal(err)
	}

	// MSN → GG in a chat the MSN user starts.
	sb2, err := msn.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb2.Leave()
	if _, err := sb2.Call(ctx, alice.Email); err != nil {
		t.Fatal(err)
	}
	if j := nextMSN[msnclient.Joined](t, ctx, sb2.Events()); j.Email != alice.Email {
		t.Fatalf("joined %+v", j)
	}
	if err := sb2.SendTyping(ctx); err != nil {
		t.Fatal(err)
	}
	gg.Expect(ctx, `EVENT TYPING 1003 \d+`)
	if err := sb2.SendText(ctx, "Cześć, tu MSN!"); err != nil {
		t.Fatal(err)
	}
	if got := gg.Expect(ctx, `EVENT MSG 1003 \d+ \d+ (.*)`)[1]; got != "Cześć, tu MSN!" {
		t.Fatalf("alice got %q", got)
	}
	gg.Send("msg 1003 dzięki")
	gg.Expect(ctx, `EVENT ACK110 1 \d+`)
	if msg := nextMSN[msnclient.Message](t, ctx, sb2.Events()); msg.From != alice.Email || msg.Text != "dzięki" {
		t.Fatalf("carol got %+v", msg)
	}

	// Alice logs off: carol sees her go.
	gg.Do(ctx, "quit")
	if off := nextMSN[msnclient.Offline](t, ctx, msn.Events()); off.Email != alice.Email {
		t.Fatalf("carol got %+v", off)
	}
}

// TestLibgaduMessageStatus: libgadu learns from GG_SEND_MSG_ACK that a
// message to an offline account was stored (GG_ACK_QUEUED), and that one
// past the sender's share of that account's mailbox was refused
// (GG_ACK_MBOXFULL), as GG_EVENT_ACK with the status.
func TestLibgaduMessageStatus(t *testing.T) {
	requireTools(t, "libgadu")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, "127.0.0.1:0")
	alice := addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	gg := startLibgadu(t, n, alice, "pa")
	gg.Expect(ctx, "EVENT CONN_SUCCESS")

	gg.Send("msg 1002 for later")
	seq := gg.Expect(ctx, `SENT (\d+)`)[1]
	gg.Expect(ctx, "OK msg")
	gg.Expect(ctx, fmt.Sprintf("EVENT ACK 1002 %d %s", wire.AckQueued, seq))

	for i := 1; i < hub.DefaultMailbox.PerSender; i++ {
		if _, err := n.Store.QueueOffline(ctx, 1002, 1001, hub.Message{Text: "filler", Sent: time.Now()}, hub.DefaultMailbox); err != nil {
			t.Fatal(err)
		}
	}
	gg.Send("msg 1002 one too many")
	seq = gg.Expect(ctx, `SENT (\d+)`)[1]
	gg.Expect(ctx, "OK msg")
	gg.Expect(ctx, fmt.Sprintf("EVENT ACK 1002 %d %s", wire.AckMailboxFull, seq))
}
