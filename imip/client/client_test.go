package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

// TestSession1 replays Wimmer's first session: HELO, login, STAT ONLINE, a
// contact's presence, a keep-alive PING, DISC.
func TestSession1(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect("STAT ONLINE\r\n12\r\nID: 1003\r\n\r\n")
		p.Send("ACK 600\r\n28\r\nID: 19195\r\nReference: 1003\r\n")
		p.Send("STAT ONLINE\r\n26\r\nFrom: 7654321\r\nID: 19196\r\n")
		p.Expect("PING\r\n12\r\nID: 1004\r\n\r\n")
		p.Send(ack(600, 19197, 1004))
		p.Expect("DISC\r\n12\r\nID: 1005\r\n\r\n")
		p.Send(ack(600, 19198, 1005))
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	h := c.Hello()
	want := ServerHello{Protocol: "IMIP/1.0", AuthType: "imip-md5", Capabilities: []string{"server-lists"},
		KeepAlive: time.Minute, Registration: "http://www.odigo.com/user", Service: "odigo.com",
		ServiceDisplayName: "Odigo", Salt: salt, Block: h.Block}
	if !reflect.DeepEqual(h, want) || h.Block == nil {
		t.Fatalf("Hello = %+v", h)
	}
	buddies, err := c.Login(ctx(t), us, password)
	if err != nil || buddies != nil {
		t.Fatalf("Login = %v, %v", buddies, err)
	}
	if c.User() != us {
		t.Fatalf("User = %q", c.User())
	}
	if err := c.SetStatus(ctx(t), wire.StatusOnline, ""); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	if st := next[Status](t, c); st != (Status{Number: "7654321", Status: wire.StatusOnline}) {
		t.Fatalf("Status = %+v", st)
	}
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.Disconnect(ctx(t)); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if d := closed(t, c); d.Reason != "DISC" || !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}
	if err := c.Ping(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Disconnect = %v", err)
	}
	c.Close()
	c.Close()
}

// TestSession2 replays Wimmer's second session and his notes on the list:
// the buddy list in LOGN, adding a contact (accepted when its presence
// arrives), an incoming request accepted, messages both ways, a message
// to an unknown user, LIST REJECT and LIST REMOVE.
func TestSession2(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Expect(clientHELO)
		p.Send(serverHELO)
		p.Expect(clientLOGN)
		p.Send("LOGN 1234567\r\n55\r\nBuddy: 7654321 \"Matthias\"\r\nID: 19194\r\nReference: 1002\r\n")
		p.Expect("STAT ONLINE\r\n12\r\nID: 1003\r\n\r\n")
		p.Send(ack(600, 19195, 1003))
		p.Send(block("STAT ONLINE", []string{"From: 7654321", "ID: 19196"}, ""))

		p.Expect("LIST ADD 3456789\r\n40\r\nID: 1004\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n")
		p.Send(ack(600, 19197, 1004))
		p.Send(block("STAT AWAY", []string{`From: 3456789 "Neu"`, "ID: 19198"}, "beim Essen"))

		p.Send("LIST ADD\r\n73\r\nFrom: 2345678 \"Odigo Support\"\r\nID: 19199\r\nList: Buddy\r\n\r\nWant to add you!")
		p.Expect("LIST ACCEPT 2345678 \"Odigo Support\"\r\n27\r\nID: 1005\r\nFrom: 1234567\r\n\r\n")
		p.Send(ack(600, 19200, 1005))

		p.Expect("MESG\r\n78\r\nID: 1006\r\nTo: 7654321\r\nACK-Type: errors-only\r\nFrom: 1234567\r\n\r\nHello Matthias!")
		p.Send("MESG\r\n131\r\nContent-Type: text/plain;charset=utf-8\r\nFrom: 7654321 \"Matthias\"\r\nID: 19201\r\n" +
			"Time: 2002-07-14T18:32:05Z\r\nTo: 1234567\r\n\r\nHallo Welt!")

		p.Expect(clientBlock("MESG", []string{"ID: 1007", "To: 9999999", "ACK-Type: errors-only", "From: 1234567"}, "hallo?"))
		p.Send(ack(811, 19202, 1007))

		p.Expect("LIST REJECT 4567890\r\n27\r\nID: 1008\r\nFrom: 1234567\r\n\r\n")
		p.Send(ack(600, 19203, 1008))
		p.Expect("LIST REMOVE 7654321\r\n40\r\nID: 1009\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n")
		p.Send(ack(600, 19204, 1009))
		p.Send(block("STAT OFFLINE", []string{"From: 7654321", "ID: 19205"}, ""))

		p.Expect("DISC\r\n12\r\nID: 1010\r\n\r\n")
		p.Send(ack(600, 19206, 1010))
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	buddies, err := c.Login(ctx(t), us, password)
	if want := []wire.Contact{{User: "7654321", Nick: "Matthias"}}; err != nil || !reflect.DeepEqual(buddies, want) ||
		!reflect.DeepEqual(c.Buddies(), want) {
		t.Fatalf("Login = %v, %v", buddies, err)
	}
	if err := c.SetStatus(ctx(t), wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	next[Status](t, c)

	if err := c.ListAdd(ctx(t), "3456789", ""); err != nil {
		t.Fatalf("ListAdd: %v", err)
	}
	if r := next[ListResult](t, c); r != (ListResult{Op: "ADD", User: "3456789", Nick: "Neu", List: "Buddy", Accepted: true}) {
		t.Fatalf("ListResult = %+v", r)
	}
	if st := next[Status](t, c); st != (Status{Number: "3456789", Nick: "Neu", Status: wire.StatusAway, Text: "beim Essen"}) {
		t.Fatalf("Status = %+v", st)
	}

	req := next[ListRequest](t, c)
	if req != (ListRequest{From: "2345678", Nick: "Odigo Support", List: "Buddy", Text: "Want to add you!"}) {
		t.Fatalf("ListRequest = %+v", req)
	}
	if err := c.ListAccept(ctx(t), req.From, req.Nick); err != nil {
		t.Fatalf("ListAccept: %v", err)
	}

	if id, err := c.SendMessage(ctx(t), "7654321", "Hello Matthias!"); err != nil || id != 1006 {
		t.Fatalf("SendMessage = %d, %v", id, err)
	}
	m := next[Message](t, c)
	want := Message{ID: 19201, From: "7654321", Nick: "Matthias", To: us, Text: "Hallo Welt!",
		Time: time.Date(2002, 7, 14, 18, 32, 5, 0, time.UTC), ContentType: wire.ContentTypeText}
	if m != want {
		t.Fatalf("Message = %+v\nwant %+v", m, want)
	}

	if id, err := c.SendMessage(ctx(t), "9999999", "hallo?"); err != nil || id != 1007 {
		t.Fatalf("SendMessage = %d, %v", id, err)
	}
	if mf := next[MessageFailed](t, c); mf != (MessageFailed{ID: 1007, To: "9999999", Code: wire.CodeUnknownUser}) {
		t.Fatalf("MessageFailed = %+v", mf)
	}

	if err := c.ListReject(ctx(t), "4567890"); err != nil {
		t.Fatalf("ListReject: %v", err)
	}
	if err := c.ListRemove(ctx(t), "7654321"); err != nil {
		t.Fatalf("ListRemove: %v", err)
	}
	if b := c.Buddies(); len(b) != 0 {
		t.Fatalf("Buddies after remove = %v", b)
	}
	if st := next[Status](t, c); st != (Status{Number: "7654321", Status: wire.StatusOffline}) {
		t.Fatalf("Status = %+v", st)
	}
	if err := c.Disconnect(ctx(t)); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	closed(t, c)
}

func TestLoginFailed(t *testing.T) {
	for _, tt := range []struct {
		code   int
		target error
	}{
		{810, ErrBadPassword},
		{811, ErrUnknownUser},
	} {
		t.Run(wire.Code(tt.code).String(), func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.Expect(clientHELO)
				p.Send(serverHELO)
				p.Expect(clientLOGN)
				p.Send(ack(tt.code, 19194, 1002))
				p.ExpectClose() // the client hangs up
			})
			c := dial(t, f, Options{})
			_, err := c.Login(ctx(t), us, password)
			var ae *AckError
			if !errors.As(err, &ae) || int(ae.Code) != tt.code || ae.Request != "LOGN 1234567" ||
				!errors.Is(err, ErrLoginFailed) || !errors.Is(err, tt.target) {
				t.Fatalf("Login = %v", err)
			}
			d := closed(t, c)
			if !errors.Is(d.Err, tt.target) || d.Reason != "" {
				t.Fatalf("Disconnected = %+v", d)
			}
			if err := c.SetStatus(ctx(t), wire.StatusOnline, ""); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrLoginFailed) {
				t.Fatalf("SetStatus after failed login = %v", err)
			}
		})
	}
}

// TestStatusErrors: Wimmer's 800 (STAT without status) and 801 (unknown
// status) leave the session up.
func TestStatusErrors(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect("STAT\r\n12\r\nID: 1003\r\n\r\n")
		p.Send(ack(800, 19195, 1003))
		p.Expect("STAT IDLE\r\n12\r\nID: 1004\r\n\r\n")
		p.Send(block("ACK 801", []string{"ID: 19196", "Reference: 1004"}, "unknown status"))
		p.Expect("STAT OFFLINE\r\n22\r\nID: 1005\r\n\r\nunsichtbar")
		p.Send(ack(600, 19197, 1005))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	var ae *AckError
	if err := c.SetStatus(ctx(t), "", ""); !errors.As(err, &ae) || ae.Code != wire.CodeNoStatus || ae.Request != "STAT" {
		t.Fatalf("SetStatus(\"\") = %v", err)
	}
	if err := c.SetStatus(ctx(t), "IDLE", ""); !errors.As(err, &ae) || ae.Code != wire.CodeBadStatus || ae.Text != "unknown status" {
		t.Fatalf("SetStatus(IDLE) = %v", err)
	}
	if err := c.SetStatus(ctx(t), wire.StatusOffline, "unsichtbar"); err != nil {
		t.Fatalf("SetStatus(OFFLINE) = %v", err)
	}
}

// TestServerPing: a PING from the server is answered with ACK 600.
func TestServerPing(t *testing.T) {
	answered := make(chan struct{})
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Send(block("PING", []string{"ID: 19195"}, ""))
		p.Expect("ACK 600\r\n30\r\nID: 1003\r\nReference: 19195\r\n\r\n")
		close(answered)
		p.ExpectClose()
	})
	loggedIn(t, f, Options{})
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("PING not answered")
	}
}

// TestKeepAlive: the client PINGs at the server's Keep-Alive interval after
// login, and swallows the ACKs.
func TestKeepAlive(t *testing.T) {
	helo := strings.Replace(serverHELO, "196\r\n", "195\r\n", 1)
	helo = strings.Replace(helo, "Keep-Alive: 60", "Keep-Alive: 1", 1)
	f := newFake(t, func(p *peer) {
		p.Expect(clientHELO)
		p.Send(helo)
		p.Expect(clientLOGN)
		start := time.Now()
		p.Send(serverLOGN)
		at := p.ExpectWithin(3*time.Second, "PING\r\n12\r\nID: 1003\r\n\r\n")
		if d := at.Sub(start); d < 900*time.Millisecond {
			p.Failf("first PING after %v", d)
		}
		p.Send(ack(600, 19195, 1003))
		p.ExpectWithin(3*time.Second, "PING\r\n12\r\nID: 1004\r\n\r\n")
		p.Send(ack(600, 19196, 1004))
		p.Expect("DISC\r\n12\r\nID: 1005\r\n\r\n")
		p.Send(ack(600, 19197, 1005))
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if c.Hello().KeepAlive != time.Second {
		t.Fatalf("KeepAlive = %v", c.Hello().KeepAlive)
	}
	if _, err := c.Login(ctx(t), us, password); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := c.Disconnect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if d := closed(t, c); d.Reason != "DISC" { // no Other events for the keep-alive ACKs
		t.Fatalf("Disconnected = %+v", d)
	}
}

func TestKeepAliveOption(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.ExpectWithin(2*time.Second, "PING\r\n12\r\nID: 1003\r\n\r\n")
		p.ExpectWithin(2*time.Second, "PING\r\n12\r\nID: 1004\r\n\r\n")
		p.Arm()
		io.Copy(io.Discard, p.R) // more PINGs until the client closes
	})
	c := loggedIn(t, f, Options{KeepAlive: 20 * time.Millisecond})
	time.Sleep(100 * time.Millisecond) // several ticks, unanswered
	c.Close()
	if d := closed(t, c); !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

// TestServerDisc: the server ends the session with a reason.
func TestServerDisc(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Send(block("DISC", []string{"ID: 19195"}, "logged in elsewhere"))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if d := closed(t, c); d.Reason != "logged in elsewhere" || !errors.Is(d.Err, ErrServerDisc) {
		t.Fatalf("Disconnected = %+v", d)
	}
	if err := c.Ping(ctx(t)); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrServerDisc) {
		t.Fatalf("Ping after DISC = %v", err)
	}
}

// TestServerLists: LIST blocks from the server naming a user, and the
// Date header of an offline message.
func TestServerLists(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Send(block(`LIST REJECT 3456789 "Neu"`, []string{"ID: 19195", "List: Buddy"}, ""))
		p.Send(block("LIST REMOVE", []string{"From: 7654321", "ID: 19196", "List: Buddy"}, ""))
		p.Send(block("MESG", []string{"From: 7654321", "ID: 19197", "Date: Sun, 14 Jul 2002 18:32:05 GMT"}, "offline"))
		p.Send(block("FOO BAR", []string{"ID: 19198"}, "x"))
		p.Send(ack(801, 19199, 4242))
		p.Send(ack(600, 19200, 4243))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if r := next[ListResult](t, c); r != (ListResult{Op: "REJECT", User: "3456789", Nick: "Neu", List: "Buddy"}) {
		t.Fatalf("ListResult = %+v", r)
	}
	if r := next[ListResult](t, c); r != (ListResult{Op: "REMOVE", User: "7654321", List: "Buddy"}) {
		t.Fatalf("ListResult = %+v", r)
	}
	if m := next[Message](t, c); !m.Time.Equal(time.Date(2002, 7, 14, 18, 32, 5, 0, time.UTC)) || m.Text != "offline" {
		t.Fatalf("Message = %+v", m)
	}
	if o := next[Other](t, c); o.Block.TypeLine() != "FOO BAR" || string(o.Block.Body) != "x" {
		t.Fatalf("Other = %v", o.Block)
	}
	if o := next[Other](t, c); o.Block.TypeLine() != "ACK 801" { // unmatched ACK 600 is dropped
		t.Fatalf("Other = %v", o.Block)
	}
}

// TestProtocolErrors: blocks that break the protocol end the connection
// with a *ProtocolError.
func TestProtocolErrors(t *testing.T) {
	for name, raw := range map[string]string{
		"lying length": "ACK 600\r\n36\r\nID: 19195\r\nReference: 1003\r\nPING\r\n0\r\n",
		"no From":      block("STAT ONLINE", []string{"ID: 19195"}, ""),
		"bad Time":     block("MESG", []string{"From: 1", "Time: 14.07.2002 18:32", "ID: 19195"}, "x"),
		"bad ACK code": block("ACK six", []string{"ID: 19195", "Reference: 9"}, ""),
		"STAT no arg":  block("STAT", []string{"ID: 19195", "From: 1"}, ""),
		"oversize":     "MESG\r\n70000\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				serverLogin(p)
				p.Send(raw)
				p.ExpectClose()
			})
			c := loggedIn(t, f, Options{})
			var pe *ProtocolError
			if d := closed(t, c); !errors.As(d.Err, &pe) || pe.Error() == "" {
				t.Fatalf("Disconnected = %+v", d)
			}
		})
	}
}

// TestWrongReply: an answer of the wrong type to a request.
func TestWrongReply(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect("PING\r\n12\r\nID: 1003\r\n\r\n")
		p.Send(block("STAT ONLINE", []string{"From: 1", "ID: 19195", "Reference: 1003"}, ""))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	var pe *ProtocolError
	if err := c.Ping(ctx(t)); !errors.As(err, &pe) {
		t.Fatalf("Ping = %v", err)
	}
	closed(t, c)
}

func TestDialErrors(t *testing.T) {
	for name, raw := range map[string]string{
		"not HELO":     serverLOGN,
		"no salt":      block("HELO", []string{"ID: 1", "Auth-Type: imip-md5"}, ""),
		"garbage":      "HELO\r\nabc\r\n",
		"closed early": "",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.Expect(clientHELO)
				p.Send(raw)
			})
			if c, err := Dial(ctx(t), f.Addr(), Options{}); err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		f := newFake(t, func(p *peer) {
			p.Expect(clientHELO)
			p.ExpectClose()
		})
		short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
		defer cancel()
		if _, err := Dial(short, f.Addr(), Options{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v", err)
		}
	})
}

func TestAuthType(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Expect(clientHELO)
		p.Send(block("HELO", []string{"Auth-Type: imip-sha", "ID: 1"}, "42"))
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if _, err := c.Login(ctx(t), us, password); !errors.Is(err, ErrAuthType) {
		t.Fatalf("Login = %v", err)
	}
}

func TestStateErrors(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if err := c.SetStatus(ctx(t), wire.StatusOnline, ""); !errors.Is(err, ErrState) {
		t.Fatalf("SetStatus before Login = %v", err)
	}
	if _, err := c.SendMessage(ctx(t), "1", "x"); !errors.Is(err, ErrState) {
		t.Fatalf("SendMessage before Login = %v", err)
	}
	if _, err := c.Login(ctx(t), "no spaces", password); err == nil {
		t.Fatal("Login with a space in the user")
	}
	if _, err := c.Login(ctx(t), us, password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx(t), us, password); !errors.Is(err, ErrState) {
		t.Fatalf("second Login = %v", err)
	}
	if err := c.ListAdd(ctx(t), "a\r\nb", ""); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("ListAdd with CRLF = %v", err)
	}
}

// TestTimeoutThenLateAck: a request that times out drops its late answer;
// the session goes on.
func TestTimeoutThenLateAck(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect("PING\r\n12\r\nID: 1003\r\n\r\n")
		p.Expect("PING\r\n12\r\nID: 1004\r\n\r\n")
		p.Send(ack(600, 19195, 1003))
		p.Send(ack(600, 19196, 1004))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	if err := c.Ping(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping = %v", err)
	}
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatalf("second Ping = %v", err)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("event %#v for the late ACK", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestEventOverflow: a consumer that does not read loses the connection,
// not events.
func TestEventOverflow(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for i := range 3 {
			p.Send(block("STAT ONLINE", []string{"From: 7654321", "ID: " + string(rune('1'+i))}, ""))
		}
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{EventBuffer: 2})
	select {
	case <-c.conn.Done(): // the reader has ended, having queued what it could
	case <-time.After(5 * time.Second):
		t.Fatal("no overflow")
	}
	if !errors.Is(c.Err(), ErrEventOverflow) {
		t.Fatalf("Err = %v", c.Err())
	}
	next[Status](t, c)
	next[Status](t, c)
	if ev, ok := <-c.Events(); ok {
		t.Fatalf("event %#v after the overflow", ev)
	}
}

// TestConcurrent: calls from several goroutines get their own answers.
func TestConcurrent(t *testing.T) {
	const n = 20
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for range n {
			b := p.readBlock()
			id, _ := b.ID()
			switch b.Type {
			case "PING":
				p.Send(ack(600, 20000+id, id))
			case "MESG":
				p.Send(ack(811, 20000+id, id))
			default:
				p.Failf("fake: %v", b)
			}
		}
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	var wg sync.WaitGroup
	failed := make(chan uint32, n)
	for i := range n {
		wg.Go(func() {
			if i%2 == 0 {
				if err := c.Ping(ctx(t)); err != nil {
					t.Errorf("Ping: %v", err)
				}
				return
			}
			id, err := c.SendMessage(ctx(t), "9999999", "x")
			if err != nil {
				t.Errorf("SendMessage: %v", err)
			}
			failed <- id
		})
	}
	wg.Wait()
	close(failed)
	want := map[uint32]bool{}
	for id := range failed {
		want[id] = true
	}
	for range n / 2 {
		mf := next[MessageFailed](t, c)
		if !want[mf.ID] || mf.To != "9999999" {
			t.Fatalf("MessageFailed = %+v", mf)
		}
		delete(want, mf.ID)
	}
}

// TestServerHangsUp: EOF from the server ends the session with io.EOF and
// fails a waiting call.
func TestServerHangsUp(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect("PING\r\n12\r\nID: 1003\r\n\r\n")
	})
	c := loggedIn(t, f, Options{})
	if err := c.Ping(ctx(t)); !errors.Is(err, ErrClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("Ping = %v", err)
	}
	if d := closed(t, c); !errors.Is(d.Err, io.EOF) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

// TestLoginTimeout: a login without an answer ends the connection.
func TestLoginTimeout(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Expect(clientHELO)
		p.Send(serverHELO)
		p.Expect(clientLOGN)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	if _, err := c.Login(short, us, password); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Login = %v", err)
	}
	if d := closed(t, c); !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

// TestPostMessage: several MESGs go out before any ACK (one, then two at
// once); the ACKs, out of order, each reach their own Delivery by the ID
// they reference.
func TestPostMessage(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		for id := 1003; id <= 1005; id++ {
			p.Expect(clientBlock("MESG", []string{fmt.Sprint("ID: ", id), "To: 7654321", "From: 1234567"}, fmt.Sprint("m", id)))
		}
		p.Send(ack(600, 19197, 1005))
		p.Send(ack(811, 19196, 1004))
		p.Send(ack(600, 19195, 1003))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	first, err := c.PostMessage(ctx(t), "7654321", "m1003")
	if err != nil {
		t.Fatal(err)
	}
	rest, err := c.PostMessages(ctx(t), "7654321", []string{"m1004", "m1005"})
	if err != nil {
		t.Fatal(err)
	}
	ds := append([]*Delivery{first}, rest...)
	for i, d := range ds {
		if d.ID() != uint32(1003+i) {
			t.Fatalf("Delivery %d has ID %d", i, d.ID())
		}
	}
	for _, d := range ds {
		err := d.Wait(ctx(t))
		if refused := d.ID() == 1004; refused != errors.Is(err, ErrUnknownUser) || !refused && err != nil {
			t.Errorf("Wait %d = %v", d.ID(), err)
		}
	}
}

// TestPostMessageAckNeverComes: a Wait whose ACK does not come ends with
// its context; the others are still answered.
func TestPostMessageAckNeverComes(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect(clientBlock("MESG", []string{"ID: 1003", "To: 7654321", "From: 1234567"}, "one"))
		p.Expect(clientBlock("MESG", []string{"ID: 1004", "To: 7654321", "From: 1234567"}, "two"))
		p.Send(ack(600, 19195, 1004))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	first, err := c.PostMessage(ctx(t), "7654321", "one")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.PostMessage(ctx(t), "7654321", "two")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	if err := first.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for the unanswered one = %v", err)
	}
	if err := second.Wait(ctx(t)); err != nil {
		t.Errorf("Wait for the answered one = %v", err)
	}
}

// TestPostMessageConnectionEnds: the connection ending completes every
// pending Delivery with its cause.
func TestPostMessageConnectionEnds(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect(clientBlock("MESG", []string{"ID: 1003", "To: 7654321", "From: 1234567"}, "one"))
		p.Expect(clientBlock("MESG", []string{"ID: 1004", "To: 7654321", "From: 1234567"}, "two"))
	}) // and hangs up
	c := loggedIn(t, f, Options{})
	var ds []*Delivery
	for _, text := range []string{"one", "two"} {
		d, err := c.PostMessage(ctx(t), "7654321", text)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if err := d.Wait(ctx(t)); !errors.Is(err, ErrClosed) || !errors.Is(err, io.EOF) {
			t.Errorf("Wait %d = %v", d.ID(), err)
		}
	}
	if _, err := c.PostMessage(ctx(t), "7654321", "three"); !errors.Is(err, ErrClosed) {
		t.Errorf("PostMessage after the end = %v", err)
	}
}

// TestSendMessageAcked: a MESG without ACK-Type waits for its ACK.
func TestSendMessageAcked(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p)
		p.Expect(clientBlock("MESG", []string{"ID: 1003", "To: 7654321", "From: 1234567"}, "Zażółć gęślą jaźń"))
		p.Send(ack(600, 19195, 1003))
		p.Expect(clientBlock("MESG", []string{"ID: 1004", "To: 9999999", "From: 1234567"}, "?"))
		p.Send(ack(811, 19196, 1004))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	if err := c.SendMessageAcked(ctx(t), "7654321", "Zażółć gęślą jaźń"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMessageAcked(ctx(t), "9999999", "?"); !errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrLoginFailed) {
		t.Fatalf("SendMessageAcked = %v", err)
	}
}
