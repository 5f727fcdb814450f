package client

import (
	"bytes"

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
const textHead = textStart + "X-MMS-IM-Format: " + TextFormat + "\r\n\r\n"

// TypingPayload builds a typing notification (text/x-msmsgscontrol) for the
// given user; the body is empty.
func TypingPayload(email string) []byte {
	return []byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: " + email + "\r\n\r\n\r\n")
}

// textStart is how the text messages of the official client, and
// TextPayload's, begin: lines that make their content type text/plain
// whatever follows. Matching them first spares nearly every message the
// header search, a fifth of the library's own cost of receiving one.
const textStart = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"

// newMessage interprets a switchboard MSG payload.
func newMessage(from, friendly string, payload []byte) Message {
	p := wire.ParsePayload(payload)
	h := Header{p}
	m := Message{From: from, Friendly: friendly, Payload: payload, Header: h, Body: p.Body}
	if bytes.HasPrefix(payload, []byte(textStart)) {
		m.ContentType = "text/plain"
	} else {
		m.ContentType = p.ContentType()
	}
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
