package oim

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

func TestService(t *testing.T) {
	for path, want := range map[string]string{
		"/rsi/rsi.asmx": RSIPath, "//rsi/rsi.asmx": RSIPath, "/RSI/rsi.asmx": RSIPath,
		"/OimWS/oim.asmx": StorePath, "//oimws/oim.asmx": StorePath,
		"/rsi/rsi.asmx/x": "", "/rsi": "", "/": "", "": "",
	} {
		if got := Service(path); got != want || Handles(path) != (want != "") {
			t.Errorf("%q: %q", path, got)
		}
	}
}

func TestMessageID(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40} {
		s := MessageID(id)
		if len(s) != 36 {
			t.Errorf("%d → %q: not GUID-shaped", id, s)
		}
		for _, form := range []string{s, strings.ToLower(s), "{" + s + "}"} {
			if back, ok := ParseMessageID(form); !ok || back != id {
				t.Errorf("%q → %d %v, want %d", form, back, ok, id)
			}
		}
	}
	for _, bad := range []string{"", "42", "00000000-0000-0000-0000-00000000000G", "00000000-0000-0000-0000-000000000000", "10000000-0000-0000-0000-000000000001"} {
		if _, ok := ParseMessageID(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMailData(t *testing.T) {
	sent := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	entries := []Entry{
		{ID: MessageID(1), From: "bob@example.com", FromName: "Bob <&> Żółw", Sent: sent, Size: 300},
		{ID: MessageID(2), From: "carol@example.com", FromName: "Carol", Sent: sent.Add(time.Minute), Size: 12},
	}
	md := MailData(entries, DefaultMaxMailData)
	for _, want := range []string{"<MD><E><I>0</I><IU>0</IU><O>0</O><OU>0</OU></E><Q><QTM>409600</QTM><QNM>204800</QNM></Q><M><T>11</T><S>6</S><RT>2026-03-04T05:06:07.000Z</RT>",
		"<SZ>300</SZ><E>bob@example.com</E><I>00000000-0000-0000-0000-000000000001</I><F>00000000-0000-0000-0000-000000000009</F><N>=?utf-8?B?"} {
		if !strings.Contains(md, want) {
			t.Errorf("Mail-Data lacks %q:\n%s", want, md)
		}
	}
	got, tooLarge, err := ParseMailData([]byte(md))
	if err != nil || tooLarge || len(got) != 2 {
		t.Fatalf("parse: %+v %v %v", got, tooLarge, err)
	}
	for i := range got {
		g, e := got[i], entries[i]
		if g.ID != e.ID || g.From != e.From || g.FromName != e.FromName || !g.Sent.Equal(e.Sent) || g.Size != e.Size {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], entries[i])
		}
	}
	if md := MailData(entries, 1); md != TooLarge {
		t.Errorf("two entries over a maximum of one: %q", md)
	}
	if _, tooLarge, err := ParseMailData([]byte(TooLarge)); !tooLarge || err != nil {
		t.Errorf("too-large: %v %v", tooLarge, err)
	}
	if _, _, err := ParseMailData([]byte("<MD><M><E>x</E></M></MD>")); !errors.Is(err, ErrBadMailData) {
		t.Errorf("entry without an id: %v", err)
	}
}

func TestMessage(t *testing.T) {
	m := Message{From: "bob@example.com", FromName: "Bob Żółw", To: "alice@example.com",
		Sent: time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", -7*3600)), RunID: "{A1B2C3D4-0000-0000-0000-000000000001}", Sequence: 7,
		Text: strings.Repeat("Zażółć gęślą jaźń. ", 10)}
	text := string(AppendMessage(nil, m))
	for _, want := range []string{"From: =?utf-8?B?", " <bob@example.com>\n", "To: alice@example.com\n", "Content-Transfer-Encoding: base64\n",
		"X-OIM-Message-Type: OfflineMessage\n", "X-OIM-Run-Id: {A1B2C3D4-0000-0000-0000-000000000001}\n", "X-OIM-Sequence-Num: 7\n",
		"Date: 4 Mar 2026 05:06:07 -0700\n\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	_, body, _ := strings.Cut(text, "\n\n")
	for _, line := range strings.Split(body, "\n") {
		if len(line) > lineLength {
			t.Errorf("base64 line of %d characters", len(line))
		}
	}
	got, err := ParseMessage(strings.ReplaceAll(text, "\n", "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.From != m.From || got.FromName != m.FromName || got.To != m.To || !got.Sent.Equal(m.Sent) || got.RunID != m.RunID || got.Sequence != 7 || got.Text != m.Text {
		t.Errorf("round trip: %+v", got)
	}
	for name, bad := range map[string]string{
		"no blank line":  "Content-Type: text/plain",
		"bad base64":     "Content-Transfer-Encoding: base64\n\n!!!",
		"not UTF-8":      "Content-Type: text/plain\n\n\xff\xfe",
		"not plain text": "Content-Type: text/html\n\n<b>x</b>",
		"not a header":   "garbage\n\nx",
	} {
		if _, err := ParseMessage(bad); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, err := ParseMessage("X-OIM-Run-Id: {R}\n\nplain"); err != nil || got.Text != "plain" {
		t.Errorf("without base64: %+v %v", got, err)
	}
}

func TestRSIRequests(t *testing.T) {
	ticket := "t=abc&p=def"
	for _, c := range []struct {
		op   string
		ids  []string
		want RSIRequest
	}{
		{OpGetMetadata, nil, RSIRequest{Operation: OpGetMetadata, Ticket: ticket}},
		{OpGetMessage, []string{MessageID(3)}, RSIRequest{Operation: OpGetMessage, Ticket: ticket, MessageID: MessageID(3)}},
		{OpDeleteMessages, []string{MessageID(3), MessageID(4)}, RSIRequest{Operation: OpDeleteMessages, Ticket: ticket, MessageIDs: []string{MessageID(3), MessageID(4)}}},
	} {
		got, err := ParseRSIRequest(RSIRequestBody(c.op, ticket, c.ids...))
		if err != nil || got.Operation != c.want.Operation || got.Ticket != c.want.Ticket || got.MessageID != c.want.MessageID || strings.Join(got.MessageIDs, ",") != strings.Join(c.want.MessageIDs, ",") {
			t.Errorf("%s: %+v %v", c.op, got, err)
		}
	}
	// Without a p half, as this service's tickets have it.
	if got, err := ParseRSIRequest(RSIRequestBody(OpGetMetadata, "t=abc&p=")); err != nil || got.Ticket != "abc" {
		t.Errorf("ticket without p: %+v %v", got, err)
	}
	for name, bad := range map[string]string{
		"not XML":           "<soap:Envelope",
		"not an envelope":   `<GetMetadata/>`,
		"no operation":      `<Envelope><Body></Body></Envelope>`,
		"two operations":    `<Envelope><Body><GetMetadata/><GetMetadata/></Body></Envelope>`,
		"unknown operation": `<Envelope><Body><StealMessages/></Body></Envelope>`,
		"no message id":     `<Envelope><Body><GetMessage><messageId> </messageId></GetMessage></Body></Envelope>`,
		"nothing to delete": `<Envelope><Body><DeleteMessages><messageIds/></DeleteMessages></Body></Envelope>`,
		"too many deletes":  `<Envelope><Body><DeleteMessages><messageIds>` + strings.Repeat("<messageId>x</messageId>", MaxDeleteIDs+1) + `</messageIds></DeleteMessages></Body></Envelope>`,
	} {
		if _, err := ParseRSIRequest([]byte(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestStoreRequest(t *testing.T) {
	want := StoreRequest{Namespace: NSStore, From: "alice@example.com", FriendlyName: "=?utf-8?B?QWxpY2U=?=", To: "bob@example.com",
		Ticket: "t=abc&p=", AppID: "PROD0119GSJUC$18", LockKey: "", MessageNumber: 3, MessageType: "text",
		Content: string(AppendMessage(nil, Message{RunID: "{R}", Sequence: 3, Text: "hi <there> & all"}))}
	got, err := ParseStoreRequest(StoreRequestBody(want))
	if err != nil || got != want {
		t.Fatalf("round trip:\n%+v\n%+v %v", got, want, err)
	}
	for name, bad := range map[string]string{
		"not XML":           "<<",
		"no sequence":       `<Envelope><Header><From memberName="a"/><To memberName="b"/></Header></Envelope>`,
		"negative sequence": `<Envelope><Header><From memberName="a"/><To memberName="b"/><Sequence><MessageNumber>-1</MessageNumber></Sequence></Header></Envelope>`,
		"no recipient":      `<Envelope><Header><From memberName="a"/><Sequence><MessageNumber>1</MessageNumber></Sequence></Header></Envelope>`,
	} {
		if _, err := ParseStoreRequest([]byte(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAnswers: what the writers answer, read back as a client does.
func TestAnswers(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteFault(rec, NSStore, &Fault{Code: FaultAuthenticationFailed, Message: "lock key", LockKeyChallenge: "12345678901234567890"})
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `<faultcode xmlns:q0="`+NSStore+`">q0:AuthenticationFailed</faultcode>`) {
		t.Errorf("fault: %d %s", rec.Code, rec.Body)
	}
	_, err := ParseResponse(rec.Body.Bytes())
	var f *Fault
	if !errors.As(err, &f) || f.Code != FaultAuthenticationFailed || f.LockKeyChallenge != "12345678901234567890" {
		t.Errorf("fault read back: %v", err)
	}

	rec = httptest.NewRecorder()
	WriteMetadata(rec, []Entry{{ID: MessageID(9), From: "bob@example.com"}})
	r, err := ParseResponse(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if e, _, err := ParseMailData(r.MailData); err != nil || len(e) != 1 || e[0].ID != MessageID(9) {
		t.Errorf("metadata: %+v %v (%s)", e, err, r.MailData)
	}

	text := AppendMessage(nil, Message{From: "bob@example.com", RunID: "{R}", Text: "a < b & c" + strings.Repeat(".", 4000)})
	rec = httptest.NewRecorder()
	WriteMessage(rec, text)
	if r, err := ParseResponse(rec.Body.Bytes()); err != nil || r.Message != string(text) {
		t.Errorf("message: %q %v", r.Message, err)
	}
	if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %q for %d bytes", got, rec.Body.Len())
	}

	rec = httptest.NewRecorder()
	WriteStored(rec, StoreRequest{Namespace: NSStore, MessageNumber: 5})
	if r, err := ParseResponse(rec.Body.Bytes()); err != nil || r.Acknowledged != 5 || !strings.Contains(rec.Body.String(), `<StoreResponse xmlns="`+NSStore+`">`) {
		t.Errorf("stored: %+v %v %s", r, err, rec.Body)
	}
}

func TestLockKeys(t *testing.T) {
	l := LockKeys{Key: []byte("key"), Lifetime: time.Hour}
	now := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	ch := l.Challenge(1001, now)
	if len(ch) != challengeDigits || strings.Trim(ch, "0123456789") != "" {
		t.Fatalf("challenge %q", ch)
	}
	if ch == l.Challenge(1002, now) {
		t.Error("two accounts share a challenge")
	}
	const id = "PROD0119GSJUC$18"
	answer := wire.ChallengeAnswer(11, ch, id, wire.ProductKeys[id])
	for _, c := range []struct {
		name          string
		account       uint32
		appID, answer string
		at            time.Time
		ok            bool
	}{
		{"now", 1001, id, answer, now, true},
		{"next period", 1001, id, answer, now.Add(time.Hour), true},
		{"two periods on", 1001, id, answer, now.Add(2 * time.Hour), false},
		{"another account", 1002, id, answer, now, false},
		{"another product", 1001, "PROD0120PW!CCV9@", answer, now, false},
		{"unknown product", 1001, "PRODUNKNOWN", answer, now, false},
		{"empty", 1001, id, "", now, false},
	} {
		if got := l.Check(c.account, c.appID, c.answer, c.at); got != c.ok {
			t.Errorf("%s: %v", c.name, got)
		}
	}
	if (LockKeys{Key: []byte("other")}).Check(1001, id, answer, now) {
		t.Error("a lock key checked with another key")
	}
}
