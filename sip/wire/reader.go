package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// Limits bound what a Reader accepts of one message. A zero field takes
// its default.
type Limits struct {
	// MaxHeaders bounds the header lines (continuations not counted).
	MaxHeaders int
	// MaxHeaderBytes bounds the start line and the header section, line
	// ends included.
	MaxHeaderBytes int
	// MaxBodyBytes bounds Content-Length.
	MaxBodyBytes int
}

// Defaults. pidgin-sipe's largest requests are its REGISTER (about 15
// headers, 2 KiB with an NTLM AUTHENTICATE) and a presence subscription
// naming every contact (about 50 bytes each, 30 KiB for 600 contacts); a
// server's contact list for 600 contacts is about 60 KiB.
const (
	DefaultMaxHeaders     = 64
	DefaultMaxHeaderBytes = 16 << 10
	DefaultMaxBodyBytes   = 128 << 10
)

func (l *Limits) defaults() {
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// ErrMalformed is wrapped by every *SyntaxError.
var ErrMalformed = errors.New("sip: malformed message")

// SyntaxError reports a start line, header line or Content-Length that
// does not parse; the stream cannot be trusted after it.
type SyntaxError struct {
	Line   string // the offending line, cut to 80 bytes
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("sip: %s: %q", e.Reason, e.Line)
}

func (e *SyntaxError) Unwrap() error { return ErrMalformed }

func syntaxError(line, reason string) error {
	if len(line) > 80 {
		line = line[:80]
	}
	return &SyntaxError{Line: line, Reason: reason}
}

// TooLargeError reports a message over one of the Limits; nothing after it
// is read.
type TooLargeError struct {
	What string // "header section", "headers" or "body"
	Max  int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("sip: %s over the limit of %d", e.What, e.Max)
}

// ErrTruncated: the stream ended inside a message. It unwraps to
// io.ErrUnexpectedEOF.
var ErrTruncated = fmt.Errorf("sip: stream ended inside a message: %w", io.ErrUnexpectedEOF)

// Reader reads messages from a stream. Between messages it holds no
// buffer (see idleread): an idle connection costs its reader a few words.
type Reader struct {
	// br reads through own, unless the reader was made over an
	// idleread.Reader, which it then shares (see idleread.Within).
	br  *idleread.Reader
	own idleread.Reader
	lim Limits
	// MessageBuffered's last answer, kept while nothing is read: a
	// server's loop asks before it reads each message and its handler
	// after (offstack, readbatch). It was for a buffer holding
	// checkedAt-1 bytes; 0: none kept.
	checkedAt int32
	whole     bool
}

// NewReader reads from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim.defaults()
	rd := &Reader{lim: lim}
	rd.br = idleread.Within(&rd.own, r)
	return rd
}

// Wait blocks until a message may be read, holding no buffer meanwhile
// where the stream allows (see idleread.Reader.Wait).
func (r *Reader) Wait() {
	r.checkedAt = 0
	r.br.Wait()
}

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet (see idleread.Reader.ReadReady).
func (r *Reader) ReadReady(rc syscall.RawConn) bool {
	r.checkedAt = 0
	return r.br.ReadReady(rc)
}

// MayHaveMore reports whether the socket may hold bytes the last read
// left there (see idleread.Reader.MayHaveMore).
func (r *Reader) MayHaveMore() bool { return r.br.MayHaveMore() }

// Buffered is how many bytes were read from the stream and not yet taken.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Release gives the reader's buffer back, for a reader that is done (see
// idleread.Reader.Release).
func (r *Reader) Release() {
	r.checkedAt = 0
	r.br.Release()
}

// MessageBuffered reports whether the next message waits whole in the
// buffer: reading it will not wait for the client. Line ends where a
// message would start (a keep-alive) count as whole, as ReadMessage takes
// only those buffered; so does a header section with a Content-Length the
// reader refuses, since ReadMessage fails on it before the body. Each
// header line is taken as ReadMessage takes it.
func (r *Reader) MessageBuffered() bool {
	n := r.br.Buffered()
	if int(r.checkedAt) == n+1 {
		return r.whole
	}
	r.whole = r.messageBuffered(n)
	r.checkedAt = int32(n + 1)
	return r.whole
}

// messageBuffered is MessageBuffered for the n bytes buffered.
func (r *Reader) messageBuffered(n int) bool {
	buf, _ := r.br.Peek(n)
	if len(buf) == 0 {
		return false
	}
	if isLineEnd(buf[0]) {
		return true
	}
	length := 0
	for {
		end := bytes.IndexByte(buf, '\n')
		if end < 0 {
			return false // the header section goes on past the buffer
		}
		line := bytes.TrimSuffix(buf[:end], []byte("\r"))
		buf = buf[end+1:]
		if len(line) == 0 {
			return len(buf) >= length
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if ok && (bytes.EqualFold(name, []byte(HeaderContentLength)) || bytes.EqualFold(name, []byte("l"))) {
			n, err := strconv.ParseUint(string(bytes.Trim(value, " \t")), 10, 31)
			if err != nil || int(n) > r.lim.MaxBodyBytes {
				return true
			}
			length = int(n)
		}
	}
}

// ReadMessage returns the next message. A keep-alive (CR and LF bytes
// where a message would start) is returned as a nil message and a nil
// error; it takes the line ends that have arrived, so that one keep-alive
// is reported once. At the end of the stream between messages it returns
// io.EOF; other errors are *SyntaxError, *TooLargeError or ErrTruncated
// (or the stream's own).
func (r *Reader) ReadMessage() (*Message, error) {
	r.checkedAt = 0
	ahead, err := r.br.Peek(1)
	if err != nil {
		return nil, err
	}
	if isLineEnd(ahead[0]) {
		var end [1]byte
		for r.br.Buffered() > 0 {
			if next, _ := r.br.Peek(1); !isLineEnd(next[0]) {
				break
			}
			_, _ = r.br.Read(end[:])
		}
		return nil, nil
	}
	budget := r.lim.MaxHeaderBytes
	first, err := r.readLine(&budget)
	if err != nil {
		return nil, err
	}
	// The lines of a response or a MESSAGE, one of each per message
	// sent, share one allocation with its body, start line included;
	// those of other requests, whose values a server keeps for as long
	// as a registration or a dialog lasts, have one each, so that what is
	// kept holds no more.
	var shared *[]byte
	if token, _, _ := bytes.Cut(first, []byte(" ")); bytes.EqualFold(token, []byte(Version)) || string(token) == MethodMessage {
		head, body := r.bufferedHead(len(first))
		block := make([]byte, 0, head+body)
		shared = &block
	}
	m, err := parseStartLine(lineString(first, shared))
	if err != nil {
		return nil, err
	}
	length := -1
	lastWasLength := false // a continuation cannot fold into Content-Length
	for {
		raw, err := r.readLine(&budget)
		if err != nil {
			return nil, err
		}
		line := lineString(raw, shared)
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.Headers) == 0 || lastWasLength {
				return nil, syntaxError(line, "continuation line without a header")
			}
			h := &m.Headers[len(m.Headers)-1]
			h.Value = strings.TrimSpace(h.Value + " " + strings.TrimSpace(line))
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !isToken(name) {
			return nil, syntaxError(line, "bad header line")
		}
		name = fullName(name)
		value = strings.Trim(value, " \t")
		lastWasLength = strings.EqualFold(name, HeaderContentLength)
		if lastWasLength {
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil || length >= 0 && int(n) != length {
				return nil, syntaxError(line, "bad Content-Length")
			}
			if int(n) > r.lim.MaxBodyBytes {
				return nil, &TooLargeError{What: "body", Max: r.lim.MaxBodyBytes}
			}
			length = int(n)
			continue
		}
		if len(m.Headers) >= r.lim.MaxHeaders {
			return nil, &TooLargeError{What: "headers", Max: r.lim.MaxHeaders}
		}
		m.Headers = append(m.Headers, Header{Name: name, Value: value})
	}
	if length > 0 {
		if shared != nil && cap(*shared)-len(*shared) >= length {
			// Past the lines' bytes, which no one writes to.
			start := len(*shared)
			m.Body = (*shared)[start : start+length : start+length]
		} else {
			m.Body = make([]byte, length)
		}
		if _, err := io.ReadFull(r.br, m.Body); err != nil {
			return nil, truncated(err)
		}
	}
	return m, nil
}

// bufferedHead is room for the lines and the body of the message that
// starts the buffer, whose start line of firstLen bytes was read: the
// size of the rest of its header section when that is buffered whole
// (nearly always), else 512 bytes, enough for most; and the length its
// last header line gives, where pidgin-sipe and Encode write
// Content-Length, else 0. Too little room costs an allocation more.
func (r *Reader) bufferedHead(firstLen int) (head, body int) {
	buf, _ := r.br.Peek(r.br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return firstLen + 512, 0
	}
	last := buf[bytes.LastIndexByte(buf[:end], '\n')+1 : end]
	name, value, _ := bytes.Cut(last, []byte(":"))
	name = bytes.TrimRight(name, " \t")
	if !bytes.EqualFold(name, []byte(HeaderContentLength)) && !bytes.EqualFold(name, []byte("l")) {
		return firstLen + end, 0
	}
	for _, c := range bytes.Trim(value, " \t") {
		if c < '0' || c > '9' || body > r.lim.MaxBodyBytes {
			return firstLen + end, 0
		}
		body = 10*body + int(c-'0')
	}
	return firstLen + end, body
}

func isLineEnd(c byte) bool { return c == '\r' || c == '\n' }

// readLine reads one line without its line end, taking its bytes from
// budget. The bytes are the reader's, valid until its next read.
func (r *Reader) readLine(budget *int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(line)+len(chunk) > *budget {
			return nil, &TooLargeError{What: "header section", Max: r.lim.MaxHeaderBytes}
		}
		if line == nil && err == nil {
			// The whole line was buffered (nearly always): it is copied
			// once, into its string.
			line = chunk
			break
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, truncated(err)
		}
	}
	*budget -= len(line)
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, syntaxError(string(line), "carriage return inside a line")
	}
	return line, nil
}

// lineString copies line to the end of shared, when given, and returns
// that part of it as a string; else it copies it into a string of its
// own. The bytes of shared up to its length are never written again:
// what is appended goes past them, into the array or a new one.
func lineString(line []byte, shared *[]byte) string {
	if shared == nil {
		return string(line)
	}
	if len(line) == 0 {
		return ""
	}
	start := len(*shared)
	*shared = append(*shared, line...)
	return unsafe.String(&(*shared)[start], len(line))
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

func parseStartLine(line string) (*Message, error) {
	first, rest, ok := strings.Cut(line, " ")
	if !ok {
		return nil, syntaxError(line, "bad start line")
	}
	if strings.EqualFold(first, Version) {
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil || len(code) != 3 || n < 100 || n > 699 {
			return nil, syntaxError(line, "bad status line")
		}
		if reason == "" {
			reason = ReasonPhrase(n)
		}
		m := newMessage()
		m.StatusCode, m.Reason = n, reason
		return m, nil
	}
	uri, version, ok := strings.Cut(rest, " ")
	if !ok || !isToken(first) || uri == "" || strings.ContainsAny(uri, " \t") || !strings.EqualFold(version, Version) {
		return nil, syntaxError(line, "bad request line")
	}
	m := newMessage()
	m.Method, m.RequestURI = first, uri
	return m, nil
}

// compact maps the compact header forms (RFC 3261 §7.3.3, RFC 3265) to
// their full names.
var compact = map[string]string{
	"i": HeaderCallID, "m": HeaderContact, "e": "Content-Encoding", "l": HeaderContentLength,
	"c": HeaderContentType, "f": HeaderFrom, "s": "Subject", "k": HeaderSupported,
	"t": HeaderTo, "v": HeaderVia, "o": HeaderEvent, "u": HeaderAllowEvents,
}

func fullName(name string) string {
	if len(name) == 1 {
		if full, ok := compact[strings.ToLower(name)]; ok {
			return full
		}
	}
	return name
}
