package p2p

import (
	"encoding/binary"
	"errors"
)

// P2P version 2 is the binary framing Windows Live Messenger 2009
// (MSNP16+) uses toward endpoints whose extended capabilities carry
// ExtCapP2Pv2 (spec msnp8-18 §6; wiki.nina.chat "P2Pv2 Binary Headers").
// All numbers are big-endian:
//
//	u8  header length: 8 + the header TLVs, padded with zeros to 4 bytes
//	u8  operation code (OpSYN, OpRAK)
//	u16 message length: the data header and the data (0: no payload)
//	u32 sequence number; the next message's is this one plus its length
//	... header TLVs (TLVPeerInfo, TLVAck, TLVNak)
//	then, when the message length is not 0, the data header:
//	u8  data header length: 8 + the data TLVs, padded as above
//	u8  TF, what the payload is (TFFirst, TFMSNObject, TFFile)
//	u16 package number
//	u32 session id (0 for MSNSLP signalling)
//	... data TLVs (TLVRemaining)
//	then the data, and the footer (u32 application id) as in version 1.
//
// A TLV is a u8 type, a u8 length and that many bytes; type 0 starts the
// padding.

// ExtCapP2Pv2 is the extended client capability (the number after the
// colon of MSNP16+ caps) that tells peers an endpoint speaks version 2.
const ExtCapP2Pv2 = 0x20

// Operation codes of a version 2 header.
const (
	OpSYN = 0x1 // the sender's first message: it carries TLVPeerInfo
	OpRAK = 0x2 // the sender wants this message acknowledged
)

// Header TLV types.
const (
	TLVPeerInfo = 0x1 // 12 bytes: protocol version, implementation, version, reserved (u16 each), capabilities (u32)
	TLVAck      = 0x2 // u32: the sequence number acknowledged up to (seq + length of the message)
	TLVNak      = 0x3 // u32, as TLVAck for a refused message
)

// TLVRemaining is the data TLV that says how many bytes of the message
// follow this chunk (u64); the last chunk has none.
const TLVRemaining = 0x1

// TF values of a data header.
const (
	TFFirst     = 0x01 // the first chunk of a message
	TFMSNObject = 0x04 // MSN object data (display pictures, emoticons)
	TFFile      = 0x06 // file data
)

// minHeaderV2 is the fixed part of both the header and the data header.
const minHeaderV2 = 8

// TLV is one type-length-value field of a version 2 header.
type TLV struct {
	Type  uint8
	Value []byte
}

// DataV2 is the payload of a version 2 message: its data header and data.
type DataV2 struct {
	TF            uint8
	PackageNumber uint16
	SessionID     uint32
	TLVs          []TLV
	Data          []byte
}

// MessageV2 is one version 2 P2P message, footer included.
type MessageV2 struct {
	Op   uint8
	Seq  uint32 // the "base id"
	TLVs []TLV
	// Payload is nil for a message without one (an acknowledgement).
	Payload *DataV2
	AppID   uint32
}

// Errors of ParseV2 and AppendV2.
var (
	ErrShortV2  = errors.New("p2p: version 2 message shorter than its lengths say")
	ErrHeaderV2 = errors.New("p2p: malformed version 2 header")
	ErrTLV      = errors.New("p2p: malformed TLV list")
	ErrLongV2   = errors.New("p2p: version 2 headers or payload too long to encode")
)

// Length is the message length field: data header and data.
func (m MessageV2) Length() int {
	if m.Payload == nil {
		return 0
	}
	return dataHeaderLen(m.Payload.TLVs) + len(m.Payload.Data)
}

// Find returns the value of the first TLV of type t in list, or nil.
func Find(list []TLV, t uint8) []byte {
	for _, x := range list {
		if x.Type == t {
			return x.Value
		}
	}
	return nil
}

// Ack returns the sequence number a TLVAck acknowledges up to.
func (m MessageV2) Ack() (uint32, bool) {
	v := Find(m.TLVs, TLVAck)
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// Remaining returns how many bytes of the message follow this chunk: the
// TLVRemaining of the payload, 0 without one (the last chunk).
func (m MessageV2) Remaining() uint64 {
	if m.Payload == nil {
		return 0
	}
	if v := Find(m.Payload.TLVs, TLVRemaining); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// AckV2 acknowledges received as the receiver does: a message without
// payload whose TLVAck names received's sequence number plus its length.
func AckV2(received MessageV2, seq uint32) MessageV2 {
	var ack [4]byte
	binary.BigEndian.PutUint32(ack[:], received.Seq+uint32(received.Length()))
	return MessageV2{Seq: seq, TLVs: []TLV{{Type: TLVAck, Value: ack[:]}}}
}

// ParseV2 reads a version 2 message: headers, data, footer. Values alias b.
func ParseV2(b []byte) (MessageV2, error) {
	if len(b) < minHeaderV2+FooterSize {
		return MessageV2{}, ErrShortV2
	}
	be := binary.BigEndian
	headerLen, msgLen := int(b[0]), int(be.Uint16(b[2:]))
	if headerLen < minHeaderV2 {
		return MessageV2{}, ErrHeaderV2
	}
	if headerLen+msgLen+FooterSize != len(b) {
		return MessageV2{}, ErrShortV2
	}
	m := MessageV2{Op: b[1], Seq: be.Uint32(b[4:]), AppID: be.Uint32(b[len(b)-FooterSize:])}
	var err error
	if m.TLVs, err = parseTLVs(b[minHeaderV2:headerLen]); err != nil {
		return MessageV2{}, err
	}
	if msgLen == 0 {
		return m, nil
	}
	p := b[headerLen : headerLen+msgLen]
	dataLen := int(p[0])
	if dataLen < minHeaderV2 || dataLen > len(p) {
		return MessageV2{}, ErrHeaderV2
	}
	d := &DataV2{TF: p[1], PackageNumber: be.Uint16(p[2:]), SessionID: be.Uint32(p[4:]), Data: p[dataLen:]}
	if d.TLVs, err = parseTLVs(p[minHeaderV2:dataLen]); err != nil {
		return MessageV2{}, err
	}
	m.Payload = d
	return m, nil
}

// parseTLVs reads a TLV list up to its padding, which must be zeros.
func parseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if b[0] == 0 {
			for _, z := range b {
				if z != 0 {
					return nil, ErrTLV
				}
			}
			return out, nil
		}
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, ErrTLV
		}
		out = append(out, TLV{Type: b[0], Value: b[2 : 2+int(b[1])]})
		b = b[2+int(b[1]):]
	}
	return out, nil
}

// tlvsLen is the size of a TLV list on the wire, padding included.
func tlvsLen(list []TLV) int {
	n := 0
	for _, x := range list {
		n += 2 + len(x.Value)
	}
	return (n + 3) &^ 3
}

func dataHeaderLen(list []TLV) int { return minHeaderV2 + tlvsLen(list) }

func appendTLVs(dst []byte, list []TLV) []byte {
	start := len(dst)
	for _, x := range list {
		dst = append(dst, x.Type, uint8(len(x.Value)))
		dst = append(dst, x.Value...)
	}
	for (len(dst)-start)%4 != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// AppendV2 writes m to dst. It fails when a header would pass 255 bytes,
// the payload 65535, a TLV value 255 or a TLV has type 0.
func (m MessageV2) AppendV2(dst []byte) ([]byte, error) {
	headerLen, msgLen := minHeaderV2+tlvsLen(m.TLVs), m.Length()
	if headerLen > 0xff || msgLen > 0xffff || !encodable(m.TLVs) {
		return dst, ErrLongV2
	}
	if m.Payload != nil && (dataHeaderLen(m.Payload.TLVs) > 0xff || !encodable(m.Payload.TLVs)) {
		return dst, ErrLongV2
	}
	be := binary.BigEndian
	dst = append(dst, uint8(headerLen), m.Op)
	dst = be.AppendUint16(dst, uint16(msgLen))
	dst = be.AppendUint32(dst, m.Seq)
	dst = appendTLVs(dst, m.TLVs)
	if p := m.Payload; p != nil {
		dst = append(dst, uint8(dataHeaderLen(p.TLVs)), p.TF)
		dst = be.AppendUint16(dst, p.PackageNumber)
		dst = be.AppendUint32(dst, p.SessionID)
		dst = appendTLVs(dst, p.TLVs)
		dst = append(dst, p.Data...)
	}
	return be.AppendUint32(dst, m.AppID), nil
}

func encodable(list []TLV) bool {
	for _, x := range list {
		if x.Type == 0 || len(x.Value) > 0xff {
			return false
		}
	}
	return true
}
