package client

import (
	"errors"
	"fmt"

	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// Errors reported by the client. Calls that fail because the connection is
// gone return an error wrapping ErrClosed and, when there is one, the cause
// (so errors.Is also finds ErrLoginFailed, ErrKicked, ErrEventOverflow or a
// *ProtocolError).
var (
	// ErrClosed: the connection was closed, locally or by the server.
	ErrClosed = errors.New("gg client: connection closed")
	// ErrLoginFailed: the server answered the login with GG_LOGIN_FAILED or
	// GG_LOGIN80_FAILED (libgadu's "wrong password").
	ErrLoginFailed = errors.New("gg client: login failed (wrong UIN or password)")
	// ErrKicked: the server sent GG_DISCONNECTING, e.g. because the account
	// logged in elsewhere.
	ErrKicked = errors.New("gg client: server ended the session (GG_DISCONNECTING)")
	// ErrEventOverflow: the Events channel stayed full, so the connection
	// was dropped rather than blocking or losing events silently.
	ErrEventOverflow = errors.New("gg client: event buffer overflow, consumer too slow")
	// ErrNoDisconnectAck: the server did not answer an offline status with
	// GG_DISCONNECT_ACK within 5 s.
	ErrNoDisconnectAck = errors.New("gg client: no GG_DISCONNECT_ACK after an offline status")
	// ErrState: the call does not fit the session's state (Login twice, or
	// a session call before Login succeeded or after an offline status).
	ErrState = errors.New("gg client: not allowed in the session's current state")
)

// ProtocolError reports a packet from the server whose body does not
// decode: a protobuf message lacking a required field (libgadu drops the
// session for those), a bad UIN, a struct of the wrong size. It ends the
// connection. This client is deliberately at least as strict as libgadu so
// that server bugs surface in tests.
type ProtocolError struct {
	Type uint32 // packet type
	Err  error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("gg client: bad %s from server: %v", wire.TypeName(e.Type), e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// MessageRefused is the error of a message the server did not take, as
// its GG_SEND_MSG_ACK says: Status is wire.AckBlocked, wire.AckMailboxFull
// or wire.AckNotDelivered (no such recipient).
type MessageRefused struct {
	Status uint32
}

func (e *MessageRefused) Error() string {
	switch e.Status {
	case wire.AckBlocked:
		return "gg client: message refused: the recipient does not accept messages from you"
	case wire.AckMailboxFull:
		return "gg client: message refused: the recipient's mailbox is full"
	case wire.AckNotDelivered:
		return "gg client: message not delivered: no such recipient"
	}
	return fmt.Sprintf("gg client: message refused with status %#x", e.Status)
}
