package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// listenOutput is the output flag every listen command has.
type listenOutput struct {
	JSON bool `help:"Print every event (message, presence, typing) as one JSON object a line, with the same fields for every protocol, instead of the messages as text."`
}

// listenEvent is one line of a listen command's --json output. The field
// names and values mean the same whatever the protocol; a field that does
// not apply to an event is left out.
type listenEvent struct {
	Time     time.Time `json:"time"`     // when the command received it, UTC
	Protocol string    `json:"protocol"` // msn, gg, msim, imip, sip, webchat
	// Event is message, presence or typing.
	Event string `json:"event"`
	// From is the contact as the protocol names them: an e-mail address
	// (msn, sip: without "sip:", webchat), a number (gg, imip, msim).
	From string `json:"from"`
	Name string `json:"name,omitempty"` // display name, where the protocol sends one
	// Text is a message's text or a presence's status text.
	Text string `json:"text,omitempty"`
	// Status is a presence's state, in the hub's words: online, busy,
	// away, idle, brb, phone, lunch, offline.
	Status hub.Status `json:"status,omitempty"`
	// Typing says whether a typing contact started (true) or stopped.
	Typing *bool `json:"typing,omitempty"`
}

const (
	eventMessage  = "message"
	eventPresence = "presence"
	eventTyping   = "typing"
)

// show prints an event: with --json every event as a JSON line; otherwise
// only messages, as "From: text" or "Name <From>: text".
func (o listenOutput) show(con *console, protocol string, ev listenEvent) {
	ev.Protocol = protocol
	if o.JSON {
		ev.Time = time.Now().UTC()
		line, _ := json.Marshal(ev) // cannot fail: strings, a time and a bool
		con.printf("%s\n", line)
		return
	}
	if ev.Event != eventMessage {
		return
	}
	if ev.Name != "" {
		con.printf("%s <%s>: %s\n", ev.Name, ev.From, ev.Text)
		return
	}
	con.printf("%s: %s\n", ev.From, ev.Text)
}

// listen says it is listening as who and shows each event that arrives
// until ctx ends (Ctrl-C) or the server ends the session, whose cause err
// then says.
func listen[E any](ctx context.Context, con *console, who string, events <-chan E, err func() error, show func(E)) error {
	con.notef("listening as %s; Ctrl-C to stop\n", who)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("the server ended the session: %w", err())
			}
			show(ev)
		}
	}
}

// typingEvent is a typing event from a contact.
func typingEvent(from string, active bool) listenEvent {
	return listenEvent{Event: eventTyping, From: from, Typing: &active}
}
