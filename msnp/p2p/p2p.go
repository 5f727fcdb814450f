// Package p2p reads and writes the peer-to-peer messages MSN Messenger 6
// and later exchange inside switchboard MSGs (application/x-msnmsgrp2p):
// the 48-byte binary header of P2P version 1, the data chunk and the
// 4-byte footer naming the application, and the MSNSLP signalling text
// (INVITE, 200 OK, 603 Decline, BYE) that such messages carry in session 0.
//
// The server itself speaks the version 1 header. WLM 2009 (MSNP16+)
// switches to the version 2 header (v2.go) only toward an endpoint that
// advertises ExtCapP2Pv2 in its extended capabilities; Pidgin, which
// never advertises it, exchanged files with WLM 2009 over version 1. The
// server never advertises it for the peers it stands in for, and between
// two MSN clients it relays P2P of either version untouched (spec
// msnp8-18 §6).
package p2p

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// ContentType is the MSG content type of P2P messages.
const ContentType = "application/x-msnmsgrp2p"

// HeaderSize and FooterSize are the sizes of the binary header before and
// the footer after a chunk.
const (
	HeaderSize = 48
	FooterSize = 4
)

// MaxChunk is the largest chunk clients put in one switchboard message.
const MaxChunk = 1202

// Header flags.
const (
	FlagAck            = 0x2
	FlagError          = 0x8
	FlagMSNObjectData  = 0x20
	FlagClose          = 0x40
	FlagFileData       = 0x1000030
	FlagFileDataLegacy = 0x30
)

// Application ids of the footer.
const (
	AppSLP            = 0
	AppMSNObject      = 1
	AppFile           = 2
	AppDisplayPicture = 12
)

// Header is the version 1 binary header (all fields little-endian).
type Header struct {
	SessionID    uint32 // 0 for MSNSLP signalling
	ID           uint32 // the message's identifier, the same in all its chunks
	Offset       uint64 // of this chunk in the message
	TotalSize    uint64 // of the whole message
	Length       uint32 // of this chunk
	Flags        uint32
	AckSessionID uint32
	AckUniqueID  uint32
	AckDataSize  uint64
}

// Message is one P2P chunk with its header and footer.
type Message struct {
	Header
	Data  []byte
	AppID uint32 // the footer, big-endian on the wire
}

// Errors of Parse.
var (
	ErrShort  = errors.New("p2p: message shorter than header and footer")
	ErrLength = errors.New("p2p: chunk length disagrees with the header")
	ErrRange  = errors.New("p2p: chunk lies outside the message's total size")
)

// Parse reads a binary P2P message: header, chunk, footer. The chunk
// aliases b.
func Parse(b []byte) (Message, error) {
	if len(b) < HeaderSize+FooterSize {
		return Message{}, ErrShort
	}
	le := binary.LittleEndian
	h := Header{
		SessionID:    le.Uint32(b[0:]),
		ID:           le.Uint32(b[4:]),
		Offset:       le.Uint64(b[8:]),
		TotalSize:    le.Uint64(b[16:]),
		Length:       le.Uint32(b[24:]),
		Flags:        le.Uint32(b[28:]),
		AckSessionID: le.Uint32(b[32:]),
		AckUniqueID:  le.Uint32(b[36:]),
		AckDataSize:  le.Uint64(b[40:]),
	}
	data := b[HeaderSize : len(b)-FooterSize]
	if uint64(h.Length) != uint64(len(data)) {
		return Message{}, ErrLength
	}
	if h.Flags&FlagAck == 0 && (h.Offset > h.TotalSize || uint64(h.Length) > h.TotalSize-h.Offset) {
		return Message{}, ErrRange
	}
	return Message{Header: h, Data: data, AppID: binary.BigEndian.Uint32(b[len(b)-FooterSize:])}, nil
}

// Append writes m to dst; the header's Length is taken from Data.
func (m Message) Append(dst []byte) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, m.SessionID)
	dst = le.AppendUint32(dst, m.ID)
	dst = le.AppendUint64(dst, m.Offset)
	dst = le.AppendUint64(dst, m.TotalSize)
	dst = le.AppendUint32(dst, uint32(len(m.Data)))
	dst = le.AppendUint32(dst, m.Flags)
	dst = le.AppendUint32(dst, m.AckSessionID)
	dst = le.AppendUint32(dst, m.AckUniqueID)
	dst = le.AppendUint64(dst, m.AckDataSize)
	dst = append(dst, m.Data...)
	return binary.BigEndian.AppendUint32(dst, m.AppID)
}

// Complete tells whether this chunk ends its message.
func (h Header) Complete() bool { return h.Offset+uint64(h.Length) == h.TotalSize }

// IsAck tells whether the message acknowledges another.
func (h Header) IsAck() bool { return h.Flags&FlagAck != 0 }

// AckFor is the acknowledgement of a complete received message, with the
// sender's next identifier id.
func AckFor(received Header, id uint32) Message {
	return Message{Header: Header{
		SessionID: received.SessionID, ID: id, TotalSize: received.TotalSize, Flags: FlagAck,
		AckSessionID: received.ID, AckUniqueID: received.AckSessionID, AckDataSize: received.TotalSize,
	}}
}

// Payload wraps m in the switchboard MSG payload addressed to dest.
func Payload(dest string, m Message) []byte {
	head := payloadHead("", dest)
	return m.Append(append(make([]byte, 0, len(head)+HeaderSize+len(m.Data)+FooterSize), head...))
}

// PayloadFrom wraps a binary P2P message of either version in the
// switchboard MSG payload addressed to dest, with a P2P-Src header when
// src is set: MSNP16+ clients name both ends email;{guid} when they speak
// version 2.
func PayloadFrom(src, dest string, body []byte) []byte {
	return append([]byte(payloadHead(src, dest)), body...)
}

func payloadHead(src, dest string) string {
	head := "MIME-Version: 1.0\r\nContent-Type: " + ContentType + "\r\n"
	if src != "" {
		head += "P2P-Src: " + src + "\r\n"
	}
	return head + "P2P-Dest: " + dest + "\r\n\r\n"
}

// ErrNotP2P is returned by ParsePayload for a MSG payload of another type.
var ErrNotP2P = errors.New("p2p: not a P2P message")

// ParsePayload reads a switchboard MSG payload of type ContentType: it
// returns the P2P-Dest address (without an MSNP16+ ;{guid} endpoint) and
// the binary message.
func ParsePayload(payload []byte) (dest string, m Message, err error) {
	p := wire.ParsePayload(payload)
	if !p.Complete || p.ContentType() != ContentType {
		return "", Message{}, ErrNotP2P
	}
	dest, _ = SplitAddress(p.Header("P2P-Dest"))
	m, err = Parse(p.Body)
	return dest, m, err
}

// Destination returns the P2P-Dest of a switchboard MSG payload of type
// ContentType: the e-mail address and, from MSNP16 (where it goes with
// the version 2 header), the endpoint's {guid}; ok is false for other
// payloads.
func Destination(payload []byte) (email, endpoint string, ok bool) {
	p := wire.ParsePayload(payload)
	if !p.Complete || p.ContentType() != ContentType {
		return "", "", false
	}
	email, endpoint = SplitAddress(p.Header("P2P-Dest"))
	return email, endpoint, true
}

// SplitAddress splits an MSNP16+ address email;{guid} into its parts; a
// bare e-mail address has no endpoint.
func SplitAddress(a string) (email, endpoint string) {
	email, endpoint, _ = strings.Cut(strings.TrimSpace(a), ";")
	return email, endpoint
}

// Chunks splits a message of data into chunks of at most MaxChunk bytes,
// all with identifier id, session and flags, and calls fn with each in
// order until it fails. An empty message is one empty chunk.
func Chunks(session, id, flags, appID uint32, data []byte, fn func(Message) error) error {
	total := uint64(len(data))
	for off := 0; ; {
		n := min(MaxChunk, len(data)-off)
		m := Message{Header: Header{SessionID: session, ID: id, Offset: uint64(off), TotalSize: total, Flags: flags,
			AckSessionID: id}, Data: data[off : off+n], AppID: appID}
		if err := fn(m); err != nil {
			return err
		}
		off += n
		if off >= len(data) {
			return nil
		}
	}
}
