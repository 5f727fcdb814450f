package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// seedMessages are messages of the 2007 capture (seed 002) whose bytes the
// notes give in full. The notes print 0x1C as "\034" (here "\x1c") and
// spread some messages over several lines; those are joined back.
var seedMessages = []string{
	`\lc\1\nc\YuhUG2NCAEazR031ICizIFi/SFU9H4aEWP7XVgaPobCAvUQNwEXLQc3OPvalwXj97VWp/KoLpsgcqHztb4Uy0w==\id\1\final\`,
	`\login2\196610\username\myspace@xyzzy.cjb.net\response\vx2zVA1XwByoKucIS0OsXAZCI6siIhrL/680qwa55/98Wx2vTQxL1QwE4t/mKcStAp65gVDnJ2jCz+QHw4+BiJiYZKA3mI4wThM=\clientver\673\reconn\0\status\100\id\1\final\`,
	`\lc\2\sesskey\267577152\proof\shellreef\userid\3656574\profileid\3656574\uniquenick\shellreef\id\1\final\`,
	`\persist\1\sesskey\267577152\cmd\1\dsn\0\uid\3656574\lid\1\rid\46\body\\final\`,
	`\addbuddy\\sesskey\267577152\newprofileid\6221\reason\\final\`,
	`\blocklist\\sesskey\267577152\idlist\b-|6221|a+|6221\final\`,
	`\bm\4\f\6221\msg\\final\`,
	`\bm\100\f\6221\msg\|s|1|ss|:-)|ls||ip|0|p|0\final\`,
	`\persistr\\cmd\257\dsn\0\uid\3656574\lid\1\rid\46\body\\final\`,
	`\persistr\\cmd\257\dsn\5\uid\3656574\lid\7\rid\57\body\UserID=15187323` + "\x1c" + `ImageURL=http:/1/1x.myspace.com/1images/1no_pic.gif` + "\x1c" + `DisplayName=testuserguy` + "\x1c" + `UserName=testuser` + "\x1c" + `BandName=` + "\x1c" + `SongName=\final\`,
	`\persistr\\cmd\1025\dsn\7\uid\3656574\lid\18\rid\55\body\` + "\xc2\x80=\x1c" + `ErrorMessage=Request time elapsed configured has passed.\final\`,
	`\bm\121\sesskey\267577152\t\15187323\cv\673\msg\%typing%\final\`,
	`\bm\100\f\15187323\msg\|s|0|ss|Offline\final\`,
	`\persistr\\cmd\258\dsn\9\uid\3656574\lid\14\rid\39\body\UserName=shellreef` + "\x1c" + `Code=0\final\`,
	`\persistr\\cmd\257\dsn\4\uid\3656574\lid\3\rid\69\body\UserID=15187323` + "\x1c" + `ImageURL=http:/1/1x.myspace.com/1images/1no_pic.gif` + "\x1c" + `DisplayName=testuserguy` + "\x1c" + `UserName=testuser` + "\x1c" + `BandName=` + "\x1c" + `SongName=` + "\x1c" + `TotalFriends=41\final\`,
	`\persistr\\cmd\257\dsn\7\uid\3656574\lid\18\rid\82\body\EventInvitation=On` + "\x1c" + `Mail=On\final\`,
	`\webchlg\\sesskey\267577152\n\0\final\`,
	`\logout\\sesskey\263958216\final\`,
	`\error\\err\1\fatal\\errmsg\There was an error parsing an incoming request.\final\`,
	`\persistr\\cmd\1025\dsn\2\uid\3656574\lid\6\rid\54\body\ErrorMessage=Request timeout\final\`,
	`\persist\1\sesskey\267577152\cmd\1\dsn\5\uid\3656574\lid\7\rid\57\body\UserName=testuser\final\`,
	`\persistr\\cmd\257\dsn\5\uid\3656574\lid\7\rid\79\body\UserName=testuser2222222222\final\`,
	`\bm\122\sesskey\267577152\t\15187323\cv\673\msg\cmdtype=1&reqid=15704865745422254&contenttype=1&\final\`,
	`\persist\1\sesskey\267577152\cmd\2\dsn\2\uid\3656574\lid\16\rid\63\body\GroupName=IM Friends` + "\x1c" + `Position=1` + "\x1c" + `GroupFlag=131073\final\`,
	`\persistr\\cmd\1025\dsn\0\uid\3656574\lid\2\rid\76\body\ContactID=6221` + "\x1c" + `ErrorMessage=Request timeout\final\`,
	`\persist\1\sesskey\267577152\cmd\1\dsn\4\uid\3656574\lid\3\rid\68\body\UserID=6221\final\`,
	`\persist\1\sesskey\267577152\cmd\1\dsn\1\uid\3656574\lid\17\rid\59\body\UserID=15187323\final\`,
	`\persist\1\sesskey\267577152\cmd\2\dsn\9\uid\3656574\lid\14\rid\39\body\UserName=shellreef\final\`,
}

func TestSeedRoundTrip(t *testing.T) {
	for _, s := range seedMessages {
		m, err := Parse([]byte(s))
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if err := m.Validate(); err != nil {
			t.Errorf("Validate(%q): %v", s, err)
		}
		if got, err := Encode(m); err != nil || string(got) != s {
			t.Errorf("re-encoded %q (%v)\nwant       %q", got, err, s)
		}
		if m.Type() == TypePersist || m.Type() == TypePersistReply {
			p, err := ParsePersist(m)
			if err != nil {
				t.Errorf("ParsePersist(%q): %v", s, err)
				continue
			}
			if got := Append(nil, p.Message()); string(got) != s {
				t.Errorf("Persist re-encoded %q\nwant                 %q", got, s)
			}
		}
	}
}

// TestSeedStream reads the seed's messages back to back, as they travel,
// through a reader that gets one byte at a time.
func TestSeedStream(t *testing.T) {
	all := strings.Join(seedMessages, "")
	r := NewReader(iotest.OneByteReader(strings.NewReader(all)))
	for i, s := range seedMessages {
		raw, err := r.ReadRaw()
		if err != nil || string(raw) != s {
			t.Fatalf("message %d: %q, %v", i, raw, err)
		}
	}
	if _, err := r.ReadRaw(); err != io.EOF {
		t.Fatalf("after the last message: %v", err)
	}
}

func TestSeedValues(t *testing.T) {
	m, _ := Parse([]byte(seedMessages[0]))
	nc, err := m.Bytes("nc")
	if err != nil || len(nc) != NonceSize || m.Raw("nc") != "YuhUG2NCAEazR031ICizIFi/SFU9H4aEWP7XVgaPobCAvUQNwEXLQc3OPvalwXj97VWp/KoLpsgcqHztb4Uy0w==" {
		t.Fatalf("nc = %d bytes, %v", len(nc), err)
	}
	if lc, ok := m.Int(TypeLoginChallenge); !ok || lc != LCChallenge {
		t.Fatalf("lc = %d", lc)
	}

	m, _ = Parse([]byte(seedMessages[2]))
	if k, ok := m.Uint32("sesskey"); !ok || k != 267577152 || m.Get("uniquenick") != "shellreef" {
		t.Fatalf("lc 2 = %v", m)
	}

	m, _ = Parse([]byte(seedMessages[9]))
	body := m.Dict("body")
	want := Dict{{"UserID", "15187323"}, {"ImageURL", "http://x.myspace.com/images/no_pic.gif"}, {"DisplayName", "testuserguy"},
		{"UserName", "testuser"}, {"BandName", ""}, {"SongName", ""}}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("body = %q", body)
	}
	if body.Encode() != m.Raw("body") {
		t.Fatalf("body re-encodes as %q", body.Encode())
	}

	m, _ = Parse([]byte(seedMessages[7]))
	if p := ParsePresence(m.Get("msg")); p != (Presence{Status: StatusOnline, Headline: ":-)"}) {
		t.Fatalf("presence = %+v", p)
	} else if p.Encode() != m.Get("msg") {
		t.Fatalf("presence re-encodes as %q", p.Encode())
	}
	m, _ = Parse([]byte(seedMessages[12]))
	if p := ParsePresence(m.Get("msg")); p != (Presence{Status: StatusOffline, Headline: "Offline"}) {
		t.Fatalf("presence = %+v", p)
	}

	m, _ = Parse([]byte(seedMessages[18]))
	if code, _ := m.Int("err"); code != ErrCodeParse || !m.Has("fatal") || m.Has("final") || m.Get("errmsg") != "There was an error parsing an incoming request." {
		t.Fatalf("error = %v", m)
	}

	m, _ = Parse([]byte(seedMessages[10]))
	p, err := ParsePersist(m)
	if err != nil || p.Cmd&CmdError == 0 || CmdCode(p.Cmd) != CmdGet || p.DataSet != DSNewItems || p.RID != 55 || p.UID != 3656574 ||
		p.Body.Get("ErrorMessage") != "Request time elapsed configured has passed." || p.Body.Get("\u0080") != "" || !p.Body.Has("\u0080") {
		t.Fatalf("persistr = %+v, %v", p, err)
	}

	m, _ = Parse([]byte(seedMessages[5]))
	if got := SplitList(m.Get("idlist")); !reflect.DeepEqual(got, []string{"b-", "6221", "a+", "6221"}) {
		t.Fatalf("idlist = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{
		``, `\final\`, `\\final\`, `x\a\b\final\`, `\a\final\`, `\a\b\c\final\`, `\\b\final\`,
		`\a\b\`, `\a\b\final\x`, `\a\final\final\`, `\a\b` + "\x00" + `\final\`,
	} {
		if m, err := Parse([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, %v", s, m, err)
		}
	}
	m, err := Parse([]byte(`\ka\\final\`))
	if err != nil || !reflect.DeepEqual(m, Message{{"ka", ""}}) {
		t.Fatalf("ka = %v, %v", m, err)
	}
}

func TestReaderErrors(t *testing.T) {
	// A terminator that never comes: the reader gives up at the limit.
	r := NewReader(strings.NewReader(`\bm\1\msg\` + strings.Repeat("x", 10000)))
	r.MaxMessage = 100
	var tl *TooLargeError
	if _, err := r.ReadMessage(); !errors.As(err, &tl) || tl.Max != 100 {
		t.Fatalf("oversize: %v", err)
	}
	// Exactly at the limit is fine.
	r = NewReader(strings.NewReader(`\ka\\final\`))
	r.MaxMessage = len(`\ka\\final\`)
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}

	var te *TruncatedError
	r = NewReader(strings.NewReader(`\ka\\final\\bm\1\f\2\msg\hi\fin`))
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadMessage(); !errors.As(err, &te) || !errors.Is(err, io.ErrUnexpectedEOF) || te.Got != 20 {
		t.Fatalf("truncated: %v", err)
	}

	// A stray newline between messages is fatal at once, as for the real
	// server (and pidgin).
	r = NewReader(io.MultiReader(strings.NewReader(`\ka\\final\`+"\r\n"), iotest.ErrReader(errors.New("must not read on"))))
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("newline: %v", err)
	}
	r = NewReader(strings.NewReader(`\bm\1\msg\a` + "\x00" + `b\final\`))
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("NUL: %v", err)
	}
	r = NewReader(strings.NewReader(`\odd\final\\ka\\final\`))
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("odd tokens: %v", err)
	}
	// A read error is passed on as it is.
	boom := errors.New("boom")
	r = NewReader(iotest.ErrReader(boom))
	if _, err := r.ReadRaw(); err != boom {
		t.Fatalf("read error: %v", err)
	}
}

func TestMessageHelpers(t *testing.T) {
	var m Message
	m.AddInt("bm", BMIM)
	m.AddInt("sesskey", 5)
	m.Add("msg", `a/b\c`)
	m.AddRaw("response", "ab/1+/2==")
	m.Set("sesskey", "6")
	m.SetInt("t", 7)
	m.SetRaw("nc", "x/y")
	want := `\bm\1\sesskey\6\msg\a/1b/2c\response\ab/1+/2==\t\7\nc\x/y\final\`
	if got, err := Encode(m); err != nil || string(got) != want {
		t.Fatalf("Encode = %q, %v", got, err)
	}
	if m.String() != want || m.Type() != "bm" || m.Get("msg") != `a/b\c` || m.Raw("msg") != `a/1b/2c` || m.Raw("response") != "ab/1+/2==" {
		t.Fatalf("getters on %v", m)
	}
	if _, ok := m.Lookup("nope"); ok || m.Has("nope") || m.Get("nope") != "" {
		t.Fatal("absent key found")
	}
	if v, ok := m.Int("msg"); ok {
		t.Fatalf("Int(msg) = %d", v)
	}
	if _, ok := m.Uint32("nope"); ok {
		t.Fatal("Uint32 of an absent key")
	}
	m.Delete("msg")
	if m.Has("msg") || len(m) != 5 {
		t.Fatalf("Delete: %v", m)
	}
	lit := Message{Int("persist", 1), Uint("sesskey", 4294967295), Flag("fatal"), Str("k", "/"), Base64("nc", []byte{0xff, 0xfe}),
		Dictionary("body", Dict{{"A", "1/2"}, {"B", ""}})}
	if got := lit.String(); got != `\persist\1\sesskey\4294967295\fatal\\k\/1\nc\//4=\body\A=1/12`+"\x1c"+`B=\final\` {
		t.Fatalf("literal = %q", got)
	}
	if b, err := lit.Bytes("nc"); err != nil || !bytes.Equal(b, []byte{0xff, 0xfe}) {
		t.Fatalf("Bytes = %x, %v", b, err)
	}
	if _, err := lit.Bytes("none"); err == nil {
		t.Fatal("Bytes of an absent key")
	}

	for _, bad := range []Message{
		nil, {{"", "x"}}, {{"a", "b"}, {"", ""}}, {{"a\\b", ""}}, {{"a", "b\\"}}, {{"a", "\x00"}},
		{{"final", ""}}, {{"msg", "final"}}, {{"a", "b"}, {"final", "x"}},
	} {
		if _, err := Encode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%q) = %v", bad, err)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ plain, wire string }{
		{"", ""},
		{"probing 1/2", "probing 1/12"},
		{"</b>", "</1b>"},
		{`a\b`, "a/2b"},
		{"/1", "/11"},
		{"//", "/1/1"},
		{`\/`, "/2/1"},
		{"a|b\x1c", "a|b\x1c"},
	} {
		if got := Escape(tt.plain); got != tt.wire {
			t.Errorf("Escape(%q) = %q, want %q", tt.plain, got, tt.wire)
		}
		if got := Unescape(tt.wire); got != tt.plain {
			t.Errorf("Unescape(%q) = %q, want %q", tt.wire, got, tt.plain)
		}
	}
	// Unknown sequences and a trailing slash are kept.
	for in, want := range map[string]string{"/3": "/3", "a/": "a/", "/": "/", "/x/1": "/x/", "/11": "/1"} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDict(t *testing.T) {
	d := ParseDict("A=1\x1cB=x=y\x1c\x1cC\x1cD=/1/2/3\x1c=v\x1c")
	want := Dict{{"A", "1"}, {"B", "x=y"}, {"C", ""}, {"D", `/\/3`}, {"", "v"}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("ParseDict = %q", d)
	}
	if got := d.Encode(); got != "A=1\x1cB=x=y\x1cC=\x1cD=/1/2/13\x1c=v" {
		t.Fatalf("Encode = %q", got)
	}
	if ParseDict("") != nil || Dict(nil).Encode() != "" {
		t.Fatal("empty dictionary")
	}
	// 0x1C has no escape: it is removed, and so is "=" from keys.
	if got := (Dict{{"K=\x1c", "v\x1cw"}}).Encode(); got != "K=vw" {
		t.Fatalf("Encode = %q", got)
	}
	if v, ok := d.Int("A"); !ok || v != 1 {
		t.Fatal("Int")
	}
	if _, ok := d.Int("B"); ok {
		t.Fatal("Int of text")
	}
	if _, ok := d.Int("Z"); ok {
		t.Fatal("Int of absent")
	}
	if v, ok := d.Uint32("A"); !ok || v != 1 {
		t.Fatal("Uint32")
	}
	if _, ok := d.Uint32("Z"); ok {
		t.Fatal("Uint32 of absent")
	}
	d.Set("A", "2")
	d.Set("E", "True")
	d.Add("A", "3")
	if d.Get("A") != "2" || !d.Bool("E") || d.Bool("B") || !d.Has("C") || d.Has("Z") || d[len(d)-1] != (Pair{"A", "3"}) {
		t.Fatalf("helpers: %q", d)
	}

	// A contact list: records start at ContactID; like the seed's 0/2
	// reply, a record may repeat its ContactID.
	list := ParseDict("X=0\x1cContactID=1\x1cGroupName=IM Friends\x1cContactID=2\x1cContactID=2\x1cGroupName=\x1cVisibility=2")
	recs := list.Records("ContactID")
	wantRecs := []Dict{{{"ContactID", "1"}, {"GroupName", "IM Friends"}}, {{"ContactID", "2"}},
		{{"ContactID", "2"}, {"GroupName", ""}, {"Visibility", "2"}}}
	if !reflect.DeepEqual(recs, wantRecs) {
		t.Fatalf("Records = %q", recs)
	}
}

func TestLists(t *testing.T) {
	if got := JoinList("b-", "6221", "a+", "6221"); got != "b-|6221|a+|6221" {
		t.Fatalf("JoinList = %q", got)
	}
	if got := JoinList("a|b", ""); got != "ab|" {
		t.Fatalf("JoinList = %q", got)
	}
	if SplitList("") != nil || len(SplitList("|")) != 2 {
		t.Fatal("SplitList")
	}
	p := Presence{Status: StatusAway, Headline: "a|b/c", Location: "x", IP: 7, P: 1}
	if got := p.Encode(); got != "|s|5|ss|ab/c|ls|x|ip|7|p|1" {
		t.Fatalf("Presence.Encode = %q", got)
	}
	if got := ParsePresence("|s|2|ss|one|ss|two|caps|x|ts|9"); got != (Presence{Status: StatusIdle, Headline: "one"}) {
		t.Fatalf("ParsePresence = %+v", got)
	}
	if got := ParsePresence("s|x|ss"); got != (Presence{}) {
		t.Fatalf("ParsePresence = %+v", got)
	}
}

func TestPersist(t *testing.T) {
	p := Persist{SessKey: 9, Cmd: CmdGet, DataSet: DSOwnIMInfo, RID: 2}
	if got := p.Message().String(); got != `\persist\1\sesskey\9\cmd\1\dsn\1\lid\4\rid\2\body\\final\` {
		t.Fatalf("request = %q", got)
	}
	r := Persist{Reply: true, Cmd: CmdGet | CmdReply, DataSet: DSServerSetting, RID: 10594326, Body: Dict{{"MaxContacts", "1000"}}}
	if got := r.Message().String(); got != `\persistr\\cmd\257\dsn\101\uid\0\lid\20\rid\10594326\body\MaxContacts=1000\final\` {
		t.Fatalf("reply = %q", got)
	}
	for _, bad := range []string{
		`\bm\1\final\`, `\persist\1\cmd\1\dsn\0\lid\1\final\`, `\persistr\\cmd\x\dsn\0\lid\1\rid\1\final\`,
		`\persist\1\cmd\1\dsn\70000\lid\1\rid\1\final\`, `\persist\1\cmd\1\dsn\-1\lid\1\rid\1\final\`,
	} {
		m, err := Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePersist(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePersist(%q) = %v", bad, err)
		}
	}
	if ds := DS(512, 20); ds != DSAdSettings || ds.DSN() != 512 || ds.LID() != 20 || ds.String() != "512/20" {
		t.Fatalf("DS = %v", ds)
	}
	if CmdCode(1025) != CmdGet || CmdCode(515) != CmdDelete || CmdCode(258) != CmdPut {
		t.Fatal("CmdCode")
	}
}

func TestZap(t *testing.T) {
	if ZapMsg(ZapRaspberry) != "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_9" || ZapNames[ZapSlap] != "bslap" {
		t.Fatal("ZapMsg")
	}
	for msg, want := range map[string]int{"!!!ZAP_SEND!!!=RTE_BTN_ZAPS_0": 0, "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_7": 7} {
		if n, ok := ParseZap(msg); !ok || n != want {
			t.Errorf("ParseZap(%q) = %d, %v", msg, n, ok)
		}
	}
	for _, msg := range []string{"%typing%", "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_10", "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_-1", "!!!ZAP_SEND!!!=RTE_BTN_ZAPS_"} {
		if _, ok := ParseZap(msg); ok {
			t.Errorf("ParseZap(%q) accepted", msg)
		}
	}
}

// MessageBuffered says whether the next message waits whole, up to its
// \final\, in the buffer.
func TestMessageBuffered(t *testing.T) {
	one := Append(nil, Message{Int("bm", 1), Uint("t", 7), Str("msg", "hi")})
	stream := append(append(append([]byte{}, one...), one...), one[:len(one)-1]...)
	r := NewReader(bytes.NewReader(stream))
	if r.MessageBuffered() {
		t.Fatal("a message counted as buffered before anything was read")
	}
	for i, want := range []bool{true, false} {
		if _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if got := r.MessageBuffered(); got != want {
			t.Fatalf("after message %d: MessageBuffered %v, want %v", i+1, got, want)
		}
	}
}
