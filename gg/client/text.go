package client

import (
	"html"
	"strings"
)

// textToHTML gives the XHTML form GG11 sends next to the plain text:
// escaped, line breaks as <br>, in a span.
func textToHTML(text string) string {
	s := html.EscapeString(strings.ReplaceAll(text, "\r", ""))
	return "<span>" + strings.ReplaceAll(s, "\n", "<br>") + "</span>"
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
