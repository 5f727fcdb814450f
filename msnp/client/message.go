package client

import (
	"bytes"
	"net/textproto"
	"strings"

	"github.com/crosstalk-im/crosstalk/internal/eventq"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

// TextFormat is the X-MMS-IM-Format header TextPayload uses: the official
// client's default font, no effects, black.
const TextFormat = "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22"

// TextPayload builds the payload of a plain text message, as the official
// client sends it: MIME-Version, Content-Type text/plain; charset=UTF-8,
// X-MMS-IM-Format (TextFormat), an empty line, then the text.
func TextPayload(text string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: " +
		TextFormat + "\r\n\r\n" + text)
}

// TypingPayload builds a typing notification (text/x-msmsgscontrol) for the
// given user; the body is empty.
func TypingPayload(email string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: " + email + "\r\n\r\n\r\n")
}

// parseMIME splits a payload into its header block and body. Lines may end
// in CRLF or LF; header lines without a colon are skipped.
func parseMIME(payload []byte) (textproto.MIMEHeader, []byte) {
	h := make(textproto.MIMEHeader)
	rest := payload
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return h, rest
		}
		name, value, ok := strings.Cut(string(line), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		h[key] = append(h[key], strings.TrimSpace(value))
	}
	return h, nil
}

// mediaType returns the Content-Type without parameters, in lower case.
func mediaType(h textproto.MIMEHeader) string {
	t, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// newMessage interprets a switchboard MSG payload.
func newMessage(from, friendly string, payload []byte) Message {
	h, body := parseMIME(payload)
	m := Message{From: from, Friendly: friendly, Payload: payload, Header: h, Body: body, ContentType: mediaType(h)}
	switch m.ContentType {
	case "text/plain":
		m.Text = string(body)
	case "text/x-msmsgscontrol":
		m.TypingUser = h.Get("TypingUser")
	case invite.ContentType:
		if inv, err := invite.Parse(payload); err == nil {
			m.Invitation = &inv
		}
	}
	return m
}

// events is the client's bounded event queue (see internal/eventq).
type events = eventq.Queue[Event]

func newEvents(size int) *events { return eventq.New[Event](size) }
