package client

import (
	"errors"
	"fmt"
)

// Errors reported by the client. Requests that fail because the connection
// is gone return an error wrapping ErrClosed (and the cause, when there is
// one, so errors.Is also finds ErrSignedOut or ErrEventOverflow).
var (
	// ErrClosed: the connection was closed, locally or by the server.
	ErrClosed = errors.New("msnp client: connection closed")
	// ErrSignedOut: the server sent OUT (see Disconnected.Reason).
	ErrSignedOut = errors.New("msnp client: server ended the session (OUT)")
	// ErrEventOverflow: the Events channel stayed full, so the connection
	// was dropped rather than blocking or losing events silently.
	ErrEventOverflow = errors.New("msnp client: event buffer overflow, consumer too slow")
	// ErrNoDialect: the server accepted none of the offered dialects.
	ErrNoDialect = errors.New("msnp client: no common protocol version")
	// ErrNoMD5: INF did not offer the MD5 security package.
	ErrNoMD5 = errors.New("msnp client: server does not offer MD5 authentication")
	// ErrUnexpected: the server's reply did not have the expected shape.
	ErrUnexpected = errors.New("msnp client: unexpected reply")
	// ErrNotDelivered: a switchboard message sent in mode A was answered
	// with NAK.
	ErrNotDelivered = errors.New("msnp client: message not delivered (NAK)")
)

// ServerError is a numeric error reply ("911 6") to a request.
type ServerError struct {
	Code    int    // e.g. 911
	Command string // the request it answered, e.g. "USR"
}

func (e *ServerError) Error() string {
	if name := errorNames[e.Code]; name != "" {
		return fmt.Sprintf("msnp: %s failed: error %d (%s)", e.Command, e.Code, name)
	}
	return fmt.Sprintf("msnp: %s failed: error %d", e.Command, e.Code)
}

// unexpected builds an ErrUnexpected naming the offending line.
func unexpected(request string, got fmt.Stringer) error {
	return fmt.Errorf("%w to %s: %q", ErrUnexpected, request, got.String())
}

// errorNames are the meanings of the MSNP2–7 error codes.
var errorNames = map[int]string{
	200: "syntax error",
	201: "invalid parameter",
	205: "invalid user",
	206: "domain name missing",
	207: "already logged in",
	208: "invalid username",
	209: "invalid friendly name",
	210: "list full",
	215: "already there",
	216: "not on list",
	217: "user not online",
	218: "already in that mode",
	219: "user is in the opposite list",
	224: "invalid group",
	225: "user not in group",
	228: "group name already exists",
	229: "group name too long",
	230: "cannot remove group 0",
	280: "switchboard failed",
	281: "transfer to switchboard failed",
	300: "required fields missing",
	302: "not logged in",
	500: "internal server error",
	501: "database server error",
	510: "file operation failed",
	520: "memory allocation failed",
	540: "challenge response failed",
	600: "server busy",
	601: "server unavailable",
	602: "peer notification server down",
	603: "database connect failed",
	604: "server going down",
	707: "could not create connection",
	710: "bad CVR parameters",
	711: "blocking write",
	712: "session overload",
	713: "calling too rapidly",
	714: "too many sessions",
	715: "not expected",
	717: "bad friend file",
	911: "authentication failed",
	913: "not allowed while offline",
	920: "not accepting new users",
	924: "passport account not verified",
}
