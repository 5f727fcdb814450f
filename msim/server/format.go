package server

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// MySpace markup carries font, style and colour in <f> and <c> tags; the hub
// keeps formatting for the whole message, so the first of each counts.

var (
	markupFont  = regexp.MustCompile(`<f\b[^>]*>`)
	markupColor = regexp.MustCompile(`<c\s+v=['"]([^'"]*)['"]`)
	markupAttr  = regexp.MustCompile(`\b([fs])=['"]([^'"]*)['"]`)
	rgbColor    = regexp.MustCompile(`rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)`)
)

// namedColors are the colour words MySpace clients wrote.
var namedColors = map[string]string{
	"black": "000000", "white": "FFFFFF", "red": "FF0000", "green": "008000", "blue": "0000FF",
	"yellow": "FFFF00", "gray": "808080", "grey": "808080", "purple": "800080", "orange": "FFA500",
}

// fromMarkup reads an IM's markup into a hub message.
func fromMarkup(markup string) hub.Message {
	msg := hub.Message{Text: wire.MarkupToText(markup)}
	var f hub.Format
	if tag := markupFont.FindString(markup); tag != "" {
		for _, a := range markupAttr.FindAllStringSubmatch(tag, -1) {
			switch a[1] {
			case "f":
				f.Font = a[2]
			case "s":
				bits, _ := strconv.Atoi(a[2])
				f.Bold, f.Italic, f.Underline = bits&1 != 0, bits&2 != 0, bits&4 != 0
			}
		}
	}
	if m := markupColor.FindStringSubmatch(markup); m != nil {
		f.Color = parseColor(m[1])
	}
	if f.Color == "000000" {
		f.Color = "" // black is what every client shows anyway
	}
	if f != (hub.Format{}) {
		msg.Format = &f
	}
	return msg
}

func parseColor(v string) string {
	if m := rgbColor.FindStringSubmatch(v); m != nil {
		var rgb [3]int
		for i := range rgb {
			rgb[i], _ = strconv.Atoi(m[i+1])
			rgb[i] = min(max(rgb[i], 0), 255)
		}
		return fmt.Sprintf("%02X%02X%02X", rgb[0], rgb[1], rgb[2])
	}
	return namedColors[strings.ToLower(strings.TrimSpace(v))]
}

// toMarkup renders a hub message as MySpace markup: plain text, wrapped in
// <f> and <c> when it has formatting.
func toMarkup(msg hub.Message) string {
	body := wire.TextToMarkup(msg.Text)
	f := msg.Format
	if f == nil {
		return body
	}
	if f.Color != "" {
		var r, g, b int
		if _, err := fmt.Sscanf(f.Color, "%02x%02x%02x", &r, &g, &b); err == nil {
			body = fmt.Sprintf("<c v='rgb(%d, %d, %d)'>%s</c>", r, g, b, body)
		}
	}
	bits := 0
	for i, on := range []bool{f.Bold, f.Italic, f.Underline} {
		if on {
			bits |= 1 << i
		}
	}
	if bits != 0 || f.Font != "" {
		attrs := fmt.Sprintf(" s='%d'", bits)
		if f.Font != "" {
			attrs = fmt.Sprintf(" f='%s'%s", strings.NewReplacer("'", "", "<", "", ">", "").Replace(f.Font), attrs)
		}
		body = "<f" + attrs + ">" + body + "</f>"
	}
	return body
}
