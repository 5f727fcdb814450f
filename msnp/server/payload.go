package server

import (
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
	return hub.Message{Text: string(p.Body), Format: parseIMFormat(p.Header(imFormatHeader))}
}

// imFormatHeader is the header of a text message's font, effects and
// colour.
const imFormatHeader = "X-MMS-IM-Format"

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

// appendIMFormat appends a hub format as X-MMS-IM-Format; without one,
// the official client's default font.
func appendIMFormat(dst []byte, f *hub.Format) []byte {
	if f == nil {
		return append(dst, "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22"...)
	}
	font := f.Font
	if font == "" {
		font = "Microsoft Sans Serif"
	}
	dst = append(dst, "FN="...)
	dst = append(dst, wire.EncodeName(font)...)
	dst = append(dst, "; EF="...)
	for _, e := range [...]struct {
		on bool
		c  byte
	}{{f.Bold, 'B'}, {f.Italic, 'I'}, {f.Underline, 'U'}, {f.Strike, 'S'}} {
		if e.on {
			dst = append(dst, e.c)
		}
	}
	rgb := leadingHex(f.Color)
	bgr := rgb>>16 | rgb&0xff00 | (rgb&0xff)<<16
	dst = append(dst, "; CO="...)
	dst = strconv.AppendUint(dst, uint64(bgr), 16)
	return append(dst, "; CS=0; PF=22"...)
}

// leadingHex reads a colour as fmt's "%06x" does: after spaces, up to six
// hexadecimal digits; 0 when there are none.
func leadingHex(v string) uint32 {
	v = strings.TrimLeft(v, " \t\r\n")
	v = v[:min(len(v), 6)]
	digits := v[:len(v)-len(strings.TrimLeft(v, "0123456789abcdefABCDEF"))]
	n, _ := strconv.ParseUint(digits, 16, 32)
	return uint32(n)
}

// textHead starts every text payload up to its X-MMS-IM-Format value.
const textHead = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: "

// appendTextCommands appends to dst a hub message from a contact as MSG
// commands whose payloads none exceed max bytes and cut no UTF-8
// character in two.
func appendTextCommands(dst []byte, from hub.Account, msg hub.Message, max int) []byte {
	name := wire.EncodeName(from.DisplayName)
	var formatRoom [128]byte
	format := appendIMFormat(formatRoom[:0], msg.Format)
	headLen := len(textHead) + len(format) + len("\r\n\r\n")
	room := max - headLen
	text := msg.Text
	for {
		chunk := text
		if len(chunk) > room {
			cut := room
			for cut > 0 && !isRuneStart(text[cut]) {
				cut--
			}
			chunk = text[:cut]
		}
		dst = append(dst, "MSG "...)
		dst = append(dst, from.Email...)
		dst = append(dst, ' ')
		dst = append(dst, name...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(headLen+len(chunk)), 10)
		dst = append(dst, "\r\n"...)
		dst = append(dst, textHead...)
		dst = append(dst, format...)
		dst = append(dst, "\r\n\r\n"...)
		dst = append(dst, chunk...)
		text = text[len(chunk):]
		if text == "" {
			return dst
		}
	}
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// typingPayload is the control message MSN clients show as "is typing".
func typingPayload(email string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: " + email + "\r\n\r\n\r\n")
}
