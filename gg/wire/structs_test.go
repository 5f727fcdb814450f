package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const polish = "Zażółć gęślą jaźń"

func TestWelcome(t *testing.T) {
	body := AppendWelcome(nil, Welcome{Seed: 0x12345678})
	if !bytes.Equal(body, []byte{0x78, 0x56, 0x34, 0x12}) {
		t.Fatalf("AppendWelcome = % x", body)
	}
	if w, err := ParseWelcome(body); err != nil || w.Seed != 0x12345678 {
		t.Fatalf("ParseWelcome = %v, %v", w, err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := ParseWelcome(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseWelcome(% x) = %v", bad, err)
		}
	}
}

func TestContactStatus(t *testing.T) {
	s := ContactStatus{UIN: 5678, Status: StatusBusyDescr, Features: 0x10, RemoteIP: [4]byte{127, 0, 0, 1},
		RemotePort: 1550, ImageSize: 255, Flags: 0x80, Description: polish}
	body := AppendContactStatus(nil, s)
	want := []byte{
		0x2e, 0x16, 0, 0, // uin 5678
		0x05, 0, 0, 0, // status
		0x10, 0, 0, 0, // features
		127, 0, 0, 1, // remote ip
		0x0e, 0x06, // port 1550
		255, 0, // image size, zero byte
		0x80, 0, 0, 0, // flags
		byte(len(polish)), 0, 0, 0,
	}
	if !bytes.Equal(body, append(want, polish...)) {
		t.Fatalf("AppendContactStatus = % x", body)
	}
	got, err := ParseContactStatus(body)
	if err != nil || got != s {
		t.Fatalf("ParseContactStatus = %+v, %v", got, err)
	}
	two := AppendContactStatus(body, ContactStatus{UIN: 1, Status: StatusAvail})
	list, err := ParseContactStatuses(two)
	if err != nil || len(list) != 2 || list[0] != s || list[1].UIN != 1 || list[1].Description != "" {
		t.Fatalf("ParseContactStatuses = %+v, %v", list, err)
	}
	if _, err := ParseContactStatus(two); !errors.Is(err, ErrMalformed) {
		t.Errorf("two records as STATUS80: %v", err)
	}
	for _, bad := range [][]byte{nil, body[:27], body[:len(body)-1], append(append([]byte{}, body...), 0)} {
		if _, err := ParseContactStatuses(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseContactStatuses(%d bytes) = %v", len(bad), err)
		}
	}
}

func TestNewStatus(t *testing.T) {
	s := NewStatus{Status: StatusAvailDescr | StatusDescrMask, Flags: NewStatusFlagsGG11, Description: polish}
	body := AppendNewStatus(nil, s)
	if len(body) != 12+len(polish)+1 || body[len(body)-1] != 0 || body[8] != byte(len(polish)) {
		t.Fatalf("AppendNewStatus = % x", body)
	}
	if got, err := ParseNewStatus(body); err != nil || got != s {
		t.Fatalf("ParseNewStatus = %+v, %v", got, err)
	}
	if got, err := ParseNewStatus(body[:len(body)-1]); err != nil || got != s {
		t.Fatalf("without the NUL: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, body[:11], body[:12+3], append(append([]byte{}, body...), 0), append(body[:len(body)-1:len(body)-1], 'x')} {
		if _, err := ParseNewStatus(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseNewStatus(% x) = %v", bad, err)
		}
	}
}

func TestTyping(t *testing.T) {
	// Captured from libgadu: 15 characters typed to 5678.
	captured := []byte{0x0f, 0x00, 0x2e, 0x16, 0x00, 0x00}
	tp, err := ParseTyping(captured)
	if err != nil || tp != (Typing{Length: 15, UIN: 5678}) {
		t.Fatalf("ParseTyping = %+v, %v", tp, err)
	}
	if got := AppendTyping(nil, tp); !bytes.Equal(got, captured) {
		t.Fatalf("AppendTyping = % x", got)
	}
	if _, err := ParseTyping(captured[:5]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short typing: %v", err)
	}
}

func TestSendMsgAck(t *testing.T) {
	// Queued for 5678, sequence number 3: the layout libgadu reads.
	body := []byte{0x03, 0, 0, 0, 0x2e, 0x16, 0, 0, 0x03, 0, 0, 0}
	a, err := ParseSendMsgAck(body)
	if err != nil || a != (SendMsgAck{Status: AckQueued, Recipient: 5678, Seq: 3}) {
		t.Fatalf("ParseSendMsgAck = %+v, %v", a, err)
	}
	if got := AppendSendMsgAck(nil, a); !bytes.Equal(got, body) {
		t.Fatalf("AppendSendMsgAck = % x", got)
	}
	for _, bad := range [][]byte{nil, body[:11], append(append([]byte{}, body...), 0)} {
		if _, err := ParseSendMsgAck(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSendMsgAck(% x) = %v", bad, err)
		}
	}
}

func TestUserlist100(t *testing.T) {
	list := []byte("<ContactBook><Contacts><Contact><Guid>1</Guid><ShowName>" + polish + "</ShowName></Contact></Contacts></ContactBook>")
	u := Userlist100{Type: UserlistPut, Version: 7, Format: UserlistFormatGG100, Data: DeflateUserlist(list)}
	body := AppendUserlist100(nil, u)
	if !bytes.Equal(body[:7], []byte{0x00, 7, 0, 0, 0, 0x02, 0x01}) {
		t.Fatalf("header = % x", body[:7])
	}
	got, err := ParseUserlist100(body)
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("ParseUserlist100 = %+v, %v", got, err)
	}
	plain, err := InflateUserlist(got.Data, len(list))
	if err != nil || !bytes.Equal(plain, list) {
		t.Fatalf("InflateUserlist = %q, %v", plain, err)
	}
	if _, err := InflateUserlist(got.Data, len(list)-1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := InflateUserlist([]byte("not zlib"), 100); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := InflateUserlist(got.Data[:len(got.Data)-2], 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cut stream: %v", err)
	}
	get, err := ParseUserlist100([]byte{UserlistGet, 0, 0, 0, 0, 2, 1})
	if err != nil || get.Type != UserlistGet || get.Data != nil {
		t.Fatalf("GET request = %+v, %v", get, err)
	}
	if _, err := ParseUserlist100(body[:6]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short header: %v", err)
	}
}

func TestUserlistVersion(t *testing.T) {
	body := AppendUserlistVersion(nil, UserlistVersion{Version: 0x01020304})
	if v, err := ParseUserlistVersion(body); err != nil || v.Version != 0x01020304 {
		t.Fatalf("ParseUserlistVersion = %v, %v", v, err)
	}
	if _, err := ParseUserlistVersion(body[:3]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
}

func TestStatusHelpers(t *testing.T) {
	cases := []struct {
		in       uint32
		base     uint32
		hasDescr bool
		descr    uint32
	}{
		{StatusAvail, StatusAvail, false, StatusAvailDescr},
		{StatusBusyDescr | StatusDescrMask | StatusFriendsMask, StatusBusy, true, StatusBusyDescr},
		{StatusNotAvailDescr, StatusNotAvail, true, StatusNotAvailDescr},
		{StatusDND | StatusDescrMask, StatusDND, true, StatusDNDDescr},
		{StatusBlocked, StatusBlocked, false, StatusBlocked},
	}
	for _, c := range cases {
		if got := StatusBase(c.in); got != c.base {
			t.Errorf("StatusBase(%#x) = %#x, want %#x", c.in, got, c.base)
		}
		if got := StatusHasDescr(c.in); got != c.hasDescr {
			t.Errorf("StatusHasDescr(%#x) = %v", c.in, got)
		}
		if got := StatusWithDescr(c.in, true); got != c.descr {
			t.Errorf("StatusWithDescr(%#x, true) = %#x, want %#x", c.in, got, c.descr)
		}
		if got := StatusWithDescr(c.in, false); got != c.base {
			t.Errorf("StatusWithDescr(%#x, false) = %#x", c.in, got)
		}
	}
	if !StatusOffline(StatusNotAvailDescr) || StatusOffline(StatusInvisible) {
		t.Error("StatusOffline")
	}
}

func TestLoginFailed80Body(t *testing.T) {
	if got := LoginFailed80Body(); !bytes.Equal(got, []byte{1, 0, 0, 0}) {
		t.Fatalf("LoginFailed80Body = % x", got)
	}
}

func TestDescriptionIsBytes(t *testing.T) {
	// Descriptions are counted in bytes, not characters.
	long := strings.Repeat("ż", MaxDescription)
	s, err := ParseContactStatus(AppendContactStatus(nil, ContactStatus{UIN: 1, Description: long}))
	if err != nil || s.Description != long {
		t.Fatalf("long description: %v", err)
	}
}
