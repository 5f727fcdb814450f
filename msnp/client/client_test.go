package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

func TestHashes(t *testing.T) {
	// The login hash: MD5(salt ‖ password), lowercase hex. The expected
	// value was computed outside Go (md5sum).
	if got := md5hex(testSalt + testPassword); got != testHash {
		t.Fatalf("md5hex = %s, want %s", got, testHash)
	}
	// Seed 003's challenge example: MD5("20881396011366812350" ‖
	// "Q1P7W2E4J9R8U3S5") = 0212eaad0876afb8505859ca75d21a78, which both
	// md5sum and crypto/md5 confirm.
	sum := md5.Sum([]byte("20881396011366812350Q1P7W2E4J9R8U3S5"))
	if got := hex.EncodeToString(sum[:]); got != "0212eaad0876afb8505859ca75d21a78" {
		t.Fatalf("challenge answer = %s", got)
	}
}

// profile is a text/x-msmsgsprofile payload like the one in seed 003.
const profile = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\n" +
	"LoginTime: 1011252477\r\nEmailEnabled: 1\r\nMemberIdHigh: 84736\r\nMemberIdLow: -1434729391\r\n" +
	"lang_preference: 1033\r\npreferredEmail: venky_dude@hotmail.com\r\ncountry: IN\r\nPostalCode:\r\n" +
	"Gender: M\r\nKid: 0\r\nAge: 22\r\nsid: 517\r\nkv: 2\r\nMSPAuth: 2AAAAAAAADU0p4uxxxJtDJozJSlUTS0i7YpwnC9PUHRv56YKxxxCTWmg$$\r\n" +
	"ClientIP: 203.0.113.7\r\nClientPort: 4321\r\n\r\n"

const emailNotification = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinitialemailnotification; charset=UTF-8\r\n\r\n" +
	"Inbox-Unread: 293\r\nFolders-Unread: 0\r\nInbox-URL: /cgi-bin/HoTMaiL\r\nFolders-URL: /cgi-bin/folders\r\n" +
	"Post-URL: http://www.hotmail.com\r\n\r\n"

// TestLoginSeed003 replays the session of seed 003: the dispatch server
// redirects with XFR NS, the notification server logs us in with the
// seed's salt, sends the profile, answers the first CHG with ILN lines and
// later sends the seed's challenge.
func TestLoginSeed003(t *testing.T) {
	ns := newFake(t, func(p *peer) {
		p.expect("VER 3 MSNP7 MSNP6 MSNP5 MSNP4 CVR0")
		p.send("VER 3 MSNP7 MSNP6 MSNP5 MSNP4")
		p.expect("INF 4")
		p.send("INF  4  MD5") // the seed's double spaces
		p.expect("USR 5 MD5 I venky_dude@hotmail.com")
		p.send("USR 5  MD5  S 989048851.1851137130")
		p.expect("USR 6 MD5 S " + testHash)
		p.send("USR 6 OK venky_dude@hotmail.com venkat")
		p.sendMsg("MSG Hotmail Hotmail", profile)
		p.expect("CHG 7 NLN")
		p.send("CHG 7 NLN")
		p.Send("ILN 7 NLN btxxxe@hotmail.com nick\n") // bare LF is accepted
		p.send("ILN 7 AWY wmpyxxx@msn.com mike", "ILN 7 BSY tehpxxpxx@hotmail.com yea%20xxx")
		// The reader answers the challenge before it delivers the next
		// event, so the client's PNG below comes after the QRY.
		p.send("CHL 0 20881396011366812350")
		p.sendMsg("MSG Hotmail Hotmail", emailNotification)
		p.expectPayload("QRY 8 msmsgs@msnmsgr.com 32", "0212eaad0876afb8505859ca75d21a78")
		p.send("QRY 8")
		p.expect("PNG")
		p.send("QNG")
		p.expect("OUT")
		p.ExpectEOF()
	})
	ds := newFake(t, func(p *peer) {
		p.expect("VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0")
		p.send("VER 0 MSNP7 MSNP6 MSNP5 MSNP4")
		p.expect("INF 1")
		p.send("INF 1 MD5")
		p.expect("USR 2 MD5 I venky_dude@hotmail.com")
		p.send("XFR 2  NS " + ns.Addr() + "  0") // spacing as in the seed
		p.ExpectEOF()
	})

	ctx := testCtx(t)
	c, err := Dial(ctx, ds.Addr(), Options{Versions: []string{"MSNP7", "MSNP6", "MSNP5", "MSNP4"}, NoCVR: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "venky_dude@hotmail.com", testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if c.Dialect() != 7 || c.Email() != "venky_dude@hotmail.com" || c.Friendly() != "venkat" || c.Verified() {
		t.Fatalf("after login: dialect %d, %q %q %v", c.Dialect(), c.Email(), c.Friendly(), c.Verified())
	}
	prof, err := c.Profile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Get("ClientIP") != "203.0.113.7" || prof.Get("ClientPort") != "4321" || prof.Get("lang_preference") != "1033" {
		t.Fatalf("profile = %v", prof)
	}
	if sm := nextOf[SystemMessage](t, c.Events()); sm.ContentType != "text/x-msmsgsprofile" {
		t.Fatalf("first system message %q", sm.ContentType)
	}

	if err := c.SetStatus(ctx, StatusOnline); err != nil {
		t.Fatal(err)
	}
	want := []Presence{
		{Email: "btxxxe@hotmail.com", Friendly: "nick", Status: "NLN", Initial: true},
		{Email: "wmpyxxx@msn.com", Friendly: "mike", Status: "AWY", Initial: true},
		{Email: "tehpxxpxx@hotmail.com", Friendly: "yea xxx", Status: "BSY", Initial: true},
	}
	for i, w := range want {
		if got := nextOf[Presence](t, c.Events()); got != w {
			t.Fatalf("presence %d = %+v, want %+v", i, got, w)
		}
	}
	sm := nextOf[SystemMessage](t, c.Events())
	if sm.ContentType != "text/x-msmsgsinitialemailnotification" || sm.Fields.Get("Inbox-Unread") != "293" {
		t.Fatalf("email notification = %+v", sm)
	}
	// The QRY went out before the e-mail notification was delivered; the
	// ping is answered after the server checked it.
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout(); err != nil {
		t.Fatal(err)
	}
	last := drainUntilClosed(t, c.Events())
	if d, ok := last.(Disconnected); !ok || !errors.Is(d.Err, ErrClosed) || d.Reason != "" {
		t.Fatalf("last event = %#v", last)
	}
	if _, err := c.Do(ctx, "URL", "INBOX"); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after logout: %v", err)
	}
}

func TestLoginDialects(t *testing.T) {
	tests := []struct {
		verReply string
		dialect  int
		cvr      bool
		usrOK    string
		friendly string
		verified bool
	}{
		{"VER 0 MSNP7 CVR0", 7, true, "USR 4 OK a@b.c Alice%20Smith 1", "Alice Smith", true},
		{"VER 0 MSNP5 CVR0", 5, true, "USR 4 OK a@b.c Alice", "Alice", false},
		{"VER 0 MSNP4 CVR0", 4, false, "USR 3 OK a@b.c Alice", "Alice", false},
		{"VER 0 MSNP2", 2, false, "USR 3 OK a@b.c Alice", "Alice", false},
	}
	for _, tt := range tests {
		t.Run(tt.verReply, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.expect("VER 0 MSNP7 MSNP6 MSNP5 MSNP4 MSNP3 MSNP2 CVR0")
				p.send(tt.verReply)
				p.expect("INF 1")
				p.send("INF 1 MD5")
				trid := 2
				if tt.cvr {
					p.expect("CVR 2 0x0409 winnt 5.1 i386 MSMSGS 4.7.0105 MSMSGS a@b.c")
					p.send("CVR 2 4.7.0105 4.7.0105 4.5.0127 http://x/ http://y/")
					trid = 3
				}
				p.expect("USR " + strconv.Itoa(trid) + " MD5 I a@b.c")
				p.send("USR " + strconv.Itoa(trid) + " MD5 S " + testSalt)
				p.expect("USR " + strconv.Itoa(trid+1) + " MD5 S " + testHash)
				p.send(tt.usrOK)
				p.ExpectEOF()
			})
			c := dialLogin(t, f, "a@b.c", Options{})
			if c.Dialect() != tt.dialect || c.Friendly() != tt.friendly || c.Verified() != tt.verified {
				t.Fatalf("dialect %d friendly %q verified %v", c.Dialect(), c.Friendly(), c.Verified())
			}
			c.Close()
		})
	}
}

func TestLoginErrors(t *testing.T) {
	t.Run("911", func(t *testing.T) {
		f := newFake(t, func(p *peer) {
			p.expect("VER 0 MSNP7 MSNP6 MSNP5 MSNP4 MSNP3 MSNP2 CVR0")
			p.send("VER 0 MSNP7 CVR0")
			p.expect("INF 1")
			p.send("INF 1 MD5")
			p.line() // CVR
			p.send("CVR 2 1 1 1 x y")
			p.expect("USR 3 MD5 I a@b.c")
			p.send("USR 3 MD5 S " + testSalt)
			p.expect("USR 4 MD5 S " + md5hex(testSalt+"wrong"))
			p.send("911 4")
		})
		ctx := testCtx(t)
		c, err := Dial(ctx, f.Addr(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login(ctx, "a@b.c", "wrong")
		var se *ServerError
		if !errors.As(err, &se) || se.Code != 911 || se.Command != "USR" {
			t.Fatalf("Login = %v, want ServerError 911", err)
		}
		if se.Error() != "msnp: USR failed: error 911 (authentication failed)" {
			t.Fatalf("message %q", se.Error())
		}
		// The server hangs up: the Client ends with Disconnected(EOF).
		last := drainUntilClosed(t, c.Events())
		if d, ok := last.(Disconnected); !ok || !errors.Is(d.Err, io.EOF) {
			t.Fatalf("last event = %#v", last)
		}
		if !errors.Is(c.Err(), io.EOF) {
			t.Fatalf("Err = %v", c.Err())
		}
	})
	t.Run("no common dialect", func(t *testing.T) {
		f := newFake(t, func(p *peer) {
			p.expect("VER 0 MSNP3 CVR0")
			p.send("VER 0 0 MSNP8 MSNP9")
			p.ExpectEOF()
		})
		ctx := testCtx(t)
		c, err := Dial(ctx, f.Addr(), Options{Versions: []string{"MSNP3"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx, "a@b.c", "x"); !errors.Is(err, ErrNoDialect) {
			t.Fatalf("Login = %v", err)
		}
		c.Close()
	})
	t.Run("no MD5", func(t *testing.T) {
		f := newFake(t, func(p *peer) {
			p.expect("VER 0 MSNP4 CVR0")
			p.send("VER 0 MSNP4 CVR0")
			p.expect("INF 1")
			p.send("INF 1 CTP,SHA")
			p.ExpectEOF()
		})
		ctx := testCtx(t)
		c, err := Dial(ctx, f.Addr(), Options{Versions: []string{"MSNP4", "CVR0"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx, "a@b.c", "x"); !errors.Is(err, ErrNoMD5) {
			t.Fatalf("Login = %v", err)
		}
		c.Close()
	})
	t.Run("redirect target down", func(t *testing.T) {
		dead := newDeadAddr(t)
		f := newFake(t, func(p *peer) {
			p.expect("VER 0 MSNP2 CVR0")
			p.send("VER 0 MSNP2")
			p.expect("INF 1")
			p.send("INF 1 MD5")
			p.expect("USR 2 MD5 I a@b.c")
			p.send("XFR 2 NS " + dead)
			p.ExpectEOF()
		})
		ctx := testCtx(t)
		c, err := Dial(ctx, f.Addr(), Options{Versions: []string{"MSNP2"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx, "a@b.c", "x"); err == nil {
			t.Fatal("Login succeeded")
		}
		if _, ok := drainUntilClosed(t, c.Events()).(Disconnected); !ok {
			t.Fatal("no Disconnected")
		}
		c.Close()
	})
}

// newDeadAddr returns an address nobody listens on.
func newDeadAddr(t *testing.T) string {
	f := newFake(t)
	f.Stop()
	return f.Addr()
}

func TestSync(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "alice@example.com", "Alice")
		// MSNP7 list with groups, phone numbers (PRP/BPR without TrID).
		p.expect("SYN 5 0")
		p.send(
			"SYN 5 12",
			"GTC 5 12 A",
			"BLP 5 12 AL",
			"PRP 12 PHH 555%20123",
			"LSG 5 12 1 2 0 Other%20Contacts 0",
			"LSG 5 12 2 2 1 Co%20workers 0",
			"LST 5 FL 12 1 2 bob@example.com Bob 0",
			"BPR 12 bob@example.com PHM 555-1",
			"LST 5 FL 12 2 2 carol@example.com Carol%20C 0,1",
			"LST 5 AL 12 1 2 bob@example.com Bob",
			"LST 5 AL 12 2 2 carol@example.com Carol%20C",
			"LST 5 BL 12 0 0",
			"LST 5 RL 12 1 1 bob@example.com Bob",
		)
		// Same version: just the serial.
		p.expect("SYN 6 12")
		p.send("SYN 6 12")
		// A new account: every list empty.
		p.expect("SYN 7 0")
		p.send("SYN 7 1", "GTC 7 1 A", "BLP 7 1 AL", "LSG 7 1 1 1 0 Other%20Contacts 0",
			"LST 7 FL 1 0 0", "LST 7 AL 1 0 0", "LST 7 BL 1 0 0", "LST 7 RL 1 0 0")
		// Interleaved: a presence event between list lines.
		p.expect("SYN 8 0")
		p.send("SYN 8 1", "GTC 8 1 N", "BLP 8 1 BL", "LST 8 FL 1 0 0", "LST 8 AL 1 0 0",
			"NLN NLN bob@example.com Bob", "LST 8 BL 1 0 0", "LST 8 RL 1 0 0")
		p.expect("OUT")
	})
	c := dialLogin(t, f, "alice@example.com", Options{})
	ctx := testCtx(t)

	l, err := c.Sync(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &List{
		Serial: 12, Prompt: "A", Privacy: "AL",
		Phones: map[string]string{"PHH": "555 123"},
		Groups: []Group{{ID: 0, Name: "Other Contacts"}, {ID: 1, Name: "Co workers"}},
		Forward: []Contact{
			{Email: "bob@example.com", Friendly: "Bob", Groups: []int{0}, Phones: map[string]string{"PHM": "555-1"}},
			{Email: "carol@example.com", Friendly: "Carol C", Groups: []int{0, 1}},
		},
		Allow:   []Contact{{Email: "bob@example.com", Friendly: "Bob"}, {Email: "carol@example.com", Friendly: "Carol C"}},
		Reverse: []Contact{{Email: "bob@example.com", Friendly: "Bob"}},
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("Sync =\n%+v\nwant\n%+v", l, want)
	}

	l, err = c.Sync(ctx, 12)
	if err != nil || !reflect.DeepEqual(l, &List{Serial: 12}) {
		t.Fatalf("Sync(12) = %+v, %v", l, err)
	}

	l, err = c.Sync(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Serial != 1 || len(l.Groups) != 1 || l.Forward != nil || l.Allow != nil || l.Block != nil || l.Reverse != nil {
		t.Fatalf("empty Sync = %+v", l)
	}

	l, err = c.Sync(ctx, 0)
	if err != nil || l.Prompt != "N" || l.Privacy != "BL" {
		t.Fatalf("Sync = %+v, %v", l, err)
	}
	if p := nextOf[Presence](t, c.Events()); p.Email != "bob@example.com" || p.Initial {
		t.Fatalf("presence = %+v", p)
	}
	c.Logout()
}

func TestListCommands(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "alice@example.com", "Alice")
		p.expect("ADD 5 FL bob@example.com Bob%20B 1")
		p.send("ADD 5 FL 13 bob@example.com Bob%20B 1")
		p.expect("ADD 6 AL bob@example.com bob@example.com")
		p.send("ADD 6 AL 14 bob@example.com bob@example.com")
		p.expect("ADD 7 BL bob@example.com bob@example.com")
		p.send("219 7")
		p.expect("REM 8 FL bob@example.com 1")
		p.send("REM 8 FL 15 bob@example.com 1")
		p.expect("REM 9 AL bob@example.com")
		p.send("REM 9 AL 16 bob@example.com")
		p.expect("ADG 10 Best%20friends 0")
		p.send("ADG 10 17 Best%20friends 2 0")
		p.expect("REG 11 2 Old%20friends 0")
		p.send("REG 11 18 2 Old%20friends 0")
		p.expect("RMG 12 2")
		p.send("RMG 12 19 2")
		p.expect("RMG 13 0")
		p.send("230 13")
		p.expect("BLP 14 BL")
		p.send("BLP 14 20 BL")
		p.expect("GTC 15 N")
		p.send("GTC 15 21 N")
		p.expect("REA 16 alice@example.com Alice%20%E2%98%85")
		p.send("REA 16 22 alice@example.com Alice%20%E2%98%85")
		p.expect("URL 17 INBOX")
		p.send("URL 17 /cgi-bin/HoTMaiL https://login.example/ppsecure/md5auth.srf?lc=1033 2")
		p.expect("CHG 18 FLN")
		p.send("201 18")
		p.expect("SND 19 carol@example.com")
		p.send("SND 19 OK")
		p.expect("OUT")
	})
	c := dialLogin(t, f, "alice@example.com", Options{})
	ctx := testCtx(t)
	check := func(what string, serial, want int, err error) {
		t.Helper()
		if err != nil || serial != want {
			t.Fatalf("%s = %d, %v; want %d", what, serial, err, want)
		}
	}
	checkCode := func(what string, err error, code int) {
		t.Helper()
		var se *ServerError
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("%s: err = %v, want %d", what, err, code)
		}
	}
	s, err := c.Add(ctx, ListForward, "bob@example.com", "Bob B", 1)
	check("Add FL", s, 13, err)
	s, err = c.Add(ctx, ListAllow, "bob@example.com", "", -1)
	check("Add AL", s, 14, err)
	_, err = c.Add(ctx, ListBlock, "bob@example.com", "", -1)
	checkCode("Add BL", err, 219)
	s, err = c.Remove(ctx, ListForward, "bob@example.com", 1)
	check("Remove FL", s, 15, err)
	s, err = c.Remove(ctx, ListAllow, "bob@example.com", -1)
	check("Remove AL", s, 16, err)
	s, id, err := c.AddGroup(ctx, "Best friends")
	check("AddGroup", s, 17, err)
	if id != 2 {
		t.Fatalf("group id %d", id)
	}
	s, err = c.RenameGroup(ctx, 2, "Old friends")
	check("RenameGroup", s, 18, err)
	s, err = c.RemoveGroup(ctx, 2)
	check("RemoveGroup", s, 19, err)
	_, err = c.RemoveGroup(ctx, 0)
	checkCode("RemoveGroup 0", err, 230)
	s, err = c.SetPrivacy(ctx, PrivacyBlockAll)
	check("SetPrivacy", s, 20, err)
	s, err = c.SetPrompt(ctx, "N")
	check("SetPrompt", s, 21, err)
	s, err = c.Rename(ctx, "Alice ★")
	check("Rename", s, 22, err)
	if c.Friendly() != "Alice ★" {
		t.Fatalf("Friendly = %q", c.Friendly())
	}
	u, err := c.URL(ctx, "INBOX")
	if err != nil || u != (URLInfo{"/cgi-bin/HoTMaiL", "https://login.example/ppsecure/md5auth.srf?lc=1033", "2"}) {
		t.Fatalf("URL = %+v, %v", u, err)
	}
	checkCode("CHG FLN", c.SetStatus(ctx, "FLN"), 201)
	reply, err := c.Do(ctx, "SND", "carol@example.com")
	if err != nil || reply.String() != "SND 19 OK" {
		t.Fatalf("Do = %v, %v", reply, err)
	}
	c.Logout()
}

func TestAsyncEvents(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "venky_dude@hotmail.com", "venkat")
		p.send(
			"NLN AWY deaxxxx@hotmail.com Venkatesh",
			"FLN deaxxxx@hotmail.com",
			"ADD 0 RL 70 carol@example.com Carol%20C",
			"REM 0 RL 71 carol@example.com",
			"RNG 11742066 64.4.13.74:1863 CKI 989495494.750408580 deaxxxx@hotmail.com Venkatesh",
			"XFR 0 NS 10.0.0.1:1863 0 10.0.0.2:1863", // unsolicited, ignored
			"500 0",                                  // unmatched error, ignored
		)
		p.sendMsg("MSG Hotmail Hotmail", "MIME-Version: 1.0\r\nContent-Type: application/x-msmsgssystemmessage\r\n\r\nType: 1\r\nArg1: 5\r\n")
		p.expect("OUT")
	})
	c := dialLogin(t, f, "venky_dude@hotmail.com", Options{})
	want := []Event{
		Presence{Email: "deaxxxx@hotmail.com", Friendly: "Venkatesh", Status: "AWY"},
		Offline{Email: "deaxxxx@hotmail.com"},
		ReverseAdded{Email: "carol@example.com", Friendly: "Carol C", Serial: 70},
		ReverseRemoved{Email: "carol@example.com", Serial: 71},
		Ring{SessionID: "11742066", Addr: "64.4.13.74:1863", Cookie: "989495494.750408580",
			Caller: "deaxxxx@hotmail.com", CallerName: "Venkatesh"},
	}
	for i, w := range want {
		if got := next(t, c.Events()); got != w {
			t.Fatalf("event %d = %#v, want %#v", i, got, w)
		}
	}
	sm := nextOf[SystemMessage](t, c.Events())
	if sm.ContentType != "application/x-msmsgssystemmessage" || string(sm.Body) != "Type: 1\r\nArg1: 5\r\n" || sm.Fields.Get("Arg1") != "5" {
		t.Fatalf("system message %+v", sm)
	}
	c.Logout()
}

func TestSignedOutElsewhere(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "a@b.c", "A")
		p.expect("PNG")
		p.send("OUT OTH")
		p.ExpectEOF()
	})
	c := dialLogin(t, f, "a@b.c", Options{})
	err := c.Ping(testCtx(t))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrSignedOut) {
		t.Fatalf("Ping = %v", err)
	}
	d, ok := drainUntilClosed(t, c.Events()).(Disconnected)
	if !ok || d.Reason != "OTH" || !errors.Is(d.Err, ErrSignedOut) {
		t.Fatalf("last event %#v", d)
	}
}

func TestReplyRouting(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "a@b.c", "A")
		// Three concurrent requests answered in reverse order.
		var got []string
		for range 3 {
			got = append(got, p.line())
		}
		for i := len(got) - 1; i >= 0; i-- {
			f := strings.Fields(got[i])
			p.send("URL " + f[1] + " /" + f[2] + " http://x/ " + f[1])
		}
		// A request the client gives up on; its late reply is dropped.
		p.expect("URL 8 SLOW")
		p.expect("URL 9 INBOX")
		p.send("URL 8 /late http://x/ 8", "URL 9 /inbox http://x/ 9")
		p.expect("OUT")
	})
	c := dialLogin(t, f, "a@b.c", Options{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for _, kind := range []string{"INBOX", "COMPOSE", "PASSWORD"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := c.URL(ctx, kind)
			if err != nil || u.RRU != "/"+kind {
				t.Errorf("URL(%s) = %+v, %v", kind, u, err)
			}
		}()
	}
	wg.Wait()
	short, cancel := context.WithTimeout(ctx, fakeserver.ShortTimeout)
	defer cancel()
	if _, err := c.URL(short, "SLOW"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("URL(SLOW) = %v", err)
	}
	u, err := c.URL(ctx, "INBOX")
	if err != nil || u.RRU != "/inbox" {
		t.Fatalf("URL after timeout = %+v, %v", u, err)
	}
	c.Logout()
}

func TestEventOverflow(t *testing.T) {
	f := newFake(t, func(p *peer) {
		login(p, "a@b.c", "A")
		// One write: the client drops the connection in the middle.
		var lines string
		for i := range 5 {
			lines += "NLN NLN c" + strconv.Itoa(i) + "@b.c C\r\n"
		}
		p.Send(lines)
		p.Arm()
		io.Copy(io.Discard, p.R) // until the client has gone
	})
	c := dialLogin(t, f, "a@b.c", Options{EventBuffer: 2})
	deadline := time.Now().Add(5 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(c.Err(), ErrEventOverflow) {
		t.Fatalf("Err = %v", c.Err())
	}
	n := 0
	for range c.Events() {
		n++
	}
	if n != 2 {
		t.Fatalf("%d events buffered, want 2", n)
	}
}

func TestCloseDoesNotLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	sbFake := newFake(t, func(p *peer) {
		p.expect("USR 1 a@b.c 123.456")
		p.send("USR 1 OK a@b.c A")
		// never says anything else; the client closes abruptly
		p.ExpectEOF()
	})
	ns := switchboardGiver(t, "a@b.c", "A", sbFake.Addr(), "123.456")
	c := dialLogin(t, ns, "a@b.c", Options{})
	sb, err := c.StartChat(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads the event channels.
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close() // twice is fine
	sb.Close()
	ns.Stop()
	sbFake.Stop()
	settleGoroutines(t, base)
}

// TestMachineGUID: a Client names itself with Options.MachineGUID, or
// with a random GUID of its own that stays the same for its lifetime.
func TestMachineGUID(t *testing.T) {
	a, b := newClient(Options{}), newClient(Options{})
	ga := a.MachineGUID()
	if len(ga) != 38 || ga[0] != '{' || ga[37] != '}' {
		t.Fatalf("GUID %q", ga)
	}
	if a.MachineGUID() != ga {
		t.Fatal("the GUID changed")
	}
	if b.MachineGUID() == ga {
		t.Fatal("two clients share a random GUID")
	}
	const fixed = "{F26D1F07-95E2-403C-BC18-D4BFED493428}"
	if got := newClient(Options{MachineGUID: fixed}).MachineGUID(); got != fixed {
		t.Fatalf("GUID %q, want %q", got, fixed)
	}
}
