package client

import (
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// The text message of seed 003: "hello" with the standard header, 137 bytes.
const helloPayload = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
	"X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n\r\nhello"

func TestPayloadBuilders(t *testing.T) {
	if got := string(TextPayload("hello")); got != helloPayload || len(got) != 137 {
		t.Fatalf("TextPayload = %q (%d bytes; seed 003 says 137)", got, len(got))
	}
	// newMessage's shortcut for text gives what reading the headers does.
	for _, payload := range []string{
		helloPayload,
		textStart + "Content-Type: text/x-msmsgscontrol\r\n\r\n",
		textStart, // no empty line: all headers
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\r\n\r\nx",
		"MIME-Version: 1.0\r\ncontent-type: Text/Plain\r\n\r\nx",
		"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: a@b.c\r\n\r\n\r\n",
	} {
		if got, want := newMessage("a@b.c", "A", []byte(payload)).ContentType, wire.ParsePayload([]byte(payload)).ContentType(); got != want {
			t.Errorf("newMessage(%q).ContentType = %q, the headers say %q", payload, got, want)
		}
	}
	if got := string(AppendTextPayload([]byte("MSG 1 A 137\r\n"), "hello")); got != "MSG 1 A 137\r\n"+helloPayload {
		t.Fatalf("AppendTextPayload after a line = %q", got)
	}
	want := "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: a@b.c\r\n\r\n\r\n"
	if got := string(TypingPayload("a@b.c")); got != want {
		t.Fatalf("TypingPayload = %q", got)
	}
	m := newMessage("a@b.c", "A", []byte("MIME-Version: 1.0\nContent-Type: TEXT/PLAIN; charset=UTF-8\n\nline1\r\nline2"))
	if m.ContentType != "text/plain" || m.Text != "line1\r\nline2" {
		t.Fatalf("LF message = %+v", m)
	}
}

// TestMessageHeader reads a message's headers as a textproto.MIMEHeader
// did: any letter case, the first of repeated names, values trimmed, ""
// for a header that is missing or lies in the body.
func TestMessageHeader(t *testing.T) {
	m := newMessage("a@b.c", "A", []byte("MIME-Version: 1.0\r\nContent-Type: text/plain\r\nX-Extra:  one \r\nx-extra: two\r\n\r\nIn-Body: no"))
	for name, want := range map[string]string{"X-Extra": "one", "x-EXTRA": "one", "mime-version": "1.0", "In-Body": "", "Missing": ""} {
		if got := m.Header.Get(name); got != want {
			t.Errorf("Header.Get(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestStartChat follows seed 003's "user sends a chat session request":
// XFR SB, USR with the cookie, CAL, JOI, then messages both ways.
func TestStartChat(t *testing.T) {
	sent := invite.Invitation{
		Command: invite.Invite, Cookie: 85366, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: "Autoexec.bat", FileSize: 187, Connectivity: "N",
	}
	sbFake := newFake(t, func(p *peer) {
		p.expect("USR 1 venky_dude@hotmail.com 989487642.2070896604")
		p.send("USR 1 OK venky_dude@hotmail.com venkat")
		p.expect("CAL 2 deadxxx@hotmail.com")
		p.send("CAL 2 RINGING 11717653")
		p.send("JOI deadxxx@hotmail.com Venkatesh")
		p.expectPayload("MSG 3 A 137", helloPayload)
		p.send("ACK 3")
		p.sendMsg("MSG deadxxx@hotmail.com Venkatesh", string(TypingPayload("deadxxx@hotmail.com")))
		p.sendMsg("MSG deadxxx@hotmail.com Venkatesh", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"+
			"X-MMS-IM-Format: FN=Arial; EF=B; CO=ff; CS=0; PF=22\r\n\r\nżółw 🐢")
		p.expectPayload("MSG 4 U 95", string(TypingPayload("venky_dude@hotmail.com")))
		// The invitation: sent in mode N, NAKed once, then echoed back as
		// if from the peer.
		line, payload := p.payloadCmd()
		if line != "MSG 5 N 294" {
			p.Failf("invitation line %q", line)
		}
		p.send("NAK 5")
		p.sendMsg("MSG deadxxx@hotmail.com Venkatesh", string(payload))
		p.expectPayload("MSG 6 A 137", helloPayload)
		p.send("NAK 6")
		p.expect("CAL 7 nobody@hotmail.com")
		p.send("217 7")
		p.send("BYE deadxxx@hotmail.com")
		p.expect("OUT")
	})
	ns := newFake(t, func(p *peer) {
		login(p, "venky_dude@hotmail.com", "venkat")
		p.expect("XFR 5 SB")
		p.send("XFR 5 SB " + sbFake.Addr() + " CKI 989487642.2070896604")
		p.expect("OUT")
	})
	c := dialLogin(t, ns, "venky_dude@hotmail.com", Options{})
	ctx := testCtx(t)
	sb, err := c.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if sb.Friendly() != "venkat" {
		t.Fatalf("Friendly = %q", sb.Friendly())
	}
	sid, err := sb.Call(ctx, "deadxxx@hotmail.com")
	if err != nil || sid != "11717653" || sb.SessionID() != "11717653" {
		t.Fatalf("Call = %q, %v", sid, err)
	}
	if j := nextOf[Joined](t, sb.Events()); j != (Joined{"deadxxx@hotmail.com", "Venkatesh"}) {
		t.Fatalf("joined %+v", j)
	}
	if r := sb.Roster(); !reflect.DeepEqual(r, []Participant{{"deadxxx@hotmail.com", "Venkatesh"}}) {
		t.Fatalf("roster %+v", r)
	}
	if err := sb.SendText(ctx, "hello"); err != nil {
		t.Fatalf("SendText: %v", err)
	}
	m := nextOf[Message](t, sb.Events())
	if m.From != "deadxxx@hotmail.com" || m.Friendly != "Venkatesh" || m.ContentType != "text/x-msmsgscontrol" ||
		m.TypingUser != "deadxxx@hotmail.com" {
		t.Fatalf("typing message %+v", m)
	}
	m = nextOf[Message](t, sb.Events())
	if m.ContentType != "text/plain" || m.Text != "żółw 🐢" || m.Header.Get("X-MMS-IM-Format") != "FN=Arial; EF=B; CO=ff; CS=0; PF=22" {
		t.Fatalf("text message %+v", m)
	}
	if err := sb.SendTyping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.SendInvitation(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if n := nextOf[Nak](t, sb.Events()); n.TrID != 5 {
		t.Fatalf("nak %+v", n)
	}
	m = nextOf[Message](t, sb.Events())
	if m.Invitation == nil || !reflect.DeepEqual(*m.Invitation, sent) {
		t.Fatalf("invitation round trip: %+v", m.Invitation)
	}
	if _, err := sb.Send(ctx, TextPayload("hello"), 'A'); !errors.Is(err, ErrNotDelivered) {
		t.Fatalf("NAKed send = %v", err)
	}
	_, err = sb.Call(ctx, "nobody@hotmail.com")
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 217 || se.Command != "CAL" {
		t.Fatalf("Call = %v", err)
	}
	if l := nextOf[Left](t, sb.Events()); l.Email != "deadxxx@hotmail.com" || l.Idle {
		t.Fatalf("left %+v", l)
	}
	if r := sb.Roster(); len(r) != 0 {
		t.Fatalf("roster after BYE %+v", r)
	}
	if _, err := sb.Send(ctx, nil, 'X'); err == nil {
		t.Fatal("mode X accepted")
	}
	sb.Leave()
	if cl, ok := drainUntilClosed(t, sb.Events()).(Closed); !ok || !errors.Is(cl.Err, ErrClosed) {
		t.Fatalf("last switchboard event %#v", cl)
	}
	c.Logout()
}

// TestAnswer follows seed 003's "user receives a chat session request".
func TestAnswer(t *testing.T) {
	base := runtime.NumGoroutine()
	sbFake := newFake(t, func(p *peer) {
		p.expect("ANS 1 venky_dude@hotmail.com 989495494.750408580 11742066")
		p.send("IRO 1 1 2 deaxxxx@hotmail.com Venkatesh", "IRO 1 2 2 carol@example.com Carol%20C", "ANS 1 OK")
		p.expectPayload("MSG 2 U 95", string(TypingPayload("venky_dude@hotmail.com")))
		p.send("JOI dave@example.com Dave", "BYE carol@example.com 1")
		p.sendMsg("MSG deaxxxx@hotmail.com Venkatesh", helloPayload)
		p.expect("OUT")
		p.ExpectEOF()
	})
	ns := newFake(t, func(p *peer) {
		login(p, "venky_dude@hotmail.com", "venkat")
		p.send("RNG 11742066 " + sbFake.Addr() + " CKI 989495494.750408580 deaxxxx@hotmail.com Venkatesh")
		p.expect("OUT")
		p.ExpectEOF()
	})
	c := dialLogin(t, ns, "venky_dude@hotmail.com", Options{})
	ctx := testCtx(t)
	ring := nextOf[Ring](t, c.Events())
	sb, err := c.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	if sb.SessionID() != "11742066" {
		t.Fatalf("SessionID %q", sb.SessionID())
	}
	want := []Participant{{"deaxxxx@hotmail.com", "Venkatesh"}, {"carol@example.com", "Carol C"}}
	if r := sb.Roster(); !reflect.DeepEqual(r, want) {
		t.Fatalf("roster %+v", r)
	}
	if err := sb.SendTyping(ctx); err != nil {
		t.Fatal(err)
	}
	if j := nextOf[Joined](t, sb.Events()); j.Email != "dave@example.com" {
		t.Fatalf("joined %+v", j)
	}
	if l := nextOf[Left](t, sb.Events()); l != (Left{"carol@example.com", true}) {
		t.Fatalf("left %+v", l)
	}
	if m := nextOf[Message](t, sb.Events()); m.Text != "hello" || m.From != "deaxxxx@hotmail.com" {
		t.Fatalf("message %+v", m)
	}
	want = []Participant{{"deaxxxx@hotmail.com", "Venkatesh"}, {"dave@example.com", "Dave"}}
	if r := sb.Roster(); !reflect.DeepEqual(r, want) {
		t.Fatalf("roster %+v", r)
	}
	sb.Leave()
	c.Logout()
	sbFake.Stop()
	ns.Stop()
	settleGoroutines(t, base)
}

func TestAnswerRefused(t *testing.T) {
	sbFake := newFake(t, func(p *peer) {
		p.expect("ANS 1 a@b.c bad 1")
		p.send("911 1")
	})
	ns := newFake(t, func(p *peer) {
		login(p, "a@b.c", "A")
		p.ExpectEOF()
	})
	c := dialLogin(t, ns, "a@b.c", Options{})
	_, err := c.Answer(testCtx(t), Ring{SessionID: "1", Addr: sbFake.Addr(), Cookie: "bad"})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 911 || se.Command != "ANS" {
		t.Fatalf("Answer = %v", err)
	}
	c.Close()
}

// SendTextAsync writes each message without waiting for the answer to the
// last, and hands each answer to its own message's done: the switchboard
// reads all three before it answers any, out of order, and the fourth
// learns that the connection ended.
func TestSendTextAsync(t *testing.T) {
	sbFake := newFake(t, func(p *peer) {
		p.expect("USR 1 a@b.c cookie")
		p.send("USR 1 OK a@b.c A")
		p.expectPayload("MSG 2 A 137", helloPayload)
		p.expectPayload("MSG 3 A 137", helloPayload)
		p.expectPayload("MSG 4 A 137", helloPayload)
		p.send("NAK 3", "713 4", "ACK 2")
		p.expectPayload("MSG 5 A 137", helloPayload)
	})
	ns := switchboardGiver(t, "a@b.c", "A", sbFake.Addr(), "cookie")
	c := dialLogin(t, ns, "a@b.c", Options{})
	defer c.Close()
	ctx := testCtx(t)
	sb, err := c.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	answers := make([]chan error, 4)
	for i := range answers {
		answers[i] = make(chan error, 2)
		sb.SendTextAsync(ctx, "hello", func(err error) { answers[i] <- err })
	}
	var se *ServerError
	for i, check := range []func(error) bool{
		func(err error) bool { return err == nil },
		func(err error) bool { return errors.Is(err, ErrNotDelivered) },
		func(err error) bool { return errors.As(err, &se) && se.Code == 713 && se.Command == "MSG" },
		func(err error) bool { return errors.Is(err, ErrClosed) },
	} {
		if err := <-answers[i]; !check(err) {
			t.Errorf("message %d: answer %v", i+1, err)
		}
	}
	for i, ch := range answers {
		if len(ch) != 0 {
			t.Errorf("message %d answered twice: %v", i+1, <-ch)
		}
	}
}

// PostAll and Post send each message without waiting for the ACK of the
// one before (the fake answers only after all four arrived), and each
// Delivery hears its own answer: ACK, NAK or a server error.
func TestPostPipelines(t *testing.T) {
	sbFake := newFake(t, func(p *peer) {
		p.expect("ANS 1 a@b.c cookie 7")
		p.send("ANS 1 OK")
		for _, line := range []string{"MSG 2 A 135", "MSG 3 A 135", "MSG 4 D 135", "MSG 5 A 135"} {
			p.expectPayload(line, string(TextPayload("one")))
		}
		p.send("ACK 2", "NAK 3", "ACK 4", "282 5")
		p.expect("OUT")
	})
	ns := newFake(t, func(p *peer) {
		login(p, "a@b.c", "A")
		p.expect("OUT")
	})
	c := dialLogin(t, ns, "a@b.c", Options{})
	defer c.Logout()
	ctx := testCtx(t)
	sb, err := c.Answer(ctx, Ring{SessionID: "7", Addr: sbFake.Addr(), Cookie: "cookie"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Leave()
	posted, err := sb.PostAll(ctx, [][]byte{TextPayload("one"), TextPayload("one")}, 'A')
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []byte{'D', 'A'} {
		d, err := sb.Post(ctx, TextPayload("one"), mode)
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, d)
	}
	var se *ServerError
	for i, check := range []func(error) bool{
		func(err error) bool { return err == nil },
		func(err error) bool { return errors.Is(err, ErrNotDelivered) },
		func(err error) bool { return err == nil },
		func(err error) bool { return errors.As(err, &se) && se.Code == 282 && se.Command == "MSG" },
	} {
		if err := posted[i].Wait(ctx); !check(err) || posted[i].TrID() != i+2 {
			t.Errorf("delivery %d (TrID %d): %v", i, posted[i].TrID(), err)
		}
	}
	if _, err := sb.Post(ctx, TextPayload("one"), 'U'); err == nil {
		t.Error("Post took mode U, which has no answer to wait for")
	}
}

// Sends from several goroutines at once each get their own message's
// answer, ACK or NAK, though the calls that wait for them are reused.
func TestConcurrentSendsGetTheirAnswers(t *testing.T) {
	server, nc := fakeserver.TCPPair(t)
	sb := &Switchboard{ev: newEvents(16)}
	sb.conn = newConn(nc, wire.DefaultLimits, slog.New(slog.DiscardHandler), 1, hooks{async: sb.handle, alwaysAsync: sbAsync, closed: sb.connClosed})
	sb.conn.start()
	defer sb.Close()
	go func() { // ACK even TrIDs, NAK odd ones
		r := wire.NewReader(server, wire.DefaultLimits, "MSG")
		for {
			cmd, err := r.ReadCommand()
			if err != nil {
				return
			}
			trid := cmd.Args[0]
			answer := "ACK "
			if n, _ := strconv.Atoi(trid); n%2 == 1 {
				answer = "NAK "
			}
			if _, err := server.Write([]byte(answer + trid + "\r\n")); err != nil {
				return
			}
		}
	}()
	ctx := testCtx(t)
	var senders sync.WaitGroup
	for range 4 {
		senders.Go(func() {
			for range 200 {
				trid, err := sb.Send(ctx, TextPayload("hi"), 'A')
				if want := trid%2 == 1; errors.Is(err, ErrNotDelivered) != want || err != nil && !want {
					t.Errorf("message %d: %v", trid, err)
					return
				}
			}
		})
	}
	senders.Wait()
}
