package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"syscall"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// DefaultMaxBlock bounds the length line (the bytes after it) by default.
// The largest blocks seen are a server LOGN with the whole buddy list in
// one header and long messages; 64 KiB leaves room for both without
// letting a peer make us allocate much.
const DefaultMaxBlock = 64 << 10

// DefaultMaxLine bounds the type line and the length line, CRLF included.
const DefaultMaxLine = 1024

// ErrMalformed is wrapped by every *LengthError and *SyntaxError.
var ErrMalformed = errors.New("imip: malformed block")

// TruncatedError reports a stream that ended inside a block. It unwraps to
// io.ErrUnexpectedEOF.
type TruncatedError struct {
	Type string // "" when the type line itself was cut short
	// Line: the stream ended inside the type line or the length line.
	Line bool
	Want int // bytes the length line announced
	Got  int // of those, bytes that arrived
}

func (e *TruncatedError) Error() string {
	if e.Line {
		if e.Type == "" {
			return "imip: stream ended inside a type line"
		}
		return fmt.Sprintf("imip: stream ended inside the length line of %s", e.Type)
	}
	return fmt.Sprintf("imip: stream ended inside %s (%d of %d bytes)", e.Type, e.Got, e.Want)
}

func (e *TruncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

// TooLargeError reports a length line announcing more than the reader's
// MaxBlock, or a type or length line longer than MaxLine. Nothing after
// it is read, so the stream cannot be used any more.
type TooLargeError struct {
	Type   string // "" for a type line that is too long
	Line   bool   // a line exceeded MaxLine (Max is then MaxLine)
	Length uint64 // the announced length, math.MaxUint64 if it overflows
	Max    int
}

func (e *TooLargeError) Error() string {
	if e.Line {
		if e.Type == "" {
			return fmt.Sprintf("imip: type line longer than %d bytes", e.Max)
		}
		return fmt.Sprintf("imip: length line of %s longer than %d bytes", e.Type, e.Max)
	}
	return fmt.Sprintf("imip: %s block of %d bytes exceeds the limit of %d", e.Type, e.Length, e.Max)
}

// LengthError reports a length line that lies: it is not a decimal number,
// or the bytes it counts end inside a header line (the length is too
// short, or the sender counted without the last CRLF). It wraps
// ErrMalformed.
type LengthError struct {
	Type   string
	Line   string // the length line as sent, without CRLF
	Reason string
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("imip: bad length %q for %s: %s", e.Line, e.Type, e.Reason)
}

func (e *LengthError) Unwrap() error { return ErrMalformed }

// SyntaxError reports a type line or header line that does not parse. In
// the header section it often means a lying length too: a length that is
// too long swallows the next block's type line, which is not a header. It
// wraps ErrMalformed.
type SyntaxError struct {
	Type   string // "" when the type line is at fault
	Line   string // the offending line, without its line end
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("imip: bad type line %q: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("imip: bad header line %q in %s: %s", e.Line, e.Type, e.Reason)
}

func (e *SyntaxError) Unwrap() error { return ErrMalformed }

// Reader decodes blocks from a stream. After any error other than io.EOF
// the stream cannot be trusted any more and the connection should be
// closed.
type Reader struct {
	// MaxBlock is the largest length accepted; NewReader sets
	// DefaultMaxBlock.
	MaxBlock int
	// MaxLine bounds the type and length lines, line end included;
	// NewReader sets DefaultMaxLine.
	MaxLine int

	// br reads through own, unless the reader was made over an
	// idleread.Reader, which it then shares (see idleread.Within).
	br  *idleread.Reader
	own idleread.Reader
}

// NewReader reads blocks from r, buffered; between blocks it holds no
// buffer (see idleread).
func NewReader(r io.Reader) *Reader {
	rd := &Reader{MaxBlock: DefaultMaxBlock, MaxLine: DefaultMaxLine}
	rd.br = idleread.Within(&rd.own, r)
	return rd
}

// Wait blocks until a block may be read, holding no buffer meanwhile
// (see idleread.Reader.Wait).
func (r *Reader) Wait() { r.br.Wait() }

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet (see idleread.Reader.ReadReady).
func (r *Reader) ReadReady(rc syscall.RawConn) bool { return r.br.ReadReady(rc) }

// MayHaveMore reports whether the socket may hold bytes the last read
// left there (see idleread.Reader.MayHaveMore).
func (r *Reader) MayHaveMore() bool { return r.br.MayHaveMore() }

// Buffered returns the number of bytes read from the stream and not yet
// returned in a block.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Release gives the reader's buffer back, for a reader that is done (see
// idleread.Reader.Release).
func (r *Reader) Release() { r.br.Release() }

// BlockBuffered reports whether a whole block waits in the buffer: reading
// it will not wait for the client. A length ReadBlock refuses counts as
// whole, since ReadBlock fails on it at once.
func (r *Reader) BlockBuffered() bool {
	buf, _ := r.br.Peek(r.br.Buffered())
	var line []byte
	for len(line) == 0 { // the empty lines ReadBlock skips
		end := bytes.IndexByte(buf, '\n')
		if end < 0 {
			return false
		}
		line, buf = bytes.TrimSuffix(buf[:end], []byte("\r")), buf[end+1:]
	}
	end := bytes.IndexByte(buf, '\n')
	if end < 0 {
		return false
	}
	n, err := r.parseLength("", bytes.TrimSuffix(buf[:end], []byte("\r")))
	return err != nil || len(buf)-(end+1) >= n
}

// ReadBlock reads the next block. It returns io.EOF only when the stream
// ends cleanly between blocks; other errors are a *TruncatedError, a
// *TooLargeError, a *LengthError, a *SyntaxError or the underlying
// reader's error.
//
// It is lenient where that cannot confuse the framing: empty lines before
// a type line are skipped (a peer that ends its body with CRLF not
// counted in the length), lines may end in a bare LF, runs of spaces in
// the type line count as one, a header may have no space after its colon,
// and header names are kept as sent (look them up with Block.Get, which
// ignores case). The block is freshly allocated and belongs to the caller.
func (r *Reader) ReadBlock() (*Block, error) {
	var line []byte
	for {
		var err error
		line, err = r.readLine("")
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
	}
	b, err := parseTypeLine(line)
	if err != nil {
		return nil, err
	}
	lenLine, err := r.readLine(b.Type)
	if err != nil {
		if err == io.EOF {
			err = &TruncatedError{Type: b.Type, Line: true}
		}
		return nil, err
	}
	n, err := r.parseLength(b.Type, lenLine)
	if err != nil {
		return nil, err
	}
	// The length line, for an error, outlives the read buffer it is in;
	// a usual one is copied on the stack.
	var room [24]byte
	lenLine = append(room[:0], lenLine...)
	buf := make([]byte, n)
	if got, err := io.ReadFull(r.br, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, &TruncatedError{Type: b.Type, Want: n, Got: got}
		}
		return nil, err
	}
	return parseContent(b, buf, lenLine)
}

// readLine reads one line bounded by MaxLine and returns it without its
// LF and one CR before it. A line that was whole in the read buffer is
// returned in it, valid until the next read (as ReadSlice's). io.EOF
// means the stream ended before the line started; a line cut short is a
// *TruncatedError.
func (r *Reader) readLine(typ string) ([]byte, error) {
	max := r.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(long)+len(chunk) > max {
			return nil, &TooLargeError{Type: typ, Line: true, Max: max}
		}
		if err == nil {
			line := chunk
			if long != nil {
				line = append(long, chunk...)
			}
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte{'\r'}), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		if err == io.EOF && (len(chunk) > 0 || len(long) > 0) {
			return nil, &TruncatedError{Type: typ, Line: true}
		}
		return nil, err
	}
}

// parseTypeLine gives the block its type and arguments; parseContent
// allocates it, once it knows how many headers it holds.
func parseTypeLine(line []byte) (Block, error) {
	// A type without arguments, as every MESG and PING is, is the
	// package's own string: no copy of the line, nor a slice of it split.
	for _, t := range bareTypes {
		if string(line) == t {
			return Block{Type: t}, nil
		}
	}
	s := string(line)
	if strings.ContainsAny(s, "\r") {
		return Block{}, &SyntaxError{Line: s, Reason: "carriage return inside the line"}
	}
	f := SplitArgs(s)
	if len(f) == 0 {
		return Block{}, &SyntaxError{Line: s, Reason: "no block type"}
	}
	if !validType(f[0]) {
		return Block{}, &SyntaxError{Line: s, Reason: "block type holds a control character or quote"}
	}
	b := Block{Type: f[0]}
	if len(f) > 1 {
		b.Args = f[1:]
	}
	return b, nil
}

// bareTypes are the block types that come without arguments.
var bareTypes = [...]string{TypeMESG, TypePING, TypeSTAT, TypeHELO, TypeLOGN, TypeDISC}

// parseLength reads a length line: decimal digits between spaces or
// tabs. It reads them byte by byte: trimming with sets of characters
// (strings.Trim) took 2.5 % of the server's CPU from IMIP to MSN.
func (r *Reader) parseLength(typ string, line []byte) (int, error) {
	digits := line
	for len(digits) > 0 && isBlank(digits[0]) {
		digits = digits[1:]
	}
	for len(digits) > 0 && isBlank(digits[len(digits)-1]) {
		digits = digits[:len(digits)-1]
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			digits = nil
			break
		}
		if d := uint64(c - '0'); n <= (math.MaxUint64-d)/10 {
			n = n*10 + d
		} else {
			n = math.MaxUint64 // it overflows
		}
	}
	if len(digits) == 0 {
		return 0, &LengthError{Type: typ, Line: string(line), Reason: "not a decimal number"}
	}
	max := r.MaxBlock
	if max < 0 {
		max = 0
	}
	if n > uint64(max) {
		return 0, &TooLargeError{Type: typ, Length: n, Max: max}
	}
	return int(n), nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// parseContent splits the counted bytes into header lines, the blank line
// and the body, and returns typeLine's block with them.
func parseContent(typeLine Block, buf, lenLine []byte) (*Block, error) {
	// The header lines, up to the blank line or the end of the block, are
	// made one string that the headers' names and values share: one
	// allocation per block rather than one per header.
	lines, headEnd := 0, len(buf)
	for rest := buf; len(rest) > 0; lines++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if len(bytes.TrimSuffix(rest[:i], []byte{'\r'})) == 0 {
			headEnd = len(buf) - len(rest)
			break
		}
		rest = rest[i+1:]
	}
	b := newBlock(typeLine, lines)
	for head := string(buf[:headEnd]); len(head) > 0; {
		i := strings.IndexByte(head, '\n')
		if i < 0 {
			return nil, &LengthError{Type: b.Type, Line: string(lenLine),
				Reason: fmt.Sprintf("the block ends inside the header line %q", head)}
		}
		line := strings.TrimSuffix(head[:i], "\r")
		head = head[i+1:]
		h, err := parseHeader(b.Type, line)
		if err != nil {
			return nil, err
		}
		b.Headers = append(b.Headers, h)
	}
	if headEnd < len(buf) {
		b.Blank = true
		if body := buf[headEnd+bytes.IndexByte(buf[headEnd:], '\n')+1:]; len(body) > 0 {
			b.Body = body
		}
	}
	return b, nil
}

// newBlock allocates b with room for lines headers; the few that most
// blocks carry share its allocation.
func newBlock(b Block, lines int) *Block {
	switch {
	case lines == 0:
		return newCopy(b)
	case lines <= 2:
		withHeaders := &struct {
			Block
			headers [2]Header
		}{Block: b}
		withHeaders.Headers = withHeaders.headers[:0]
		return &withHeaders.Block
	case lines <= 4:
		withHeaders := &struct {
			Block
			headers [4]Header
		}{Block: b}
		withHeaders.Headers = withHeaders.headers[:0]
		return &withHeaders.Block
	}
	b.Headers = make([]Header, 0, lines)
	return newCopy(b)
}

// newCopy is &b without moving b to the heap in newBlock's other cases.
func newCopy(b Block) *Block {
	p := new(Block)
	*p = b
	return p
}

func parseHeader(typ string, s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return Header{}, &SyntaxError{Type: typ, Line: s, Reason: "no colon (or a length that is too long)"}
	case !validHeaderName(name):
		return Header{}, &SyntaxError{Type: typ, Line: s, Reason: "bad header name"}
	case strings.Contains(value, "\r"):
		return Header{}, &SyntaxError{Type: typ, Line: s, Reason: "carriage return inside the value"}
	}
	for value != "" && isBlank(value[0]) { // not strings.TrimLeft, slow with a set
		value = value[1:]
	}
	return Header{Name: name, Value: value}, nil
}
