package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReader: framing never panics, never holds more than MaxMessage, and
// the messages it returns validate and re-encode to exactly the bytes they
// were read from.
func FuzzReader(f *testing.F) {
	f.Add([]byte(strings.Join(seedMessages[:4], "")))
	f.Add([]byte(`\ka\\final\` + "\r\n"))
	f.Add([]byte(`\a\b\c\final\\ka\\final\`))
	f.Add([]byte(`\bm\1\msg\` + strings.Repeat("x", 300)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.MaxMessage = 256
		var again []byte
		for {
			m, err := r.ReadMessage()
			if err != nil {
				var te *TruncatedError
				var tl *TooLargeError
				if err != io.EOF && !errors.As(err, &te) && !errors.As(err, &tl) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("read message does not validate: %v", err)
			}
			enc := Append(nil, m)
			if len(enc) > r.MaxMessage {
				t.Fatalf("message of %d bytes", len(enc))
			}
			again = append(again, enc...)
			if p, err := ParsePersist(m); err == nil {
				if _, err := Encode(p.Message()); err != nil {
					t.Fatalf("persist %+v does not encode: %v", p, err)
				}
			}
		}
		if !bytes.HasPrefix(data, again) {
			t.Fatalf("re-encoded messages are not a prefix of the input")
		}
		// A byte at a time no message waits whole in the buffer: the
		// reader takes its other way, which must read the same.
		whole, wholeErr := readAll(NewReader(bytes.NewReader(data)))
		piecemeal, piecemealErr := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(data))))
		if !reflect.DeepEqual(whole, piecemeal) || fmt.Sprintf("%T", wholeErr) != fmt.Sprintf("%T", piecemealErr) {
			t.Fatalf("read at once: %q, %v; a byte at a time: %q, %v", whole, wholeErr, piecemeal, piecemealErr)
		}
		if m, err := Parse(data); err == nil {
			if !bytes.Equal(Append(nil, m), data) {
				t.Fatalf("Parse: %v re-encodes differently", m)
			}
		}
	})
}

// readAll reads messages until an error, and returns them and the error.
func readAll(r *Reader) ([]Message, error) {
	r.MaxMessage = 256
	var all []Message
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return all, err
		}
		all = append(all, m)
	}
}

// FuzzDictionary: parsing never panics and is stable: a parsed dictionary
// re-encodes to one that parses the same.
func FuzzDictionary(f *testing.F) {
	f.Add("UserID=3656574\x1cImageURL=http:/1/1x.myspace.com/1images/1no_pic.gif\x1cDisplayName=Jeff")
	f.Add("\xc2\x80=\x1cErrorMessage=x")
	f.Add("A\x1c\x1c=\x1c/2=/3/")
	f.Fuzz(func(t *testing.T, raw string) {
		d := ParseDict(raw)
		enc := d.Encode()
		if strings.ContainsAny(enc, "\\") {
			t.Fatalf("encoded dictionary %q holds a backslash", enc)
		}
		again := ParseDict(enc)
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip:\n%q\n%q", d, again)
		}
		if again.Encode() != enc {
			t.Fatalf("not stable: %q vs %q", again.Encode(), enc)
		}
		for _, rec := range d.Records("ContactID") {
			if len(rec) == 0 || rec[0].Key != "ContactID" {
				t.Fatalf("record %q", rec)
			}
		}
		// Unescape undoes Escape on any text.
		if Unescape(Escape(raw)) != raw {
			t.Fatalf("escape round trip of %q", raw)
		}
		_ = ParsePresence(raw)
		_, _ = ParseZap(raw)
	})
}

// FuzzMarkup: rendering never panics, and plain text survives a trip
// through TextToMarkup and MarkupToText.
func FuzzMarkup(f *testing.F) {
	f.Add(`<p><f f='Times' h='16'><c v='black'><b v='transparent'>hello world</b></c></f></p>`)
	f.Add(`<f s='1'>bold</f> a/slash \ <i n="happy"/> <a h='u'/> &amp;&#x41;`)
	f.Add("a\nb <3 &lt")
	f.Add("hi :) :-)) ;) &amp; B)")
	f.Fuzz(func(t *testing.T, s string) {
		text := MarkupToText(s)
		markup := TextToMarkup(s)
		if strings.Contains(markup, "\x00") || markup == "final" {
			t.Fatalf("TextToMarkup(%q) = %q", s, markup)
		}
		want := strings.ReplaceAll(s, "\x00", "")
		if back := MarkupToText(markup); back != want {
			t.Fatalf("round trip of %q: %q via %q", s, back, markup)
		}
		if MarkupToText(TextToMarkup(text)) != strings.ReplaceAll(text, "\x00", "") {
			t.Fatalf("rendered text %q does not survive", text)
		}
		// Markup always fits in a message as an escaped value.
		if _, err := Encode(Message{Int("bm", 1), Str("msg", markup)}); err != nil {
			t.Fatalf("markup %q does not encode: %v", markup, err)
		}
		// Smileys written as emoticons read back as the same emoticons.
		inline := InlineMarkup(s)
		if again := InlineMarkup(MarkupToText(inline)); again != inline {
			t.Fatalf("InlineMarkup(%q) = %q, but its text gives %q", s, inline, again)
		}
	})
}

// FuzzVerifyLogin2: never panics on any nonce, response, e-mail or
// password, and a response made for the inputs verifies.
func FuzzVerifyLogin2(f *testing.F) {
	nonce := testNonce()
	f.Add(nonce, "HBnP50gwZYhlnFodxiqgZOlVhpA/i2r5/m0QqGQAPl63asFhcYsuoNUgUnvG77S8ib79xgraQUE=", "alice@example.com", "Secret-Password")
	f.Add(nonce[:10], "", "", "")
	f.Add(nonce, "AAAA", "a", "ÄÖÜäöüßabcdef")
	f.Fuzz(func(t *testing.T, nonce []byte, response, email, password string) {
		VerifyLogin2(nonce, response, email, password)
		VerifyLogin2Hash(nonce, response, email, HashPassword(password))
		if len(nonce) != NonceSize || strings.IndexByte(email, 0) >= 0 {
			return
		}
		good, err := Login2Response(nonce, email, password)
		if err != nil {
			t.Fatal(err)
		}
		if !VerifyLogin2(nonce, good, email, password) {
			t.Fatalf("own response rejected")
		}
		digsby, _ := EncryptLogin2(nonce, HashPassword(password), Login2Plaintext(nonce, email, false, 0, nil))
		if !VerifyLogin2(nonce, digsby, email, password) {
			t.Fatalf("unpadded response rejected")
		}
	})
}

// FuzzReadRaw: ReadRaw frames exactly what ReadMessage parses: each raw
// message starts with a backslash, ends at its first \final\, holds no
// NUL, stays within MaxMessage, and the raw messages together are the
// start of the input; a second reader's ReadMessage on the same bytes
// gives Parse of each raw message.
func FuzzReadRaw(f *testing.F) {
	f.Add([]byte(strings.Join(seedMessages[:4], "")))
	f.Add([]byte(`\ka\\final\\final\`))
	f.Add([]byte(`\a\b\c\final\` + "\x00" + `\ka\\final\`))
	f.Add([]byte(`\lc\1\nc\` + strings.Repeat(`\\`, 200) + `\final\`))
	f.Add([]byte("\n" + `\ka\\final\`))
	f.Add([]byte(`\bm\1\msg\\fin`))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := NewReader(bytes.NewReader(data))
		parsed := NewReader(bytes.NewReader(data))
		raw.MaxMessage, parsed.MaxMessage = 256, 256
		var framed []byte
		for {
			b, err := raw.ReadRaw()
			m, perr := parsed.ReadMessage()
			if err != nil {
				if b != nil {
					t.Fatalf("bytes %q with error %v", b, err)
				}
				var te *TruncatedError
				var tl *TooLargeError
				if err != io.EOF && !errors.As(err, &te) && !errors.As(err, &tl) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				if err == io.EOF && len(framed) != len(data) {
					t.Fatalf("EOF after %d of %d bytes", len(framed), len(data))
				}
				if perr == nil || perr.Error() != err.Error() {
					t.Fatalf("ReadRaw failed with %v, ReadMessage with %v", err, perr)
				}
				break
			}
			if len(b) > raw.MaxMessage || b[0] != '\\' || bytes.IndexByte(b, 0) >= 0 ||
				bytes.Index(b, []byte(Terminator)) != len(b)-len(Terminator) {
				t.Fatalf("raw message %q", b)
			}
			framed = append(framed, b...)
			want, werr := Parse(b)
			if !reflect.DeepEqual(m, want) || (perr == nil) != (werr == nil) {
				t.Fatalf("ReadMessage gave %q, %v; Parse of the raw bytes %q, %v", m, perr, want, werr)
			}
		}
		if !bytes.HasPrefix(data, framed) {
			t.Fatalf("raw messages are not the start of the input")
		}
	})
}

// FuzzSplitList: SplitList and JoinList undo each other: the items of a
// list hold no separator and join back to the list, and items joined and
// split again come back without their separators. A list of n
// separators has n+1 items.
func FuzzSplitList(f *testing.F) {
	f.Add("b-|6221|a+|6221", "x|y")
	f.Add("", "")
	f.Add("|", "a|b")
	f.Add("||a||", "|")
	f.Fuzz(func(t *testing.T, list, item string) {
		items := SplitList(list)
		if list == "" {
			if items != nil {
				t.Fatalf("SplitList(\"\") = %q", items)
			}
		} else if len(items) != strings.Count(list, ListSep)+1 {
			t.Fatalf("SplitList(%q) = %d items", list, len(items))
		}
		for _, it := range items {
			if strings.Contains(it, ListSep) {
				t.Fatalf("item %q holds the separator", it)
			}
		}
		if back := JoinList(items...); back != list {
			t.Fatalf("JoinList(SplitList(%q)) = %q", list, back)
		}
		// Joining an extra item keeps the list's items and adds it,
		// separators removed.
		joined := JoinList(append(append([]string(nil), items...), item)...)
		want := append(append([]string(nil), items...), strings.ReplaceAll(item, ListSep, ""))
		if got := SplitList(joined); joined != "" && !reflect.DeepEqual(got, want) {
			t.Fatalf("SplitList(%q) = %q, want %q", joined, got, want)
		}
	})
}
