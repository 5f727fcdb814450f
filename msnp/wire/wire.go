// Package wire reads and writes MSNP command lines and their payloads. It
// keeps no protocol state: the server and client packages decide what a
// command means, this package only frames it, with limits on every size.
package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// Command is one MSNP command as it travels on the wire: a name (three
// upper-case letters, or a three-digit error code), the space-separated
// parameters that follow it, and for payload commands the raw bytes counted
// by the last parameter.
type Command struct {
	Name    string
	Args    []string
	Payload []byte
}

// TrID returns the transaction id, the first parameter, for commands that
// carry one; ok is false when it is missing or not a number.
func (c Command) TrID() (trid string, ok bool) {
	if len(c.Args) == 0 {
		return "", false
	}
	if _, err := strconv.ParseUint(c.Args[0], 10, 32); err != nil {
		return "", false
	}
	return c.Args[0], true
}

// Arg returns parameter i, or "" when there are fewer.
func (c Command) Arg(i int) string {
	if i < len(c.Args) {
		return c.Args[i]
	}
	return ""
}

// String renders the command line without its payload, for logs.
func (c Command) String() string {
	if len(c.Args) == 0 {
		return c.Name
	}
	return c.Name + " " + strings.Join(c.Args, " ")
}

// Framing errors. After any of them the stream cannot be trusted any more
// and the connection should be closed.
var (
	ErrLineTooLong     = errors.New("msnp: command line too long")
	ErrPayloadTooLarge = errors.New("msnp: payload too large")
	ErrBadLength       = errors.New("msnp: payload length is not a number")
	ErrEmptyLine       = errors.New("msnp: empty command line")
)

// Limits bound what a Reader accepts.
type Limits struct {
	MaxLine    int // bytes in one command line, CRLF included
	MaxPayload int // bytes in one payload
}

// DefaultLimits fit every command a real client sends: the longest lines are
// ADD/REA with a 387-byte encoded friendly name; the official switchboard
// refused MSG payloads above 1664 bytes, but clients and the server's own
// profile message may be larger, so payloads get some room.
var DefaultLimits = Limits{MaxLine: 1024, MaxPayload: 8192}

// Reader decodes commands from a stream. Between commands it holds no
// buffer (see idleread): an idle connection costs its reader a few words.
type Reader struct {
	// br reads through own, unless the reader was made over an
	// idleread.Reader, which it then shares (see idleread.Within).
	br  *idleread.Reader
	own idleread.Reader
	// The limits in 32 bits keep the record in the 96-byte size class.
	maxLine, maxPayload int32
	payloads            []string
}

// NewReader reads commands from r. payloadCommands names the commands whose
// last parameter counts payload bytes (MSG and QRY from clients, MSG from
// servers).
func NewReader(r io.Reader, limits Limits, payloadCommands ...string) *Reader {
	rd := &Reader{maxLine: clamp32(limits.MaxLine), maxPayload: clamp32(limits.MaxPayload), payloads: payloadCommands}
	rd.br = idleread.Within(&rd.own, r)
	return rd
}

// clamp32 is n within int32, for a limit no frame comes near.
func clamp32(n int) int32 { return int32(min(n, math.MaxInt32)) }

// Wait blocks until a command may be read, holding no buffer meanwhile
// (see idleread.Reader.Wait).
func (r *Reader) Wait() { r.br.Wait() }

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet (see idleread.Reader.ReadReady).
func (r *Reader) ReadReady(rc syscall.RawConn) bool { return r.br.ReadReady(rc) }

// MayHaveMore reports whether the socket may hold bytes the last read
// left there (see idleread.Reader.MayHaveMore).
func (r *Reader) MayHaveMore() bool { return r.br.MayHaveMore() }

// Buffered returns the number of bytes read from the stream and not yet
// returned in a command.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Release gives the reader's buffer back, for a reader that is done (see
// idleread.Reader.Release).
func (r *Reader) Release() { r.br.Release() }

// CommandBuffered reports whether a whole command, its payload included,
// waits in the buffer: reading it will not wait for the client. A line it
// cannot read the length of counts as whole, since ReadCommand fails on it
// at once.
func (r *Reader) CommandBuffered() bool {
	buf, _ := r.br.Peek(r.br.Buffered())
	end := bytes.IndexByte(buf, '\n')
	if end < 0 {
		return false
	}
	line := bytes.TrimRight(buf[:end], "\r")
	name, _, _ := bytes.Cut(line, []byte(" "))
	if !slices.Contains(r.payloads, string(name)) {
		return true
	}
	last := line[bytes.LastIndexByte(line, ' ')+1:]
	n, err := strconv.Atoi(string(last))
	return err != nil || len(buf)-(end+1) >= n
}

// ReadCommand reads the next command. Lines may end in CRLF or a bare LF;
// runs of spaces count as one separator, as tolerant servers have always
// done for clients that send empty fields or trailing spaces. Blank lines
// return ErrEmptyLine, which callers may skip. A payload command's line and
// payload are one allocation: keeping one of its Args keeps its Payload.
func (r *Reader) ReadCommand() (Command, error) {
	line, err := r.readLine()
	if err != nil {
		return Command{}, err
	}
	// Split where the line lies, until the next read; the fields move to
	// the line's own copy below, made with the payload's room when it has
	// one: an allocation fewer for every message.
	fields := strings.Fields(unsafe.String(unsafe.SliceData(line), len(line)))
	if len(fields) == 0 {
		return Command{}, ErrEmptyLine
	}
	n, err := r.payloadLength(fields)
	var text string
	var payload []byte
	if n >= 0 {
		buf := make([]byte, len(line)+n)
		copy(buf, line)
		text, payload = unsafe.String(unsafe.SliceData(buf), len(line)), buf[len(line):]
	} else {
		text = string(line)
	}
	moveFields(fields, line, text)
	cmd := Command{Name: fields[0], Args: fields[1:], Payload: payload}
	if err != nil {
		return cmd, err
	}
	if payload != nil {
		if _, err := io.ReadFull(r.br, payload); err != nil {
			return cmd, unexpectedEOF(err)
		}
	}
	return cmd, nil
}

// payloadLength is the payload length that a command's last parameter
// counts, -1 when it carries none.
func (r *Reader) payloadLength(fields []string) (int, error) {
	// "ADL trid OK" (MSNP13+) answers a payload command without one.
	if !slices.Contains(r.payloads, fields[0]) || len(fields) < 2 || fields[len(fields)-1] == "OK" {
		return -1, nil
	}
	n, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil || n < 0 {
		return -1, ErrBadLength
	}
	if n > int(r.maxPayload) {
		return -1, ErrPayloadTooLarge
	}
	return n, nil
}

// moveFields points fields, substrings of from, at the same bytes of to,
// from's copy.
func moveFields(fields []string, from []byte, to string) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(from)))
	for i, f := range fields {
		at := int(uintptr(unsafe.Pointer(unsafe.StringData(f))) - base)
		fields[i] = to[at : at+len(f)]
	}
}

// readLine reads a line, without its line end; the bytes are valid until
// the next read.
func (r *Reader) readLine() ([]byte, error) {
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil {
			if len(long)+len(chunk) > int(r.maxLine) {
				return nil, ErrLineTooLong
			}
			if long != nil {
				chunk = append(long, chunk...)
			}
			return bytes.TrimRight(chunk, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > int(r.maxLine) {
				return nil, ErrLineTooLong
			}
			continue
		}
		if len(chunk) > 0 || long != nil {
			return nil, unexpectedEOF(err)
		}
		return nil, err
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendCommand appends one command line, CRLF-terminated, to dst.
func AppendCommand(dst []byte, name string, args ...string) []byte {
	dst = append(dst, name...)
	for _, a := range args {
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	return append(dst, '\r', '\n')
}

// AppendPayloadCommand appends a command whose last parameter is the payload
// length, followed by the payload itself.
func AppendPayloadCommand(dst []byte, name string, payload []byte, args ...string) []byte {
	// Room for it all at once: a relayed message is built here, and
	// growing by appends took three or four allocations where one does.
	n := len(name) + len(" 12345\r\n") + len(payload)
	for _, a := range args {
		n += 1 + len(a)
	}
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	dst = append(dst, name...)
	for _, a := range args {
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, '\r', '\n')
	return append(dst, payload...)
}
