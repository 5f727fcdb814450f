package wire

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
)

var le = binary.LittleEndian

// Welcome is the body of TypeWelcome: the seed the login hash covers.
type Welcome struct {
	Seed uint32
}

// AppendWelcome appends a TypeWelcome body.
func AppendWelcome(dst []byte, w Welcome) []byte { return le.AppendUint32(dst, w.Seed) }

// ParseWelcome decodes a TypeWelcome body (exactly 4 bytes; libgadu fails
// the connection on fewer).
func ParseWelcome(body []byte) (Welcome, error) {
	if len(body) != 4 {
		return Welcome{}, malformed("welcome of %d bytes, want 4", len(body))
	}
	return Welcome{Seed: le.Uint32(body)}, nil
}

// LoginFailed80Body returns the body of TypeLogin80Failed. libgadu does not
// look at it; GG8+ servers sent uint32 1.
func LoginFailed80Body() []byte { return []byte{1, 0, 0, 0} }

// contactStatusSize is the fixed part of a ContactStatus record.
const contactStatusSize = 28

// ContactStatus is one record of TypeNotifyReply80 (one or more per packet)
// and TypeStatus80 (exactly one): a contact's state.
type ContactStatus struct {
	UIN         uint32
	Status      uint32 // GG_STATUS_* with masks
	Features    uint32 // protocol features of the contact's client
	RemoteIP    [4]byte
	RemotePort  uint16
	ImageSize   uint8 // largest image accepted, KiB
	Flags       uint32
	Description string // UTF-8, sent without a NUL
}

// AppendContactStatus appends one record: a 28-byte packed header (uin,
// status, features, remote_ip, remote_port uint16, image_size uint8, a zero
// byte, flags, description length) and the description.
func AppendContactStatus(dst []byte, s ContactStatus) []byte {
	dst = le.AppendUint32(dst, s.UIN)
	dst = le.AppendUint32(dst, s.Status)
	dst = le.AppendUint32(dst, s.Features)
	dst = append(dst, s.RemoteIP[:]...)
	dst = le.AppendUint16(dst, s.RemotePort)
	dst = append(dst, s.ImageSize, 0)
	dst = le.AppendUint32(dst, s.Flags)
	dst = le.AppendUint32(dst, uint32(len(s.Description)))
	return append(dst, s.Description...)
}

// ParseContactStatuses decodes a TypeNotifyReply80 body: one or more
// records filling it exactly.
func ParseContactStatuses(body []byte) ([]ContactStatus, error) {
	if len(body) == 0 {
		return nil, malformed("no status records")
	}
	var list []ContactStatus
	for len(body) > 0 {
		s, n, err := parseContactStatus(body)
		if err != nil {
			return nil, err
		}
		list = append(list, s)
		body = body[n:]
	}
	return list, nil
}

// ParseContactStatus decodes a TypeStatus80 body: exactly one record.
func ParseContactStatus(body []byte) (ContactStatus, error) {
	s, n, err := parseContactStatus(body)
	if err == nil && n != len(body) {
		err = malformed("%d bytes after the status record", len(body)-n)
	}
	return s, err
}

func parseContactStatus(b []byte) (ContactStatus, int, error) {
	if len(b) < contactStatusSize {
		return ContactStatus{}, 0, malformed("status record of %d bytes, want at least %d", len(b), contactStatusSize)
	}
	s := ContactStatus{
		UIN:        le.Uint32(b[0:]),
		Status:     le.Uint32(b[4:]),
		Features:   le.Uint32(b[8:]),
		RemoteIP:   [4]byte(b[12:16]),
		RemotePort: le.Uint16(b[16:]),
		ImageSize:  b[18],
		Flags:      le.Uint32(b[20:]),
	}
	n := le.Uint32(b[24:])
	if uint64(n) > uint64(len(b)-contactStatusSize) {
		return ContactStatus{}, 0, malformed("description of %d bytes, %d left", n, len(b)-contactStatusSize)
	}
	end := contactStatusSize + int(n)
	s.Description = string(b[contactStatusSize:end])
	return s, end, nil
}

// NewStatus is the body of TypeNewStatus80: the client's own new status.
type NewStatus struct {
	Status      uint32 // GG_STATUS_* with masks
	Flags       uint32 // NewStatusFlagsGG11 from libgadu
	Description string // UTF-8
}

// AppendNewStatus appends a TypeNewStatus80 body: status, flags,
// description length (without the NUL), description, and the NUL that
// protocol-11 clients append.
func AppendNewStatus(dst []byte, s NewStatus) []byte {
	dst = le.AppendUint32(dst, s.Status)
	dst = le.AppendUint32(dst, s.Flags)
	dst = le.AppendUint32(dst, uint32(len(s.Description)))
	dst = append(dst, s.Description...)
	return append(dst, 0)
}

// ParseNewStatus decodes a TypeNewStatus80 body. The trailing NUL is
// optional (older clients omit it); anything else after the description is
// an error.
func ParseNewStatus(body []byte) (NewStatus, error) {
	if len(body) < 12 {
		return NewStatus{}, malformed("new status of %d bytes, want at least 12", len(body))
	}
	s := NewStatus{Status: le.Uint32(body[0:]), Flags: le.Uint32(body[4:])}
	n := le.Uint32(body[8:])
	rest := body[12:]
	if uint64(n) > uint64(len(rest)) {
		return NewStatus{}, malformed("description of %d bytes, %d left", n, len(rest))
	}
	s.Description = string(rest[:n])
	if tail := rest[n:]; len(tail) > 1 || len(tail) == 1 && tail[0] != 0 {
		return NewStatus{}, malformed("%d bytes after the description", len(tail))
	}
	return s, nil
}

// Typing is the body of TypeTypingNotify, in both directions.
type Typing struct {
	Length uint16 // characters typed so far; 0 = stopped
	UIN    uint32 // client→server: the recipient; server→client: the typist
}

// AppendTyping appends a TypeTypingNotify body.
func AppendTyping(dst []byte, t Typing) []byte {
	return le.AppendUint32(le.AppendUint16(dst, t.Length), t.UIN)
}

// ParseTyping decodes a TypeTypingNotify body (exactly 6 bytes).
func ParseTyping(body []byte) (Typing, error) {
	if len(body) != 6 {
		return Typing{}, malformed("typing notification of %d bytes, want 6", len(body))
	}
	return Typing{Length: le.Uint16(body), UIN: le.Uint32(body[2:])}, nil
}

// SendMsgAck is the body of TypeSendMsgAck, the pre-GG11 receipt for a sent
// message. libgadu still reports it (GG_EVENT_ACK with its status), and it is
// the only way to tell a GG11 client that a message was not taken: the
// GG11 receipt has no status.
type SendMsgAck struct {
	Status    uint32 // AckBlocked, AckMailboxFull, AckNotDelivered...
	Recipient uint32
	Seq       uint32
}

// SendMsgAck.Status values.
const (
	AckBlocked      uint32 = 0x0001 // the recipient does not accept the sender
	AckDelivered    uint32 = 0x0002
	AckQueued       uint32 = 0x0003 // kept for an offline recipient
	AckMailboxFull  uint32 = 0x0004 // offline, and no room left to keep it
	AckNotDelivered uint32 = 0x0006 // e.g. no such recipient
)

// AppendSendMsgAck appends a TypeSendMsgAck body.
func AppendSendMsgAck(dst []byte, a SendMsgAck) []byte {
	return le.AppendUint32(le.AppendUint32(le.AppendUint32(dst, a.Status), a.Recipient), a.Seq)
}

// ParseSendMsgAck decodes a TypeSendMsgAck body (12 bytes).
func ParseSendMsgAck(body []byte) (SendMsgAck, error) {
	if len(body) != 12 {
		return SendMsgAck{}, malformed("send ack of %d bytes, want 12", len(body))
	}
	return SendMsgAck{Status: le.Uint32(body), Recipient: le.Uint32(body[4:]), Seq: le.Uint32(body[8:])}, nil
}

// Userlist100.Type values: requests, then replies.
const (
	UserlistPut uint8 = 0x00 // request: store Data as the new list
	UserlistGet uint8 = 0x02 // request: send the stored list

	UserlistReplyList     uint8 = 0x00 // reply: Data is the stored list
	UserlistReplyUpToDate uint8 = 0x01 // reply: the client's version is current
	UserlistReplyAck      uint8 = 0x10 // reply: the PUT was stored
	UserlistReplyReject   uint8 = 0x12 // reply: the PUT was based on a stale version
)

// Userlist100.Format values.
const (
	UserlistFormatNone  uint8 = 0x00
	UserlistFormatGG70  uint8 = 0x01 // the GG 7.0 text format
	UserlistFormatGG100 uint8 = 0x02 // the GG 10 XML format
)

// userlistHeaderSize is type, version, format and the constant 0x01.
const userlistHeaderSize = 7

// Userlist100 is the body of TypeUserlist100Request and
// TypeUserlist100Reply: a 7-byte header and, for PUT requests and LIST
// replies, the zlib-compressed list (see DeflateUserlist).
type Userlist100 struct {
	Type    uint8
	Version uint32 // request: last version the client knows; reply: the server's
	Format  uint8
	Data    []byte // compressed
}

// AppendUserlist100 appends a userlist request or reply body.
func AppendUserlist100(dst []byte, u Userlist100) []byte {
	dst = append(dst, u.Type)
	dst = le.AppendUint32(dst, u.Version)
	dst = append(dst, u.Format, 0x01)
	return append(dst, u.Data...)
}

// ParseUserlist100 decodes a userlist request or reply body; Data shares
// body's memory. The byte after the format (always 0x01) is not checked.
func ParseUserlist100(body []byte) (Userlist100, error) {
	if len(body) < userlistHeaderSize {
		return Userlist100{}, malformed("userlist packet of %d bytes, want at least %d", len(body), userlistHeaderSize)
	}
	u := Userlist100{Type: body[0], Version: le.Uint32(body[1:]), Format: body[5]}
	if len(body) > userlistHeaderSize {
		u.Data = body[userlistHeaderSize:]
	}
	return u, nil
}

// UserlistVersion is the body of TypeUserlist100Version: the stored list
// changed.
type UserlistVersion struct {
	Version uint32
}

// AppendUserlistVersion appends a TypeUserlist100Version body.
func AppendUserlistVersion(dst []byte, v UserlistVersion) []byte {
	return le.AppendUint32(dst, v.Version)
}

// ParseUserlistVersion decodes a TypeUserlist100Version body (exactly 4
// bytes).
func ParseUserlistVersion(body []byte) (UserlistVersion, error) {
	if len(body) != 4 {
		return UserlistVersion{}, malformed("userlist version of %d bytes, want 4", len(body))
	}
	return UserlistVersion{Version: le.Uint32(body)}, nil
}

// DeflateUserlist compresses a contact list the way libgadu does: zlib
// stream, best compression.
func DeflateUserlist(list []byte) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression) // the level is valid
	w.Write(list)
	w.Close()
	return buf.Bytes()
}

// InflateUserlist decompresses a contact list of at most limit bytes; a
// longer one is an error, so a small packet cannot make us allocate much.
func InflateUserlist(data []byte, limit int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, malformed("userlist: %v", err)
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, malformed("userlist: %v", err)
	}
	if len(out) > limit {
		return nil, malformed("userlist inflates to more than %d bytes", limit)
	}
	return out, nil
}
