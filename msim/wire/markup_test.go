package wire

import (
	"slices"
	"strings"
	"testing"
)

func TestMarkupToText(t *testing.T) {
	for _, tt := range []struct{ markup, text string }{
		// The official client's and Digsby's wrapping.
		{`<p><f f='Times' h='16'><c v='black'><b v='transparent'>hello world</b></c></f></p>`, "hello world"},
		{`<p><f f='Times' h='16' s='0'><c v='rgba(0, 0, 0, 255)'><b v='transparent'>text</b></c></f></p>`, "text"},
		// What pidgin sent, once unescaped.
		{`<f s='1'>bold</f> and a/slash \ back <i n="happy"/>`, `bold and a/slash \ back :)`},
		{`<p>one</p><p>two</p><p></p><p>four</p>`, "one\ntwo\n\nfour"},
		{`lead<p>para</p>`, "lead\npara"},
		{`<a h='http://x/?a=1&amp;b=2'/> and <a h='u'>label</a>`, "http://x/?a=1&b=2 and label"},
		{`&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos; &#65;&#x42;&#X43;`, `<b> & "q" 'a' ABC`},
		{`I <3 you & a<b, a < b`, `I <3 you & a<b, a < b`},
		{`&unknown; &#0; &#xD800; &#; &#x; &#-1; &lt`, `&unknown; &#0; &#xD800; &#; &#x; &#-1; &lt`},
		{`<P>A</P><BR/>`, "A\n"},
		{`<f f='unterminated>x`, `<f f='unterminated>x`},
		{`<f f=Arial h = "12">x</f>`, "x"},
		{`<f f=>x`, `<f f=>x`},
		{`<f/ >x`, `<f/ >x`},
		{`</f x='1'>y`, `</f x='1'>y`},
		{`<fx='1'>y`, `<fx='1'>y`},
		{`<i n='wink'></i><i/>`, ";-)"},
		{`<i n="happi"/><i n="tongy"/><i n="winc"/> <i n='unheard'/>`, ":):P;) :unheard:"},
		{`<unknown a='1'>kept</unknown>`, "kept"},
	} {
		if got := MarkupToText(tt.markup); got != tt.text {
			t.Errorf("MarkupToText(%q) = %q, want %q", tt.markup, got, tt.text)
		}
	}
}

func TestTextToMarkup(t *testing.T) {
	for _, tt := range []struct{ text, markup string }{
		{"", ""},
		{"hello world", "hello world"},
		{"a < b & c > d", "a &lt; b &amp; c &gt; d"},
		{"</b>", "&lt;/b&gt;"},
		{"two\nlines", "<p>two</p><p>lines</p>"},
		{"\n", "<p></p><p></p>"},
		{"nul\x00", "nul"},
		{"final", "<p>final</p>"},
		{"finally", "finally"},
	} {
		got := TextToMarkup(tt.text)
		if got != tt.markup {
			t.Errorf("TextToMarkup(%q) = %q, want %q", tt.text, got, tt.markup)
		}
		if back := MarkupToText(got); back != tt.text && tt.text != "nul\x00" {
			t.Errorf("MarkupToText(TextToMarkup(%q)) = %q", tt.text, back)
		}
	}
	// On the wire, as pidgin showed: the markup's "/" is escaped.
	m := Message{Str("msg", TextToMarkup("x\ny"))}
	if m.Raw("msg") != "<p>x</1p><p>y</1p>" {
		t.Fatalf("wire form %q", m.Raw("msg"))
	}
}

func TestWalkMarkupReportsFormattingTags(t *testing.T) {
	var got []string
	WalkMarkup(`a<f f='Arial' s="1">b<c v='red'>c</c></f><f/><b v='white'>d</b>`, func(p MarkupPiece) {
		switch {
		case p.Tag == "":
			got = append(got, p.Text)
		case p.Closing:
			got = append(got, "</"+p.Tag+">")
		default:
			got = append(got, "<"+p.Tag+" "+p.Attr("f")+p.Attr("s")+p.Attr("v")+">")
		}
	})
	want := []string{"a", "<f Arial1>", "b", "<c red>", "c", "</c>", "</f>", "<b white>", "d", "</b>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("pieces %q, want %q", got, want)
	}
}

func TestEmoticons(t *testing.T) {
	// The names the official client and Pidgin's plugin knew, and Pidgin's
	// three other spellings.
	want := []string{"bigsmile", "devil", "frazzled", "geek", "googles", "growl", "laugh", "happy", "happi",
		"heart", "mohawk", "mad", "messed", "nerd", "oops", "pirate", "scared", "sidefrown", "sinister",
		"smirk", "straight", "tongue", "tongy", "upset", "wink", "winc", "worried", "kiss"}
	var names []string
	for _, e := range Emoticons {
		names = append(names, e.Name)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("emoticon names %v", names)
	}
	for _, e := range Emoticons {
		if got := MarkupToText(`<i n="` + e.Name + `"/>`); got != e.Smileys[0] {
			t.Errorf("%s shows as %q", e.Name, got)
		}
		for _, s := range e.Smileys {
			// A smiley is written as the first name that has it.
			first := Emoticons[slices.IndexFunc(Emoticons, func(o Emoticon) bool { return slices.Contains(o.Smileys, s) })]
			if got := InlineMarkup("x " + s + " y"); got != `x <i n="`+first.Name+`"/> y` {
				t.Errorf("%q became %q", s, got)
			}
		}
	}
}

func TestInlineMarkup(t *testing.T) {
	for _, tt := range []struct{ text, markup string }{
		{":)", `<i n="happy"/>`},
		{"hi :) and :-) and :)) and ;) :P :p :X :x", `hi <i n="happy"/> and <i n="happy"/> and <i n="laugh"/> and <i n="wink"/> <i n="tongue"/> <i n="tongue"/> <i n="heart"/> <i n="kiss"/>`},
		{"ok :D, great :)! }:)", `ok <i n="bigsmile"/>, great <i n="happy"/>! <i n="devil"/>`},
		{"a:) :)b http://x/:D", "a:) :)b http://x/:D"},
		{"<b> & :) <3", `&lt;b&gt; &amp; <i n="happy"/> &lt;3`},
		// The client reads no NUL: the smiley stands at the start of the line.
		{"\x00:D a\x00 :)", `<i n="bigsmile"/> a <i n="happy"/>`},
		{"", ""},
	} {
		if got := InlineMarkup(tt.text); got != tt.markup {
			t.Errorf("InlineMarkup(%q) = %q, want %q", tt.text, got, tt.markup)
		}
	}
}
