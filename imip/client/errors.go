package client

import (
	"errors"
	"fmt"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// Errors reported by the client. Calls that fail because the connection is
// gone return an error wrapping ErrClosed and, when there is one, the cause
// (so errors.Is also finds ErrServerDisc, ErrEventOverflow, a failed
// login's *AckError or a *ProtocolError).
var (
	// ErrClosed: the connection was closed, locally or by the server.
	ErrClosed = errors.New("imip client: connection closed")
	// ErrState: the call does not fit the session's state (Login twice,
	// a session call before Login succeeded or after Disconnect).
	ErrState = errors.New("imip client: not allowed in the session's current state")
	// ErrEventOverflow: the Events channel stayed full, so the connection
	// was dropped rather than blocking or losing events silently.
	ErrEventOverflow = errors.New("imip client: event buffer overflow, consumer too slow")
	// ErrServerDisc: the server ended the session with its own DISC block.
	ErrServerDisc = errors.New("imip client: server ended the session (DISC)")
	// ErrAuthType: the server's HELO asks for an Auth-Type other than
	// imip-md5, the only one known.
	ErrAuthType = errors.New("imip client: unsupported Auth-Type")
	// ErrLoginFailed matches (errors.Is) every *AckError answering LOGN.
	ErrLoginFailed = errors.New("imip client: login failed")
	// ErrBadPassword matches an *AckError with code 810.
	ErrBadPassword = errors.New("imip client: wrong password (ACK 810)")
	// ErrUnknownUser matches an *AckError with code 811.
	ErrUnknownUser = errors.New("imip client: unknown user (ACK 811)")
)

// AckError is a non-600 ACK answering one of our blocks.
type AckError struct {
	Code    wire.Code
	Text    string // the ACK's body, if the server sent one
	Request string // type line of the block it answers, e.g. "LOGN 1234567"
}

func (e *AckError) Error() string {
	s := fmt.Sprintf("imip client: %s answered with ACK %s", e.Request, e.Code)
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is lets errors.Is find ErrLoginFailed (any code answering LOGN),
// ErrBadPassword (810) and ErrUnknownUser (811).
func (e *AckError) Is(target error) bool {
	switch target {
	case ErrLoginFailed:
		return len(e.Request) >= 4 && e.Request[:4] == wire.TypeLOGN
	case ErrBadPassword:
		return e.Code == wire.CodeBadPassword
	case ErrUnknownUser:
		return e.Code == wire.CodeUnknownUser
	}
	return false
}

// ProtocolError reports a server block that breaks the protocol: a
// framing error, a HELO without salt, a STAT or MESG without From, a Time
// that does not parse, an answer of the wrong type. It ends the
// connection: the client is deliberately strict so that server bugs
// surface in tests.
type ProtocolError struct {
	Block *wire.Block // nil for framing errors
	Err   error
}

func (e *ProtocolError) Error() string {
	if e.Block == nil {
		return fmt.Sprintf("imip client: bad data from server: %v", e.Err)
	}
	return fmt.Sprintf("imip client: bad %s from server: %v", e.Block.TypeLine(), e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func protocolErrorf(b *wire.Block, format string, args ...any) error {
	return &ProtocolError{Block: b, Err: fmt.Errorf(format, args...)}
}
