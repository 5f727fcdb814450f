package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestProtoUIN(t *testing.T) {
	got := AppendProtoUIN(nil, UINMagicClient, 5678)
	if want := []byte{0x01, 4, '5', '6', '7', '8'}; !bytes.Equal(got, want) {
		t.Fatalf("AppendProtoUIN = % x, want % x", got, want)
	}
	uin, magic, err := ParseProtoUIN(got)
	if err != nil || uin != 5678 || magic != UINMagicClient {
		t.Fatalf("ParseProtoUIN = %d, %d, %v", uin, magic, err)
	}
	max := AppendProtoUIN(nil, UINMagicServer, 4294967295)
	if uin, magic, err := ParseProtoUIN(max); err != nil || uin != 4294967295 || magic != 0 {
		t.Fatalf("max UIN: %d, %d, %v", uin, magic, err)
	}
	for _, bad := range [][]byte{
		nil,
		{0},
		{0, 0},                     // no digits
		{0, 5, '1', '2', '3', '4'}, // length byte too big
		{0, 3, '1', '2', '3', '4'}, // trailing byte
		{0, 2, '0', '1'},           // leading zero
		{0, 1, '0'},                // zero
		{0, 2, '1', 'x'},           // not a digit
		append([]byte{0, 11}, "12345678901"...),
		append([]byte{0, 10}, "4294967296"...), // 2³²
	} {
		if _, _, err := ParseProtoUIN(bad); !errors.Is(err, ErrBadUIN) {
			t.Errorf("ParseProtoUIN(% x) error = %v, want ErrBadUIN", bad, err)
		}
	}
}

func TestListUIN(t *testing.T) {
	got := AppendListUIN([]byte{0xEE}, 5678)
	if want := []byte{0xEE, 0, 4, '5', '6', '7', '8'}; !bytes.Equal(got, want) {
		t.Fatalf("AppendListUIN = % x, want % x", got, want)
	}
	uin, n, err := ParseListUIN(append(got[1:], 0x03))
	if err != nil || uin != 5678 || n != 6 {
		t.Fatalf("ParseListUIN = %d, %d, %v", uin, n, err)
	}
	for _, bad := range [][]byte{
		nil,
		{1, 1, '1'},      // no 0x00
		{0},              // no length
		{0, 0x80},        // length cut
		{0, 3, '1', '2'}, // digits cut
		{0, 11, '1'},     // too many digits announced
		{0, 1, 'a'},      // not a digit
	} {
		if _, _, err := ParseListUIN(bad); !errors.Is(err, ErrBadUIN) {
			t.Errorf("ParseListUIN(% x) error = %v, want ErrBadUIN", bad, err)
		}
	}
}

func TestTVUIN(t *testing.T) {
	got := AppendTVUIN(nil, 123)
	if want := []byte{5, 0, 3, '1', '2', '3'}; !bytes.Equal(got, want) {
		t.Fatalf("AppendTVUIN = % x, want % x", got, want)
	}
	uin, n, err := ParseTVUIN(append(got, 0xFF))
	if err != nil || uin != 123 || n != 6 {
		t.Fatalf("ParseTVUIN = %d, %d, %v", uin, n, err)
	}
	for _, bad := range [][]byte{
		nil,
		{5},
		{5, 0},
		{5, 1, 3, '1', '2', '3'}, // type not 0
		{6, 0, 3, '1', '2', '3'}, // full length disagrees
		{5, 0, 3, '1', '2'},      // digits cut
	} {
		if _, _, err := ParseTVUIN(bad); !errors.Is(err, ErrBadUIN) {
			t.Errorf("ParseTVUIN(% x) error = %v, want ErrBadUIN", bad, err)
		}
	}
}

func TestPackedUint(t *testing.T) {
	// libgadu's documentation: 12345 is stored as the bytes B9 60.
	if got := AppendPackedUint(nil, 12345); !bytes.Equal(got, []byte{0xB9, 0x60}) {
		t.Fatalf("AppendPackedUint(12345) = % x", got)
	}
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<32 - 1, 1<<63 - 1} {
		b := AppendPackedUint(nil, v)
		got, n, err := ReadPackedUint(append(b, 0x55))
		if err != nil || got != v || n != len(b) {
			t.Errorf("round trip %d: % x → %d, %d, %v", v, b, got, n, err)
		}
	}
	if _, _, err := ReadPackedUint(AppendPackedUint(nil, 1<<63)); !errors.Is(err, ErrMalformed) {
		t.Errorf("10-byte packed uint: %v, want ErrMalformed", err)
	}
	if _, _, err := ReadPackedUint([]byte{0x80, 0x80}); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut packed uint: %v, want ErrMalformed", err)
	}
	if _, _, err := ReadPackedUint(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty packed uint: %v, want ErrMalformed", err)
	}
}
