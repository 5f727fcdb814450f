package server

import (
	"html"
	"regexp"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
)

// GG11 messages carry the text twice: plain, and as XHTML spans. These
// functions carry whole-message formatting between that XHTML and the hub.

var (
	xhtmlTag    = regexp.MustCompile(`<[^>]*>`)
	xhtmlBreak  = regexp.MustCompile(`(?i)<br\s*/?>`)
	xhtmlColor  = regexp.MustCompile(`(?i)color:\s*#([0-9a-f]{6})`)
	xhtmlFont   = regexp.MustCompile(`(?i)font-family:\s*'?([^;'"]+)`)
	xhtmlBold   = regexp.MustCompile(`(?i)<b>|font-weight:\s*bold`)
	xhtmlItalic = regexp.MustCompile(`(?i)<i>|font-style:\s*italic`)
	xhtmlUnder  = regexp.MustCompile(`(?i)<u>|text-decoration:\s*underline`)
)

// fromGG builds a hub message from the two forms; the plain text wins, and
// libgadu's rule applies when it is empty: the text comes from the XHTML.
func fromGG(plain, xhtml string) hub.Message {
	msg := hub.Message{Text: plain}
	if msg.Text == "" && xhtml != "" {
		msg.Text = html.UnescapeString(xhtmlTag.ReplaceAllString(xhtmlBreak.ReplaceAllString(xhtml, "\n"), ""))
	}
	if xhtml == "" {
		return msg
	}
	f := hub.Format{
		Bold:      xhtmlBold.MatchString(xhtml),
		Italic:    xhtmlItalic.MatchString(xhtml),
		Underline: xhtmlUnder.MatchString(xhtml),
	}
	if m := xhtmlColor.FindStringSubmatch(xhtml); m != nil && !strings.EqualFold(m[1], "000000") {
		f.Color = strings.ToUpper(m[1])
	}
	if m := xhtmlFont.FindStringSubmatch(xhtml); m != nil {
		f.Font = strings.TrimSpace(m[1])
	}
	if f != (hub.Format{}) {
		msg.Format = &f
	}
	return msg
}

// toXHTML renders a hub message the way GG clients write their own.
func toXHTML(msg hub.Message) string {
	var style strings.Builder
	f := msg.Format
	if f == nil {
		f = &hub.Format{}
	}
	color := f.Color
	if color == "" {
		color = "000000"
	}
	style.WriteString("color:#" + color + "; ")
	if f.Font != "" {
		style.WriteString("font-family:'" + strings.ReplaceAll(f.Font, "'", "") + "'; ")
	}
	text := strings.ReplaceAll(html.EscapeString(msg.Text), "\n", "<br>")
	for _, w := range []struct {
		on  bool
		tag string
	}{{f.Underline, "u"}, {f.Italic, "i"}, {f.Bold, "b"}} {
		if w.on {
			text = "<" + w.tag + ">" + text + "</" + w.tag + ">"
		}
	}
	return `<span style="` + html.EscapeString(style.String()) + `">` + text + "</span>"
}
