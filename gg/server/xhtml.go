package server

import (
	"html"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
)

// GG11 messages carry the text twice: plain, and as XHTML. GG 11 and
// Pidgin's plugin write the XHTML as a <span> per run of text, its colour
// and font in the style and <b>, <i>, <u>, <s> inside. These functions
// carry the runs between that XHTML and the hub. (GG 10.5 and older also
// sent formatting as binary attributes; GG11 clients send none and read
// the XHTML.)

// fromPacket is fromGG of the forms as a GG_SEND_MSG110 has them, the
// XHTML still in the packet. The XHTML GG clients send with text of no
// markup, the text alone in a span, needs no string of its own.
func fromPacket(plain string, xhtml []byte) hub.Message {
	const open, end = "<span>", "</span>"
	if len(xhtml) == len(open)+len(plain)+len(end) && string(xhtml[:len(open)]) == open &&
		string(xhtml[len(open):len(open)+len(plain)]) == plain && string(xhtml[len(open)+len(plain):]) == end &&
		!strings.ContainsAny(plain, "<&") {
		return hub.Message{Text: plain}
	}
	return fromGG(plain, string(xhtml))
}

// fromGG builds a hub message from the two forms. The XHTML gives the runs
// when its text is the plain text, and the text too when the plain one is
// empty (libgadu's rule); otherwise the plain text wins, in the
// formatting common to all of the XHTML.
func fromGG(plain, xhtml string) hub.Message {
	if xhtml == "" {
		return hub.Message{Text: plain}
	}
	msg := xhtmlMessage(xhtml)
	if plain == "" || plain == msg.Text {
		return msg
	}
	return hub.Message{Text: plain, Format: msg.Format}
}

// xhtmlMessage reads GG's XHTML into runs of text. Its text is what libgadu
// makes of it: tags dropped, <br> a new line, an image a no-break space,
// entities decoded.
func xhtmlMessage(xhtml string) hub.Message {
	// libgadu's own XHTML, one span without a style around the text, has
	// one run without formatting: it needs no run builder.
	if inner, ok := strings.CutPrefix(xhtml, "<span>"); ok {
		if inner, ok = strings.CutSuffix(inner, "</span>"); ok && !strings.Contains(inner, "<") {
			return hub.Message{Text: html.UnescapeString(inner)}
		}
	}
	return xhtmlRuns(xhtml)
}

// xhtmlRuns is xhtmlMessage for any XHTML.
func xhtmlRuns(xhtml string) hub.Message {
	var b hub.RunBuilder
	for rest := xhtml; rest != ""; {
		lt := strings.IndexByte(rest, '<')
		gt := strings.IndexByte(rest[max(lt, 0):], '>')
		if lt < 0 || gt < 0 {
			b.Text(html.UnescapeString(rest))
			break
		}
		if lt > 0 {
			b.Text(html.UnescapeString(rest[:lt]))
		}
		name, closing, attrs := parseXHTMLTag(rest[lt+1 : lt+gt])
		rest = rest[lt+gt+1:]
		switch {
		case name == "br":
			b.Text("\n")
		case name == "img":
			b.Text("\u00a0")
		case closing:
			b.Close(name)
		case strings.HasSuffix(attrs, "/"):
		default:
			f := b.Format()
			switch name {
			case "b", "strong":
				f.Bold = true
			case "i", "em":
				f.Italic = true
			case "u":
				f.Underline = true
			case "s", "strike", "del":
				f.Strike = true
			case "font":
				applyStyle(&f, "color", attrValue(attrs, "color"))
				applyStyle(&f, "font-family", attrValue(attrs, "face"))
				fallthrough
			case "span", "div", "p":
				for decl := range strings.SplitSeq(attrValue(attrs, "style"), ";") {
					if prop, value, ok := strings.Cut(decl, ":"); ok {
						applyStyle(&f, prop, value)
					}
				}
			default:
				continue // an element that does not format
			}
			b.Open(name, f)
		}
	}
	return b.Message()
}

// parseXHTMLTag splits what is between "<" and ">" into the tag's name,
// whether it closes, and its attributes as written.
func parseXHTMLTag(s string) (name string, closing bool, attrs string) {
	if closing = strings.HasPrefix(s, "/"); closing {
		s = s[1:]
	}
	end := strings.IndexAny(s, " \t\r\n/")
	if end < 0 {
		end = len(s)
	}
	return strings.ToLower(s[:end]), closing, strings.TrimSpace(s[end:])
}

// attrValue finds a quoted attribute's value, entities decoded.
func attrValue(attrs, name string) string {
	key := name + "="
	for i := 0; i+len(key) < len(attrs); i++ {
		if !strings.EqualFold(attrs[i:i+len(key)], key) || i > 0 && !isSpace(attrs[i-1]) {
			continue
		}
		v := attrs[i+len(key):]
		if q := v[0]; q == '"' || q == '\'' {
			if end := strings.IndexByte(v[1:], q); end >= 0 {
				return html.UnescapeString(v[1 : 1+end])
			}
		}
		return ""
	}
	return ""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// applyStyle reads one of the CSS properties GG writes into f.
func applyStyle(f *hub.Format, prop, value string) {
	value = strings.TrimSpace(value)
	lower := strings.ToLower(value)
	switch strings.ToLower(strings.TrimSpace(prop)) {
	case "color":
		hex := strings.TrimPrefix(lower, "#")
		if _, err := strconv.ParseUint(hex, 16, 32); err != nil || len(hex) != 6 {
			return
		}
		f.Color = strings.ToUpper(hex)
		if f.Color == "000000" {
			f.Color = "" // black is what every client shows anyway
		}
	case "font-family":
		if font := cssFont(value); font != "" {
			f.Font = font
		}
	case "font-weight":
		weight, _ := strconv.Atoi(lower)
		f.Bold = lower == "bold" || lower == "bolder" || weight >= 600
	case "font-style":
		f.Italic = lower == "italic" || lower == "oblique"
	case "text-decoration":
		f.Underline = strings.Contains(lower, "underline")
		f.Strike = strings.Contains(lower, "line-through")
	}
}

// cssFont is a font name as a style can hold it: without quotes, which
// would end it, or ";", which would end the property.
func cssFont(name string) string {
	return strings.TrimSpace(fontUnsafe.Replace(name))
}

// fontUnsafe drops what a style's font name cannot hold; made once, as a
// Replacer builds its tables on first use.
var fontUnsafe = strings.NewReplacer("'", "", `"`, "", ";", "")

// appendXHTML appends a hub message written the way GG clients write
// their own: a <span> per run, with colour and font in its style.
func appendXHTML(dst []byte, msg hub.Message) []byte {
	if len(msg.Runs) == 0 {
		// One run, the whole text (as TextRuns has it), without the slice
		// TextRuns would make of it.
		whole := hub.Run{Text: msg.Text}
		if msg.Format != nil {
			whole.Format = *msg.Format
		}
		return appendXHTMLRun(dst, whole)
	}
	for _, r := range msg.TextRuns() {
		dst = appendXHTMLRun(dst, r)
	}
	return dst
}

// appendXHTMLRun appends one run as a <span>.
func appendXHTMLRun(dst []byte, r hub.Run) []byte {
	f := r.Format
	dst = append(dst, `<span style="color:#`...)
	if f.Color == "" {
		dst = append(dst, "000000"...)
	} else {
		dst = appendEscaped(dst, f.Color, false)
	}
	dst = append(dst, "; "...)
	if f.Font != "" {
		dst = append(dst, "font-family:&#39;"...)
		dst = appendEscaped(dst, cssFont(f.Font), false)
		dst = append(dst, "&#39;; "...)
	}
	dst = append(dst, `">`...)
	wraps := [...]struct {
		on  bool
		tag string
	}{{f.Bold, "b"}, {f.Italic, "i"}, {f.Underline, "u"}, {f.Strike, "s"}} // outermost first
	for _, w := range wraps {
		if w.on {
			dst = append(append(append(dst, '<'), w.tag...), '>')
		}
	}
	dst = appendEscaped(dst, r.Text, true)
	for i := len(wraps) - 1; i >= 0; i-- {
		if wraps[i].on {
			dst = append(append(append(dst, "</"...), wraps[i].tag...), '>')
		}
	}
	return append(dst, "</span>"...)
}

// appendEscaped appends s escaped as html.EscapeString escapes it; in
// text (lineBreaks), each line break is a <br>.
func appendEscaped(dst []byte, s string, lineBreaks bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '\'':
			esc = "&#39;"
		case '"':
			esc = "&#34;"
		case '\n':
			if !lineBreaks {
				continue
			}
			esc = "<br>"
		default:
			continue
		}
		dst = append(append(dst, s[last:i]...), esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}
