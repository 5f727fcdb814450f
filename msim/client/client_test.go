package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/msim/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

// TestLoginSeed replays the capture's second session: greeting and server
// settings, pidgin's login2, \lc\2, pidgin's sign-on answered with the
// capture's data, then Tom's presence and the undocumented bm 4.
func TestLoginSeed(t *testing.T) {
	f := newFake(t, func(p *peer) {
		signedOn(p)
		p.Send(`\bm\100\f\6221\msg\|s|1|ss|:-)|ls||ip|0|p|0\final\`, `\ka\\final\`, `\bm\4\f\6221\msg\\final\`)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	sess, err := c.Login(ctx(t), seedEmail, seedPassword)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if sess.SessionKey != seedSessKey || sess.UserID != seedUID || sess.ProfileID != seedUID || sess.UniqueNick != "shellreef" || sess.Proof != "shellreef" {
		t.Fatalf("session = %+v", sess)
	}
	if c.SessionKey() != seedSessKey || c.UserID() != seedUID {
		t.Fatal("accessors")
	}
	prof := sess.Profile
	if prof.UserID != seedUID || prof.UserName != "shellreef" || prof.DisplayName != "Jeff" || prof.TotalFriends != 69 ||
		prof.ImageURL != "http://myspace-513.vo.llnwd.net/00928/31/51/928941513_m.jpg" || len(prof.Fields) != 7 {
		t.Fatalf("profile = %+v", prof)
	}
	if !sess.Settings.Has("OfflineMessageMode") || sess.Settings.Bool("ShowOnlyToList") || sess.Settings.Get("LastLogin") != "12818920" {
		t.Fatalf("settings = %q", sess.Settings)
	}
	want := []Contact{
		{ContactID: 6221, GroupName: "IM Friends", Position: 1, Visibility: 1, Headline: ":-)", Fields: wire.ParseDict(seedContacts)[:11]},
		{ContactID: 15187323, GroupName: "Recent Contacts", Visibility: 1, Fields: wire.ParseDict(seedContacts)[11:]},
	}
	if !reflect.DeepEqual(sess.Contacts, want) {
		t.Fatalf("contacts = %+v\nwant %+v", sess.Contacts, want)
	}
	for _, rid := range []int{16339203, 16339206} {
		push := next[PersistPush](t, c)
		if push.Reply.RID != rid || push.Reply.DataSet != wire.DSServerSetting || push.Reply.Body.Get("MaxContacts") != "1000" {
			t.Fatalf("push = %+v", push)
		}
	}
	if st := next[Status](t, c); st != (Status{UserID: 6221, Status: wire.StatusOnline, Text: ":-)"}) {
		t.Fatalf("status = %+v", st)
	}
	if a := next[AddedBy](t, c); a.UserID != 6221 {
		t.Fatalf("added by = %+v", a)
	}
	c.Close()
	if d := next[Disconnected](t, c); !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events not closed")
	}
	if err := c.SetStatus(ctx(t), 1, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestSeedRequests replays the capture's requests byte for byte (with the
// capture's rids and client version 673) and its replies.
func TestSeedRequests(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p, seedGreeting, seedLC2, 673)
		serverSignOn(p, seedSessKey, 1)

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\5\uid\3656574\lid\7\rid\57\body\UserName=testuser\final\`)
		p.Send(persistr(257, 5, 7, 57, dict("UserID=15187323", "ImageURL=http:/1/1x.myspace.com/1images/1no_pic.gif",
			"DisplayName=testuserguy", "UserName=testuser", "BandName=", "SongName=")))

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\1\uid\3656574\lid\17\rid\59\body\UserID=15187323\final\`)
		p.Send(persistr(257, 1, 17, 59, dict("UserID=0", "Sound=True", "PrivacyMode=0", "ShowOnlyToList=False",
			"OfflineMessageMode=0", "Headline=", "AvatarUrl=", "Alert=0", "ShowAvatar=True", "IMName=", "ClientVersion=0")))

		p.expect(`\addbuddy\\sesskey\267577152\newprofileid\15187323\reason\\final\`)
		p.expect(`\persist\1\sesskey\267577152\cmd\514\dsn\0\uid\3656574\lid\9\rid\60\body\ContactID=15187323` +
			"\x1c" + `GroupName=` + "\x1c" + `Position=1000` + "\x1c" + `Visibility=1` + "\x1c" + `NickName=` + "\x1c" + `NameSelect=0\final\`)
		p.expect(`\blocklist\\sesskey\267577152\idlist\a+|15187323|b-|15187323\final\`)
		p.Send(`\bm\4\f\15187323\msg\\final\`, `\bm\100\f\15187323\msg\|s|0|ss|Offline\final\`)

		p.expect(`\bm\121\sesskey\267577152\t\15187323\cv\673\msg\%typing%\final\`)
		// Two lookups at once: they may be written in either order.
		two := []string{p.read(), p.read()}
		sort.Strings(two)
		if want := []string{`\persist\1\sesskey\267577152\cmd\1\dsn\4\uid\3656574\lid\3\rid\68\body\UserID=6221\final\`,
			`\persist\1\sesskey\267577152\cmd\1\dsn\4\uid\3656574\lid\3\rid\69\body\UserID=15187323\final\`}; !reflect.DeepEqual(two, want) {
			p.Failf("fake: lookups %q", two)
		}
		p.Send(persistr(257, 4, 3, 68, dict("UserID=6221", "ImageURL=http:/1/1myspace-502.vo.llnwd.net/100000/120/152/12502_m.jpg",
			"DisplayName=Tom", "UserName=tom", "BandName=Sherwood", "SongName=The Only Song", "TotalFriends=1")))
		p.Send(persistr(257, 4, 3, 69, dict("UserID=15187323", "ImageURL=http:/1/1x.myspace.com/1images/1no_pic.gif",
			"DisplayName=testuserguy", "UserName=testuser", "BandName=", "SongName=", "TotalFriends=41")))

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\2\uid\3656574\lid\6\rid\74\body\\final\`)
		p.Send(`\persistr\\cmd\1025\dsn\2\uid\3656574\lid\6\rid\74\body\ErrorMessage=Request timeout\final\`)

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\5\uid\3656574\lid\7\rid\79\body\UserName=testuser2222222222\final\`)
		p.Send(`\persistr\\cmd\257\dsn\5\uid\3656574\lid\7\rid\79\body\UserName=testuser2222222222\final\`)

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\7\lid\18\uid\3656574\rid\82\body\\final\`)
		p.Send(`\persistr\\cmd\257\dsn\7\uid\3656574\lid\18\rid\82\body\EventInvitation=On` + "\x1c" + `Mail=On\final\`)

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\2\uid\3656574\lid\6\rid\83\body\\final\`)
		p.Send(persistr(257, 2, 6, 83, dict("GroupID=25760886", "GroupName=IM Friends", "Position=1", "GroupFlag=131073",
			"GroupID=25760887", "GroupName=MySpaceIM Rooms", "Position=2", "GroupFlag=196612")))

		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\0\uid\3656574\lid\2\rid\86\body\ContactID=6221\final\`)
		p.Send(persistr(257, 0, 2, 86, dict("ContactID=6221", "ContactID=6221", "Headline=:-)", "Position=1", "GroupName=IM Friends",
			"Visibility=1", "AvatarUrl=", "ShowAvatar=False", "LastLogin=128182824000000000", "IMName=")))
		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\0\uid\3656574\lid\2\rid\87\body\ContactID=15187323\final\`)
		p.Send(`\persistr\\cmd\1025\dsn\0\uid\3656574\lid\2\rid\87\body\ContactID=15187323` + "\x1c" + `ErrorMessage=Request timeout\final\`)
		p.ExpectClose()
	})
	c := dial(t, f, Options{ClientVersion: 673})
	if _, err := c.Login(ctx(t), seedEmail, seedPassword); err != nil {
		t.Fatal(err)
	}
	next[PersistPush](t, c)
	next[PersistPush](t, c)

	c.setRID(57)
	prof, err := c.LookupUserName(ctx(t), "testuser")
	if err != nil || prof.UserID != 15187323 || prof.UserName != "testuser" || prof.DisplayName != "testuserguy" ||
		prof.ImageURL != "http://x.myspace.com/images/no_pic.gif" {
		t.Fatalf("LookupUserName = %+v, %v", prof, err)
	}
	c.setRID(59)
	info, err := c.IMInfo(ctx(t), 15187323)
	if err != nil || info.Get("ShowAvatar") != "True" || len(info) != 11 {
		t.Fatalf("IMInfo = %q, %v", info, err)
	}
	if err := c.AddBuddy(ctx(t), 15187323, ""); err != nil {
		t.Fatal(err)
	}
	if a := next[AddedBy](t, c); a.UserID != 15187323 {
		t.Fatalf("AddedBy = %+v", a)
	}
	if st := next[Status](t, c); st != (Status{UserID: 15187323, Status: wire.StatusOffline, Text: "Offline"}) {
		t.Fatalf("Status = %+v", st)
	}
	if err := c.Typing(ctx(t), 15187323, true); err != nil {
		t.Fatal(err)
	}

	// Two lookups at once; the replies are routed by rid.
	c.setRID(68)
	type result struct {
		p   Profile
		err error
	}
	tom := make(chan result, 1)
	tctx := ctx(t)
	go func() {
		p, err := c.Profile(tctx, 6221)
		tom <- result{p, err}
	}()
	for c.nextRID() != 69 {
		time.Sleep(time.Millisecond)
	}
	test, err := c.Profile(ctx(t), 15187323)
	if err != nil || test.UserName != "testuser" || test.TotalFriends != 41 {
		t.Fatalf("Profile(15187323) = %+v, %v", test, err)
	}
	if r := <-tom; r.err != nil || r.p.UserName != "tom" || r.p.BandName != "Sherwood" || r.p.SongName != "The Only Song" {
		t.Fatalf("Profile(6221) = %+v, %v", r.p, r.err)
	}

	c.setRID(74)
	var pe *PersistError
	if _, err := c.Groups(ctx(t)); !errors.As(err, &pe) || pe.Reply.Body.Get("ErrorMessage") != "Request timeout" || pe.Reply.Cmd != 1025 {
		t.Fatalf("Groups = %v", err)
	} else if pe.Error() != "msim client: persist 2/6 (cmd 1025) failed: Request timeout" {
		t.Fatalf("PersistError = %q", pe.Error())
	}
	c.setRID(79)
	if p, err := c.LookupUserName(ctx(t), "testuser2222222222"); !errors.Is(err, ErrNoSuchUser) || p.UserName != "testuser2222222222" {
		t.Fatalf("lookup of a missing user = %+v, %v", p, err)
	}
	c.setRID(82)
	if items, err := c.NewItems(ctx(t)); err != nil || items.Get("Mail") != "On" || items.Get("EventInvitation") != "On" {
		t.Fatalf("NewItems = %q, %v", items, err)
	}
	c.setRID(83)
	groups, err := c.Groups(ctx(t))
	if err != nil || !reflect.DeepEqual(groups, []Group{{25760886, "IM Friends", 131073, 1}, {25760887, "MySpaceIM Rooms", 196612, 2}}) {
		t.Fatalf("Groups = %+v, %v", groups, err)
	}
	c.setRID(86)
	ct, err := c.ContactInfo(ctx(t), 6221)
	if err != nil || ct.ContactID != 6221 || ct.GroupName != "IM Friends" || ct.Headline != ":-)" || ct.Blocked() || len(ct.Fields) != 9 {
		t.Fatalf("ContactInfo = %+v, %v", ct, err)
	}
	if _, err := c.ContactInfo(ctx(t), 15187323); !errors.As(err, &pe) {
		t.Fatalf("ContactInfo error reply = %v", err)
	}
}

func (c *Client) nextRID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rid + 1
}

// TestFirstSession replays the capture's first session: the account had
// no screen name, so pidgin would not sign on; the official client looked
// names up, set one and went on.
func TestFirstSession(t *testing.T) {
	f := newFake(t, func(p *peer) {
		serverLogin(p, seedGreeting1, seedLC2First, wire.PidginClientVersion)
		p.expect(`\persist\1\sesskey\263958216\cmd\1\dsn\5\uid\3656574\lid\7\rid\33\body\UserName=jeff\final\`)
		p.Send(persistr(257, 5, 7, 33, dict("UserID=149935864", "ImageURL=http:/1/1a816.ac-images.myspacecdn.com/1images01/116/1m_cf372e544a0a386ebe3b78924d37c947.jpg",
			"DisplayName=Jeff", "UserName=jeff", "BandName=", "SongName=")))
		p.expect(`\persist\1\sesskey\263958216\cmd\1\dsn\5\uid\3656574\lid\7\rid\37\body\UserName=shellreef\final\`)
		p.Send(`\persistr\\cmd\257\dsn\5\uid\3656574\lid\7\rid\37\body\UserName=shellreef\final\`)
		p.expect(`\persist\1\sesskey\263958216\cmd\2\dsn\9\uid\3656574\lid\14\rid\39\body\UserName=shellreef\final\`)
		p.Send(`\persistr\\cmd\258\dsn\9\uid\3656574\lid\14\rid\39\body\UserName=shellreef` + "\x1c" + `Code=0\final\`)
		serverSignOn(p, 263958216, 40)
		p.expect(`\logout\\sesskey\263958216\final\`)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	sess, err := c.Login(ctx(t), seedEmail, seedPassword)
	if !errors.Is(err, ErrNoUniqueNick) || sess == nil || sess.UserID != seedUID || sess.UniqueNick != "3656574" || sess.SessionKey != 263958216 {
		t.Fatalf("Login = %+v, %v", sess, err)
	}
	c.setRID(33)
	if p, err := c.LookupUserName(ctx(t), "jeff"); err != nil || p.UserID != 149935864 {
		t.Fatalf("jeff = %+v, %v", p, err)
	}
	c.setRID(37)
	if _, err := c.LookupUserName(ctx(t), "shellreef"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("shellreef = %v", err)
	}
	c.setRID(39)
	if err := c.SetUserName(ctx(t), "shellreef"); err != nil {
		t.Fatal(err)
	}
	sess, err = c.SignOn(ctx(t))
	if err != nil || sess.UniqueNick != "shellreef" || len(sess.Contacts) != 2 {
		t.Fatalf("SignOn = %+v, %v", sess, err)
	}
	if err := c.Logout(ctx(t)); err != nil {
		t.Fatal(err)
	}
	next[PersistPush](t, c)
	next[PersistPush](t, c)
	if d := next[Disconnected](t, c); !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

func TestLoginErrors(t *testing.T) {
	for _, tt := range []struct {
		name, reply string
		code        int
		fatal       bool
		is          error
	}{
		{"password", `\error\\err\260\errmsg\The password provided is incorrect.\fatal\\final\`, 260, true, ErrLoginFailed},
		{"parse", `\error\\err\1\fatal\\errmsg\There was an error parsing an incoming request.\final\`, 1, true, nil},
		{"not fatal", `\error\\err\259\errmsg\No such e-mail.\final\`, 259, false, ErrLoginFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.Send(seedGreeting)
				p.expectMsg()
				p.Send(tt.reply)
				if tt.fatal {
					p.ExpectClose()
				} else { // pidgin stays connected; a late \lc\2 means nothing now
					p.Send(seedLC2)
					p.ExpectClose()
				}
			})
			c := dial(t, f, Options{})
			_, err := c.Login(ctx(t), seedEmail, "wrong")
			var se *ServerError
			if !errors.As(err, &se) || se.Code != tt.code || se.Fatal != tt.fatal || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Login = %v", err)
			}
			if errors.Is(err, ErrLoggedInElsewhere) {
				t.Fatal("wrong match")
			}
			if tt.fatal {
				d := next[Disconnected](t, c)
				if !errors.As(d.Err, &se) {
					t.Fatalf("Disconnected = %+v", d)
				}
				if _, err := c.ContactList(ctx(t)); !errors.Is(err, ErrClosed) || !errors.As(err, &se) {
					t.Fatalf("after a fatal error: %v", err)
				}
			} else {
				if o := next[Other](t, c); o.Message.Type() != "lc" {
					t.Fatalf("late lc = %v", o)
				}
				if err := c.SetStatus(ctx(t), 1, ""); !errors.Is(err, ErrState) {
					t.Fatalf("SetStatus after failed login = %v", err)
				}
				c.Close()
			}
		})
	}
}

func TestBadGreeting(t *testing.T) {
	for name, greeting := range map[string]string{
		"short":      `\lc\1\nc\` + wireBase64(make([]byte, 63)) + `\id\1\final\`,
		"not base64": `\lc\1\nc\!!\id\1\final\`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.Send(greeting)
				p.ExpectClose()
			})
			c := dial(t, f, Options{})
			_, err := c.Login(ctx(t), seedEmail, seedPassword)
			var pe *ProtocolError
			if !errors.Is(err, ErrClosed) || !errors.As(err, &pe) || pe.Message.Type() != "lc" {
				t.Fatalf("Login = %v", err)
			}
		})
	}
}

func wireBase64(b []byte) string { return wire.Base64("x", b).Value }

func TestLoginState(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Send(seedGreeting)
		p.ExpectClose()
	}, func(p *peer) {
		p.Send(`\persistr\\cmd\257\dsn\17\uid\0\lid\26\rid\5\body\Challenge=1\final\`, seedGreeting)
		p.expectMsg()
		p.Send(`\lc\1\nc\x\final\`, seedLC2)
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	for name, call := range map[string]func() error{
		"SetStatus":   func() error { return c.SetStatus(ctx(t), 1, "") },
		"SendIM":      func() error { return c.SendIM(ctx(t), 1, "x") },
		"ContactList": func() error { _, err := c.ContactList(ctx(t)); return err },
		"AddBuddy":    func() error { return c.AddBuddy(ctx(t), 1, "") },
		"BlockList":   func() error { return c.BlockList(ctx(t), "w0") },
		"SignOn":      func() error { _, err := c.SignOn(ctx(t)); return err },
		"Logout":      func() error { return c.Logout(ctx(t)) }, // and closes
	} {
		if name == "Logout" {
			continue
		}
		if err := call(); !errors.Is(err, ErrState) {
			t.Errorf("%s before login = %v", name, err)
		}
	}
	if err := c.Logout(ctx(t)); !errors.Is(err, ErrState) {
		t.Errorf("Logout before login = %v", err)
	}
	if d := next[Disconnected](t, c); !errors.Is(d.Err, ErrClosed) {
		t.Fatalf("Disconnected = %+v", d)
	}

	c2 := dial(t, f, Options{NoSignOn: true})
	sess, err := c2.Login(ctx(t), seedEmail, seedPassword)
	if err != nil || sess.UserID != seedUID || len(sess.Contacts) != 0 {
		t.Fatalf("Login = %+v, %v", sess, err)
	}
	if _, err := c2.Login(ctx(t), seedEmail, seedPassword); !errors.Is(err, ErrState) {
		t.Fatalf("second Login = %v", err)
	}
	if push := next[PersistPush](t, c2); push.Reply.DataSet != wire.DSWebChallenge {
		t.Fatalf("push = %+v", push)
	}
	if o := next[Other](t, c2); o.Message.String() != `\lc\1\nc\x\final\` {
		t.Fatalf("second greeting = %v", o.Message)
	}
}

// TestIncoming: every kind of bm, errors, keep-alives and unknown messages
// as the reader classifies them; a fatal error 6 ends the session.
func TestIncoming(t *testing.T) {
	f := newFake(t, func(p *peer) {
		signedOn(p)
		p.Send(
			`\bm\1\f\6221\cv\697\date\1700000000\msg\<p><f f='Times' h='16'><c v='black'><b v='transparent'>hello world</1b></1c></1f></1p>\final\`,
			`\bm\1\f\6221\msg\<f s='1'>bold</1f> and a/1slash /2 back <i n="happy"/1>\final\`,
			`\bm\121\f\6221\msg\%typing%\final\`,
			`\bm\121\f\6221\msg\%stoptyping%\final\`,
			`\bm\121\f\6221\msg\!!!ZAP_SEND!!!=RTE_BTN_ZAPS_7\final\`,
			`\bm\121\f\6221\msg\from the web\final\`,
			`\bm\121\f\6221\msg\!!!GroupCount=3\final\`,
			`\bm\1\f\6221\aid\5\msg\group chat\final\`,
			`\bm\1\msg\no sender\final\`,
			`\bm\122\sesskey\267577152\t\15187323\cv\673\msg\cmdtype=1&reqid=15704865745422254&contenttype=1&\final\`,
			`\bm\100\f\15187323\msg\|s|5|ss|out /1 about|ls|Berlin\final\`,
			`\ka\\final\`,
			`\error\\err\4352\errmsg\bad uid\final\`,
			`\foo\\bar\1\final\`,
			`\other\\rid\1\final\`,
			`\persistr\\cmd\257\dsn\17\uid\0\lid\26\rid\20015794\body\Challenge=2437569020\final\`,
			`\error\\err\6\errmsg\You have been logged out because you logged in elsewhere.\fatal\\final\`,
		)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	m := next[Message](t, c)
	if m.From != 6221 || m.Text != "hello world" || m.Type != wire.BMIM || !m.Date.Equal(time.Unix(1700000000, 0)) ||
		m.Markup != `<p><f f='Times' h='16'><c v='black'><b v='transparent'>hello world</b></c></f></p>` {
		t.Fatalf("official markup: %+v", m)
	}
	if m := next[Message](t, c); m.Text != `bold and a/slash \ back :)` || !m.Date.IsZero() {
		t.Fatalf("pidgin markup: %+v", m)
	}
	if ty := next[Typing](t, c); ty != (Typing{From: 6221, Typing: true}) {
		t.Fatalf("typing: %+v", ty)
	}
	if ty := next[Typing](t, c); ty != (Typing{From: 6221}) {
		t.Fatalf("stop typing: %+v", ty)
	}
	if z := next[Zap](t, c); z != (Zap{From: 6221, Zap: wire.ZapHighFive}) {
		t.Fatalf("zap: %+v", z)
	}
	if m := next[Message](t, c); m.Text != "from the web" || m.Type != wire.BMAction {
		t.Fatalf("web IM: %+v", m)
	}
	for _, want := range []string{"bm", "bm", "bm", "bm"} {
		if o := next[Other](t, c); o.Message.Type() != want {
			t.Fatalf("other: %v", o.Message)
		}
	}
	if st := next[Status](t, c); st != (Status{UserID: 15187323, Status: wire.StatusAway, Text: "out / about", Location: "Berlin"}) {
		t.Fatalf("status: %+v", st)
	}
	if e := next[Error](t, c); e != (Error{Code: wire.ErrCodeBadUID, Message: "bad uid"}) {
		t.Fatalf("error: %+v", e)
	}
	if o := next[Other](t, c); o.Message.Type() != "foo" {
		t.Fatalf("unknown: %v", o.Message)
	}
	if o := next[Other](t, c); o.Message.Type() != "other" {
		t.Fatalf("rid in a non-persistr: %v", o.Message)
	}
	if push := next[PersistPush](t, c); push.Reply.DataSet != wire.DSWebChallenge || push.Reply.UID != 0 {
		t.Fatalf("push: %+v", push)
	}
	d := next[Disconnected](t, c)
	var se *ServerError
	if !errors.Is(d.Err, ErrLoggedInElsewhere) || !errors.As(d.Err, &se) || !se.Fatal || errors.Is(d.Err, ErrLoginFailed) {
		t.Fatalf("Disconnected = %+v", d)
	}
	if se.Error() != "msim client: server error 6 (fatal): You have been logged out because you logged in elsewhere." {
		t.Fatalf("ServerError = %q", se.Error())
	}
}

// TestSend: what each sending method puts on the wire.
func TestSend(t *testing.T) {
	const sk = `\sesskey\267577152`
	f := newFake(t, func(p *peer) {
		signedOn(p)
		p.expect(`\bm\1` + sk + `\t\6221\cv\697\msg\<p>a/1b/2c &lt;x&gt;</1p><p>line</1p>\final\`)
		p.expect(`\bm\1` + sk + `\t\6221\cv\697\msg\<p>final</1p>\final\`)
		p.expect(`\bm\1` + sk + `\t\6221\cv\697\msg\<f s='1'>b</1f>\final\`)
		p.expect(`\status\5` + sk + `\statstring\probing 1/12\locstring\\final\`)
		p.expect(`\status\0` + sk + `\statstring\\locstring\\final\`)
		p.expect(`\bm\121` + sk + `\t\6221\cv\697\msg\!!!ZAP_SEND!!!=RTE_BTN_ZAPS_9\final\`)
		p.expect(`\bm\121` + sk + `\t\6221\cv\697\msg\%stoptyping%\final\`)
		p.expect(`\delbuddy\` + sk + `\delprofileid\6221\final\`)
		p.expect(`\persist\1` + sk + `\cmd\515\dsn\0\uid\3656574\lid\8\rid\4\body\ContactID=6221\final\`)
		p.expect(`\delbuddy\` + sk + `\delprofileid\777\final\`)
		p.expect(`\blocklist\` + sk + `\idlist\b+|777|a-|777\final\`)
		p.expect(`\persist\1` + sk + `\cmd\514\dsn\0\uid\3656574\lid\9\rid\5\body\ContactID=777` + "\x1c" + `GroupName=` + "\x1c" +
			`Position=1000` + "\x1c" + `Visibility=2` + "\x1c" + `NickName=` + "\x1c" + `NameSelect=0\final\`)
		p.expect(`\persist\1` + sk + `\cmd\515\dsn\0\uid\3656574\lid\8\rid\6\body\ContactID=777\final\`)
		p.expect(`\blocklist\` + sk + `\idlist\a-|777|b-|777\final\`)
		p.expect(`\addbuddy\` + sk + `\newprofileid\888\reason\\final\`)
		p.expect(`\persist\1` + sk + `\cmd\514\dsn\0\uid\3656574\lid\9\rid\7\body\ContactID=888` + "\x1c" + `GroupName=Work/1Play` + "\x1c" +
			`Position=1000` + "\x1c" + `Visibility=1` + "\x1c" + `NickName=` + "\x1c" + `NameSelect=0\final\`)
		p.expect(`\blocklist\` + sk + `\idlist\a+|888|b-|888\final\`)
		p.expect(`\persist\1` + sk + `\cmd\514\dsn\1\uid\3656574\lid\10\rid\8\body\Headline=hi` + "\x1c" + `ShowOnlyToList=True\final\`)
		p.expect(`\blocklist\` + sk + `\idlist\w1|c1|a-|*|b-|*\final\`)
		p.expect(`\persist\1` + sk + `\cmd\1\dsn\4\lid\5\rid\9\UserID\3656574\body\UserID=3656574\final\`)
		p.Send(persistr(257, 4, 5, 9, seedOwnProfile))
		p.expect(`\persist\1` + sk + `\cmd\1\dsn\1\lid\4\rid\10\body\\final\`)
		p.Send(persistr(257, 1, 4, 10, seedSettings))
		p.expect(`\persist\1` + sk + `\cmd\1\dsn\0\lid\1\uid\3656574\rid\11\body\\final\`)
		p.Send(persistr(257, 0, 1, 11, ""))
		p.expect(`\persist\1` + sk + `\cmd\1\dsn\5\uid\3656574\lid\7\rid\12\body\Email=tom@myspace.com\final\`)
		p.Send(persistr(257, 5, 7, 12, dict("UserID=6221", "UserName=tom")))
		p.expect(`\persist\1` + sk + `\cmd\2\dsn\9\uid\3656574\lid\14\rid\13\body\UserName=taken\final\`)
		p.Send(persistr(258, 9, 14, 13, dict("UserName=taken", "Code=1")))
		p.expect(`\persist\1` + sk + `\cmd\2\dsn\2\uid\3656574\lid\16\rid\14\body\GroupName=x\final\`)
		p.Send(persistr(258, 2, 16, 14, dict("GroupID=5", "GroupName=x")))
		p.expect(`\hello\\final\`)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	ctx := ctx(t)
	for i, err := range []error{
		c.SendIM(ctx, 6221, "a/b\\c <x>\nline"),
		c.SendIM(ctx, 6221, "final"),
		c.SendMarkup(ctx, 6221, "<f s='1'>b</f>"),
		c.SetStatus(ctx, wire.StatusAway, "probing 1/2"),
		c.SetStatus(ctx, wire.StatusInvisible, ""),
		c.Zap(ctx, 6221, wire.ZapRaspberry),
		c.Typing(ctx, 6221, false),
		c.RemoveBuddy(ctx, 6221),
		c.Block(ctx, 777),
		c.Unblock(ctx, 777),
		c.AddBuddy(ctx, 888, "Work/Play"),
		c.SetSettings(ctx, wire.Dict{{Key: "Headline", Value: "hi"}, {Key: "ShowOnlyToList", Value: "True"}}),
		c.BlockList(ctx, "w1", "c1", "a-", "*", "b-", "*"),
	} {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := c.Zap(ctx, 6221, 10); err == nil {
		t.Fatal("zap 10 accepted")
	}
	if err := c.SetStatus(ctx, 1, "final"); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("status text %q: %v", "final", err)
	}
	if p, err := c.OwnProfile(ctx); err != nil || p.UserName != "shellreef" {
		t.Fatalf("OwnProfile = %+v, %v", p, err)
	}
	if s, err := c.Settings(ctx); err != nil || s.Get("Sound") != "True" {
		t.Fatalf("Settings = %q, %v", s, err)
	}
	if l, err := c.ContactList(ctx); err != nil || len(l) != 0 {
		t.Fatalf("ContactList = %v, %v", l, err)
	}
	if p, err := c.LookupEmail(ctx, "tom@myspace.com"); err != nil || p.UserID != 6221 {
		t.Fatalf("LookupEmail = %+v, %v", p, err)
	}
	var pe *PersistError
	if err := c.SetUserName(ctx, "taken"); !errors.As(err, &pe) {
		t.Fatalf("SetUserName = %v", err)
	}
	if r, err := c.Persist(ctx, wire.CmdPut, wire.DSGroup, wire.Dict{{Key: "GroupName", Value: "x"}}); err != nil || r.Cmd != 258 || r.Body.Get("GroupID") != "5" {
		t.Fatalf("Persist = %+v, %v", r, err)
	}
	if err := c.Send(ctx, wire.Message{wire.Flag("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, wire.Message{}); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("Send of an empty message: %v", err)
	}
}

// TestLookupSenders: like pidgin, bm from unknown users wait for a 4/3
// reply; contacts' messages do not.
func TestLookupSenders(t *testing.T) {
	f := newFake(t, func(p *peer) {
		signedOn(p)
		p.Send(`\bm\1\f\777\msg\first\final\`, `\bm\121\f\777\msg\%typing%\final\`, `\bm\1\f\6221\msg\from a contact\final\`)
		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\4\uid\3656574\lid\3\rid\4\body\UserID=777\final\`)
		p.Send(`\bm\1\f\777\msg\third\final\`)
		p.Send(persistr(257, 4, 3, 4, dict("UserID=777", "UserName=stranger")))
		p.Send(`\bm\1\f\777\msg\fourth\final\`)
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{LookupSenders: true})
	if m := next[Message](t, c); m.From != 6221 {
		t.Fatalf("first event: %+v", m)
	}
	if m := next[Message](t, c); m.Text != "first" {
		t.Fatalf("%+v", m)
	}
	next[Typing](t, c)
	for _, want := range []string{"third", "fourth"} {
		if m := next[Message](t, c); m.Text != want {
			t.Fatalf("%+v, want %q", m, want)
		}
	}
}

// TestPersistTimeout: a caller gives up; the late reply becomes a
// PersistPush.
func TestPersistTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(p *peer) {
		signedOn(p)
		p.expect(`\persist\1\sesskey\267577152\cmd\1\dsn\4\uid\3656574\lid\3\rid\4\body\UserID=6221\final\`)
		<-release
		p.Send(persistr(257, 4, 3, 4, dict("UserID=6221", "UserName=tom")))
		p.ExpectClose()
	})
	c := loggedIn(t, f, Options{})
	short, cancel := context.WithTimeout(ctx(t), fakeserver.ShortTimeout)
	defer cancel()
	if _, err := c.Profile(short, 6221); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Profile = %v", err)
	}
	close(release)
	if push := next[PersistPush](t, c); push.Reply.RID != 4 || push.Reply.Body.Get("UserName") != "tom" {
		t.Fatalf("push = %+v", push)
	}
}

func TestIdleTimeout(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Send(seedGreeting)
		// Keep-alives six times as often as the timeout, for twice the
		// timeout: a busy machine may delay one by a few hundred
		// milliseconds.
		for range 12 {
			time.Sleep(100 * time.Millisecond)
			p.Send(`\ka\\final\`)
		}
		p.ExpectClose()
	})
	start := time.Now()
	c := dial(t, f, Options{IdleTimeout: 600 * time.Millisecond})
	d := next[Disconnected](t, c)
	if !errors.Is(d.Err, ErrIdleTimeout) || time.Since(start) < 1200*time.Millisecond {
		t.Fatalf("Disconnected = %+v after %v", d, time.Since(start))
	}
}

func TestEventOverflow(t *testing.T) {
	f := newFake(t, func(p *peer) {
		p.Send(seedGreeting)
		for i := range 4 {
			p.Send(fmt.Sprintf(`\bm\1\f\%d\msg\x\final\`, i+1))
		}
		p.ExpectClose()
	})
	c := dial(t, f, Options{EventBuffer: 2})
	select {
	case <-c.conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
	if !errors.Is(c.Err(), ErrEventOverflow) {
		t.Fatalf("Err = %v", c.Err())
	}
	n := 0
	for range c.Events() {
		n++
	}
	if n != 2 {
		t.Fatalf("%d events", n)
	}
}

func TestProtocolErrors(t *testing.T) {
	for name, bad := range map[string]string{
		"persistr without cmd": `\persistr\\dsn\0\lid\1\rid\1\final\`,
		"lc 2 without userid":  `\lc\2\sesskey\1\final\`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(p *peer) {
				p.Send(seedGreeting)
				p.expectMsg()
				p.Send(bad)
				p.ExpectClose()
			})
			c := dial(t, f, Options{})
			_, err := c.Login(ctx(t), seedEmail, seedPassword)
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Error() == "" || errors.Unwrap(pe) == nil {
				t.Fatalf("Login = %v", err)
			}
		})
	}
	// Framing errors end the connection too.
	f := newFake(t, func(p *peer) {
		p.Send("\r\n")
		p.ExpectClose()
	})
	c := dial(t, f, Options{})
	if d := next[Disconnected](t, c); !errors.Is(d.Err, wire.ErrMalformed) {
		t.Fatalf("Disconnected = %+v", d)
	}
}

func TestAtoi(t *testing.T) {
	for s, want := range map[string]int64{"3656574": 3656574, " 12abc": 12, "-5": -5, "+7": 7, "": 0, "shellreef": 0, "99999999999999999999": 1 << 40} {
		if got := atoi(s); got != want && !(want == 1<<40 && got >= want) {
			t.Errorf("atoi(%q) = %d, want %d", s, got, want)
		}
	}
}
