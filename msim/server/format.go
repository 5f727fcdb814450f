package server

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// MySpace markup formats stretches of text with <f> (face and style bits)
// and <c> (colour) tags; they become the hub's runs and back.

var rgbColor = regexp.MustCompile(`rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)`)

// namedColors are the colour words MySpace clients wrote.
var namedColors = map[string]string{
	"black": "000000", "white": "FFFFFF", "red": "FF0000", "green": "008000", "blue": "0000FF",
	"yellow": "FFFF00", "gray": "808080", "grey": "808080", "purple": "800080", "orange": "FFA500",
}

// fromMarkup reads an IM's markup into a hub message, a run per stretch of
// text in one formatting. An <f> inside another adds its style bits to the
// outer ones: Pidgin writes bold italic text as <f s='1'><f s='2'>.
func fromMarkup(markup string) hub.Message {
	var b hub.RunBuilder
	wire.WalkMarkup(markup, func(p wire.MarkupPiece) {
		switch {
		case p.Tag == "":
			b.Text(p.Text)
		case p.Closing:
			b.Close(p.Tag)
		default:
			f := b.Format()
			switch p.Tag {
			case "f":
				if face := markupFont(p.Attr("f")); face != "" {
					f.Font = face
				}
				bits, _ := strconv.Atoi(p.Attr("s"))
				f.Bold = f.Bold || bits&1 != 0
				f.Italic = f.Italic || bits&2 != 0
				f.Underline = f.Underline || bits&4 != 0
			case "c":
				switch c := parseColor(p.Attr("v")); c {
				case "000000":
					f.Color = "" // black is what every client shows anyway
				case "":
				default:
					f.Color = c
				}
			}
			b.Open(p.Tag, f)
		}
	})
	return b.Message()
}

// markupFont is a font name as an attribute can hold it, without quotes
// or angle brackets.
func markupFont(name string) string { return fontUnsafe.Replace(name) }

// fontUnsafe drops what an attribute value cannot hold; made once, as a
// Replacer builds its tables on first use.
var fontUnsafe = strings.NewReplacer("'", "", `"`, "", "<", "", ">", "")

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

// toMarkup renders a hub message as MySpace markup the way Pidgin writes
// it: a run's text in <f> and <c> when it has formatting, smileys as
// emoticons, and a <p> per line when there are several.
func toMarkup(msg hub.Message) string {
	runs := msg.TextRuns()
	lines := slices.ContainsFunc(runs, func(r hub.Run) bool { return strings.Contains(r.Text, "\n") })
	var b strings.Builder
	b.Grow(len(msg.Text) + 16)
	if lines {
		b.WriteString("<p>")
	}
	for _, r := range runs {
		first := true
		for part := range strings.SplitSeq(r.Text, "\n") {
			if !first {
				b.WriteString("</p><p>")
			}
			first = false
			if part != "" {
				writeRunMarkup(&b, part, r.Format)
			}
		}
	}
	if lines {
		b.WriteString("</p>")
	}
	if b.String() == "final" {
		return "<p>final</p>" // a bare value "final" would end the message early
	}
	return b.String()
}

// writeRunMarkup writes a run's text in <f> and <c> when it has
// formatting.
func writeRunMarkup(b *strings.Builder, text string, f hub.Format) {
	bits := 0
	for i, on := range [...]bool{f.Bold, f.Italic, f.Underline} {
		if on {
			bits |= 1 << i
		}
	}
	face := markupFont(f.Font)
	font := bits != 0 || face != ""
	if font {
		b.WriteString("<f")
		if face != "" {
			b.WriteString(" f='")
			b.WriteString(strings.ReplaceAll(face, "&", "&amp;"))
			b.WriteString("'")
		}
		b.WriteString(" s='")
		b.WriteString(strconv.Itoa(bits))
		b.WriteString("'>")
	}
	rgb, colored := markupColor(f.Color)
	if colored {
		b.WriteString("<c v='rgb(")
		for i, c := range rgb {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(int(c)))
		}
		b.WriteString(")'>")
	}
	wire.WriteInlineMarkup(b, text)
	if colored {
		b.WriteString("</c>")
	}
	if font {
		b.WriteString("</f>")
	}
}

// markupColor reads a hub colour other than black for <c>, as fmt's
// "%02x%02x%02x" reads it; six hex digits, the hub's form, without fmt.
func markupColor(color string) (rgb [3]byte, ok bool) {
	if color == "" || color == "000000" {
		return rgb, false
	}
	if len(color) == 6 {
		if _, err := hex.Decode(rgb[:], []byte(color)); err == nil {
			return rgb, true
		}
	}
	var red, green, blue int
	if _, err := fmt.Sscanf(color, "%02x%02x%02x", &red, &green, &blue); err != nil {
		return rgb, false
	}
	return [3]byte{byte(red), byte(green), byte(blue)}, true
}
