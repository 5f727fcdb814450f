package wire

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MySpaceIM IM text (bm 1) is XML-like markup with single- or double-quoted
// attributes:
//
//	<p>                     paragraph
//	<f f='face' h='16' s='1'> font: face, height in px, style bits (1 bold, 2 italic, 4 underline)
//	<c v='color'>           text colour
//	<b v='color'>           background colour
//	<a h='url'/>            link
//	<i n='name'/>           emoticon
//
// The official client and Digsby wrap everything in
// <p><f f='Times' h='16'><c v='...'><b v='...'>text</b></c></f></p>;
// pidgin sends bare text with inline tags. Text is entity-escaped (&lt;
// &gt; &amp;). The markup is one text value: on the wire its "/" and "\"
// are escaped like any other (so </f> travels as </1f>).

// MarkupToText renders markup as plain text: the text pieces of
// WalkMarkup.
func MarkupToText(markup string) string {
	var text pendingText
	WalkMarkup(markup, func(p MarkupPiece) { text.add(p.Text) })
	return text.take()
}

// MarkupPiece is a piece of markup as WalkMarkup reports it: text as it
// shows, or a tag that formats the text up to its closing tag.
type MarkupPiece struct {
	Text    string // when Tag is ""
	Tag     string // "f" (font), "c" (text colour) or "b" (background colour)
	Closing bool
	Attrs   []Pair // of an opening tag, values entity-decoded
}

// Attr returns the value of a tag's attribute, "" when it has none.
func (p MarkupPiece) Attr(name string) string {
	return tag{attrs: p.Attrs}.attr(name)
}

// WalkMarkup calls visit with the markup's text and its formatting tags,
// in order. Other tags are dropped, keeping their content, and become
// text: each paragraph after the first starts a new line, as does <br>; a
// link written as <a h='url'/> is its URL; an emoticon <i n='name'/> is
// its smiley (EmoticonSmiley), or ":name:" for a name no client knew.
// Entities (&lt; &gt; &amp; &quot; &apos; &#N; &#xN;) are decoded. A "<"
// or "&" that does not start a well-formed tag or a known entity is kept
// as it is, so plain text comes through unchanged.
func WalkMarkup(markup string, visit func(MarkupPiece)) {
	var text pendingText
	shown, paragraphs := false, 0
	flush := func() {
		if text.len() > 0 {
			visit(MarkupPiece{Text: text.take()})
			shown = true
		}
	}
	for i := 0; i < len(markup); {
		switch markup[i] {
		case '<':
			t, n, ok := parseTag(markup[i:])
			if !ok {
				break
			}
			i += n
			switch t.name {
			case "p":
				if !t.closing {
					if paragraphs > 0 || shown || text.len() > 0 {
						text.add("\n")
					}
					paragraphs++
				}
			case "br":
				text.add("\n")
			case "a":
				if t.empty {
					text.add(t.attr("h"))
				}
			case "i":
				if name := t.attr("n"); name != "" && !t.closing {
					smiley, ok := EmoticonSmiley(name)
					if !ok {
						smiley = ":" + name + ":"
					}
					text.add(smiley)
				}
			case "f", "c", "b":
				if !t.empty {
					flush()
					visit(MarkupPiece{Tag: t.name, Closing: t.closing, Attrs: t.attrs})
				}
			}
			continue
		case '&':
			if s, n, ok := parseEntity(markup[i:]); ok {
				text.add(s)
				i += n
				continue
			}
		}
		// Text up to the next tag or entity, or a "<" or "&" that starts
		// neither, as it is.
		n := 1 + strings.IndexAny(markup[i+1:], "<&")
		if n == 0 {
			n = len(markup) - i
		}
		text.add(markup[i : i+n])
		i += n
	}
	flush()
}

// pendingText is text put together piece by piece, as WalkMarkup and
// MarkupToText do. Its first piece is kept as it is, a part of the markup
// or a constant: text that is one piece, as a message without entities or
// paragraphs is, costs no copy.
type pendingText struct {
	first string
	more  strings.Builder // the first piece and those after it, once there are several
}

func (p *pendingText) add(s string) {
	switch {
	case s == "":
	case p.more.Len() > 0:
		p.more.WriteString(s)
	case p.first == "":
		p.first = s
	default:
		p.more.Grow(len(p.first) + len(s))
		p.more.WriteString(p.first)
		p.more.WriteString(s)
		p.first = ""
	}
}

func (p *pendingText) len() int { return len(p.first) + p.more.Len() }

// take returns the pending text and forgets it.
func (p *pendingText) take() string {
	if p.more.Len() > 0 {
		s := p.more.String()
		p.more = strings.Builder{}
		return s
	}
	s := p.first
	p.first = ""
	return s
}

// TextToMarkup turns plain text into the least markup that renders as it:
// "&", "<" and ">" become entities, and text of several lines becomes one
// <p> paragraph per line (a single line gets no tags, as pidgin sends plain
// text). NUL bytes are removed. A text that is exactly "final" is wrapped in
// <p> because a bare value "final" would end the message early. For text
// without NUL, MarkupToText(TextToMarkup(text)) == text.
func TextToMarkup(text string) string {
	text = strings.ReplaceAll(text, "\x00", "")
	esc := markupEscaper
	if !strings.Contains(text, "\n") {
		if text == "final" {
			return "<p>final</p>"
		}
		return esc.Replace(text)
	}
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString("<p>")
		b.WriteString(esc.Replace(line))
		b.WriteString("</p>")
	}
	return b.String()
}

// markupEscaper writes text's "&", "<" and ">" as entities.
var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// tag is one parsed markup tag.
type tag struct {
	name    string // lower case
	closing bool   // </x>
	empty   bool   // <x/>
	attrs   []Pair // values entity-decoded
}

func (t tag) attr(name string) string {
	for _, a := range t.attrs {
		if a.Key == name {
			return a.Value
		}
	}
	return ""
}

// parseTag reads a tag at the start of s ("<" included) and returns its
// length; ok is false unless s starts with a well-formed tag.
func parseTag(s string) (t tag, n int, ok bool) {
	i := 1
	if i < len(s) && s[i] == '/' {
		t.closing = true
		i++
	}
	start := i
	for i < len(s) && (isLetter(s[i]) || i > start && isDigit(s[i])) {
		i++
	}
	if i == start {
		return t, 0, false
	}
	t.name = strings.ToLower(s[start:i])
	for {
		sp := i
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return t, 0, false
		}
		switch {
		case s[i] == '>':
			return t, i + 1, true
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '>' && !t.closing:
			t.empty = true
			return t, i + 2, true
		case t.closing || sp == i || !isLetter(s[i]):
			return t, 0, false // attributes need a space before them
		}
		as := i
		for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '-' || s[i] == '_' || s[i] == ':') {
			i++
		}
		name := strings.ToLower(s[as:i])
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return t, 0, false
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return t, 0, false
		}
		var val string
		if q := s[i]; q == '\'' || q == '"' {
			end := strings.IndexByte(s[i+1:], q)
			if end < 0 {
				return t, 0, false
			}
			val = s[i+1 : i+1+end]
			i += end + 2
		} else {
			vs := i
			for i < len(s) && !isSpace(s[i]) && s[i] != '>' && s[i] != '<' && s[i] != '\'' && s[i] != '"' &&
				!(s[i] == '/' && i+1 < len(s) && s[i+1] == '>') {
				i++
			}
			if i == vs {
				return t, 0, false
			}
			val = s[vs:i]
		}
		if t.attrs == nil {
			t.attrs = make([]Pair, 0, 4) // room for a font tag's, in one allocation
		}
		t.attrs = append(t.attrs, Pair{name, decodeEntities(val)})
	}
}

func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '&' {
			if r, n, ok := parseEntity(s[i:]); ok {
				b.WriteString(r)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// parseEntity reads an entity at the start of s ("&" included).
func parseEntity(s string) (string, int, bool) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 10 {
		return "", 0, false
	}
	name := s[1:end]
	switch name {
	case "lt":
		return "<", end + 1, true
	case "gt":
		return ">", end + 1, true
	case "amp":
		return "&", end + 1, true
	case "quot":
		return `"`, end + 1, true
	case "apos":
		return "'", end + 1, true
	}
	if name[0] != '#' || len(name) < 2 {
		return "", 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' || digits[0] == 'X' {
		digits, base = digits[1:], 16
	}
	if digits == "" || digits[0] == '+' || digits[0] == '-' {
		return "", 0, false
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil || v == 0 || v > utf8.MaxRune || !utf8.ValidRune(rune(v)) {
		return "", 0, false
	}
	return string(rune(v)), end + 1, true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
