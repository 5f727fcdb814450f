package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in     string
		want   any
		wantID string
	}{
		{`{"type":"login","id":"1","email":"a@b.c","password":"pw"}`, &Login{Type: TypeLogin, ID: "1", Email: "a@b.c", Password: "pw"}, "1"},
		{`{"type":"login","token":"t0k"}`, &Login{Type: TypeLogin, Token: "t0k"}, ""},
		{`{"type":"presence","status":"away","text":"out"}`, &SetPresence{Type: TypePresence, Status: "away", Text: "out"}, ""},
		{`{"type":"send","id":"m1","to":{"number":7},"text":"hi"}`, &Send{Type: TypeSend, ID: "m1", To: Contact{Number: 7}, Text: "hi"}, "m1"},
		{`{"type":"typing","to":{"email":"x@y"},"typing":true}`, &Typing{Type: TypeTyping, To: Contact{Email: "x@y"}, Typing: true}, ""},
		{`{"type":"block","contact":{"nick":"n"}}`, &ListOp{Type: TypeBlock, Contact: Contact{Nick: "n"}}, ""},
		{`{"type":"file_offer","id":"f","to":{"number":2},"name":"a.txt","size":3}`, &FileOffer{Type: TypeFileOffer, ID: "f", To: Contact{Number: 2}, Name: "a.txt", Size: 3}, "f"},
		{`{"type":"ping","id":null}`, &Ping{Type: TypePing}, ""},
		{`{"type":"logout","extra":1}`, &Logout{Type: TypeLogout}, ""},
	}
	for _, tt := range tests {
		got, id, err := Decode([]byte(tt.in), 0)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) || id != tt.wantID {
			t.Errorf("%s: got %#v id %q, want %#v id %q", tt.in, got, id, tt.want, tt.wantID)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	long := strings.Repeat("x", MaxTextBytes+1)
	tests := []struct {
		in     string
		want   error
		wantID string
	}{
		{`not json`, ErrMalformed, ""},
		{`{"type":"dance","id":"d"}`, ErrUnknownType, "d"},
		{`{"type":"login","id":"l","email":"a@b"}`, ErrMalformed, "l"},
		{`{"type":"login","token":"t","password":"p"}`, ErrMalformed, ""},
		{`{"type":"send","id":"s","to":{},"text":"hi"}`, ErrMalformed, "s"},
		{`{"type":"send","to":{"number":1},"text":""}`, ErrMalformed, ""},
		{`{"type":"send","to":{"number":1},"text":"` + long + `"}`, ErrMalformed, ""},
		{`{"type":"send","to":{"number":-1},"text":"x"}`, ErrMalformed, ""},
		{`{"type":"presence","status":"offline"}`, ErrMalformed, ""},
		{`{"type":"file_offer","id":"f","to":{"number":1},"name":"","size":1}`, ErrMalformed, "f"},
		{`{"type":"file_offer","id":"f","to":{"number":1},"name":"a","size":-1}`, ErrMalformed, "f"},
		{`{"type":"ping","id":7}`, ErrMalformed, ""},
		{`{"type":"ping","id":"` + strings.Repeat("i", MaxIDBytes+1) + `"}`, ErrMalformed, ""},
	}
	for _, tt := range tests {
		got, id, err := Decode([]byte(tt.in), 0)
		if !errors.Is(err, tt.want) || got != nil || id != tt.wantID {
			t.Errorf("%.60s: got %v, id %q, %v; want %v, id %q", tt.in, got, id, err, tt.want, tt.wantID)
		}
	}
	if _, _, err := Decode([]byte(`{"type":"ping"}`), 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("frame over the limit: %v, want ErrTooLarge", err)
	}
}

// TestLoginStringHidesSecrets: a login printed in a log or a test
// failure shows no password or token.
func TestLoginStringHidesSecrets(t *testing.T) {
	s := Login{Email: "a@b", Password: "hunter2", Token: "s3cret"}.String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
		t.Errorf("String() = %s", s)
	}
}
