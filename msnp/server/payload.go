package server

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// parsedMessage is a switchboard MSG payload, with its media type read.
type parsedMessage struct {
	contentType string // lower case, without parameters
	wire.Payload
}

// parsePayload reads a MSG payload whose header block ends in an empty
// line.
func parsePayload(payload []byte) (parsedMessage, bool) {
	p := wire.ParsePayload(payload)
	if !p.Complete {
		return parsedMessage{}, false
	}
	return parsedMessage{contentType: p.ContentType(), Payload: p}, true
}

// toHubMessage turns an MSN text message into the hub's form.
func (p parsedMessage) toHubMessage() hub.Message {
	return hub.Message{Text: string(p.Body), Format: parseIMFormat(p.Header("X-MMS-IM-Format"))}
}

// parseIMFormat reads X-MMS-IM-Format: FN=font; EF=BIUS; CO=colour, where
// the colour is hexadecimal in blue-green-red order.
func parseIMFormat(v string) *hub.Format {
	if v == "" {
		return nil
	}
	f := &hub.Format{}
	for part := range strings.SplitSeq(v, ";") {
		key, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "FN":
			f.Font = wire.DecodeName(val)
		case "EF":
			f.Bold = strings.Contains(val, "B")
			f.Italic = strings.Contains(val, "I")
			f.Underline = strings.Contains(val, "U")
			f.Strike = strings.Contains(val, "S")
		case "CO":
			// The hexadecimal digits it starts with, as fmt's %x reads them.
			val = strings.TrimSpace(val)
			digits := val[:len(val)-len(strings.TrimLeft(val, "0123456789abcdefABCDEF"))]
			if bgr, err := strconv.ParseUint(digits, 16, 32); err == nil && bgr <= 0xffffff {
				f.Color = rgbHex(byte(bgr), byte(bgr>>8), byte(bgr>>16))
			}
		}
	}
	return f
}

// rgbHex writes a colour as the hub does: RRGGBB in upper-case hex.
func rgbHex(r, g, b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[r>>4], digits[r&15], digits[g>>4], digits[g&15], digits[b>>4], digits[b&15]})
}

// imFormat writes a hub format as X-MMS-IM-Format; without one, the
// official client's default font.
func imFormat(f *hub.Format) string {
	if f == nil {
		return "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22"
	}
	font := f.Font
	if font == "" {
		font = "Microsoft Sans Serif"
	}
	var ef strings.Builder
	for _, e := range []struct {
		on bool
		c  byte
	}{{f.Bold, 'B'}, {f.Italic, 'I'}, {f.Underline, 'U'}, {f.Strike, 'S'}} {
		if e.on {
			ef.WriteByte(e.c)
		}
	}
	var rgb uint32
	fmt.Sscanf(f.Color, "%06x", &rgb)
	bgr := rgb>>16 | rgb&0xff00 | (rgb&0xff)<<16
	return fmt.Sprintf("FN=%s; EF=%s; CO=%x; CS=0; PF=22", wire.EncodeName(font), ef.String(), bgr)
}

// textPayloads renders a hub message as MSN text payloads, split so that
// none exceeds max bytes and no UTF-8 character is cut in two.
func textPayloads(msg hub.Message, max int) [][]byte {
	head := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: " + imFormat(msg.Format) + "\r\n\r\n"
	room := max - len(head)
	text := msg.Text
	var out [][]byte
	for {
		chunk := text
		if len(chunk) > room {
			cut := room
			for cut > 0 && !isRuneStart(text[cut]) {
				cut--
			}
			chunk = text[:cut]
		}
		out = append(out, []byte(head+chunk))
		text = text[len(chunk):]
		if text == "" {
			return out
		}
	}
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// typingPayload is the control message MSN clients show as "is typing".
func typingPayload(email string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: " + email + "\r\n\r\n\r\n")
}
