package server

import (
	"html"
	"reflect"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

func TestXHTMLRuns(t *testing.T) {
	bold := hub.Format{Bold: true}
	shell := hub.Format{Font: "MS Shell Dlg 2"}
	for _, tc := range []struct {
		name, plain, xhtml string
		text               string
		format             *hub.Format
		runs               []hub.Run
	}{
		{"no XHTML", "hi", "", "hi", nil, nil},
		{"libgadu's own", "a < b", "<span>a &lt; b</span>", "a < b", nil, nil},
		{"GG 10's default", "x", `<span style="color:#000000; font-family:'MS Shell Dlg 2'; font-size:9pt; ">x</span>`, "x", &shell, nil},
		{"whole message", "red bold", `<span style="color:#ff0000; "><b>red bold</b></span>`, "red bold", &hub.Format{Color: "FF0000", Bold: true}, nil},
		// Pidgin's plugin: a span per run, closing every tag between runs.
		{"a span per run", "plain bold italic\nred", `<span>plain </span><span><b>bold </b></span><span><b><i>italic</i></b></span><br><span style="color:#ff0000;">red</span>`,
			"plain bold italic\nred", nil, []hub.Run{
				{Text: "plain "}, {Text: "bold ", Format: bold}, {Text: "italic", Format: hub.Format{Bold: true, Italic: true}},
				{Text: "\n"}, {Text: "red", Format: hub.Format{Color: "FF0000"}}}},
		{"CSS and old tags", "u s f", `<span style="text-decoration:underline;font-weight:700">u</span> <s>s</s> <font face="Arial" color="#0000FF">f</font>`,
			"u s f", nil, []hub.Run{
				{Text: "u", Format: hub.Format{Underline: true, Bold: true}}, {Text: " "}, {Text: "s", Format: hub.Format{Strike: true}},
				{Text: " "}, {Text: "f", Format: hub.Format{Font: "Arial", Color: "0000FF"}}}},
		{"text from the XHTML when plain is empty", "", `<span><u>a</u>&nbsp;b<img name="0123456789abcdef"></span>`, "a\u00a0b\u00a0", nil,
			[]hub.Run{{Text: "a", Format: hub.Format{Underline: true}}, {Text: "\u00a0b\u00a0"}}},
		{"plain text wins when they differ", "the plain text", `<span><b>bold</b> other</span>`, "the plain text", nil, nil},
		{"stray and broken tags", "a b", `</b>a <b>b`, "a b", nil, []hub.Run{{Text: "a "}, {Text: "b", Format: bold}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromGG(tc.plain, tc.xhtml)
			if got.Text != tc.text || !reflect.DeepEqual(got.Format, tc.format) || !reflect.DeepEqual(got.Runs, tc.runs) {
				t.Fatalf("fromGG = %q %+v %+v, want %q %+v %+v", got.Text, got.Format, got.Runs, tc.text, tc.format, tc.runs)
			}
			// What we write reads back the same.
			again := fromGG(got.Text, xhtmlOf(got))
			if again.Text != got.Text || !reflect.DeepEqual(again.Format, got.Format) || !reflect.DeepEqual(again.Runs, got.Runs) {
				t.Fatalf("round trip via %q: %q %+v %+v", xhtmlOf(got), again.Text, again.Format, again.Runs)
			}
		})
	}
}

// xhtmlOf is appendXHTML as a string.
func xhtmlOf(msg hub.Message) string { return string(appendXHTML(nil, msg)) }

func TestToXHTML(t *testing.T) {
	for _, tc := range []struct {
		msg   hub.Message
		xhtml string
	}{
		{hub.Message{Text: "a<b\nc"}, `<span style="color:#000000; ">a&lt;b<br>c</span>`},
		{hub.RichMessage([]hub.Run{{Text: "plain "}, {Text: "bold", Format: hub.Format{Bold: true, Color: "00FF00", Font: "Ar'ial"}}}),
			`<span style="color:#000000; ">plain </span><span style="color:#00FF00; font-family:&#39;Arial&#39;; "><b>bold</b></span>`},
		// Every character html.EscapeString escapes, in text, colour and font.
		{hub.RichMessage([]hub.Run{{Text: `<>&'"` + "\n", Format: hub.Format{Italic: true, Strike: true, Underline: true, Color: "<&>", Font: `A&B<C>`}}}),
			`<span style="color:#&lt;&amp;&gt;; font-family:&#39;A&amp;B&lt;C&gt;&#39;; "><i><u><s>&lt;&gt;&amp;&#39;&#34;<br></s></u></i></span>`},
	} {
		if got := xhtmlOf(tc.msg); got != tc.xhtml {
			t.Errorf("appendXHTML(%+v) = %q, want %q", tc.msg, got, tc.xhtml)
		}
	}
}

// FuzzXHTML: any XHTML reads without panicking, and what the server
// writes of a message reads back as the same message.
func FuzzXHTML(f *testing.F) {
	f.Add(`<span style="color:#ff0000; font-family:'Arial'; "><b>a</b></span><br><span>b&amp;<img name="1"></span>`)
	f.Add(`<font face="x" color="#00FF00"><i><u><s>y</s></u></i></font></b>`)
	f.Add(`<font face="a'b;c&quot;d "><span style="font-family:a'b">z</span></font>`)
	f.Fuzz(func(t *testing.T, xhtml string) {
		m := fromGG("", xhtml)
		again := fromGG(m.Text, xhtmlOf(m))
		if again.Text != m.Text || !reflect.DeepEqual(again.Format, m.Format) || !reflect.DeepEqual(again.Runs, m.Runs) {
			t.Fatalf("%q read as %q %+v %+v, written as %q, read back as %q %+v %+v",
				xhtml, m.Text, m.Format, m.Runs, xhtmlOf(m), again.Text, again.Format, again.Runs)
		}
	})
}

// FuzzFromPacket: reading the XHTML in the packet is fromGG, whatever
// the forms (plain go test runs the seeds).
func FuzzFromPacket(f *testing.F) {
	f.Add("hi", "<span>hi</span>")
	f.Add("", "<span></span>")
	f.Add("a < b", "<span>a < b</span>")
	f.Add("a &amp; b", "<span>a &amp; b</span>")
	f.Add("a > b", "<span>a > b</span>")
	f.Add("hi", "<span>ho</span>")
	f.Add("hi", `<span style="color:#ff0000; ">hi</span>`)
	f.Fuzz(func(t *testing.T, plain, xhtml string) {
		got, want := fromPacket(plain, []byte(xhtml)), fromGG(plain, xhtml)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q, %q: %+v, fromGG %+v", plain, xhtml, got, want)
		}
	})
}

// FuzzAppendEscaped: escaping is html.EscapeString's, with line breaks as
// <br> in text only.
func FuzzAppendEscaped(f *testing.F) {
	f.Add("a<b>&'\"\nc")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendEscaped([]byte("x"), s, false)), "x"+html.EscapeString(s); got != want {
			t.Fatalf("%q escaped as %q, want %q", s, got, want)
		}
		if got, want := string(appendEscaped(nil, s, true)), strings.ReplaceAll(html.EscapeString(s), "\n", "<br>"); got != want {
			t.Fatalf("%q escaped as text as %q, want %q", s, got, want)
		}
	})
}

// FuzzPlainSpan: libgadu's plain span, which xhtmlMessage reads without
// the run builder, reads as the run builder reads it.
func FuzzPlainSpan(f *testing.F) {
	f.Add("a &lt; b")
	f.Add("a > b &amp;&#39; c")
	f.Add("")
	f.Add("x<br>y")
	f.Fuzz(func(t *testing.T, inner string) {
		xhtml := "<span>" + inner + "</span>"
		got, want := xhtmlMessage(xhtml), xhtmlRuns(xhtml)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q read as %+v, the run builder reads %+v", xhtml, got, want)
		}
	})
}
