package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestReadPacket(t *testing.T) {
	stream := AppendPacket(nil, TypeWelcome, []byte{0x78, 0x56, 0x34, 0x12})
	stream = AppendPacket(stream, TypeNotify105ListEmpty, nil)
	r := NewReader(bytes.NewReader(stream))
	p, err := r.ReadPacket()
	if err != nil || p.Type != TypeWelcome || !bytes.Equal(p.Body, []byte{0x78, 0x56, 0x34, 0x12}) {
		t.Fatalf("first packet = %v %x, %v", p, p.Body, err)
	}
	p, err = r.ReadPacket()
	if err != nil || p.Type != TypeNotify105ListEmpty || len(p.Body) != 0 {
		t.Fatalf("second packet = %v, %v", p, err)
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestAppendPacketLayout(t *testing.T) {
	got := AppendPacket([]byte{0xAA}, TypeSendMsg110, []byte("hi"))
	want := []byte{0xAA, 0x7D, 0, 0, 0, 2, 0, 0, 0, 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendPacket = % x, want % x", got, want)
	}
}

func TestReadPacketErrors(t *testing.T) {
	full := AppendPacket(nil, TypeRecvMsg110, []byte("hello"))
	tests := []struct {
		name  string
		in    []byte
		max   int
		check func(error) bool
	}{
		{"header cut", full[:5], DefaultMaxBody, func(err error) bool {
			var te *TruncatedError
			return errors.As(err, &te) && te.Header && te.Got == 5 && errors.Is(err, io.ErrUnexpectedEOF)
		}},
		{"body cut", full[:10], DefaultMaxBody, func(err error) bool {
			var te *TruncatedError
			return errors.As(err, &te) && !te.Header && te.Type == TypeRecvMsg110 && te.Want == 5 && te.Got == 2
		}},
		{"too large", full, 4, func(err error) bool {
			var tl *TooLargeError
			return errors.As(err, &tl) && tl.Length == 5 && tl.Max == 4 && tl.Type == TypeRecvMsg110
		}},
		{"huge length", []byte{1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, DefaultMaxBody, func(err error) bool {
			var tl *TooLargeError
			return errors.As(err, &tl) && tl.Length == 0xFFFFFFFF
		}},
		{"negative limit", full, -1, func(err error) bool {
			var tl *TooLargeError
			return errors.As(err, &tl)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in))
			r.MaxBody = tt.max
			_, err := r.ReadPacket()
			if !tt.check(err) {
				t.Fatalf("error = %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestBodyAtLimit(t *testing.T) {
	r := NewReader(bytes.NewReader(AppendPacket(nil, 1, make([]byte, DefaultMaxBody))))
	if p, err := r.ReadPacket(); err != nil || len(p.Body) != DefaultMaxBody {
		t.Fatalf("body of exactly MaxBody: %d bytes, %v", len(p.Body), err)
	}
}

func TestTypeName(t *testing.T) {
	if got := TypeName(TypeEvent110); got != "GG_EVENT110" {
		t.Fatalf("TypeName(0x84) = %q", got)
	}
	if got := TypeName(0x1234); got != "0x1234" {
		t.Fatalf("TypeName(0x1234) = %q", got)
	}
	if got := (Packet{Type: TypeAck110, Body: []byte{1, 2}}).String(); got != "GG_ACK110 (2 bytes)" {
		t.Fatalf("Packet.String = %q", got)
	}
}

// PacketBuffered says whether the next packet waits whole in the buffer:
// not before the first read, nor for a packet cut short, and yes for one
// whose announced length the reader refuses at once.
func TestPacketBuffered(t *testing.T) {
	stream := AppendPacket(AppendPacket(nil, 1, []byte("first")), 2, []byte("second"))
	third := AppendPacket(nil, 3, []byte("third"))
	r := NewReader(bytes.NewReader(append(stream, third[:len(third)-1]...)))
	if r.PacketBuffered() {
		t.Fatal("a packet counted as buffered before anything was read")
	}
	for i, want := range []bool{true, false} {
		if _, err := r.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		if got := r.PacketBuffered(); got != want {
			t.Fatalf("after packet %d: PacketBuffered %v, want %v", i+1, got, want)
		}
	}
	big := NewReader(bytes.NewReader(append(AppendPacket(nil, 1, nil), AppendPacket(nil, 2, make([]byte, 64))[:HeaderSize]...)))
	big.MaxBody = 32
	if _, err := big.ReadPacket(); err != nil || !big.PacketBuffered() {
		t.Fatalf("a header announcing too large a body: buffered %v (%v), want true", big.PacketBuffered(), err)
	}
}
