package client

import (
	"github.com/crosstalk-im/crosstalk/internal/eventq"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// TextFormat is the X-MMS-IM-Format header TextPayload uses: the official
// client's default font, no effects, black.
const TextFormat = "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22"

// TextPayload builds the payload of a plain text message, as the official
// client sends it: MIME-Version, Content-Type text/plain; charset=UTF-8,
// X-MMS-IM-Format (TextFormat), an empty line, then the text.
func TextPayload(text string) []byte {
	return AppendTextPayload(make([]byte, 0, len(textHead)+len(text)), text)
}

// AppendTextPayload appends TextPayload(text) to b, so that a sender with
// many messages can build them in a buffer it reuses: Send, Post and
// PostAll keep no payload past their return.
func AppendTextPayload(b []byte, text string) []byte {
	return append(append(b, textHead...), text...)
}

// textHead is the header block of TextPayload, with its empty line.
const textHead = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: " + TextFormat + "\r\n\r\n"

// TypingPayload builds a typing notification (text/x-msmsgscontrol) for the
// given user; the body is empty.
func TypingPayload(email string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: " + email + "\r\n\r\n\r\n")
}

// newMessage interprets a switchboard MSG payload.
func newMessage(from, friendly string, payload []byte) Message {
	p := wire.ParsePayload(payload)
	h := Header{p}
	m := Message{From: from, Friendly: friendly, Payload: payload, Header: h, Body: p.Body, ContentType: p.ContentType()}
	switch m.ContentType {
	case "text/plain":
		m.Text = string(p.Body)
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
