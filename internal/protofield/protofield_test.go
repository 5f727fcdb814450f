package protofield

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// message has a field of every kind, a group among them.
func message() []byte {
	var b []byte
	b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), 300)
	b = protowire.AppendFixed32(protowire.AppendTag(b, 2, protowire.Fixed32Type), 7)
	b = protowire.AppendTag(b, 3, protowire.StartGroupType)
	b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), 9)
	b = protowire.AppendTag(b, 3, protowire.EndGroupType)
	b = protowire.AppendFixed64(protowire.AppendTag(b, 4, protowire.Fixed64Type), 1<<40)
	return protowire.AppendString(protowire.AppendTag(b, 5, protowire.BytesType), "hi")
}

func TestEach(t *testing.T) {
	var got []Field
	if err := Each(message(), func(f Field) error { got = append(got, f); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{Num: 1, Type: protowire.VarintType, Value: 300},
		{Num: 2, Type: protowire.Fixed32Type, Value: 7},
		{Num: 4, Type: protowire.Fixed64Type, Value: 1 << 40},
		{Num: 5, Type: protowire.BytesType, Bytes: []byte("hi")},
	}
	if len(got) != len(want) {
		t.Fatalf("fields %+v, want %+v (the group skipped)", got, want)
	}
	for i := range want {
		if got[i].Num != want[i].Num || got[i].Type != want[i].Type || got[i].Value != want[i].Value || !bytes.Equal(got[i].Bytes, want[i].Bytes) {
			t.Errorf("field %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Every cut of a message ends in ErrMalformed, unless it falls between
// fields; fn's own error stops the walk and comes back as it is.
func TestEachErrors(t *testing.T) {
	m := message()
	for n := range len(m) {
		err := Each(m[:n], func(Field) error { return nil })
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v, want ErrMalformed", n, err)
		}
	}
	if err := Each(m[:len(m)-1], func(Field) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Errorf("a string cut short: %v, want ErrMalformed", err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := Each(m, func(Field) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Each = %v after %d calls, want fn's error after the first", err, calls)
	}
}

func FuzzEach(f *testing.F) {
	f.Add(message())
	f.Add([]byte{0x0a, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := Each(msg, func(f Field) error {
			if f.Type == protowire.StartGroupType || f.Type == protowire.EndGroupType {
				t.Fatalf("a group's tag reached fn: %+v", f)
			}
			if len(f.Bytes) > len(msg) {
				t.Fatalf("a field of %d bytes in a message of %d", len(f.Bytes), len(msg))
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
	})
}
