package client

import (
	"html"
	"strings"
)

// textToHTML gives the XHTML form GG11 sends next to the plain text:
// escaped, line breaks as <br>, in a span.
func textToHTML(text string) string { return string(appendTextHTML(nil, text)) }

// appendTextHTML appends textToHTML of text to dst: escaped as
// html.EscapeString escapes, carriage returns dropped.
func appendTextHTML(dst []byte, text string) []byte {
	dst = append(dst, "<span>"...)
	for len(text) > 0 {
		i := strings.IndexAny(text, "\r\n<>&'\"")
		if i < 0 {
			dst = append(dst, text...)
			break
		}
		dst = append(dst, text[:i]...)
		switch text[i] {
		case '\n':
			dst = append(dst, "<br>"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '\'':
			dst = append(dst, "&#39;"...)
		case '"':
			dst = append(dst, "&#34;"...)
		}
		text = text[i+1:]
	}
	return append(dst, "</span>"...)
}

// htmlToText recovers plain text from a message that came without it (as
// mobile clients send): tags dropped, <br> as a line break, entities
// decoded.
func htmlToText(s string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break // an unterminated tag: drop the rest
		}
		if name, _, _ := strings.Cut(strings.Trim(s[i+1:i+j], "/ "), " "); strings.EqualFold(name, "br") {
			b.WriteByte('\n')
		}
		s = s[i+j+1:]
	}
	return html.UnescapeString(b.String())
}
