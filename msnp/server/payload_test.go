package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// X-MMS-IM-Format's colour is hexadecimal in blue-green-red order; what
// follows its digits is ignored, and a value that is no colour is none.
func TestParseIMFormat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want hub.Format
	}{
		{"FN=Arial; EF=BI; CO=ff; CS=0; PF=22", hub.Format{Font: "Arial", Bold: true, Italic: true, Color: "FF0000"}},
		{"FN=Microsoft%20Sans%20Serif; EF=US; CO=0; CS=0", hub.Format{Font: "Microsoft Sans Serif", Underline: true, Strike: true, Color: "000000"}},
		{"CO=1a2B3c", hub.Format{Color: "3C2B1A"}},
		{"CO= 80ff00x", hub.Format{Color: "00FF80"}},
		{"CO=1000000", hub.Format{}},
		{"CO=zz", hub.Format{}},
		{"CO=", hub.Format{}},
	} {
		if got := parseIMFormat(c.in); got == nil || *got != c.want {
			t.Errorf("parseIMFormat(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	if parseIMFormat("") != nil {
		t.Error("no X-MMS-IM-Format gives a format")
	}
}

// A message from a contact of another protocol is one MSG command per
// part: the sender's address and encoded name, the payload's length, the
// text header with the format in X-MMS-IM-Format (colour in
// blue-green-red) and the text, cut at max bytes of payload without
// splitting a character.
func TestTextCommands(t *testing.T) {
	from := hub.Account{Email: "ann@gg.example", DisplayName: "Ann 100%"}
	const head = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: "
	bold := &hub.Format{Font: "Comic Sans", Bold: true, Strike: true, Color: "FF8000"}
	format := "FN=Comic%20Sans; EF=BS; CO=80ff; CS=0; PF=22"
	payload := head + format + "\r\n\r\nhello"
	got := appendTextCommands([]byte("before"), from, hub.Message{Text: "hello", Format: bold}, 1664)
	want := "beforeMSG ann@gg.example Ann%20100%25 " + strconv.Itoa(len(payload)) + "\r\n" + payload
	if string(got) != want {
		t.Fatalf("appendTextCommands = %q, want %q", got, want)
	}

	plain := head + "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n\r\n"
	max := len(plain) + 4
	rest := string(appendTextCommands(nil, from, hub.Message{Text: "abcżdefgh"}, max)) // ż is two bytes
	var texts []string
	for rest != "" {
		cmd, after, _ := strings.Cut(rest, "\r\n")
		fields := strings.Fields(cmd)
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil || n > len(after) || n > max || !strings.HasPrefix(after[:n], plain) {
			t.Fatalf("part %q: length %q for at most %d bytes of payload", rest, fields[len(fields)-1], max)
		}
		texts = append(texts, strings.TrimPrefix(after[:n], plain))
		rest = after[n:]
	}
	if want := []string{"abc", "żde", "fgh"}; !slices.Equal(texts, want) {
		t.Errorf("parts %q, want %q", texts, want)
	}
}

// A hub colour is read as fmt's "%06x" read it before: up to six leading
// hex digits after spaces, 0 for none.
func TestLeadingHex(t *testing.T) {
	for _, in := range []string{"FF8000", "ff8000", "00000A", "1234567", "  abc", "12zz", "zz", "", "FFFFFF"} {
		var want uint32
		fmt.Sscanf(in, "%06x", &want)
		if got := leadingHex(in); got != want {
			t.Errorf("leadingHex(%q) = %x, want %x", in, got, want)
		}
	}
}

// A remote member parses a run of messages' same X-MMS-IM-Format once,
// and a different one, or none, afresh.
func TestRemoteFormat(t *testing.T) {
	var r remote
	const arial, courier = "FN=Arial; EF=B; CO=ff", "FN=Courier%20New; EF=; CO=0"
	first := r.format([]byte(arial))
	if again := r.format([]byte(arial)); again != first {
		t.Error("the same header was parsed again")
	}
	for _, h := range []string{courier, "", arial} {
		got, want := r.format([]byte(h)), parseIMFormat(h)
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("format(%q) = %+v, want %+v", h, got, want)
		}
	}
}
