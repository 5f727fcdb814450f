package wire

import (
	"encoding/binary"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/crosstalk-im/crosstalk/internal/protofield"
)

// The GG11 packets of every message, encoded and decoded here field by
// field rather than through package ggpb: they are the protocol's hot path,
// and the generic protobuf code costs several allocations and a reflective
// walk per packet. What is written is byte for byte what proto.Marshal
// writes for the same ggpb message (fields in number order, every required
// one present); what is read is what proto.UnmarshalOptions{AllowPartial:
// true, DiscardUnknown: true} reads.

// Field numbers of the messages below, as in gg.proto.
const (
	ackFieldType   = 1
	ackFieldSeq    = 2
	ackFieldDummy1 = 3

	sendFieldRecipient = 1
	sendFieldSeq       = 3
	sendFieldPlain     = 5
	sendFieldXHTML     = 6
	sendFieldChatID    = 10

	msgAckFieldMsgType = 1
	msgAckFieldSeq     = 2
	msgAckFieldTime    = 3
	msgAckFieldMsgID   = 4
	msgAckFieldConvID  = 5
	msgAckFieldDummy1  = 7

	recvFieldSender = 1
	recvFieldFlags  = 2
	recvFieldSeq    = 3
	recvFieldTime   = 4
	recvFieldPlain  = 5
	recvFieldXHTML  = 6
	recvFieldMsgID  = 9
	recvFieldConvID = 11
)

// AckTypeMsg is GG110Ack's type for a message's receipt, and the type of an
// ack without one (a proto2 enum's default is its first value).
const AckTypeMsg = 1

// Ack110 is a GG_ACK110 body (ggpb.GG110Ack): the client's receipt.
type Ack110 struct {
	Type uint32
	Seq  uint32
}

// ParseAck110 decodes a GG_ACK110 body.
func ParseAck110(body []byte) (Ack110, error) {
	a := Ack110{Type: AckTypeMsg}
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) {
		if typ != protowire.VarintType {
			return
		}
		switch num {
		case ackFieldType:
			a.Type = uint32(int32(v)) // an enum is an int32, whatever its value
		case ackFieldSeq:
			a.Seq = uint32(v)
		}
	})
	return a, err
}

// AppendAck110 appends a GG_ACK110 body, with the dummy field libgadu writes.
func AppendAck110(dst []byte, a Ack110) []byte {
	dst = appendVarintField(dst, ackFieldType, uint64(a.Type))
	dst = appendVarintField(dst, ackFieldSeq, uint64(a.Seq))
	return appendVarintField(dst, ackFieldDummy1, 1)
}

// SendMsg110 is what a server reads of a GG_SEND_MSG110 body
// (ggpb.GG110SendMessage). Recipient and XHTML alias the body.
type SendMsg110 struct {
	Recipient  []byte
	Seq        uint32
	Plain      string
	XHTML      []byte
	Conference bool // chat_id is set: a conference message
}

// ParseSendMsg110 decodes a GG_SEND_MSG110 body.
func ParseSendMsg110(body []byte) (SendMsg110, error) {
	var m SendMsg110
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) {
		switch {
		case num == sendFieldRecipient && typ == protowire.BytesType:
			m.Recipient = b
		case num == sendFieldSeq && typ == protowire.VarintType:
			m.Seq = uint32(v)
		case num == sendFieldPlain && typ == protowire.BytesType:
			m.Plain = string(b)
		case num == sendFieldXHTML && typ == protowire.BytesType:
			m.XHTML = b
		case num == sendFieldChatID && typ == protowire.Fixed64Type:
			m.Conference = true
		}
	})
	return m, err
}

// MessageAck110 is a GG_SEND_MSG_ACK110 body (ggpb.GG110MessageAck): the
// server's receipt for a message sent.
type MessageAck110 struct {
	MsgType uint32 // 1 a message, 2 a conference message
	Seq     uint32
	Time    uint32
	MsgID   uint64
	ConvID  uint64
}

// AppendMessageAck110 appends a GG_SEND_MSG_ACK110 body.
func AppendMessageAck110(dst []byte, a MessageAck110) []byte {
	dst = appendVarintField(dst, msgAckFieldMsgType, uint64(a.MsgType))
	dst = appendVarintField(dst, msgAckFieldSeq, uint64(a.Seq))
	dst = protowire.AppendTag(dst, msgAckFieldTime, protowire.Fixed32Type)
	dst = protowire.AppendFixed32(dst, a.Time)
	dst = appendFixed64Field(dst, msgAckFieldMsgID, a.MsgID)
	dst = appendFixed64Field(dst, msgAckFieldConvID, a.ConvID)
	return appendVarintField(dst, msgAckFieldDummy1, 0)
}

// RecvMsg110 is a GG_RECV_MSG110 body (ggpb.GG110RecvMessage) without its
// XHTML, which AppendRecvMsg110 has written by the caller.
type RecvMsg110 struct {
	Sender uint32
	Flags  uint32
	Seq    uint32
	Time   uint32
	Plain  string
	MsgID  uint64
	ConvID uint64
}

// AppendRecvMsg110 appends a GG_RECV_MSG110 body whose msg_xhtml is what
// xhtml appends, written in place: the XHTML needs no buffer of its own.
func AppendRecvMsg110(dst []byte, m RecvMsg110, xhtml func([]byte) []byte) []byte {
	dst = protowire.AppendTag(dst, recvFieldSender, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(2+countDigits(m.Sender)))
	dst = AppendProtoUIN(dst, UINMagicServer, m.Sender)
	dst = appendVarintField(dst, recvFieldFlags, uint64(m.Flags))
	dst = appendVarintField(dst, recvFieldSeq, uint64(m.Seq))
	dst = protowire.AppendTag(dst, recvFieldTime, protowire.Fixed32Type)
	dst = protowire.AppendFixed32(dst, m.Time)
	dst = protowire.AppendTag(dst, recvFieldPlain, protowire.BytesType)
	dst = protowire.AppendString(dst, m.Plain)
	dst = appendBytesFieldInPlace(dst, recvFieldXHTML, xhtml)
	dst = appendFixed64Field(dst, recvFieldMsgID, m.MsgID)
	return appendFixed64Field(dst, recvFieldConvID, m.ConvID)
}

// countDigits is how many decimal digits n has.
func countDigits(n uint32) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// appendBytesFieldInPlace appends a length-delimited field whose content
// fill appends after it: the content goes straight to dst, and moves up
// only when its length needs more than the one byte left for it.
func appendBytesFieldInPlace(dst []byte, num protowire.Number, fill func([]byte) []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	at := len(dst)
	dst = fill(append(dst, 0))
	n := len(dst) - at - 1
	if extra := protowire.SizeVarint(uint64(n)) - 1; extra > 0 {
		dst = append(dst, make([]byte, extra)...)
		copy(dst[at+1+extra:], dst[at+1:len(dst)-extra])
	}
	protowire.AppendVarint(dst[:at], uint64(n))
	return dst
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(dst, num, protowire.VarintType), v)
}

func appendFixed64Field(dst []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(dst, num, protowire.Fixed64Type), v)
}

// eachField calls field with each field of a protobuf message
// (protofield.Each). A malformed message, or a field number protobuf does
// not allow, gives ErrMalformed.
func eachField(body []byte, field func(num protowire.Number, typ protowire.Type, v uint64, b []byte)) error {
	err := protofield.Each(body, func(f protofield.Field) error {
		if f.Num > protowire.MaxValidNumber {
			return malformed("protobuf field number %d", f.Num)
		}
		field(f.Num, f.Type, f.Value, f.Bytes)
		return nil
	})
	if errors.Is(err, protofield.ErrMalformed) {
		return malformed("%v", err)
	}
	return err
}

// PutHeader writes the header of the packet that packet holds, its body
// after HeaderSize bytes left for the header.
func PutHeader(packet []byte, typ uint32) {
	binary.LittleEndian.PutUint32(packet, typ)
	binary.LittleEndian.PutUint32(packet[4:], uint32(len(packet)-HeaderSize))
}

// Field numbers a client sends or reads besides those above, as in
// gg.proto.
const (
	sendFieldDummy1 = 2

	recvFieldData = 7

	msgAckFieldLinks = 6
	linkFieldID      = 1
	linkFieldURL     = 2
)

// sendDummy1 is GG110SendMessage's dummy1 as libgadu writes it.
const sendDummy1 = 8

// AppendSendMsg110 appends a GG_SEND_MSG110 body (ggpb.GG110SendMessage)
// of a message to a UIN, as a client sends it: the recipient with the
// client's magic, the dummy libgadu writes, and a msg_xhtml that xhtml
// appends in place.
func AppendSendMsg110(dst []byte, to, seq uint32, plain string, xhtml func([]byte) []byte) []byte {
	dst = protowire.AppendTag(dst, sendFieldRecipient, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(2+countDigits(to)))
	dst = AppendProtoUIN(dst, UINMagicClient, to)
	dst = appendVarintField(dst, sendFieldDummy1, sendDummy1)
	dst = appendVarintField(dst, sendFieldSeq, uint64(seq))
	dst = protowire.AppendTag(dst, sendFieldPlain, protowire.BytesType)
	dst = protowire.AppendString(dst, plain)
	return appendBytesFieldInPlace(dst, sendFieldXHTML, xhtml)
}

// ReceivedMsg110 is what a client reads of a GG_RECV_MSG110 or
// GG_RECV_OWN_MSG110 body (ggpb.GG110RecvMessage). Its byte fields alias
// the body.
type ReceivedMsg110 struct {
	Sender    []byte
	HasSender bool // sender was present, if empty
	Flags     uint32
	Seq       uint32
	Time      uint32
	Plain     []byte
	XHTML     []byte
	HasXHTML  bool // msg_xhtml was present, if empty
	Data      []byte
	HasData   bool
	MsgID     uint64
	ConvID    uint64
}

// ParseRecvMsg110 decodes a GG_RECV_MSG110 body as libgadu does, and as
// proto.Unmarshal does: a required field missing is an error.
func ParseRecvMsg110(body []byte) (ReceivedMsg110, error) {
	var m ReceivedMsg110
	var flags, seq, time, plain bool
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) {
		switch {
		case num == recvFieldSender && typ == protowire.BytesType:
			m.Sender, m.HasSender = b, true
		case num == recvFieldFlags && typ == protowire.VarintType:
			m.Flags, flags = uint32(v), true
		case num == recvFieldSeq && typ == protowire.VarintType:
			m.Seq, seq = uint32(v), true
		case num == recvFieldTime && typ == protowire.Fixed32Type:
			m.Time, time = uint32(v), true
		case num == recvFieldPlain && typ == protowire.BytesType:
			m.Plain, plain = b, true
		case num == recvFieldXHTML && typ == protowire.BytesType:
			m.XHTML, m.HasXHTML = b, true
		case num == recvFieldData && typ == protowire.BytesType:
			m.Data, m.HasData = b, true
		case num == recvFieldMsgID && typ == protowire.Fixed64Type:
			m.MsgID = v
		case num == recvFieldConvID && typ == protowire.Fixed64Type:
			m.ConvID = v
		}
	})
	if err == nil && !(flags && seq && time && plain) {
		err = malformed("GG110RecvMessage without a required field")
	}
	return m, err
}

// ParseMessageAck110 decodes a GG_SEND_MSG_ACK110 body as libgadu does,
// and as proto.Unmarshal does: a required field missing, in the ack or in
// one of its links (which are checked, not kept), is an error.
func ParseMessageAck110(body []byte) (MessageAck110, error) {
	var a MessageAck110
	var msgType, seq, time, dummy1 bool
	var linkErr error
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) {
		switch {
		case num == msgAckFieldMsgType && typ == protowire.VarintType:
			a.MsgType, msgType = uint32(v), true
		case num == msgAckFieldSeq && typ == protowire.VarintType:
			a.Seq, seq = uint32(v), true
		case num == msgAckFieldTime && typ == protowire.Fixed32Type:
			a.Time, time = uint32(v), true
		case num == msgAckFieldMsgID && typ == protowire.Fixed64Type:
			a.MsgID = v
		case num == msgAckFieldConvID && typ == protowire.Fixed64Type:
			a.ConvID = v
		case num == msgAckFieldLinks && typ == protowire.BytesType:
			if err := checkAckLink(b); err != nil && linkErr == nil {
				linkErr = err
			}
		case num == msgAckFieldDummy1 && typ == protowire.VarintType:
			dummy1 = true
		}
	})
	switch {
	case err != nil:
	case linkErr != nil:
		err = linkErr
	case !(msgType && seq && time && dummy1):
		err = malformed("GG110MessageAck without a required field")
	}
	return a, err
}

// checkAckLink checks a GG110MessageAckLink: well formed, with its
// required fields.
func checkAckLink(body []byte) error {
	var id, url bool
	err := eachField(body, func(num protowire.Number, typ protowire.Type, _ uint64, _ []byte) {
		switch {
		case num == linkFieldID && typ == protowire.Fixed64Type:
			id = true
		case num == linkFieldURL && typ == protowire.BytesType:
			url = true
		}
	})
	if err == nil && !(id && url) {
		err = malformed("GG110MessageAckLink without a required field")
	}
	return err
}
