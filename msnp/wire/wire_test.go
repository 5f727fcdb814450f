package wire

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/crosstalk-im/crosstalk/internal/race"
)

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Command
		wantErr error
	}{
		{"crlf", "VER 0 MSNP7 MSNP6 CVR0\r\n", []Command{{Name: "VER", Args: []string{"0", "MSNP7", "MSNP6", "CVR0"}}}, io.EOF},
		{"bare lf and trailing space", "INF 2 \n", []Command{{Name: "INF", Args: []string{"2"}}}, io.EOF},
		{"empty field", "CVR 1 0x0409 win 3.51 ppc msnp.py 0.4.1 MSMSGS  a@b.c\r\n",
			[]Command{{Name: "CVR", Args: strings.Fields("1 0x0409 win 3.51 ppc msnp.py 0.4.1 MSMSGS a@b.c")}}, io.EOF},
		{"payload", "MSG 2 N 5\r\nhelloPNG\r\n", []Command{
			{Name: "MSG", Args: []string{"2", "N", "5"}, Payload: []byte("hello")},
			{Name: "PNG"}}, io.EOF},
		{"utf8 payload counts bytes", "MSG 1 U 4\r\nżó", []Command{{Name: "MSG", Args: []string{"1", "U", "4"}, Payload: []byte("żó")}}, io.EOF},
		{"bad length", "MSG 2 N x\r\n", nil, ErrBadLength},
		{"negative length", "MSG 2 N -1\r\n", nil, ErrBadLength},
		{"payload too large", "MSG 2 N 9000\r\n", nil, ErrPayloadTooLarge},
		{"short payload", "MSG 2 N 10\r\nabc", nil, io.ErrUnexpectedEOF},
		{"unterminated line", "PNG", nil, io.ErrUnexpectedEOF},
		{"line too long", strings.Repeat("A", 2000) + "\r\n", nil, ErrLineTooLong},
		{"blank line", "\r\n", nil, ErrEmptyLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), DefaultLimits, "MSG", "QRY")
			for i, want := range tt.want {
				got, err := r.ReadCommand()
				if err != nil {
					t.Fatalf("command %d: %v", i, err)
				}
				if got.String() != want.String() || !bytes.Equal(got.Payload, want.Payload) {
					t.Fatalf("command %d = %q %q, want %q %q", i, got, got.Payload, want, want.Payload)
				}
			}
			if _, err := r.ReadCommand(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("final error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestLineJustUnderLimit(t *testing.T) {
	line := "ADD 1 FL a@b.c " + strings.Repeat("x", DefaultLimits.MaxLine-17) + "\r\n"
	if len(line) != DefaultLimits.MaxLine {
		t.Fatalf("test line is %d bytes", len(line))
	}
	r := NewReader(strings.NewReader(line), DefaultLimits)
	if _, err := r.ReadCommand(); err != nil {
		t.Fatalf("line of exactly MaxLine bytes: %v", err)
	}
	r = NewReader(strings.NewReader("A"+line), DefaultLimits)
	if _, err := r.ReadCommand(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("line of MaxLine+1 bytes: %v", err)
	}
}

func TestAppend(t *testing.T) {
	got := AppendCommand(nil, "USR", "6", "OK", "a@b.c", "Alice")
	if string(got) != "USR 6 OK a@b.c Alice\r\n" {
		t.Fatalf("AppendCommand = %q", got)
	}
	got = AppendPayloadCommand(nil, "MSG", []byte("hi"), "a@b.c", "Alice")
	if string(got) != "MSG a@b.c Alice 2\r\nhi" {
		t.Fatalf("AppendPayloadCommand = %q", got)
	}
	// A relayed message is built in one allocation.
	payload, args := bytes.Repeat([]byte("x"), 1500), []string{"someone@example.com", "Some%20One"}
	if allocs := testing.AllocsPerRun(10, func() { AppendPayloadCommand(nil, "MSG", payload, args...) }); allocs != 1 {
		t.Errorf("AppendPayloadCommand allocates %v times, want 1", allocs)
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{"Alice", "Alice Smith", "100%", "Zażółć gęślą", "", "a\r\nb"} {
		enc := EncodeName(s)
		if strings.ContainsAny(enc, " \r\n") {
			t.Errorf("EncodeName(%q) = %q has separators", s, enc)
		}
		if dec := DecodeName(enc); dec != s {
			t.Errorf("DecodeName(EncodeName(%q)) = %q", s, dec)
		}
	}
	if got := DecodeName("50%zz%2"); got != "50%zz%2" {
		t.Errorf("lenient decode = %q", got)
	}
	for s, want := range map[string]string{"Alice": "Alice", "Ali ce": "Ali%20ce", "100%": "100%25", "ż": "%C5%BC"} {
		if got := EncodeName(s); got != want {
			t.Errorf("EncodeName(%q) = %q, want %q", s, got, want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { EncodeName("Alice") }); n != 0 {
		t.Errorf("EncodeName of a name with nothing to escape: %v allocations", n)
	}
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"VER 0 MSNP7 CVR0\r\n", "MSG 2 N 5\r\nhello", "QRY 18 msmsgs@msnmsgr.com 32\r\n0212eaad0876afb8505859ca75d21a78",
		"MSG 1 A 99999999999\r\n", "\r\n\r\n", "USR 1 MD5 I a@b.c\nCHG 2 NLN\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Read in pieces, so that later reads reuse the buffer: the
		// commands read must stay as they were read.
		r := NewReader(iotest.HalfReader(bytes.NewReader(data)), Limits{MaxLine: 256, MaxPayload: 512}, "MSG", "QRY")
		var kept []Command
		var asRead []string
		defer func() {
			for i, cmd := range kept {
				if got := cmd.String() + "\n" + string(cmd.Payload); got != asRead[i] {
					t.Fatalf("command %d read as %q became %q", i, asRead[i], got)
				}
			}
		}()
		for i := 0; i < 64; i++ {
			cmd, err := r.ReadCommand()
			if errors.Is(err, ErrEmptyLine) {
				continue
			}
			if err != nil {
				return
			}
			kept = append(kept, cmd)
			asRead = append(asRead, cmd.String()+"\n"+string(cmd.Payload))
			if len(cmd.Payload) > 512 {
				t.Fatalf("payload of %d bytes passed a 512-byte limit", len(cmd.Payload))
			}
			// What was read must encode back to something that reads the same.
			var again []byte
			if cmd.Payload != nil {
				again = AppendPayloadCommand(nil, cmd.Name, cmd.Payload, cmd.Args[:len(cmd.Args)-1]...)
			} else {
				again = AppendCommand(nil, cmd.Name, cmd.Args...)
			}
			back, err := NewReader(bytes.NewReader(again), Limits{MaxLine: 1 << 16, MaxPayload: 512}, "MSG", "QRY").ReadCommand()
			if err != nil || withoutLength(back) != withoutLength(cmd) || !bytes.Equal(back.Payload, cmd.Payload) {
				t.Fatalf("re-encoded %q read back as %q, %v", cmd, back, err)
			}
		}
	})
}

// withoutLength renders a command without a payload length, which may be
// written with leading zeros on the way in but never on the way out.
func withoutLength(c Command) string {
	if c.Payload != nil {
		c.Args = c.Args[:len(c.Args)-1]
	}
	return c.String()
}

func BenchmarkReadCommand(b *testing.B) {
	stream := []byte("MSG 12 A 137\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n\r\nhello")
	rd := bytes.NewReader(stream)
	r := NewReader(rd, DefaultLimits, "MSG")
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(stream)
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeName: DecodeName never grows its input, undoes EncodeName on
// any string, and what it decodes encodes to a single parameter that
// decodes back the same.
func FuzzDecodeName(f *testing.F) {
	for _, s := range []string{"Alice%20Smith", "100%25", "Za%C5%BC%C3%B3%C5%82%C4%87", "50%zz%2", "%", "%%41", "%4", "%c3%a9", "a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec := DecodeName(s)
		if len(dec) > len(s) {
			t.Fatalf("DecodeName(%q) = %q is longer", s, dec)
		}
		if !strings.Contains(s, "%") && dec != s {
			t.Fatalf("DecodeName(%q) = %q changed a string without %%", s, dec)
		}
		for _, in := range []string{s, dec} {
			enc := EncodeName(in)
			if strings.IndexFunc(enc, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
				t.Fatalf("EncodeName(%q) = %q is not one printable parameter", in, enc)
			}
			if len(enc) > 3*len(in) {
				t.Fatalf("EncodeName(%q) = %q is more than three times longer", in, enc)
			}
			if back := DecodeName(enc); back != in {
				t.Fatalf("DecodeName(EncodeName(%q)) = %q", in, back)
			}
		}
	})
}

func TestParsePayload(t *testing.T) {
	p := ParsePayload([]byte("MIME-Version: 1.0\r\ncontent-type: Text/Plain; charset=UTF-8\r\nbroken line\r\nX-MMS-IM-Format:  FN=Arial; EF=B \r\n\r\nhello\r\n\r\nworld"))
	if !p.Complete || string(p.Body) != "hello\r\n\r\nworld" {
		t.Fatalf("body %q complete %v", p.Body, p.Complete)
	}
	if ct := p.ContentType(); ct != "text/plain" {
		t.Errorf("content type %q", ct)
	}
	if f := p.Header("x-mms-im-format"); f != "FN=Arial; EF=B" {
		t.Errorf("format %q", f)
	}
	if h := p.Headers(); len(h) != 3 || h.Get("Mime-Version") != "1.0" {
		t.Errorf("headers %v", h)
	}
	lf := ParsePayload([]byte("Content-Type: text/x-msmsgscontrol\nTypingUser: a@b.c\n\n"))
	if !lf.Complete || len(lf.Body) != 0 || lf.Header("TypingUser") != "a@b.c" {
		t.Errorf("LF payload: %+v", lf)
	}
	if open := ParsePayload([]byte("Content-Type: text/plain\r\n")); open.Complete || open.ContentType() != "text/plain" {
		t.Errorf("payload without an empty line: %+v", open)
	}
}

// The content types of text, typing, P2P and invitation messages are read
// without allocating, in any letter case; others as they are written.
func TestContentTypeCommon(t *testing.T) {
	for payload, want := range map[string]string{
		"Content-Type: Text/Plain; charset=UTF-8\r\n\r\nhi":        "text/plain",
		"Content-Type:   text/x-msmsgscontrol  \r\n\r\n":           "text/x-msmsgscontrol",
		"Content-Type: application/x-msnmsgrp2p\r\n\r\n":           "application/x-msnmsgrp2p",
		"Content-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n": "text/x-msmsgsinvite",
	} {
		p := ParsePayload([]byte(payload))
		if got := p.ContentType(); got != want {
			t.Errorf("%q: ContentType() = %q, want %q", payload, got, want)
		}
		if allocs := testing.AllocsPerRun(10, func() { p.ContentType() }); allocs != 0 {
			t.Errorf("%q: ContentType() allocates %v times", payload, allocs)
		}
	}
	if got := ParsePayload([]byte("Content-Type: Text/HTML; x=y\r\n\r\n")).ContentType(); got != "text/html" {
		t.Errorf("text/html read as %q", got)
	}
}

// FuzzParsePayload: every payload splits into a header block and a body
// that make it up again, every header read agrees with the full map
// (for names made of letters, digits and hyphens, which it canonicalizes),
// and the content type is the header's value before any parameters,
// trimmed, in lower case.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi"))
	f.Add([]byte("Content-Type: TEXT/X-MSMSGSCONTROL\n\n"))
	f.Add([]byte("a:b\n\nc"))
	f.Add([]byte(":\r\n\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := ParsePayload(data)
		if p.Complete && !bytes.HasSuffix(data, p.Body) || !p.Complete && len(p.Body) != 0 {
			t.Fatalf("body %q of %q", p.Body, data)
		}
		if got, want := p.Headers(), headersOneByOne(p); !reflect.DeepEqual(got, want) {
			t.Fatalf("Headers() = %q, want %q", got, want)
		}
		for key, values := range p.Headers() {
			if strings.Trim(strings.ToLower(key), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				continue
			}
			if got := p.Header(key); got != values[0] {
				t.Fatalf("Header(%q) = %q, map has %q", key, got, values[0])
			}
		}
		mediaType, _, _ := strings.Cut(p.Header("Content-Type"), ";")
		if got, want := p.ContentType(), strings.ToLower(strings.TrimSpace(mediaType)); got != want {
			t.Fatalf("ContentType() = %q, want %q", got, want)
		}
	})
}

// headersOneByOne is Headers as a copy per name and value makes it: what
// Headers, sharing one copy, must agree with.
func headersOneByOne(p Payload) textproto.MIMEHeader {
	h := make(textproto.MIMEHeader)
	for name, value, rest, ok := nextHeader(p.head); ok; name, value, rest, ok = nextHeader(rest) {
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		h[key] = append(h[key], string(value))
	}
	return h
}

// TestPayloadHeaders: every header with its values in order, repeated
// names and empty values included, from a payload with room to spare
// after it (whose header block does not end where its capacity does);
// growing one header's values leaves the others as they were.
func TestPayloadHeaders(t *testing.T) {
	buf := make([]byte, 0, 512)
	buf = append(buf, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile\r\nPostalCode:\r\n"+
		"x-hint: one\r\nlang_preference: 1033\r\nX-Hint:  two \r\nno colon here\r\nKid: 0\r\n\r\nbody"...)
	p := ParsePayload(buf)
	h := p.Headers()
	want := textproto.MIMEHeader{
		"Mime-Version": {"1.0"}, "Content-Type": {"text/x-msmsgsprofile"}, "Postalcode": {""},
		"X-Hint": {"one", "two"}, "Lang_preference": {"1033"}, "Kid": {"0"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("Headers() = %q, want %q", h, want)
	}
	h["Mime-Version"] = append(h["Mime-Version"], "2.0")
	if got := h["Content-Type"]; len(got) != 1 || got[0] != "text/x-msmsgsprofile" {
		t.Fatalf("appending to one header changed another: %q", got)
	}
	if h := ParsePayload([]byte("\r\nbody")).Headers(); h == nil || len(h) != 0 {
		t.Fatalf("no headers: %v", h)
	}
}

// CommandBuffered says whether what is left in the buffer after a command
// holds the next one whole, payload included.
func TestCommandBuffered(t *testing.T) {
	for _, c := range []struct {
		rest string
		want bool
	}{
		{"", false},
		{"PNG\r\n", true},
		{"PN", false},
		{"MSG 2 N 5\r\nhello", true},
		{"MSG 2 N 5\r\nhell", false},
		{"MSG 2 N 5\n", false},
		{"MSG 2 OK\r\n", true},
		{"MSG 2 N x\r\n", true},
	} {
		r := NewReader(strings.NewReader("PNG\r\n"+c.rest), DefaultLimits, "MSG", "QRY")
		if _, err := r.ReadCommand(); err != nil {
			t.Fatal(err)
		}
		if got := r.CommandBuffered(); got != c.want {
			t.Errorf("%q left: CommandBuffered() = %v, want %v", c.rest, got, c.want)
		}
	}
}

// A command's name, Args and Payload are its own: reads that follow,
// which reuse the reader's buffer, leave them as they were, on every
// path (with a payload, without, and refused for its length).
func TestCommandOutlivesTheBuffer(t *testing.T) {
	// One piece a read: each overwrites the buffer the last one was in.
	var pieces []io.Reader
	for _, p := range []string{"MSG 1 N 5\r\nhello", "CHG 2 NLN\r\n", "MSG 3 N x\r\n", "OUT\r\n", "ZZZ 9 9999999999\r\nZZZ 9 9999999999\r\n"} {
		pieces = append(pieces, strings.NewReader(p))
	}
	r := NewReader(io.MultiReader(pieces...), DefaultLimits, "MSG")
	var cmds []Command
	for range 3 {
		cmd, err := r.ReadCommand()
		if err != nil && !errors.Is(err, ErrBadLength) {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for {
		if _, err := r.ReadCommand(); err != nil {
			break
		}
	}
	want := []string{"MSG 1 N 5", "CHG 2 NLN", "MSG 3 N x"}
	for i, cmd := range cmds {
		if cmd.String() != want[i] {
			t.Errorf("command %d became %q, want %q", i, cmd, want[i])
		}
	}
	if string(cmds[0].Payload) != "hello" || cap(cmds[0].Payload) != 5 {
		t.Errorf("payload became %q (room for %d), want \"hello\" (room for 5)", cmds[0].Payload, cap(cmds[0].Payload))
	}
}

// A payload command costs two allocations: its line with its payload, and
// its fields; a command without, its line and its fields.
func TestReadCommandAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	for _, in := range []string{"MSG 12 A 5\r\nhello", "CHG 2 NLN 0\r\n"} {
		src := strings.NewReader(in)
		r := NewReader(src, DefaultLimits, "MSG")
		read := func() {
			src.Reset(in)
			if _, err := r.ReadCommand(); err != nil {
				t.Fatal(err)
			}
		}
		read()
		if allocs := testing.AllocsPerRun(100, read); allocs != 2 {
			t.Errorf("%q: %v allocations, want 2", in, allocs)
		}
	}
}
