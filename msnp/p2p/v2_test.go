package p2p

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex reads hex written with spaces and | between fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The known answers are written by hand from the layout in v2.go (header,
// header TLVs, data header, data TLVs, data, footer).
func TestParseV2KnownAnswers(t *testing.T) {
	t.Run("ack", func(t *testing.T) {
		b := unhex(t, "10 00 0000 0000000a | 02 04 00000123 0000 | 00000000")
		m, err := ParseV2(b)
		if err != nil {
			t.Fatal(err)
		}
		if ack, ok := m.Ack(); m.Op != 0 || m.Seq != 10 || m.Payload != nil || !ok || ack != 0x123 || m.Length() != 0 {
			t.Fatalf("%+v", m)
		}
		checkWrites(t, m, b)
	})
	t.Run("last file chunk", func(t *testing.T) {
		b := unhex(t, "08 02 000d 00000100 | 08 06 0002 00000007 | 68656c6c6f | 00000002")
		m, err := ParseV2(b)
		if err != nil {
			t.Fatal(err)
		}
		p := m.Payload
		if m.Op != OpRAK || m.Seq != 0x100 || len(m.TLVs) != 0 || p == nil || p.TF != TFFile || p.PackageNumber != 2 ||
			p.SessionID != 7 || string(p.Data) != "hello" || m.AppID != AppFile || m.Remaining() != 0 || m.Length() != 13 {
			t.Fatalf("%+v %+v", m, p)
		}
		checkWrites(t, m, b)
		ack, err := AckV2(m, 77).AppendV2(nil)
		if want := unhex(t, "10 00 0000 0000004d | 02 04 0000010d 0000 | 00000000"); err != nil || !bytes.Equal(ack, want) {
			t.Fatalf("ack % x, %v", ack, err)
		}
	})
	t.Run("first SLP chunk with peer info", func(t *testing.T) {
		b := unhex(t, "18 03 0018 00000001 | 01 0c 0200 0000 0e00 0000 0000010f 0000 |"+
			" 14 01 0001 00000000 | 01 08 0000000000000010 0000 | 41424344 | 00000000")
		m, err := ParseV2(b)
		if err != nil {
			t.Fatal(err)
		}
		info := Find(m.TLVs, TLVPeerInfo)
		if m.Op != OpSYN|OpRAK || len(info) != 12 || info[0] != 2 || info[11] != 0x0f || m.Payload == nil ||
			m.Payload.TF != TFFirst || m.Payload.SessionID != 0 || string(m.Payload.Data) != "ABCD" || m.Remaining() != 16 {
			t.Fatalf("%+v %+v", m, m.Payload)
		}
		checkWrites(t, m, b)
	})
}

func checkWrites(t *testing.T, m MessageV2, want []byte) {
	t.Helper()
	got, err := m.AppendV2(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("wrote % x, %v\nwant  % x", got, err, want)
	}
}

func TestParseV2Rejects(t *testing.T) {
	for name, tc := range map[string]struct {
		hex  string
		want error
	}{
		"short":               {"08 00 0000 00000000 | 000000", ErrShortV2},
		"header under 8":      {"04 00 0000 00000000 | 00000000", ErrHeaderV2},
		"length past the end": {"08 00 0009 00000000 | 08 00 0000 00000000 | 00000000", ErrShortV2},
		"data header under 8": {"08 00 0008 00000000 | 04 00 0000 00000000 | 00000000", ErrHeaderV2},
		"data header too big": {"08 00 0008 00000000 | 0c 00 0000 00000000 | 00000000", ErrHeaderV2},
		"TLV past its header": {"0c 00 0000 00000000 | 02 04 0000 | 00000000", ErrTLV},
		"junk after padding":  {"10 00 0000 00000000 | 02 02 0000 00 01 0000 | 00000000", ErrTLV},
	} {
		if _, err := ParseV2(unhex(t, tc.hex)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestAppendV2Limits(t *testing.T) {
	big := MessageV2{Payload: &DataV2{Data: make([]byte, 0x10000)}}
	if _, err := big.AppendV2(nil); !errors.Is(err, ErrLongV2) {
		t.Fatalf("64 KiB payload: %v", err)
	}
	zero := MessageV2{TLVs: []TLV{{Type: 0, Value: []byte{1}}}}
	if _, err := zero.AppendV2(nil); !errors.Is(err, ErrLongV2) {
		t.Fatalf("type 0 TLV: %v", err)
	}
	var many []TLV
	for range 20 {
		many = append(many, TLV{Type: 9, Value: make([]byte, 12)})
	}
	if _, err := (MessageV2{TLVs: many}).AppendV2(nil); !errors.Is(err, ErrLongV2) {
		t.Fatalf("header of 288 bytes: %v", err)
	}
}

func TestDestinationEndpoints(t *testing.T) {
	body, err := AckV2(MessageV2{Seq: 1}, 2).AppendV2(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := PayloadFrom("alice@example.com;{A}", "bob@example.com;{B}", body)
	if !strings.Contains(string(p), "\r\nP2P-Src: alice@example.com;{A}\r\nP2P-Dest: bob@example.com;{B}\r\n\r\n") {
		t.Fatalf("%q", p)
	}
	if email, ep, ok := Destination(p); !ok || email != "bob@example.com" || ep != "{B}" {
		t.Fatalf("%q %q %v", email, ep, ok)
	}
	if !bytes.HasSuffix(p, body) {
		t.Fatal("body changed")
	}
	if email, ep, ok := Destination(Payload("carol@example.com", Message{})); !ok || email != "carol@example.com" || ep != "" {
		t.Fatalf("v1: %q %q %v", email, ep, ok)
	}
	if _, _, ok := Destination([]byte("MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi")); ok {
		t.Fatal("text taken for P2P")
	}
}
