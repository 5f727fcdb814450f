package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader: framing never panics, respects the limits, fails only with
// its typed errors, and every block it returns encodes, and the encoding
// reads back as the same block and re-encodes to the same bytes (exact
// bytes of canonical input are pinned by TestSeedBlocks).
func FuzzReader(f *testing.F) {
	var all []byte
	for _, tt := range seedBlocks {
		f.Add([]byte(tt.wire))
		all = append(all, tt.wire...)
	}
	f.Add(all)
	f.Add([]byte("\r\nSTAT   AWAY \n12\nID:1003\n\nbrb\r\n\r\nPING\r\n 10 \r\nID:\t1004\r\n"))
	f.Add([]byte("HELO\r\n30\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n"))
	f.Add([]byte("MESG\r\n99999999999999999999999\r\n"))
	f.Add([]byte(`LIST ACCEPT 1 "open` + "\r\n0\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.MaxBlock = 512
		r.MaxLine = 128
		for {
			b, err := r.ReadBlock()
			if err != nil {
				if b != nil {
					t.Fatalf("block %v with error %v", b, err)
				}
				var te *TruncatedError
				var tl *TooLargeError
				if err != io.EOF && !errors.As(err, &te) && !errors.As(err, &tl) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			// Normalising adds at most 2 bytes per line ("ID:1\n" → "ID: 1\r\n").
			if b.Len() > r.MaxBlock+2*(len(b.Headers)+1) {
				t.Fatalf("block of %d bytes", b.Len())
			}
			enc, err := b.Encode()
			if err != nil {
				t.Fatalf("Encode(%#v): %v", b, err)
			}
			if len(enc) != b.EncodedSize() {
				t.Fatalf("EncodedSize %d, encoded in %d bytes: %q", b.EncodedSize(), len(enc), enc)
			}
			b2, err := NewReader(bytes.NewReader(enc)).ReadBlock()
			if err != nil || !reflect.DeepEqual(b, b2) {
				t.Fatalf("round trip of %q: %#v, %v\nwant %#v", enc, b2, err, b)
			}
			enc2, _ := b2.Encode()
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding not stable: %q vs %q", enc, enc2)
			}
		}
	})
}

// FuzzAddress: ParseAddress, ParseBuddyList, ParseTime and ParseStatus
// never panic, and what parses formats to something that parses back the
// same (nicknames as FormatAddress sanitises them, and as AppendNick
// appends them).
func FuzzAddress(f *testing.F) {
	f.Add(`7654321 "Matthias", 2345678 "Odigo, Support",3456789,, `)
	f.Add(`7654321 "say "hi", bye"`)
	f.Add(`1 "open, 2`)
	f.Add("2002-07-14T18:32:05Z")
	f.Add("online")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendNick([]byte("1"), s)), FormatAddress("1", s); got != want {
			t.Fatalf("AppendNick(%q) = %q, FormatAddress %q", s, got, want)
		}
		if c, err := ParseAddress(s); err == nil {
			if !ValidUser(c.User) {
				t.Fatalf("ParseAddress(%q) gave user %q", s, c.User)
			}
			back, err := ParseAddress(c.String())
			want := Contact{User: c.User, Nick: SanitizeNick(c.Nick)}
			if err != nil || back != want {
				t.Fatalf("address round trip %q: %+v, %v; want %+v", c.String(), back, err, want)
			}
		}
		if list, err := ParseBuddyList(s); err == nil {
			v := FormatBuddyList(list)
			back, err := ParseBuddyList(v)
			if err != nil || len(back) != len(list) {
				t.Fatalf("buddy round trip %q: %+v, %v", v, back, err)
			}
			for i, c := range list {
				if back[i] != (Contact{User: c.User, Nick: SanitizeNick(c.Nick)}) {
					t.Fatalf("buddy %d: %+v vs %+v", i, back[i], c)
				}
			}
			blk := NewBlock("LOGN", "1").Add(HeaderBuddy, v)
			if _, err := blk.Encode(); err != nil {
				t.Fatalf("formatted list does not fit a header: %v", err)
			}
		}
		if tm, err := ParseTime(s); err == nil && FormatTime(tm) != s {
			t.Fatalf("ParseTime(%q) formats as %q", s, FormatTime(tm))
		}
		if st, ok := ParseStatus(s); ok && (!st.Valid() || !strings.EqualFold(string(st), s)) {
			t.Fatalf("ParseStatus(%q) = %q", s, st)
		}
	})
}

// FuzzSplitArgs: arguments are never empty, never hold a space outside
// quotes, appear in the line in order with only spaces between them, and
// joined with single spaces split again into the same arguments (an
// unclosed quote can only open the last one).
func FuzzSplitArgs(f *testing.F) {
	f.Add(` ACCEPT  1 "Nick  Name" `)
	f.Add(`ACCEPT 1 "open ended `)
	f.Add(`a"b c"d e`)
	f.Add(`LIST ADD 1234567 "say "hi", bye"`)
	f.Add("MESG\t1 \"\"")
	f.Fuzz(func(t *testing.T, s string) {
		args := SplitArgs(s)
		if len(args) > (len(s)+1)/2 {
			t.Fatalf("SplitArgs(%q): %d arguments", s, len(args))
		}
		rest := s
		for i, a := range args {
			if a == "" {
				t.Fatalf("SplitArgs(%q): empty argument %d", s, i)
			}
			quoted := false
			for j := 0; j < len(a); j++ {
				switch a[j] {
				case '"':
					quoted = !quoted
				case ' ':
					if !quoted {
						t.Fatalf("SplitArgs(%q): argument %q splits at a space", s, a)
					}
				}
			}
			if quoted && i != len(args)-1 {
				t.Fatalf("SplitArgs(%q): argument %q leaves a quote open before the end", s, a)
			}
			gap := strings.TrimLeft(rest, " ")
			if (i > 0 && len(gap) == len(rest)) || !strings.HasPrefix(gap, a) {
				t.Fatalf("SplitArgs(%q): argument %q is not next in %q", s, a, rest)
			}
			rest = gap[len(a):]
		}
		if strings.Trim(rest, " ") != "" {
			t.Fatalf("SplitArgs(%q) left %q", s, rest)
		}
		if again := SplitArgs(strings.Join(args, " ")); !reflect.DeepEqual(again, args) {
			t.Fatalf("SplitArgs(%q) = %q, joined and split again %q", s, args, again)
		}
	})
}

// FuzzCheckLoginHash: a hash is 32 lower-case hex digits; CheckLoginHash
// accepts exactly the hash of its salt and password, in either case, and
// nothing else.
func FuzzCheckLoginHash(f *testing.F) {
	f.Add("1919833824", "Passwort", "3da461811be2c27177eeb8d3c81bb016")
	f.Add("1919833824", "Passwort", "3DA461811BE2C27177EEB8D3C81BB016")
	f.Add("1919833824", "Passwort", "3da461811be2c27177eeb8d3c81bb01")
	f.Add("", "", "")
	f.Add("salt", "zażółć", "\u212a3da461811be2c27177eeb8d3c81bb0")
	f.Fuzz(func(t *testing.T, salt, password, response string) {
		want := LoginHash(salt, password)
		if len(want) != 32 || strings.Trim(want, "0123456789abcdef") != "" {
			t.Fatalf("LoginHash(%q, %q) = %q", salt, password, want)
		}
		if !CheckLoginHash(salt, password, want) || !CheckLoginHash(salt, password, strings.ToUpper(want)) {
			t.Fatalf("the hash of %q and %q is refused", salt, password)
		}
		if got := CheckLoginHash(salt, password, response); got != (asciiLower(response) == want) {
			t.Fatalf("CheckLoginHash(%q, %q, %q) = %v, the hash is %q", salt, password, response, got, want)
		}
	})
}

// asciiLower lowers A-Z only, the case-insensitivity the response has.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
