package wire

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode: decoding never panics, fails only with its own errors,
// respects the frame limit, and whatever it accepts encodes and decodes
// back to the same request.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"login","id":"1","email":"a@b.c","password":"pw"}`,
		`{"type":"login","token":"t"}`,
		`{"type":"presence","status":"busy","text":"x"}`,
		`{"type":"send","id":"m","to":{"number":7},"text":"hi \u0000 <b>"}`,
		`{"type":"typing","to":{"email":"x@y"},"typing":true}`,
		`{"type":"accept","contact":{"number":3}}`,
		`{"type":"file_offer","id":"f","to":{"nick":"n"},"name":"a.txt","size":3}`,
		`{"type":"ping","id":"p"}`, `{"type":"logout"}`, `{"type":1}`, `[]`, `{"id":{}}`,
	} {
		f.Add([]byte(s))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, id, err := Decode(data, limit)
		if err != nil {
			if msg != nil {
				t.Fatalf("message %v with error %v", msg, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %T: %v", err, err)
			}
			return
		}
		if len(data) > limit || len(id) > MaxIDBytes {
			t.Fatalf("accepted %d bytes, id of %d", len(data), len(id))
		}
		enc, err := Encode(msg)
		if err != nil {
			t.Fatalf("encode %#v: %v", msg, err)
		}
		again, id2, err := Decode(enc, 0)
		if err != nil || id2 != id || !reflect.DeepEqual(again, msg) {
			t.Fatalf("round trip of %#v: %#v, id %q/%q, %v", msg, again, id, id2, err)
		}
	})
}

// FuzzDecodeServer: what clients read from a server never panics and
// fails only with the package's errors.
func FuzzDecodeServer(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","id":"1","account":{"number":1},"max_frame":10}`,
		`{"type":"contacts","contacts":[{"number":2,"status":"online","lists":["FL"]}]}`,
		`{"type":"message","from":{"number":2},"text":"x","sent":"2026-12-07T10:00:00Z","offline":true}`,
		`{"type":"file","from":{"number":2},"ticket":"t","name":"n","size":1,"url":"http://h/link/t"}`,
		`{"type":"error","code":"x"}`, `{"type":"bye","reason":"r"}`, `{"type":"message","sent":"never"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeServer(data)
		if err != nil && (msg != nil || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType)) {
			t.Fatalf("%#v, %v", msg, err)
		}
		if err == nil && msg == nil {
			t.Fatal("no message and no error")
		}
	})
}
