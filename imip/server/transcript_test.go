package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/client"
	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// Wimmer's sessions (seed 004 and his captures): we are 1234567, whose
// password is the seed's worked example; the contacts are 7654321
// "Matthias", 2345678 "Odigo Support" and 3456789 "Neu". The client blocks
// below are the Yahoo! client's, byte for byte: ID first, blank line
// always, hand-counted lengths.
const (
	us         = "1234567"
	usPassword = "Passwort"

	clientHELO = "HELO\r\n32\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n"
	clientLOGN = "LOGN 1234567\r\n93\r\nID: 1002\r\nClient: Yahoo! IMIP Client\r\nAuth-Type: imip-md5\r\n\r\n" // + hash
)

func wimmerEnv(t *testing.T) *testEnv {
	env := newTestEnv(t, nil)
	env.account(t, 1234567, "Wimmer", usPassword)
	env.account(t, 7654321, "Matthias", "pm")
	env.account(t, 2345678, "Odigo Support", "ps")
	env.account(t, 3456789, "Neu", "pn")
	env.account(t, 4567890, "Spam", "px")
	env.addToList(t, 1234567, 7654321, hub.Forward)
	return env
}

// serverHello checks the HELO against Odigo's, with our service's values.
func serverHello(t *testing.T, c *rawIMIP) {
	t.Helper()
	c.write(clientHELO)
	h := c.expect("HELO")
	expectHeaders(t, h, "Auth-Type: imip-md5", "Capabilities: server-lists", "ID", "Keep-Alive: 60",
		"Protocol: IMIP/1.0", "Registration: "+DefaultRegistrationURL, "Service: crosstalk", "ServiceDisplayName: Crosstalk")
	if _, err := strconv.ParseUint(string(h.Body), 10, 32); err != nil || !h.Blank {
		t.Fatalf("salt %q is not a 32-bit decimal number", h.Body)
	}
	c.salt = string(h.Body)
}

// serverLogin sends the Yahoo! client's LOGN and checks the echo.
func serverLogin(t *testing.T, c *rawIMIP, buddies string) {
	t.Helper()
	c.write(clientLOGN + wire.LoginHash(c.salt, usPassword))
	echo := c.expect("LOGN " + us)
	want := []string{"ID", "Reference: 1002"}
	if buddies != "" {
		want = append([]string{"Buddy: " + buddies}, want...)
	}
	expectHeaders(t, echo, want...)
	if len(echo.Body) != 0 || echo.Blank {
		t.Fatalf("LOGN echo with body %q", echo.Body)
	}
}

// TestSession1 replays Wimmer's first session: HELO, login, STAT ONLINE
// answered with ACK 600 and a contact's presence, a keep-alive PING, DISC.
func TestSession1(t *testing.T) {
	env := wimmerEnv(t)
	env.addToList(t, 7654321, 1234567, hub.Forward)
	env.addToList(t, 1234567, 7654321, hub.Allow) // accepted long ago
	matthias := imipClient(t, env.addr, "7654321", "pm")
	if err := matthias.SetStatus(testCtx(t), wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}

	c := dialRaw(t, env.addr)
	serverHello(t, c)
	serverLogin(t, c, `7654321 "Matthias"`)

	c.write("STAT ONLINE\r\n12\r\nID: 1003\r\n\r\n")
	ack := c.expect("ACK 600")
	expectHeaders(t, ack, "ID", "Reference: 1003")
	stat := c.expect("STAT ONLINE")
	expectHeaders(t, stat, `From: 7654321 "Matthias"`, "ID")
	if len(stat.Body) != 0 {
		t.Fatalf("STAT body %q", stat.Body)
	}
	// Matthias sees us come online.
	if st := nextStatus(t, matthias, us, wire.StatusOnline); st.Nick != "Wimmer" {
		t.Fatalf("Matthias sees %+v", st)
	}

	c.write("PING\r\n12\r\nID: 1004\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1004")

	c.write("DISC\r\n12\r\nID: 1005\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1005")
	c.expectClosed()
	nextStatus(t, matthias, us, wire.StatusOffline)
}

// TestSession2 replays Wimmer's second session and his notes on the
// lists: the buddy list in LOGN, adding a contact, an incoming request
// accepted, messages both ways, a message to an unknown user, LIST REJECT,
// LIST REMOVE and DISC. The other side of each exchange is a client of
// this server.
func TestSession2(t *testing.T) {
	env := wimmerEnv(t)
	ctx := testCtx(t)
	matthias := imipClient(t, env.addr, "7654321", "pm")
	if err := matthias.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	neu := imipClient(t, env.addr, "3456789", "pn")
	if err := neu.SetStatus(ctx, wire.StatusAway, "beim Essen"); err != nil {
		t.Fatal(err)
	}
	support := imipClient(t, env.addr, "2345678", "ps")
	if err := support.SetStatus(ctx, wire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}

	c := dialRaw(t, env.addr)
	serverHello(t, c)
	serverLogin(t, c, `7654321 "Matthias"`)
	c.write("STAT ONLINE\r\n12\r\nID: 1003\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1003")
	expectHeaders(t, c.expect("STAT ONLINE"), `From: 7654321 "Matthias"`, "ID")

	// We add Neu: ACK 600, then Neu's presence with its text. Neu is
	// asked, with the default text since Wimmer's client sent none.
	c.write("LIST ADD 3456789\r\n40\r\nID: 1004\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1004")
	st := c.expect("STAT AWAY")
	expectHeaders(t, st, `From: 3456789 "Neu"`, "ID")
	if string(st.Body) != "beim Essen" || !st.Blank {
		t.Fatalf("status text %q", st.Body)
	}
	if req := nextEvent[client.ListRequest](t, neu); req != (client.ListRequest{From: us, Nick: "Wimmer", List: "Buddy", Text: DefaultRequestText}) {
		t.Fatalf("Neu's request %+v", req)
	}

	// Odigo Support wants to add us; we accept.
	if err := support.ListAdd(ctx, us, "Want to add you!"); err != nil {
		t.Fatal(err)
	}
	req := c.expect("LIST ADD")
	expectHeaders(t, req, `From: 2345678 "Odigo Support"`, "ID", "List: Buddy")
	if string(req.Body) != "Want to add you!" {
		t.Fatalf("request text %q", req.Body)
	}
	c.write("LIST ACCEPT 2345678 \"Odigo Support\"\r\n27\r\nID: 1005\r\nFrom: 1234567\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1005")
	if r := env.relation(t, 1234567, 2345678); !r.OnAllow || r.OnBlock {
		t.Fatalf("after ACCEPT: %+v", r)
	}

	// Messages both ways; errors-only means no ACK for a good one.
	c.write("MESG\r\n78\r\nID: 1006\r\nTo: 7654321\r\nACK-Type: errors-only\r\nFrom: 1234567\r\n\r\nHello Matthias!")
	m := nextEvent[client.Message](t, matthias)
	if m.From != us || m.Nick != "Wimmer" || m.To != "7654321" || m.Text != "Hello Matthias!" ||
		m.ContentType != wire.ContentTypeText || time.Since(m.Time) > 5*time.Second {
		t.Fatalf("Matthias got %+v", m)
	}
	if _, err := matthias.SendMessage(ctx, us, "Hallo Welt!"); err != nil {
		t.Fatal(err)
	}
	in := c.expect("MESG")
	expectHeaders(t, in, "Content-Type: text/plain;charset=utf-8", `From: 7654321 "Matthias"`, "ID",
		"Time: "+in.Get("Time"), "To: 1234567")
	if sent, err := wire.ParseTime(in.Get("Time")); err != nil || time.Since(sent) > 5*time.Second || string(in.Body) != "Hallo Welt!" {
		t.Fatalf("incoming MESG %s %q: %v", in, in.Body, err)
	}

	// A message to a user that does not exist: 811.
	c.write("MESG\r\n69\r\nID: 1007\r\nTo: 9999999\r\nACK-Type: errors-only\r\nFrom: 1234567\r\n\r\nhallo?")
	expectHeaders(t, c.expect("ACK 811"), "ID", "Reference: 1007")

	// LIST REJECT and LIST REMOVE, as in Wimmer's update.
	c.write("LIST REJECT 4567890\r\n27\r\nID: 1008\r\nFrom: 1234567\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1008")
	if r := env.relation(t, 1234567, 4567890); !r.OnBlock || r.OnAllow {
		t.Fatalf("after REJECT: %+v", r)
	}
	c.write("LIST REMOVE 7654321\r\n40\r\nID: 1009\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1009")
	expectHeaders(t, c.expect("STAT OFFLINE"), `From: 7654321 "Matthias"`, "ID")
	if r := env.relation(t, 1234567, 7654321); r.OnForward {
		t.Fatalf("after REMOVE: %+v", r)
	}

	c.write("DISC\r\n12\r\nID: 1010\r\n\r\n")
	expectHeaders(t, c.expect("ACK 600"), "ID", "Reference: 1010")
	c.expectClosed()
}
