package client

import (
	"errors"
	"fmt"

	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// Errors reported by the client. Calls that fail because the connection is
// gone return an error wrapping ErrClosed and, when there is one, the cause
// (so errors.Is also finds ErrLoginFailed, ErrEventOverflow, a *ServerError
// or a *ProtocolError).
var (
	// ErrClosed: the connection was closed, locally or by the server.
	ErrClosed = errors.New("msim client: connection closed")
	// ErrLoginFailed: the server refused the login with error 260
	// (incorrect password) or 259 (unknown e-mail). A *ServerError with
	// those codes matches it.
	ErrLoginFailed = errors.New("msim client: login failed (wrong e-mail or password)")
	// ErrLoggedInElsewhere: error 6, the account logged in from another
	// place. A *ServerError with that code matches it.
	ErrLoggedInElsewhere = errors.New("msim client: logged in from another place")
	// ErrNoUniqueNick: \lc\2 named no screen name (uniquenick is the user
	// id). Pidgin then asks the user to pick one and does not sign on.
	// Login returns the session with this error and leaves the connection
	// up: SetUserName and SignOn may follow, as the official client did.
	ErrNoUniqueNick = errors.New("msim client: account has no screen name (uniquenick is the user id)")
	// ErrNoSuchUser: a lookup reply without a UserID.
	ErrNoSuchUser = errors.New("msim client: no such user")
	// ErrEventOverflow: the Events channel stayed full, so the connection
	// was dropped rather than blocking or losing events silently.
	ErrEventOverflow = errors.New("msim client: event buffer overflow, consumer too slow")
	// ErrIdleTimeout: nothing arrived within Options.IdleTimeout.
	ErrIdleTimeout = errors.New("msim client: server silent for longer than the idle timeout")
	// ErrState: the call does not fit the session's state (Login twice, a
	// session call before \lc\2).
	ErrState = errors.New("msim client: not allowed in the session's current state")
)

// ServerError is an \error\ from the server. With Fatal set it ended the
// connection (or the login).
type ServerError struct {
	Code    int
	Message string
	Fatal   bool
}

func (e *ServerError) Error() string {
	f := ""
	if e.Fatal {
		f = " (fatal)"
	}
	return fmt.Sprintf("msim client: server error %d%s: %s", e.Code, f, e.Message)
}

// Is matches ErrLoginFailed for codes 259 and 260 and ErrLoggedInElsewhere
// for code 6.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrLoginFailed:
		return e.Code == wire.ErrCodeBadPassword || e.Code == wire.ErrCodeBadEmail
	case ErrLoggedInElsewhere:
		return e.Code == wire.ErrCodeLoggedInElsewhere
	}
	return false
}

// PersistError is a persist reply with the error bit (1024) set in its cmd,
// e.g. the official server's 1025 "Request timeout". Pidgin would take it
// as an answer; this client reports it.
type PersistError struct {
	Reply wire.Persist
}

func (e *PersistError) Error() string {
	msg := e.Reply.Body.Get("ErrorMessage")
	if msg == "" {
		msg = e.Reply.Body.Get("ErrorCode")
	}
	return fmt.Sprintf("msim client: persist %v (cmd %d) failed: %s", e.Reply.DataSet, e.Reply.Cmd, msg)
}

// ProtocolError reports a server message that pidgin would not accept (a
// greeting nonce that is not 64 bytes, an \lc\2 without a user id, a
// persistr without cmd/dsn/lid). It ends the connection: this client is
// deliberately at least as strict as pidgin so that server bugs surface in
// tests.
type ProtocolError struct {
	Message wire.Message
	Err     error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("msim client: bad %q message from server: %v", e.Message.Type(), e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }
