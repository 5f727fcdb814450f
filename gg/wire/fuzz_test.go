package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzReader: framing never panics, respects MaxBody, and the packets it
// returns re-encode to exactly the bytes they were read from, whether
// each has a body of its own or they share one buffer.
func FuzzReader(f *testing.F) {
	f.Add(AppendPacket(AppendPacket(nil, TypeWelcome, []byte{1, 2, 3, 4}), TypePing, nil))
	f.Add([]byte{1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, func(r *Reader) (Packet, error) { return r.ReadPacket() })
		buf := make([]byte, 0, 4)
		fuzzReader(t, data, func(r *Reader) (Packet, error) {
			p, err := r.ReadPacketInto(buf)
			buf = p.Body
			return p, err
		})
	})
}

// fuzzReader reads data with read until it fails, and checks what it
// read.
func fuzzReader(t *testing.T, data []byte, read func(*Reader) (Packet, error)) {
	t.Helper()
	r := NewReader(bytes.NewReader(data))
	r.MaxBody = 1024
	var again []byte
	for {
		p, err := read(r)
		if err != nil {
			var te *TruncatedError
			var tl *TooLargeError
			if err != io.EOF && !errors.As(err, &te) && !errors.As(err, &tl) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			break
		}
		if len(p.Body) > r.MaxBody {
			t.Fatalf("body of %d bytes", len(p.Body))
		}
		again = AppendPacket(again, p.Type, p.Body)
	}
	if !bytes.HasPrefix(data, again) {
		t.Fatalf("re-encoded packets are not a prefix of the input")
	}
}

// FuzzNotifyList: any list that parses re-encodes to a list that parses to
// the same contacts.
func FuzzNotifyList(f *testing.F) {
	f.Add([]byte{0x00, 0x04, 0x35, 0x36, 0x37, 0x38, 0x03})
	f.Add(AppendNotifyEntry(AppendNotifyEntry(nil, Contact{1, 1}), Contact{4294967295, 4}))
	f.Add([]byte{0x00, 0x81, 0x00, '1', 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseNotifyList(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadUIN) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrBadUIN", err)
			}
			return
		}
		var body []byte
		for _, c := range list {
			if c.UIN == 0 {
				t.Fatal("UIN 0 accepted")
			}
			body = AppendNotifyEntry(body, c)
		}
		again, err := ParseNotifyList(body)
		if err != nil || !reflect.DeepEqual(again, list) {
			t.Fatalf("round trip: %v, %v vs %v", err, again, list)
		}
		if len(list) == 1 {
			if c, err := ParseNotifyEntry(data); err != nil || c != list[0] {
				t.Fatalf("ParseNotifyEntry = %v, %v", c, err)
			}
		}
	})
}

// FuzzUIN runs the three UIN decoders and the packed uint reader on the
// same input: no panics, and whatever decodes re-encodes to the same UIN.
func FuzzUIN(f *testing.F) {
	f.Add([]byte{0x01, 4, '5', '6', '7', '8'})
	f.Add([]byte{0x00, 4, '5', '6', '7', '8'})
	f.Add([]byte{6, 0, 4, '5', '6', '7', '8'})
	f.Add([]byte{0x00, 10, '4', '2', '9', '4', '9', '6', '7', '2', '9', '6'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if uin, magic, err := ParseProtoUIN(data); err == nil {
			if !bytes.Equal(AppendProtoUIN(nil, magic, uin), data) {
				t.Fatalf("proto UIN %d does not re-encode to % x", uin, data)
			}
		} else if !errors.Is(err, ErrBadUIN) {
			t.Fatalf("proto: %v", err)
		}
		if uin, n, err := ParseListUIN(data); err == nil {
			if n > len(data) {
				t.Fatalf("list UIN took %d of %d bytes", n, len(data))
			}
			if back, _, err := ParseListUIN(AppendListUIN(nil, uin)); err != nil || back != uin {
				t.Fatalf("list UIN %d: %d, %v", uin, back, err)
			}
		} else if !errors.Is(err, ErrBadUIN) {
			t.Fatalf("list: %v", err)
		}
		if uin, n, err := ParseTVUIN(data); err == nil {
			if n > len(data) {
				t.Fatalf("tv UIN took %d of %d bytes", n, len(data))
			}
			if back, _, err := ParseTVUIN(AppendTVUIN(nil, uin)); err != nil || back != uin {
				t.Fatalf("tv UIN %d: %d, %v", uin, back, err)
			}
		} else if !errors.Is(err, ErrBadUIN) {
			t.Fatalf("tv: %v", err)
		}
		if v, n, err := ReadPackedUint(data); err == nil {
			if n > MaxPackedUintLen || n > len(data) {
				t.Fatalf("packed uint took %d bytes", n)
			}
			if back, _, _ := ReadPackedUint(AppendPackedUint(nil, v)); back != v {
				t.Fatalf("packed uint %d came back as %d", v, back)
			}
		}
	})
}

func FuzzWelcome(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWelcome(data)
		if err == nil && !bytes.Equal(AppendWelcome(nil, w), data) {
			t.Fatalf("welcome % x re-encodes differently", data)
		}
	})
}

// FuzzContactStatus covers NOTIFY_REPLY80 (many records) and STATUS80 (one).
func FuzzContactStatus(f *testing.F) {
	f.Add(AppendContactStatus(nil, ContactStatus{UIN: 5678, Status: StatusAvailDescr, Description: "opis"}))
	f.Add(AppendContactStatus(AppendContactStatus(nil, ContactStatus{UIN: 1}), ContactStatus{UIN: 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseContactStatuses(data)
		if err != nil {
			return
		}
		var body []byte
		for _, s := range list {
			body = AppendContactStatus(body, s)
		}
		if len(body) != len(data) {
			t.Fatalf("re-encoded to %d bytes, read %d", len(body), len(data))
		}
		again, err := ParseContactStatuses(body)
		if err != nil || !reflect.DeepEqual(again, list) {
			t.Fatalf("round trip: %v", err)
		}
		one, err := ParseContactStatus(data)
		if (err == nil) != (len(list) == 1) || err == nil && one != list[0] {
			t.Fatalf("ParseContactStatus = %+v, %v for %d records", one, err, len(list))
		}
	})
}

func FuzzNewStatus(f *testing.F) {
	f.Add(AppendNewStatus(nil, NewStatus{Status: StatusBusyDescr, Flags: NewStatusFlagsGG11, Description: "zajęty"}))
	f.Add([]byte{2, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseNewStatus(data)
		if err != nil {
			return
		}
		again, err := ParseNewStatus(AppendNewStatus(nil, s))
		if err != nil || again != s {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}

func FuzzTyping(f *testing.F) {
	f.Add([]byte{0x0f, 0x00, 0x2e, 0x16, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, err := ParseTyping(data)
		if err == nil && !bytes.Equal(AppendTyping(nil, tp), data) {
			t.Fatalf("typing % x re-encodes differently", data)
		}
	})
}

// FuzzUserlist100 decodes request/reply headers and inflates their data
// with a small limit.
func FuzzUserlist100(f *testing.F) {
	f.Add(AppendUserlist100(nil, Userlist100{Type: UserlistPut, Version: 3, Format: UserlistFormatGG100, Data: DeflateUserlist([]byte("<x/>"))}))
	f.Add([]byte{UserlistGet, 0, 0, 0, 0, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUserlist100(data)
		if err != nil {
			return
		}
		again, err := ParseUserlist100(AppendUserlist100(nil, u))
		if err != nil || !reflect.DeepEqual(again, u) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
		if out, err := InflateUserlist(u.Data, 4096); err == nil && len(out) > 4096 {
			t.Fatalf("inflated %d bytes past the limit", len(out))
		}
	})
}

func FuzzUserlistVersion(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseUserlistVersion(data)
		if err == nil && !bytes.Equal(AppendUserlistVersion(nil, v), data) {
			t.Fatalf("version % x re-encodes differently", data)
		}
	})
}

func FuzzSendMsgAck(f *testing.F) {
	f.Add(AppendSendMsgAck(nil, SendMsgAck{Status: AckMailboxFull, Recipient: 1002, Seq: 7}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParseSendMsgAck(body)
		if err != nil {
			return
		}
		if got := AppendSendMsgAck(nil, a); string(got) != string(body) {
			t.Fatalf("round trip: %x → %+v → %x", body, a, got)
		}
	})
}
