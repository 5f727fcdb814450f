package server

import (
	"reflect"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

func TestMarkupFormatting(t *testing.T) {
	bold := hub.Format{Bold: true}
	for _, tc := range []struct {
		markup string
		text   string
		format *hub.Format
		runs   []hub.Run
	}{
		{"plain & simple", "plain & simple", nil, nil},
		{"<f s='1'>bold</f>", "bold", &bold, nil},
		{"<p><f f='Times' h='16' s='0'><c v='rgba(0, 0, 0, 255)'><b v='transparent'>official</b></c></f></p>", "official", &hub.Format{Font: "Times"}, nil},
		{"<f f=\"Arial\" s=\"6\"><c v='rgb(255,0,128)'>x</c></f>", "x", &hub.Format{Font: "Arial", Italic: true, Underline: true, Color: "FF0080"}, nil},
		{"<c v='red'>red</c>", "red", &hub.Format{Color: "FF0000"}, nil},
		// Pidgin: one <f> per HTML tag, nested for bold italic.
		{"<f s='1'>bold</f> text", "bold text", nil, []hub.Run{{Text: "bold", Format: bold}, {Text: " text"}}},
		{"a <f s='1'>b<f s='2'>bi</f></f> <f s='4'>u</f>", "a bbi u", nil, []hub.Run{
			{Text: "a "}, {Text: "b", Format: bold}, {Text: "bi", Format: hub.Format{Bold: true, Italic: true}},
			{Text: " "}, {Text: "u", Format: hub.Format{Underline: true}}}},
		// The official client's wrapping with a coloured word inside.
		{"<p><f f='Times' h='16' s='0'><c v='black'>plain <c v='rgb(0, 0, 255)'>blue</c> <c v='black'>again</c></c></f></p>",
			"plain blue again", &hub.Format{Font: "Times"}, []hub.Run{
				{Text: "plain ", Format: hub.Format{Font: "Times"}}, {Text: "blue", Format: hub.Format{Font: "Times", Color: "0000FF"}},
				{Text: " again", Format: hub.Format{Font: "Times"}}}},
		{"two<p><f s='1'>lines</f></p>", "two\nlines", nil, []hub.Run{{Text: "two\n"}, {Text: "lines", Format: bold}}},
		{"stray </f>close", "stray close", nil, nil},
	} {
		got := fromMarkup(tc.markup)
		if got.Text != tc.text || !reflect.DeepEqual(got.Format, tc.format) || !reflect.DeepEqual(got.Runs, tc.runs) {
			t.Errorf("fromMarkup(%q) = %q %+v %+v, want %q %+v %+v", tc.markup, got.Text, got.Format, got.Runs, tc.text, tc.format, tc.runs)
		}
		// What we write reads back the same.
		again := fromMarkup(toMarkup(got))
		if again.Text != got.Text || !reflect.DeepEqual(again.Format, got.Format) || !reflect.DeepEqual(again.Runs, got.Runs) {
			t.Errorf("round trip of %q via %q: %q %+v %+v", tc.markup, toMarkup(got), again.Text, again.Format, again.Runs)
		}
	}
}

func TestToMarkup(t *testing.T) {
	for _, tc := range []struct {
		msg    hub.Message
		markup string
	}{
		{hub.Message{Text: "hi :) <3"}, `hi <i n="happy"/> &lt;3`},
		{hub.Message{Text: "final"}, "<p>final</p>"},
		{hub.Message{Text: "nul\x00"}, "nul"},
		{hub.Message{Text: "black", Format: &hub.Format{Color: "000000"}}, "black"},
		{hub.Message{Text: "a\nb", Format: &hub.Format{Bold: true}}, "<p><f s='1'>a</f></p><p><f s='1'>b</f></p>"},
		{hub.RichMessage([]hub.Run{{Text: "red", Format: hub.Format{Color: "FF0000"}}, {Text: " and "}, {Text: "Arial bold", Format: hub.Format{Font: "Ari'al", Bold: true}}}),
			"<c v='rgb(255, 0, 0)'>red</c> and <f f='Arial' s='1'>Arial bold</f>"},
		{hub.Message{Text: "all", Format: &hub.Format{Font: "A&B", Italic: true, Underline: true, Color: "0a8000"}},
			"<f f='A&amp;B' s='6'><c v='rgb(10, 128, 0)'>all</c></f>"},
		{hub.Message{Text: "short", Format: &hub.Format{Color: "F80"}}, "short"},
		{hub.Message{Text: "long", Format: &hub.Format{Color: "FF80001"}}, "<c v='rgb(255, 128, 0)'>long</c>"},
		{hub.Message{Text: "a\n\nb"}, "<p>a</p><p></p><p>b</p>"},
	} {
		if got := toMarkup(tc.msg); got != tc.markup {
			t.Errorf("toMarkup(%+v) = %q, want %q", tc.msg, got, tc.markup)
		}
	}
}

// formats is the formatting of each byte of a message's text but the line
// breaks, which markup writes between paragraphs, outside any formatting.
func formats(m hub.Message) []hub.Format {
	var out []hub.Format
	for _, r := range m.TextRuns() {
		for i := range len(r.Text) {
			if r.Text[i] != '\n' {
				out = append(out, r.Format)
			}
		}
	}
	return out
}

// FuzzMarkupRuns: any markup reads without panicking, and what the server
// writes of a message reads back as the same text, smileys written the
// usual way, in the same formatting.
func FuzzMarkupRuns(f *testing.F) {
	f.Add(`<p><f f='Times' h='16' s='0'><c v='rgba(0, 0, 0, 255)'><b v='transparent'>a <f s='7'>b</f></b></c></f></p><p>:) c</p>`)
	f.Add(`x<f f="a&lt;'b">y</f><c v='red'>z<i n='wink'/></c>`)
	f.Fuzz(func(t *testing.T, markup string) {
		if strings.IndexByte(markup, 0) >= 0 {
			return // the wire refuses NUL bytes; markup drops them
		}
		m := fromMarkup(markup)
		once := fromMarkup(toMarkup(m))
		if wire.InlineMarkup(once.Text) != wire.InlineMarkup(m.Text) ||
			len(once.Text) == len(m.Text) && !reflect.DeepEqual(formats(once), formats(m)) {
			t.Fatalf("%q read as %q %+v, written as %q, read back as %q %+v", markup, m.Text, m.Runs, toMarkup(m), once.Text, once.Runs)
		}
		twice := fromMarkup(toMarkup(once))
		if twice.Text != once.Text || !reflect.DeepEqual(formats(twice), formats(once)) ||
			strings.Trim(once.Text, "\n") != "" && !reflect.DeepEqual(twice.Format, once.Format) {
			t.Fatalf("%q read as %q %+v %+v, written as %q, read back as %q %+v %+v",
				toMarkup(m), once.Text, once.Format, once.Runs, toMarkup(once), twice.Text, twice.Format, twice.Runs)
		}
	})
}
