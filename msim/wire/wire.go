// Package wire frames and encodes MySpaceIM (MSIM) messages. It keeps no
// protocol state; the server and client packages decide what a message
// means.
//
// A message is a sequence of backslash-separated key/value tokens closed by
// the key "final": \k1\v1\k2\v2\final\. Messages follow each other with
// nothing in between. The first key names the message type (lc, login2,
// persist, persistr, bm, status, error, ka, ...).
//
// Values are stored in a Message exactly as they travel, because which
// values are escaped depends on the key: text is escaped ("/" as "/1", "\"
// as "/2", see Escape), base64 values (nc, response) are not. The Get and
// Str helpers escape and unescape; Raw and the Raw field constructor do not.
// So a message that was read re-encodes to exactly the bytes it came from.
//
// Inside values there are two more formats: the dictionary (Dict, keys and
// values joined by '=' and pairs by byte 0x1C, used in persist bodies) and
// the list (items joined by '|', used in blocklist idlists and presence
// strings).
//
// Decoders in this package never panic on any input.
package wire

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// Terminator ends every message: the key "final" with an empty value.
const Terminator = `\final\`

// DefaultMaxMessage bounds a message by default: enough for anything a
// client sends. A client reading a server should allow more, since a
// contact-list reply is one message (pidgin does not merge "mtf" parts):
// about 250 bytes per contact.
const DefaultMaxMessage = 64 << 10

// Field is one key/value pair of a message. Value is as on the wire:
// escaped text, or raw base64 for binary values.
type Field struct {
	Key   string
	Value string
}

// Str makes a text field, escaping value.
func Str(key, value string) Field { return Field{key, Escape(value)} }

// Int makes a decimal integer field.
func Int(key string, v int64) Field { return Field{key, strconv.FormatInt(v, 10)} }

// Uint makes a decimal unsigned integer field (user ids, session keys).
func Uint(key string, v uint32) Field { return Field{key, strconv.FormatUint(uint64(v), 10)} }

// Raw makes a field whose value is used as it is, unescaped.
func Raw(key, value string) Field { return Field{key, value} }

// Flag makes a boolean field: present with an empty value means true.
func Flag(key string) Field { return Field{key, ""} }

// Base64 makes a binary field: standard base64 with padding, not escaped.
func Base64(key string, data []byte) Field {
	return Field{key, base64.StdEncoding.EncodeToString(data)}
}

// Dictionary makes a field holding an encoded dictionary (persist bodies).
func Dictionary(key string, d Dict) Field { return Field{key, d.Encode()} }

// Message is one MSIM message: its fields in wire order. The first field's
// key is the message type.
type Message []Field

// Type returns the first key, which names the message type ("" for an
// empty message).
func (m Message) Type() string {
	if len(m) == 0 {
		return ""
	}
	return m[0].Key
}

// index returns the position of the first field named key, or -1. Like
// pidgin, lookups take the first occurrence.
func (m Message) index(key string) int {
	for i, f := range m {
		if f.Key == key {
			return i
		}
	}
	return -1
}

// Has reports whether key is present (the boolean of flags like fatal).
func (m Message) Has(key string) bool { return m.index(key) >= 0 }

// Raw returns the wire form of key's value, "" when absent.
func (m Message) Raw(key string) string {
	if i := m.index(key); i >= 0 {
		return m[i].Value
	}
	return ""
}

// Lookup returns key's value unescaped and whether it is present.
func (m Message) Lookup(key string) (string, bool) {
	if i := m.index(key); i >= 0 {
		return Unescape(m[i].Value), true
	}
	return "", false
}

// Get returns key's value unescaped, "" when absent.
func (m Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Int returns key's value as a decimal integer; ok is false when the key is
// absent or the value is not a number.
func (m Message) Int(key string) (v int, ok bool) {
	i := m.index(key)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(m[i].Value)
	return n, err == nil
}

// Uint32 returns key's value as an unsigned 32-bit decimal.
func (m Message) Uint32(key string) (v uint32, ok bool) {
	i := m.index(key)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(m[i].Value, 10, 32)
	return uint32(n), err == nil
}

// Bytes decodes key's value as base64 (it is not unescaped).
func (m Message) Bytes(key string) ([]byte, error) {
	i := m.index(key)
	if i < 0 {
		return nil, fmt.Errorf("msim: no %q field", key)
	}
	return base64.StdEncoding.DecodeString(m[i].Value)
}

// Dict decodes key's value as a dictionary; absent keys give nil.
func (m Message) Dict(key string) Dict { return ParseDict(m.Raw(key)) }

// Add appends a text field, escaping value.
func (m *Message) Add(key, value string) { *m = append(*m, Str(key, value)) }

// AddInt appends a decimal integer field.
func (m *Message) AddInt(key string, v int64) { *m = append(*m, Int(key, v)) }

// AddRaw appends a field whose value is used as it is.
func (m *Message) AddRaw(key, value string) { *m = append(*m, Raw(key, value)) }

// Set replaces the first field named key with a text field, or appends one.
func (m *Message) Set(key, value string) { m.set(Str(key, value)) }

// SetInt replaces or appends a decimal integer field.
func (m *Message) SetInt(key string, v int64) { m.set(Int(key, v)) }

// SetRaw replaces or appends a field whose value is used as it is.
func (m *Message) SetRaw(key, value string) { m.set(Raw(key, value)) }

func (m *Message) set(f Field) {
	if i := m.index(f.Key); i >= 0 {
		(*m)[i] = f
		return
	}
	*m = append(*m, f)
}

// Delete removes every field named key.
func (m *Message) Delete(key string) {
	out := (*m)[:0]
	for _, f := range *m {
		if f.Key != key {
			out = append(out, f)
		}
	}
	*m = out
}

// String is the wire form.
func (m Message) String() string { return string(Append(make([]byte, 0, m.size()), m)) }

// secretKeys are the fields logs show by size only: the login nonce and
// the login2 response together let a reader try passwords offline, and
// message texts are private and carry the drive's download links, which
// anyone holding them may use.
var secretKeys = []string{"nc", "response", "msg"}

// LogValue is m as logs show it (slog.LogValuer): the wire form with the
// values of secretKeys replaced by their sizes.
func (m Message) LogValue() slog.Value {
	shown := make(Message, len(m))
	for i, f := range m {
		shown[i] = f
		if slices.Contains(secretKeys, f.Key) {
			shown[i].Value = fmt.Sprintf("(%d bytes)", len(f.Value))
		}
	}
	return slog.StringValue(shown.String())
}

// Errors. Framing errors are *TooLargeError and *TruncatedError; after any
// error from a Reader the stream cannot be trusted any more.
var (
	// ErrMalformed: bytes that do not form a message (no leading
	// backslash, an odd number of tokens, an empty key, a NUL byte).
	ErrMalformed = errors.New("msim: malformed message")
	// ErrInvalid: a Message that cannot be encoded without changing its
	// meaning (see Message.Validate).
	ErrInvalid = errors.New("msim: message cannot be encoded")
)

// TooLargeError reports a message that reached the reader's limit without
// its \final\ (a terminator that never comes ends here too).
type TooLargeError struct {
	Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("msim: no %s within %d bytes", Terminator, e.Max)
}

// TruncatedError reports a stream that ended inside a message. It unwraps
// to io.ErrUnexpectedEOF.
type TruncatedError struct {
	Got int // bytes of the unfinished message
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("msim: stream ended inside a message (%d bytes without %s)", e.Got, Terminator)
}

func (e *TruncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Reader reads messages from a stream, one at a time.
type Reader struct {
	// MaxMessage bounds a message, \final\ included; NewReader sets
	// DefaultMaxMessage, and values below 1 mean the default too.
	MaxMessage int

	// br reads through own, unless the reader was made over an
	// idleread.Reader, which it then shares (see idleread.Within).
	br  *idleread.Reader
	own idleread.Reader
}

// NewReader reads messages from r, buffered; between messages it holds no
// buffer (see idleread).
func NewReader(r io.Reader) *Reader {
	rd := &Reader{MaxMessage: DefaultMaxMessage}
	rd.br = idleread.Within(&rd.own, r)
	return rd
}

// Wait blocks until a message may be read, holding no buffer meanwhile
// (see idleread.Reader.Wait).
func (r *Reader) Wait() { r.br.Wait() }

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet (see idleread.Reader.ReadReady).
func (r *Reader) ReadReady(rc syscall.RawConn) bool { return r.br.ReadReady(rc) }

// MayHaveMore reports whether the socket may hold bytes the last read
// left there (see idleread.Reader.MayHaveMore).
func (r *Reader) MayHaveMore() bool { return r.br.MayHaveMore() }

// Buffered returns the number of bytes read from the stream and not yet
// returned in a message.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Release gives the reader's buffer back, for a reader that is done (see
// idleread.Reader.Release).
func (r *Reader) Release() { r.br.Release() }

// MessageBuffered reports whether a whole message, up to its \final\,
// waits in the buffer: reading it will not wait for the client.
func (r *Reader) MessageBuffered() bool {
	buf, _ := r.br.Peek(r.br.Buffered())
	return bytes.Contains(buf, []byte(Terminator))
}

// ReadRaw reads the bytes of the next message, up to and including the
// first \final\, without parsing them. The slice belongs to the caller. It
// returns io.EOF only when the stream ends cleanly between messages. A
// first byte that is not a backslash fails at once with ErrMalformed (the
// real server answered a stray newline straight away), so does a message
// holding a NUL byte; the bytes are otherwise checked by Parse.
func (r *Reader) ReadRaw() ([]byte, error) {
	return r.read()
}

// ReadMessage reads and parses the next message. A message that waits
// whole in the buffer, as one that arrived at once does, costs two
// allocations: its text and its fields.
func (r *Reader) ReadMessage() (Message, error) {
	if msg, ok := r.bufferedMessage(); ok {
		return parse(msg)
	}
	msg, err := r.read()
	if err != nil {
		return nil, err
	}
	return Parse(msg)
}

// bufferedMessage takes the next message out of the buffer as a string,
// when it waits there whole and read would take it as it is; ok is false,
// and nothing consumed, for read to take it or report what is wrong.
func (r *Reader) bufferedMessage() (msg string, ok bool) {
	if _, err := r.br.Peek(1); err != nil {
		return "", false // read reports it
	}
	buf, _ := r.br.Peek(r.br.Buffered())
	if buf[0] != '\\' {
		return "", false
	}
	end := bytes.Index(buf, []byte(Terminator))
	max := r.MaxMessage
	if max < 1 {
		max = DefaultMaxMessage
	}
	if end <= 0 || end+len(Terminator) > max || bytes.IndexByte(buf[:end], 0) >= 0 {
		return "", false
	}
	n := end + len(Terminator)
	msg = string(buf[:n])
	r.br.Discard(n)
	return msg, true
}

// read returns the next message in a slice of its own, which the reader
// does not keep: an idle connection holds no message buffer. It never
// holds more than MaxMessage bytes plus one buffered chunk.
func (r *Reader) read() ([]byte, error) {
	max := r.MaxMessage
	if max < 1 {
		max = DefaultMaxMessage
	}
	first, err := r.br.Peek(1)
	if err != nil {
		return nil, err // io.EOF between messages
	}
	if first[0] != '\\' {
		return nil, malformed("message starts with %q, not a backslash", first[0])
	}
	var msg []byte
	for {
		chunk, err := r.br.ReadSlice('\\')
		if bytes.IndexByte(chunk, 0) >= 0 {
			return nil, malformed("NUL byte")
		}
		if len(msg)+len(chunk) > max {
			return nil, &TooLargeError{Max: max}
		}
		msg = append(msg, chunk...)
		switch {
		case err == nil:
			if bytes.HasSuffix(msg, []byte(Terminator)) {
				return msg, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			if len(msg) == 0 {
				return nil, io.EOF
			}
			return nil, &TruncatedError{Got: len(msg)}
		default:
			return nil, err
		}
	}
}

// Parse decodes exactly one message: b must begin with a backslash and end
// with its first \final\.
func Parse(b []byte) (Message, error) {
	end := bytes.Index(b, []byte(Terminator))
	switch {
	case end < 0:
		return nil, malformed("no %s", Terminator)
	case end+len(Terminator) != len(b):
		return nil, malformed("%d bytes after %s", len(b)-end-len(Terminator), Terminator)
	case end == 0 || b[0] != '\\':
		return nil, malformed("message does not start with a backslash and a key")
	case bytes.IndexByte(b, 0) >= 0:
		return nil, malformed("NUL byte")
	}
	return parse(string(b))
}

// parse cuts the fields from msg, a message as Parse and bufferedMessage
// check it: a backslash, a key, no NUL, and nothing after its first
// \final\.
func parse(msg string) (Message, error) {
	// The fields are cut from the one string, sized first: no slice of
	// tokens in between.
	rest := msg[1 : len(msg)-len(Terminator)]
	tokens := strings.Count(rest, `\`) + 1
	if tokens%2 != 0 {
		return nil, malformed("%d tokens, keys and values do not pair up", tokens)
	}
	m := make(Message, 0, tokens/2)
	for len(m) < tokens/2 {
		var key, value string
		key, rest, _ = strings.Cut(rest, `\`)
		value, rest, _ = strings.Cut(rest, `\`)
		if key == "" {
			return nil, malformed("empty key in field %d", len(m)+1)
		}
		m = append(m, Field{key, value})
	}
	return m, nil
}

// Append appends the wire form of m to dst. It does not check m; see
// Validate and Encode.
func Append(dst []byte, m Message) []byte {
	for _, f := range m {
		dst = append(dst, '\\')
		dst = append(dst, f.Key...)
		dst = append(dst, '\\')
		dst = append(dst, f.Value...)
	}
	return append(dst, Terminator...)
}

// Encode validates m and returns its wire form, in one allocation.
func Encode(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return Append(make([]byte, 0, m.size()), m), nil
}

// size is the length of m's wire form.
func (m Message) size() int {
	n := len(Terminator)
	for _, f := range m {
		n += 2 + len(f.Key) + len(f.Value)
	}
	return n
}

// Validate reports (as ErrInvalid) what would stop m from reading back as
// itself: no fields, an empty key, a backslash or NUL byte in a key or
// value (text must go through Escape), or a key or value that is exactly
// "final", which would end the message early.
func (m Message) Validate() error {
	if len(m) == 0 {
		return invalid("no fields")
	}
	for i, f := range m {
		switch {
		case f.Key == "":
			return invalid("field %d has an empty key", i+1)
		case strings.ContainsAny(f.Key, "\\\x00"):
			return invalid("key %q holds a backslash or NUL", f.Key)
		case strings.ContainsAny(f.Value, "\\\x00"):
			return invalid("value of %q holds a backslash or NUL", f.Key)
		case f.Key == "final" || f.Value == "final":
			return invalid("field %q: a token \"final\" would end the message", f.Key)
		}
	}
	return nil
}
