package wire

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
)

// lenient is how a server reads protobuf with package ggpb; the decoders
// here must agree with it.
var lenient = proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}

// The encoders write exactly what proto.Marshal writes, whatever the
// lengths: XHTML whose length takes one, two and three varint bytes.
func TestAppendRecvMsg110MatchesProto(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000} {
		for _, sender := range []uint32{1, 9, 10, 1002, 4294967295} {
			xhtml := strings.Repeat("<", n)
			m := RecvMsg110{Sender: sender, Flags: 0, Seq: 7, Time: 1700000000, Plain: "héllo", MsgID: 1 << 62, ConvID: 42}
			got := AppendRecvMsg110([]byte("pre"), m, func(dst []byte) []byte { return append(dst, xhtml...) })
			want, err := proto.Marshal(&ggpb.GG110RecvMessage{
				Sender: AppendProtoUIN(nil, UINMagicServer, sender), Flags: proto.Uint32(0), Seq: proto.Uint32(7),
				Time: proto.Uint32(1700000000), MsgPlain: proto.String("héllo"), MsgXhtml: proto.String(xhtml),
				MsgId: proto.Uint64(1 << 62), ConvId: proto.Uint64(42),
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("pre"), want...)) {
				t.Fatalf("xhtml of %d bytes from %d: got %x, want pre+%x", n, sender, got, want)
			}
		}
	}
}

func TestAppendMessageAck110MatchesProto(t *testing.T) {
	a := MessageAck110{MsgType: 1, Seq: 300, Time: 1700000000, MsgID: 12345678901, ConvID: 1001<<32 | 1002}
	want, err := proto.Marshal(&ggpb.GG110MessageAck{
		MsgType: proto.Uint32(1), Seq: proto.Uint32(300), Time: proto.Uint32(1700000000),
		MsgId: proto.Uint64(12345678901), ConvId: proto.Uint64(1001<<32 | 1002), Dummy1: proto.Uint32(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendMessageAck110(nil, a); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestAppendAck110MatchesProto(t *testing.T) {
	want, err := proto.Marshal(&ggpb.GG110Ack{Type: ggpb.GG110Ack_MPA.Enum(), Seq: proto.Uint32(99999), Dummy1: proto.Uint32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendAck110(nil, Ack110{Type: uint32(ggpb.GG110Ack_MPA), Seq: 99999}); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestPutHeader(t *testing.T) {
	packet := append(make([]byte, HeaderSize), "body"...)
	PutHeader(packet, TypeRecvMsg110)
	if want := AppendPacket(nil, TypeRecvMsg110, []byte("body")); !bytes.Equal(packet, want) {
		t.Fatalf("got %x, want %x", packet, want)
	}
}

// FuzzParseAck110: the decoder agrees with protobuf's on every input
// (plain go test runs the seeds). The seeds hold the corner cases of the
// type enum: missing, a value it does not name, and one that overflows an
// int32.
func FuzzParseAck110(f *testing.F) {
	for _, seed := range [][]byte{
		encodePartial(&ggpb.GG110Ack{Type: ggpb.GG110Ack_MSG.Enum(), Seq: proto.Uint32(5), Dummy1: proto.Uint32(1)}),
		encodePartial(&ggpb.GG110Ack{Type: ggpb.GG110Ack_CHAT.Enum(), Seq: proto.Uint32(1 << 31)}),
		encodePartial(&ggpb.GG110Ack{Seq: proto.Uint32(3)}),
		{0x08, 0x04, 0x10, 0x01},             // type 4 is not in the enum
		{0x08, 0x02, 0x08, 0x63, 0x10, 0x01}, // a known type, then an unknown one
		{0x08, 0x81, 0x80, 0x80, 0x80, 0x10}, // 1+2³², which is 1 as an int32
		{0x0d, 1, 2, 3, 4},                   // field 1 as fixed32: an unknown field
		{0x0c},                               // an end of group alone
		{0x0b, 0x10, 0x01, 0x0c},             // a group
		{0x00, 0x01},                         // field number 0
		{0x10},                               // truncated
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want ggpb.GG110Ack
		if got, ok := decodeBoth(t, body, &want, ParseAck110); ok && (got.Type != uint32(want.GetType()) || got.Seq != want.GetSeq()) {
			t.Fatalf("%x: got %+v, protobuf read type %v seq %d", body, got, want.GetType(), want.GetSeq())
		}
	})
}

// encodePartial encodes m, required fields or not.
func encodePartial(m proto.Message) []byte {
	b, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	return b
}

// decodeBoth decodes body with protobuf into want and with parse, which
// must both fail or both succeed; ok says they succeeded.
func decodeBoth[T any](t *testing.T, body []byte, want proto.Message, parse func([]byte) (T, error)) (got T, ok bool) {
	t.Helper()
	wantErr := lenient.Unmarshal(body, want)
	got, err := parse(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%x: error %v, protobuf's %v", body, err, wantErr)
	}
	return got, err == nil
}

// FuzzParseSendMsg110: the decoder agrees with protobuf's on every input
// (plain go test runs the seeds).
func FuzzParseSendMsg110(f *testing.F) {
	f.Add(encodePartial(&ggpb.GG110SendMessage{Recipient: AppendProtoUIN(nil, UINMagicClient, 1002), Dummy1: proto.Uint32(8), Seq: proto.Uint32(1),
		MsgPlain: proto.String("hi"), MsgXhtml: proto.String("<span>hi</span>")}))
	f.Add(encodePartial(&ggpb.GG110SendMessage{Seq: proto.Uint32(2), MsgPlain: proto.String("conf"), ChatId: proto.Uint64(77)}))
	f.Add(encodePartial(&ggpb.GG110SendMessage{MsgXhtml: proto.String(strings.Repeat("x", 200))}))
	f.Add([]byte{0x2a, 0x01, 'a', 0x2a, 0x01, 'b'}) // msg_plain twice: the last counts
	f.Add([]byte{0x50, 0x01})                       // chat_id as a varint: an unknown field
	f.Add([]byte{0x2a, 0x05, 'a'})                  // truncated string
	f.Fuzz(func(t *testing.T, body []byte) {
		var want ggpb.GG110SendMessage
		got, ok := decodeBoth(t, body, &want, ParseSendMsg110)
		if ok && (!bytes.Equal(got.Recipient, want.GetRecipient()) || got.Seq != want.GetSeq() || got.Plain != want.GetMsgPlain() ||
			string(got.XHTML) != want.GetMsgXhtml() || got.Conference != (want.ChatId != nil)) {
			t.Fatalf("%x: got %+v, protobuf read %v", body, got, &want)
		}
	})
}

func TestAppendSendMsg110MatchesProto(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16384} {
		for _, to := range []uint32{1, 10, 5678, 4294967295} {
			xhtml := strings.Repeat("<", n)
			got := AppendSendMsg110([]byte("pre"), to, 300, "héllo", func(dst []byte) []byte { return append(dst, xhtml...) })
			want, err := proto.Marshal(&ggpb.GG110SendMessage{
				Recipient: AppendProtoUIN(nil, UINMagicClient, to), Dummy1: proto.Uint32(8), Seq: proto.Uint32(300),
				MsgPlain: proto.String("héllo"), MsgXhtml: proto.String(xhtml),
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("pre"), want...)) {
				t.Fatalf("xhtml of %d bytes to %d: got %x, want pre+%x", n, to, got, want)
			}
		}
	}
}

// strict is how a client reads protobuf with package ggpb, as libgadu
// does: a required field missing is an error. The client's decoders here
// must agree with it.
var strict = proto.UnmarshalOptions{}

// decodeStrictly is decodeBoth for the client's decoders.
func decodeStrictly[T any](t *testing.T, body []byte, want proto.Message, parse func([]byte) (T, error)) (got T, ok bool) {
	t.Helper()
	wantErr := strict.Unmarshal(body, want)
	got, err := parse(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%x: error %v, protobuf's %v", body, err, wantErr)
	}
	return got, err == nil
}

// FuzzParseRecvMsg110: the decoder agrees with protobuf's on every input
// (plain go test runs the seeds), presence included.
func FuzzParseRecvMsg110(f *testing.F) {
	whole := &ggpb.GG110RecvMessage{Sender: AppendProtoUIN(nil, UINMagicServer, 1002), Flags: proto.Uint32(0), Seq: proto.Uint32(7),
		Time: proto.Uint32(1700000000), MsgPlain: proto.String("hi"), MsgXhtml: proto.String("<span>hi</span>"),
		MsgId: proto.Uint64(1 << 62), ConvId: proto.Uint64(42)}
	f.Add(encodePartial(whole))
	f.Add(AppendRecvMsg110(nil, RecvMsg110{Sender: 5678, Seq: 1, Time: 2, Plain: "x"}, func(dst []byte) []byte { return append(dst, "<b>x</b>"...) }))
	f.Add(encodePartial(&ggpb.GG110RecvMessage{Flags: proto.Uint32(1), Seq: proto.Uint32(2), Time: proto.Uint32(3), MsgPlain: proto.String(""),
		Data: []byte{}, Sender: []byte{}})) // present, if empty
	f.Add(encodePartial(&ggpb.GG110RecvMessage{Flags: proto.Uint32(0), Seq: proto.Uint32(1), MsgPlain: proto.String("no time")}))
	f.Add(encodePartial(&ggpb.GG110RecvMessage{Flags: proto.Uint32(0), Seq: proto.Uint32(1), Time: proto.Uint32(1),
		MsgPlain: proto.String("data"), Data: []byte{1, 2, 3}, ChatId: proto.Uint64(9)}))
	f.Add([]byte{0x10, 0x00, 0x18, 0x01, 0x25, 1, 0, 0, 0, 0x2a, 0x00, 0x20, 0x05}) // time again as a varint: unknown
	f.Add([]byte{0x10, 0x00, 0x18, 0x01, 0x20, 0x05, 0x2a, 0x00})                   // time only as a varint: missing
	f.Add([]byte{0x2a, 0x05, 'a'})                                                  // truncated string
	f.Fuzz(func(t *testing.T, body []byte) {
		var want ggpb.GG110RecvMessage
		got, ok := decodeStrictly(t, body, &want, ParseRecvMsg110)
		if ok && (got.HasSender != (want.Sender != nil) || !bytes.Equal(got.Sender, want.Sender) || got.Flags != want.GetFlags() ||
			got.Seq != want.GetSeq() || got.Time != want.GetTime() || string(got.Plain) != want.GetMsgPlain() ||
			got.HasXHTML != (want.MsgXhtml != nil) || string(got.XHTML) != want.GetMsgXhtml() ||
			got.HasData != (want.Data != nil) || !bytes.Equal(got.Data, want.Data) || got.MsgID != want.GetMsgId() || got.ConvID != want.GetConvId()) {
			t.Fatalf("%x: got %+v, protobuf read %v", body, got, &want)
		}
	})
}

// FuzzParseMessageAck110: the decoder agrees with protobuf's on every
// input (plain go test runs the seeds), the links' required fields
// included.
func FuzzParseMessageAck110(f *testing.F) {
	f.Add(AppendMessageAck110(nil, MessageAck110{MsgType: 1, Seq: 300, Time: 1700000000, MsgID: 12345678901, ConvID: 1001<<32 | 1002}))
	f.Add(encodePartial(&ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(1), Time: proto.Uint32(1), Dummy1: proto.Uint32(0),
		Links: []*ggpb.GG110MessageAckLink{{Id: proto.Uint64(5), Url: proto.String("http://a")}}}))
	f.Add(encodePartial(&ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(1), Time: proto.Uint32(1), Dummy1: proto.Uint32(0),
		Links: []*ggpb.GG110MessageAckLink{{Id: proto.Uint64(5)}}})) // a link without its url
	f.Add(encodePartial(&ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(1), Time: proto.Uint32(1)})) // no dummy1
	f.Add([]byte{0x08, 0x01, 0x10, 0x01, 0x1d, 1, 0, 0, 0, 0x38, 0x00, 0x32, 0x02, 0x08})                              // a link that is no message
	f.Fuzz(func(t *testing.T, body []byte) {
		var want ggpb.GG110MessageAck
		got, ok := decodeStrictly(t, body, &want, ParseMessageAck110)
		if ok && (got.MsgType != want.GetMsgType() || got.Seq != want.GetSeq() || got.Time != want.GetTime() ||
			got.MsgID != want.GetMsgId() || got.ConvID != want.GetConvId()) {
			t.Fatalf("%x: got %+v, protobuf read %v", body, got, &want)
		}
	})
}
