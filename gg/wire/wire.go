// Package wire frames Gadu-Gadu packets and encodes the bodies that are not
// protobuf (those live in package ggpb): packed little-endian structs, the
// UIN encodings, notify lists and the login hashes. It keeps no protocol
// state; the server and client packages decide what a packet means.
//
// Every packet, in both directions, is a little-endian uint32 type, a
// little-endian uint32 body length and the body. Decoders in this package
// never panic on any input: malformed bodies give errors wrapping
// ErrMalformed (or ErrBadUIN).
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"

	"github.com/crosstalk-im/crosstalk/internal/idleread"
)

// HeaderSize is the size of a packet header: type and body length.
const HeaderSize = 8

// DefaultMaxBody bounds packet bodies by default. The official client kept
// messages under about 20 kB; contact-list exports are zlib-compressed, so
// 64 KiB leaves room without letting a peer make us allocate much.
const DefaultMaxBody = 64 << 10

// Packet is one packet as it travels on the wire.
type Packet struct {
	Type uint32
	Body []byte
}

func (p Packet) String() string {
	return fmt.Sprintf("%s (%d bytes)", TypeName(p.Type), len(p.Body))
}

// Errors about bodies. Framing errors are *TruncatedError and *TooLargeError.
var (
	// ErrMalformed: a body does not have the layout its type requires.
	ErrMalformed = errors.New("gg: malformed packet body")
	// ErrBadUIN: a UIN field is not 1–10 decimal digits naming a number in
	// 1..2³²-1 without leading zeros, or its length bytes disagree.
	ErrBadUIN = errors.New("gg: malformed UIN")
)

// TruncatedError reports a stream that ended inside a packet. It unwraps to
// io.ErrUnexpectedEOF.
type TruncatedError struct {
	Type   uint32 // 0 when the header itself was cut short
	Header bool   // the header was cut short
	Want   int    // bytes of the header or body that were expected
	Got    int    // bytes that arrived
}

func (e *TruncatedError) Error() string {
	if e.Header {
		return fmt.Sprintf("gg: stream ended inside a packet header (%d of %d bytes)", e.Got, e.Want)
	}
	return fmt.Sprintf("gg: stream ended inside %s body (%d of %d bytes)", TypeName(e.Type), e.Got, e.Want)
}

func (e *TruncatedError) Unwrap() error { return io.ErrUnexpectedEOF }

// TooLargeError reports a header announcing a body above the reader's limit.
// The body is not read, so the stream cannot be used any more.
type TooLargeError struct {
	Type   uint32
	Length uint32 // announced body length
	Max    int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("gg: %s body of %d bytes exceeds the limit of %d", TypeName(e.Type), e.Length, e.Max)
}

// Reader decodes packets from a stream.
type Reader struct {
	// MaxBody is the largest body accepted; NewReader sets DefaultMaxBody.
	MaxBody int

	// br reads through own, unless the reader was made over an
	// idleread.Reader, which it then shares (see idleread.Within).
	br  *idleread.Reader
	own idleread.Reader
	hdr [HeaderSize]byte
}

// NewReader reads packets from r, buffered; between packets it holds no
// buffer (see idleread).
func NewReader(r io.Reader) *Reader {
	rd := &Reader{MaxBody: DefaultMaxBody}
	rd.br = idleread.Within(&rd.own, r)
	return rd
}

// Wait blocks until a packet may be read, holding no buffer meanwhile
// (see idleread.Reader.Wait).
func (r *Reader) Wait() { r.br.Wait() }

// ReadReady reads what the socket holds without waiting for more: false
// when it holds nothing yet (see idleread.Reader.ReadReady).
func (r *Reader) ReadReady(rc syscall.RawConn) bool { return r.br.ReadReady(rc) }

// MayHaveMore reports whether the socket may hold bytes the last read
// left there (see idleread.Reader.MayHaveMore).
func (r *Reader) MayHaveMore() bool { return r.br.MayHaveMore() }

// Buffered returns the number of bytes read from the stream and not yet
// returned in a packet.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Release gives the reader's buffer back, for a reader that is done (see
// idleread.Reader.Release).
func (r *Reader) Release() { r.br.Release() }

// PacketBuffered reports whether a whole packet waits in the buffer:
// reading it will not wait for the client. A header announcing a body
// above MaxBody counts as whole, since ReadPacket fails on it at once.
func (r *Reader) PacketBuffered() bool {
	buf, _ := r.br.Peek(r.br.Buffered())
	if len(buf) < HeaderSize {
		return false
	}
	length := uint64(binary.LittleEndian.Uint32(buf[4:8]))
	return length > uint64(max(r.MaxBody, 0)) || uint64(len(buf)-HeaderSize) >= length
}

// ReadPacket reads the next packet. It returns io.EOF only when the stream
// ends cleanly between packets. The body is freshly allocated and belongs
// to the caller.
func (r *Reader) ReadPacket() (Packet, error) { return r.readPacket(nil) }

// ReadPacketInto is ReadPacket with the body read into buf, which grows
// when it has not the room: a reader that is done with each packet
// before the next needs no body of its own for each. The body is the
// caller's only until buf is used again.
func (r *Reader) ReadPacketInto(buf []byte) (Packet, error) { return r.readPacket(buf) }

// readPacket reads a packet whose body goes in buf, or, when buf is nil,
// in a body of its own.
func (r *Reader) readPacket(buf []byte) (Packet, error) {
	if n, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return Packet{}, &TruncatedError{Header: true, Want: HeaderSize, Got: n}
		}
		return Packet{}, err
	}
	p := Packet{Type: binary.LittleEndian.Uint32(r.hdr[0:4])}
	length := binary.LittleEndian.Uint32(r.hdr[4:8])
	if uint64(length) > uint64(max(r.MaxBody, 0)) {
		return p, &TooLargeError{Type: p.Type, Length: length, Max: r.MaxBody}
	}
	if buf == nil {
		p.Body = make([]byte, length)
	} else {
		p.Body = slices.Grow(buf[:0], int(length))[:length]
	}
	if n, err := io.ReadFull(r.br, p.Body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return p, &TruncatedError{Type: p.Type, Want: int(length), Got: n}
		}
		return p, err
	}
	return p, nil
}

// AppendPacket appends a packet header and body to dst.
func AppendPacket(dst []byte, typ uint32, body []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, typ)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// malformed builds an ErrMalformed with a description.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
