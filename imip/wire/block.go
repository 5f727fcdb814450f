package wire

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Header is one "Name: value" line of a block.
type Header struct {
	Name  string
	Value string
}

// Block is one IMIP block as it travels on the wire.
//
// The type line is Type followed by Args, separated by single spaces; a
// double-quoted nickname in the type line ("LIST ACCEPT 1234567 "Nick Name"")
// is one argument, quotes included. Headers keep their order. Body is the
// raw bytes after the blank line; it is not CRLF-terminated.
type Block struct {
	Type    string   // "HELO", "LOGN", "STAT", "ACK", "LIST", "MESG", "PING", "DISC", ...
	Args    []string // the rest of the type line
	Headers []Header // in wire order
	// Blank is whether the blank line that ends the headers is sent even
	// when Body is empty (the Yahoo! client always sends it, the Odigo
	// server only before a body). A block with a body always has it; the
	// Reader sets Blank whenever it saw one.
	Blank bool
	Body  []byte
}

// NewBlock returns a block with the given type line and no headers.
func NewBlock(typ string, args ...string) *Block {
	return &Block{Type: typ, Args: args}
}

// Arg returns argument i of the type line, or "" when there are fewer.
func (b *Block) Arg(i int) string {
	if i < len(b.Args) {
		return b.Args[i]
	}
	return ""
}

// Lookup returns the value of the first header called name, compared
// case-insensitively.
func (b *Block) Lookup(name string) (string, bool) {
	for _, h := range b.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Get returns the value of the first header called name (case-insensitive),
// or "".
func (b *Block) Get(name string) string {
	v, _ := b.Lookup(name)
	return v
}

// Add appends a header and returns b, for chaining.
func (b *Block) Add(name, value string) *Block {
	b.Headers = append(b.Headers, Header{Name: name, Value: value})
	return b
}

// Set replaces the value of the first header called name (case-insensitive)
// and drops any later ones, or appends the header when there is none. It
// returns b.
func (b *Block) Set(name, value string) *Block {
	for i, h := range b.Headers {
		if strings.EqualFold(h.Name, name) {
			b.Headers[i].Value = value
			b.Headers = append(b.Headers[:i+1], deleteHeaders(b.Headers[i+1:], name)...)
			return b
		}
	}
	return b.Add(name, value)
}

// Del removes every header called name (case-insensitive).
func (b *Block) Del(name string) {
	b.Headers = deleteHeaders(b.Headers, name)
}

func deleteHeaders(hs []Header, name string) []Header {
	out := hs[:0]
	for _, h := range hs {
		if !strings.EqualFold(h.Name, name) {
			out = append(out, h)
		}
	}
	return out
}

// ID returns the block's ID header as a number; ok is false when it is
// missing or not a decimal number.
func (b *Block) ID() (id uint32, ok bool) { return b.number(HeaderID) }

// Reference returns the Reference header (the ID of the block this one
// answers); ok is false when it is missing or not a number.
func (b *Block) Reference() (id uint32, ok bool) { return b.number(HeaderReference) }

func (b *Block) number(name string) (uint32, bool) {
	v, ok := b.Lookup(name)
	if !ok || v == "" || v[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err == nil
}

// TypeLine returns the first line of the block without its CRLF.
func (b *Block) TypeLine() string {
	if len(b.Args) == 0 {
		return b.Type
	}
	return b.Type + " " + strings.Join(b.Args, " ")
}

// String summarises the block for logs: the type line, the headers and
// the size of the body (not its content, which may be a login hash or a
// private message).
func (b *Block) String() string {
	var sb strings.Builder
	sb.WriteString(b.TypeLine())
	sb.WriteString(" {")
	for i, h := range b.Headers {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(h.Name)
		sb.WriteString(": ")
		sb.WriteString(h.Value)
	}
	sb.WriteString("}")
	if len(b.Body) > 0 {
		fmt.Fprintf(&sb, " +%d bytes", len(b.Body))
	}
	return sb.String()
}

// Len is the number on the block's length line: every byte after that
// line's CRLF — header lines with their CRLFs, the blank line when it is
// sent, and the body.
func (b *Block) Len() int {
	n := 0
	for _, h := range b.Headers {
		n += len(h.Name) + 2 + len(h.Value) + 2
	}
	if b.Blank || len(b.Body) > 0 {
		n += 2
	}
	return n + len(b.Body)
}

// ErrInvalid is returned by Append and Encode for a block that cannot be
// framed: an empty type, a type or argument with a space, CR or LF where
// it would change the framing, a header name that is empty or holds a
// colon, space or control character, or a header value with CR or LF.
var ErrInvalid = errors.New("imip: block cannot be encoded")

// Validate reports whether the block can be encoded so that a Reader gives
// it back unchanged (header values aside, whose leading spaces and tabs a
// Reader drops).
func (b *Block) Validate() error {
	if !validType(b.Type) {
		return fmt.Errorf("%w: type %q", ErrInvalid, b.Type)
	}
	for _, a := range b.Args {
		if a == "" || hasLineEnd(a) {
			return fmt.Errorf("%w: argument %q of %s", ErrInvalid, a, b.Type)
		}
	}
	// Arguments without spaces or quotes read back as they are: only
	// others take the round trip (and its allocations, for every ACK).
	if slices.ContainsFunc(b.Args, splitsOrQuotes) && !slices.Equal(SplitArgs(strings.Join(b.Args, " ")), b.Args) {
		return fmt.Errorf("%w: arguments %q of %s do not read back the same (spaces or quotes)", ErrInvalid, b.Args, b.Type)
	}
	for _, h := range b.Headers {
		if !validHeaderName(h.Name) {
			return fmt.Errorf("%w: header name %q in %s", ErrInvalid, h.Name, b.Type)
		}
		if hasLineEnd(h.Value) {
			return fmt.Errorf("%w: header %s of %s holds CR or LF", ErrInvalid, h.Name, b.Type)
		}
	}
	return nil
}

// hasLineEnd reports whether s holds a CR or LF (two scans for a byte
// each are faster than strings.ContainsAny's set).
func hasLineEnd(s string) bool {
	return strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\n') >= 0
}

func splitsOrQuotes(arg string) bool {
	return strings.IndexByte(arg, ' ') >= 0 || strings.IndexByte(arg, '"') >= 0
}

// validType: a token without quotes.
func validType(s string) bool {
	return validToken(s) && !strings.Contains(s, `"`)
}

// validToken: non-empty, no spaces or control characters.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7F {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	return validToken(s) && !strings.Contains(s, ":")
}

// Append validates b and appends its encoding to dst: the type line, the
// length line, the headers in order, the blank line (when there is a body
// or Blank is set) and the body. Every line ends in CRLF; the body does
// not.
func (b *Block) Append(dst []byte) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return dst, err
	}
	dst = append(dst, b.Type...)
	for _, a := range b.Args {
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	dst = append(dst, '\r', '\n')
	dst = strconv.AppendInt(dst, int64(b.Len()), 10)
	dst = append(dst, '\r', '\n')
	for _, h := range b.Headers {
		dst = append(dst, h.Name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, h.Value...)
		dst = append(dst, '\r', '\n')
	}
	if b.Blank || len(b.Body) > 0 {
		dst = append(dst, '\r', '\n')
	}
	return append(dst, b.Body...), nil
}

// Encode returns the encoding of b (see Append), in one allocation.
func (b *Block) Encode() ([]byte, error) {
	return b.Append(make([]byte, 0, b.EncodedSize()))
}

// EncodedSize is the length of b's encoding: its type line, its length
// line, and the Len bytes after them.
func (b *Block) EncodedSize() int {
	n := len(b.Type)
	for _, a := range b.Args {
		n += 1 + len(a)
	}
	content := b.Len()
	digits := 1
	for v := content; v >= 10; v /= 10 {
		digits++
	}
	return n + 2 + digits + 2 + content
}

// SplitArgs splits the rest of a type line into arguments at spaces. A
// double quote opens a span, up to the next double quote, in which spaces
// do not split, so `1234567 "Nick Name"` is two arguments; an unclosed
// quote runs to the end of the line. Runs of spaces count as one
// separator.
func SplitArgs(s string) []string {
	var args []string
	start, quoted := -1, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && !quoted {
			if start >= 0 {
				args = append(args, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
		if c == '"' {
			quoted = !quoted
		}
	}
	if start >= 0 {
		args = append(args, s[start:])
	}
	return args
}
