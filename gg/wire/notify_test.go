package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestParseNotifyList(t *testing.T) {
	// Captured from libgadu: UIN 5678, type 3.
	list, err := ParseNotifyList([]byte{0x00, 0x04, 0x35, 0x36, 0x37, 0x38, 0x03})
	if err != nil || !reflect.DeepEqual(list, []Contact{{UIN: 5678, Type: UserNormal}}) {
		t.Fatalf("ParseNotifyList = %v, %v", list, err)
	}
	want := []Contact{{1, UserNormal}, {4294967295, UserBlocked}, {42, UserOffline}}
	var body []byte
	for _, c := range want {
		body = AppendNotifyEntry(body, c)
	}
	if got, err := ParseNotifyList(body); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	if got, err := ParseNotifyList(nil); err != nil || got != nil {
		t.Fatalf("empty list = %v, %v", got, err)
	}
	if _, err := ParseNotifyList(body[:len(body)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("missing type byte: %v", err)
	}
	if _, err := ParseNotifyList(append(body, 0x01)); !errors.Is(err, ErrBadUIN) {
		t.Fatalf("garbage entry: %v", err)
	}
}

func TestParseNotifyEntry(t *testing.T) {
	one := AppendNotifyEntry(nil, Contact{UIN: 77, Type: UserBlocked})
	if c, err := ParseNotifyEntry(one); err != nil || c != (Contact{77, UserBlocked}) {
		t.Fatalf("ParseNotifyEntry = %v, %v", c, err)
	}
	for _, bad := range [][]byte{nil, append(one, one...)} {
		if _, err := ParseNotifyEntry(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseNotifyEntry(% x) = %v", bad, err)
		}
	}
}

func TestNotifyChunks(t *testing.T) {
	if NotifyChunks(nil) != nil {
		t.Fatal("chunks of an empty list")
	}
	// 1000 ten-digit UINs take 13 bytes each: 157 fit in 2048 bytes.
	var list []Contact
	for i := range 1000 {
		list = append(list, Contact{UIN: 1000000000 + uint32(i), Type: UserNormal})
	}
	chunks := NotifyChunks(list)
	var all []Contact
	for i, ch := range chunks {
		if len(ch) > MaxNotifyChunk {
			t.Fatalf("chunk %d has %d bytes", i, len(ch))
		}
		if i < len(chunks)-1 && len(ch) != 157*13 {
			t.Fatalf("chunk %d has %d bytes, want %d", i, len(ch), 157*13)
		}
		part, err := ParseNotifyList(ch)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, part...)
	}
	if !reflect.DeepEqual(all, list) || len(chunks) != 7 {
		t.Fatalf("%d chunks, %d contacts back", len(chunks), len(all))
	}
	if got := NotifyChunks(list[:1]); len(got) != 1 || !bytes.Equal(got[0], AppendNotifyEntry(nil, list[0])) {
		t.Fatalf("one contact: % x", got)
	}
}
