package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// Login data of Wimmer's worked example: printf "1919833824Passwort" | md5sum.
const (
	seedSalt     = "1919833824"
	seedPassword = "Passwort"
	seedHash     = "3da461811be2c27177eeb8d3c81bb016"
)

// seedBlocks are the blocks of Wimmer's two sessions as the seed describes
// them, header for header and in his order: the Yahoo! client sends ID
// first and always the blank line, the Odigo server sorts its headers and
// sends the blank line only before a body. Numbers not in the seed are
// 7-digit Odigo numbers (1234567 is us, 7654321 the contact), which is what
// the transcript lengths imply. The length lines were written by hand and
// are checked against the bytes that follow them.
var seedBlocks = []struct {
	name  string
	wire  string
	block Block
}{
	{"client HELO", "HELO\r\n32\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n",
		Block{Type: "HELO", Headers: []Header{{"ID", "1001"}, {"Protocol", "IMIP/1.0"}}, Blank: true}},
	{"server HELO, session 1 (8-digit salt)", "HELO\r\n194\r\nAuth-Type: imip-md5\r\nCapabilities: server-lists\r\nID: 19191\r\n" +
		"Keep-Alive: 60\r\nProtocol: IMIP/1.0\r\nRegistration: http://www.odigo.com/user\r\nService: odigo.com\r\n" +
		"ServiceDisplayName: Odigo\r\n\r\n19198338",
		Block{Type: "HELO", Headers: odigoHello("19191"), Blank: true, Body: []byte("19198338")}},
	{"server HELO, seed salt", "HELO\r\n196\r\nAuth-Type: imip-md5\r\nCapabilities: server-lists\r\nID: 19191\r\n" +
		"Keep-Alive: 60\r\nProtocol: IMIP/1.0\r\nRegistration: http://www.odigo.com/user\r\nService: odigo.com\r\n" +
		"ServiceDisplayName: Odigo\r\n\r\n1919833824",
		Block{Type: "HELO", Headers: odigoHello("19191"), Blank: true, Body: []byte(seedSalt)}},
	{"client LOGN", "LOGN 1234567\r\n93\r\nID: 1002\r\nClient: Yahoo! IMIP Client\r\nAuth-Type: imip-md5\r\n\r\n" + seedHash,
		Block{Type: "LOGN", Args: []string{"1234567"}, Headers: []Header{{"ID", "1002"}, {"Client", "Yahoo! IMIP Client"},
			{"Auth-Type", "imip-md5"}}, Blank: true, Body: []byte(seedHash)}},
	{"server LOGN", "LOGN 1234567\r\n28\r\nID: 19194\r\nReference: 1002\r\n",
		Block{Type: "LOGN", Args: []string{"1234567"}, Headers: []Header{{"ID", "19194"}, {"Reference", "1002"}}}},
	{"server LOGN with buddies", "LOGN 1234567\r\n80\r\nBuddy: 7654321 \"Matthias\", 2345678 \"Odigo Support\"\r\nID: 19194\r\nReference: 1002\r\n",
		Block{Type: "LOGN", Args: []string{"1234567"}, Headers: []Header{{"Buddy", `7654321 "Matthias", 2345678 "Odigo Support"`},
			{"ID", "19194"}, {"Reference", "1002"}}}},
	{"client STAT", "STAT ONLINE\r\n12\r\nID: 1003\r\n\r\n",
		Block{Type: "STAT", Args: []string{"ONLINE"}, Headers: []Header{{"ID", "1003"}}, Blank: true}},
	{"client STAT with text", "STAT AWAY\r\n25\r\nID: 1003\r\n\r\nbin gleich da",
		Block{Type: "STAT", Args: []string{"AWAY"}, Headers: []Header{{"ID", "1003"}}, Blank: true, Body: []byte("bin gleich da")}},
	{"server ACK 600", "ACK 600\r\n28\r\nID: 19195\r\nReference: 1003\r\n",
		Block{Type: "ACK", Args: []string{"600"}, Headers: []Header{{"ID", "19195"}, {"Reference", "1003"}}}},
	{"server STAT", "STAT ONLINE\r\n26\r\nFrom: 7654321\r\nID: 19196\r\n",
		Block{Type: "STAT", Args: []string{"ONLINE"}, Headers: []Header{{"From", "7654321"}, {"ID", "19196"}}}},
	{"client PING", "PING\r\n12\r\nID: 1004\r\n\r\n",
		Block{Type: "PING", Headers: []Header{{"ID", "1004"}}, Blank: true}},
	{"client MESG", "MESG\r\n78\r\nID: 1004\r\nTo: 7654321\r\nACK-Type: errors-only\r\nFrom: 1234567\r\n\r\nHello Matthias!",
		Block{Type: "MESG", Headers: []Header{{"ID", "1004"}, {"To", "7654321"}, {"ACK-Type", "errors-only"}, {"From", "1234567"}},
			Blank: true, Body: []byte("Hello Matthias!")}},
	{"server MESG", "MESG\r\n131\r\nContent-Type: text/plain;charset=utf-8\r\nFrom: 7654321 \"Matthias\"\r\nID: 19197\r\n" +
		"Time: 2002-07-14T18:32:05Z\r\nTo: 1234567\r\n\r\nHallo Welt!",
		Block{Type: "MESG", Headers: []Header{{"Content-Type", "text/plain;charset=utf-8"}, {"From", `7654321 "Matthias"`},
			{"ID", "19197"}, {"Time", "2002-07-14T18:32:05Z"}, {"To", "1234567"}}, Blank: true, Body: []byte("Hallo Welt!")}},
	{"client LIST ADD", "LIST ADD 7654321\r\n40\r\nID: 1005\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n",
		Block{Type: "LIST", Args: []string{"ADD", "7654321"}, Headers: []Header{{"ID", "1005"}, {"List", "Buddy"}, {"From", "1234567"}}, Blank: true}},
	{"server LIST ADD", "LIST ADD\r\n68\r\nFrom: 7654321 \"Matthias\"\r\nID: 19198\r\nList: Buddy\r\n\r\nWant to add you!",
		Block{Type: "LIST", Args: []string{"ADD"}, Headers: []Header{{"From", `7654321 "Matthias"`}, {"ID", "19198"}, {"List", "Buddy"}},
			Blank: true, Body: []byte("Want to add you!")}},
	{"client LIST ACCEPT", "LIST ACCEPT 7654321 \"Matthias\"\r\n27\r\nID: 1006\r\nFrom: 1234567\r\n\r\n",
		Block{Type: "LIST", Args: []string{"ACCEPT", "7654321", `"Matthias"`}, Headers: []Header{{"ID", "1006"}, {"From", "1234567"}}, Blank: true}},
	{"client LIST ACCEPT, nickname with a space", "LIST ACCEPT 2345678 \"Odigo Support\"\r\n27\r\nID: 1006\r\nFrom: 1234567\r\n\r\n",
		Block{Type: "LIST", Args: []string{"ACCEPT", "2345678", `"Odigo Support"`}, Headers: []Header{{"ID", "1006"}, {"From", "1234567"}}, Blank: true}},
	{"client LIST REJECT", "LIST REJECT 7654321\r\n27\r\nID: 1007\r\nFrom: 1234567\r\n\r\n",
		Block{Type: "LIST", Args: []string{"REJECT", "7654321"}, Headers: []Header{{"ID", "1007"}, {"From", "1234567"}}, Blank: true}},
	{"client LIST REMOVE", "LIST REMOVE 7654321\r\n40\r\nID: 1007\r\nList: Buddy\r\nFrom: 1234567\r\n\r\n",
		Block{Type: "LIST", Args: []string{"REMOVE", "7654321"}, Headers: []Header{{"ID", "1007"}, {"List", "Buddy"}, {"From", "1234567"}}, Blank: true}},
	{"client DISC", "DISC\r\n12\r\nID: 1008\r\n\r\n",
		Block{Type: "DISC", Headers: []Header{{"ID", "1008"}}, Blank: true}},
	{"server ACK 811", "ACK 811\r\n28\r\nID: 19199\r\nReference: 1002\r\n",
		Block{Type: "ACK", Args: []string{"811"}, Headers: []Header{{"ID", "19199"}, {"Reference", "1002"}}}},
}

func odigoHello(id string) []Header {
	return []Header{{"Auth-Type", "imip-md5"}, {"Capabilities", "server-lists"}, {"ID", id}, {"Keep-Alive", "60"},
		{"Protocol", "IMIP/1.0"}, {"Registration", "http://www.odigo.com/user"}, {"Service", "odigo.com"},
		{"ServiceDisplayName", "Odigo"}}
}

// statedLength splits a block's bytes at its length line and returns the
// stated length and the number of bytes after the line.
func statedLength(t *testing.T, wire string) (stated, actual int) {
	t.Helper()
	_, rest, _ := strings.Cut(wire, "\r\n")
	num, after, ok := strings.Cut(rest, "\r\n")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		t.Fatalf("no length line in %q", wire)
	}
	return n, len(after)
}

func TestSeedBlocks(t *testing.T) {
	var stream []byte
	for _, tt := range seedBlocks {
		t.Run(tt.name, func(t *testing.T) {
			if stated, actual := statedLength(t, tt.wire); stated != actual {
				t.Fatalf("length line says %d, %d bytes follow", stated, actual)
			}
			if got := tt.block.Len(); strconv.Itoa(got) != strings.Split(tt.wire, "\r\n")[1] {
				t.Fatalf("Len() = %d", got)
			}
			enc, err := tt.block.Encode()
			if err != nil || string(enc) != tt.wire {
				t.Fatalf("Encode = %q, %v\nwant    %q", enc, err, tt.wire)
			}
			b, err := NewReader(strings.NewReader(tt.wire)).ReadBlock()
			if err != nil || !reflect.DeepEqual(*b, tt.block) {
				t.Fatalf("ReadBlock = %#v, %v\nwant %#v", b, err, tt.block)
			}
		})
		stream = append(stream, tt.wire...)
	}
	// One after the other, as on a connection, read a byte at a time.
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	for _, tt := range seedBlocks {
		b, err := r.ReadBlock()
		if err != nil || !reflect.DeepEqual(*b, tt.block) {
			t.Fatalf("stream: %s: %v, %v", tt.name, b, err)
		}
	}
	if _, err := r.ReadBlock(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

// TestTranscriptLengths pins the lengths the spec verified on the
// transcripts.
func TestTranscriptLengths(t *testing.T) {
	for name, want := range map[string]int{"client HELO": 32, "server HELO, session 1 (8-digit salt)": 194, "client MESG": 78} {
		for _, tt := range seedBlocks {
			if tt.name == name {
				if got := tt.block.Len(); got != want {
					t.Errorf("%s: Len = %d, want %d", name, got, want)
				}
			}
		}
	}
}

func TestLoginHash(t *testing.T) {
	if got := LoginHash(seedSalt, seedPassword); got != seedHash {
		t.Fatalf("LoginHash = %s, want %s", got, seedHash)
	}
	// The other order gives something else, so the order matters.
	if LoginHash(seedPassword, seedSalt) == seedHash {
		t.Fatal("hash does not depend on the order")
	}
	if !CheckLoginHash(seedSalt, seedPassword, seedHash) || !CheckLoginHash(seedSalt, seedPassword, strings.ToUpper(seedHash)) {
		t.Fatal("CheckLoginHash rejects the right hash")
	}
	if CheckLoginHash(seedSalt, "passwort", seedHash) || CheckLoginHash(seedSalt, seedPassword, seedHash[:31]) {
		t.Fatal("CheckLoginHash accepts a wrong hash")
	}
}

func TestLenient(t *testing.T) {
	// Bare LF line ends, no space after the colon, runs of spaces, empty
	// lines between blocks, a body followed by an uncounted CRLF.
	in := "\r\nSTAT   AWAY \n12\nID:1003\n\nbrb\r\n\r\nPING\r\n 10 \r\nID:\t1004\r\n"
	r := NewReader(strings.NewReader(in))
	b, err := r.ReadBlock()
	want := &Block{Type: "STAT", Args: []string{"AWAY"}, Headers: []Header{{"ID", "1003"}}, Blank: true, Body: []byte("brb")}
	if err != nil || !reflect.DeepEqual(b, want) {
		t.Fatalf("first = %#v, %v", b, err)
	}
	b, err = r.ReadBlock()
	if err != nil || b.Type != "PING" || b.Get("id") != "1004" || b.Blank || b.Body != nil {
		t.Fatalf("second = %#v, %v", b, err)
	}
	if id, ok := b.ID(); !ok || id != 1004 {
		t.Fatalf("ID = %d, %v", id, ok)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(error) bool
	}{
		{"cut type line", "HEL", func(err error) bool {
			var e *TruncatedError
			return errors.As(err, &e) && e.Line && e.Type == "" && errors.Is(err, io.ErrUnexpectedEOF)
		}},
		{"no length line", "HELO\r\n", func(err error) bool {
			var e *TruncatedError
			return errors.As(err, &e) && e.Line && e.Type == "HELO"
		}},
		{"cut block", "HELO\r\n32\r\nID: 1001\r\n", func(err error) bool {
			var e *TruncatedError
			return errors.As(err, &e) && !e.Line && e.Type == "HELO" && e.Want == 32 && e.Got == 10
		}},
		{"length not a number", "HELO\r\nx32\r\nID: 1001\r\n", func(err error) bool {
			var e *LengthError
			return errors.As(err, &e) && e.Line == "x32" && errors.Is(err, ErrMalformed)
		}},
		{"negative length", "HELO\r\n-1\r\n", func(err error) bool {
			var e *LengthError
			return errors.As(err, &e)
		}},
		{"length too short: ends inside a header", "HELO\r\n28\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n", func(err error) bool {
			var e *LengthError
			return errors.As(err, &e) && e.Line == "28" && e.Type == "HELO"
		}},
		{"length too long: swallows the next type line", "ACK 600\r\n41\r\nID: 19195\r\nReference: 1003\r\nPING\r\n10\r\nID: 1\r\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e) && e.Line == "PING" && e.Type == "ACK" && errors.Is(err, ErrMalformed)
		}},
		{"oversize", "MESG\r\n65537\r\n", func(err error) bool {
			var e *TooLargeError
			return errors.As(err, &e) && e.Length == 65537 && e.Max == DefaultMaxBlock && e.Type == "MESG" && !e.Line
		}},
		{"overflowing length", "MESG\r\n99999999999999999999999\r\n", func(err error) bool {
			var e *TooLargeError
			return errors.As(err, &e) && e.Length == ^uint64(0)
		}},
		{"long type line", strings.Repeat("A", 2000) + "\r\n", func(err error) bool {
			var e *TooLargeError
			return errors.As(err, &e) && e.Line && e.Max == DefaultMaxLine
		}},
		{"quote in type", "\"A B\"\r\n0\r\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e) && e.Type == ""
		}},
		{"spaces only", "   \r\n0\r\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e)
		}},
		{"bad header name", "PING\r\n11\r\nI D: 1004\r\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e) && e.Type == "PING"
		}},
		{"empty header name", "PING\r\n4\r\n: x\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e)
		}},
		{"CR inside a value", "PING\r\n8\r\nID: 1\r2\n", func(err error) bool {
			var e *SyntaxError
			return errors.As(err, &e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewReader(strings.NewReader(tt.in)).ReadBlock()
			if b != nil || !tt.check(err) {
				t.Fatalf("ReadBlock = %v, %T %v", b, err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	r := NewReader(strings.NewReader("MESG\r\n13\r\nID: 1\r\n\r\nabcd"))
	r.MaxBlock = 12
	if _, err := r.ReadBlock(); err == nil {
		t.Fatal("block above MaxBlock accepted")
	}
	r = NewReader(strings.NewReader("MESG\r\n13\r\nID: 1\r\n\r\nabcd"))
	r.MaxBlock = 13
	if b, err := r.ReadBlock(); err != nil || string(b.Body) != "abcd" {
		t.Fatalf("block at MaxBlock: %v, %v", b, err)
	}
	r = NewReader(strings.NewReader("LIST ADD 1\r\n0\r\n"))
	r.MaxLine = 11
	if _, err := r.ReadBlock(); err == nil {
		t.Fatal("line above MaxLine accepted")
	}
	r = NewReader(strings.NewReader("LIST ADD 1\r\n0\r\n"))
	r.MaxLine = 12
	if b, err := r.ReadBlock(); err != nil || b.TypeLine() != "LIST ADD 1" || b.Len() != 0 {
		t.Fatalf("line at MaxLine: %v, %v", b, err)
	}
}

func TestEncodeInvalid(t *testing.T) {
	for _, b := range []*Block{
		{},
		{Type: "MESG\r\n"},
		{Type: "MESG", Args: []string{""}},
		{Type: "MESG", Args: []string{"a b"}},
		{Type: "LIST", Args: []string{"ACCEPT", `"unclosed`, "x"}},
		{Type: "MESG", Headers: []Header{{"To", "1\r\nFrom: 2"}}},
		{Type: "MESG", Headers: []Header{{"To:", "1"}}},
		{Type: "MESG", Headers: []Header{{"", "1"}}},
	} {
		if enc, err := b.Encode(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%#v) = %q, %v", b, enc, err)
		}
	}
}

func TestBlockHeaders(t *testing.T) {
	b := NewBlock("MESG").Add("ID", "5").Add("To", "1").Add("to", "2").Add("From", "3")
	if b.Get("TO") != "1" || b.Get("x") != "" {
		t.Fatalf("Get: %v", b)
	}
	b.Set("To", "9")
	if !reflect.DeepEqual(b.Headers, []Header{{"ID", "5"}, {"To", "9"}, {"From", "3"}}) {
		t.Fatalf("Set: %v", b.Headers)
	}
	b.Set("Time", "x")
	b.Del("id")
	if !reflect.DeepEqual(b.Headers, []Header{{"To", "9"}, {"From", "3"}, {"Time", "x"}}) {
		t.Fatalf("Set/Del: %v", b.Headers)
	}
	if _, ok := b.ID(); ok {
		t.Fatal("ID after Del")
	}
	if _, ok := NewBlock("ACK").Add("Reference", "+12").Reference(); ok {
		t.Fatal("Reference +12 accepted")
	}
	b.Body = []byte("secret")
	if s := b.String(); strings.Contains(s, "secret") || !strings.Contains(s, "+6 bytes") {
		t.Fatalf("String = %q", s)
	}
}

func TestSplitArgs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                         nil,
		"   ":                      nil,
		"ADD 1":                    {"ADD", "1"},
		` ACCEPT  1 "Nick  Name" `: {"ACCEPT", "1", `"Nick  Name"`},
		`ACCEPT 1 "open ended `:    {"ACCEPT", "1", `"open ended `},
		`a"b c"d e`:                {`a"b c"d`, "e"},
	} {
		if got := SplitArgs(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusAndCodes(t *testing.T) {
	if st, ok := ParseStatus("away"); !ok || st != StatusAway || !st.Valid() {
		t.Fatalf("ParseStatus(away) = %v, %v", st, ok)
	}
	if _, ok := ParseStatus("IDLE"); ok {
		t.Fatal("IDLE accepted")
	}
	if Status("online").Valid() {
		t.Fatal("lower-case status is not canonical")
	}
	if !CodeOK.OK() || CodeUnknownUser.OK() || CodeBadPassword.String() != "810 wrong password" || Code(123).String() != "123" {
		t.Fatal("Code methods")
	}
}

func TestTime(t *testing.T) {
	at := time.Date(2002, 7, 14, 20, 32, 5, 999, time.FixedZone("CEST", 2*3600))
	if got := FormatTime(at); got != "2002-07-14T18:32:05Z" {
		t.Fatalf("FormatTime = %s", got)
	}
	if got := string(AppendTime([]byte("Time: "), at)); got != "Time: 2002-07-14T18:32:05Z" {
		t.Fatalf("AppendTime = %s", got)
	}
	// AppendTime writes what the layout does, in any zone and for years
	// of more or fewer than four digits.
	east := time.FixedZone("east", 5*3600+1800)
	for _, tm := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(999, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(2026, 12, 7, 1, 2, 3, 0, east), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Unix(0, 0), time.Unix(1<<40, 0), {},
	} {
		if got, want := string(AppendTime(nil, tm)), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("AppendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	p, err := ParseTime("2002-07-14T18:32:05Z")
	if err != nil || !p.Equal(at.Truncate(time.Second)) || p.Location() != time.UTC {
		t.Fatalf("ParseTime = %v, %v", p, err)
	}
	for _, bad := range []string{"", "2002-07-14 18:32:05", "2002-07-14T18:32:05+02:00", "2002-07-14T18:32:05", "2002-07-14T8:32:05Z", "2002-07-14T18:32:5Z", "2002-13-14T18:32:05Z", "2002-07-14t18:32:05Z"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestAddresses(t *testing.T) {
	for in, want := range map[string]Contact{
		"7654321":                 {User: "7654321"},
		` 7654321  "Matthias" `:   {User: "7654321", Nick: "Matthias"},
		`7654321 "Odigo Support"`: {User: "7654321", Nick: "Odigo Support"},
		`7654321 ""`:              {User: "7654321"},
		`7654321 "say "hi", bye"`: {User: "7654321", Nick: `say "hi", bye`},
		"alice@example.com":       {User: "alice@example.com"},
		`7654321 "Zażółć gęślą"`:  {User: "7654321", Nick: "Zażółć gęślą"},
	} {
		if got, err := ParseAddress(in); err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", `"Nick"`, `1 Nick`, `1 "Nick`, `1,2`, "1\t2"} {
		if c, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) = %+v", bad, c)
		}
	}
	if got := FormatAddress("1", "a \"b\"\r\nc"); got != `1 "a 'b'  c"` {
		t.Fatalf("FormatAddress = %q", got)
	}
	if got := FormatAddress("1", ""); got != "1" {
		t.Fatalf("FormatAddress = %q", got)
	}
	for _, nick := range []string{"", "Bob", "a \"b\"\r\nc", "caf\xe9 \x7f", "żółw"} {
		if got, want := string(AppendNick([]byte("1"), nick)), FormatAddress("1", nick); got != want {
			t.Errorf("AppendNick(%q) = %q, FormatAddress %q", nick, got, want)
		}
	}
}

func TestBuddyList(t *testing.T) {
	list, err := ParseBuddyList(`7654321 "Matthias", 2345678 "Odigo, Support",3456789,, `)
	want := []Contact{{"7654321", "Matthias"}, {"2345678", "Odigo, Support"}, {"3456789", ""}}
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Fatalf("ParseBuddyList = %+v, %v", list, err)
	}
	if got := FormatBuddyList(want); got != `7654321 "Matthias", 2345678 "Odigo, Support", 3456789` {
		t.Fatalf("FormatBuddyList = %q", got)
	}
	if list, err := ParseBuddyList(""); err != nil || list != nil {
		t.Fatalf("empty list = %v, %v", list, err)
	}
	if _, err := ParseBuddyList(`1 "open, 2`); err == nil {
		t.Fatal("unclosed quote accepted")
	}
}

// BlockBuffered says whether the next block waits whole in the buffer,
// the empty lines before it skipped: not for a block cut short, and yes for
// one whose length line the reader refuses at once.
func TestBlockBuffered(t *testing.T) {
	first, err := NewBlock(TypeMESG).Add(HeaderTo, "2").Encode()
	if err != nil {
		t.Fatal(err)
	}
	second := append([]byte("\r\n\n"), first...)
	stream := append(append(append([]byte{}, first...), second...), first[:len(first)-1]...)
	r := NewReader(bytes.NewReader(stream))
	if r.BlockBuffered() {
		t.Fatal("a block counted as buffered before anything was read")
	}
	for i, want := range []bool{true, false} {
		if _, err := r.ReadBlock(); err != nil {
			t.Fatal(err)
		}
		if got := r.BlockBuffered(); got != want {
			t.Fatalf("after block %d: BlockBuffered %v, want %v", i+1, got, want)
		}
	}
	bad := NewReader(bytes.NewReader(append(append([]byte{}, first...), "MESG 1\r\nnot a number\r\n"...)))
	if _, err := bad.ReadBlock(); err != nil || !bad.BlockBuffered() {
		t.Fatalf("a length the reader refuses: buffered %v (%v), want true", bad.BlockBuffered(), err)
	}
}
