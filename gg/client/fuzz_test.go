package client

import (
	"context"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"google.golang.org/protobuf/proto"
)

// FuzzServerInput feeds arbitrary server output to a client that logs in
// and then sends a message, pings, asks for its userlist and goes offline:
// nothing may panic, every call must return, and Close must finish.
func FuzzServerInput(f *testing.F) {
	login := wire.AppendPacket(nil, wire.TypeWelcome, []byte{1, 2, 3, 4})
	login = appendProto(login, wire.TypeLogin110OK, &ggpb.GG110LoginOK{Dummy1: proto.Int32(1), Dummyhash: proto.String("h"),
		Uin: proto.Uint32(1), ServerTime: proto.Uint32(1)})
	login = appendProto(login, wire.TypeIMToken, &ggpb.GG110Imtoken{Imtoken: proto.String("t")})
	f.Add(login)
	s := appendProto(login, wire.TypeSendMsgAck110, &ggpb.GG110MessageAck{MsgType: proto.Uint32(1), Seq: proto.Uint32(1),
		Time: proto.Uint32(1), Dummy1: proto.Uint32(0)})
	s = appendProto(s, wire.TypePong110, &ggpb.GG110Pong{ServerTime: proto.Uint32(5)})
	s = wire.AppendPacket(s, wire.TypeUserlist100Reply, wire.AppendUserlist100(nil, wire.Userlist100{Data: wire.DeflateUserlist([]byte("x"))}))
	s = wire.AppendPacket(s, wire.TypeDisconnectAck, nil)
	f.Add(s)
	s = appendProto(login, wire.TypeRecvMsg110, &ggpb.GG110RecvMessage{Sender: []byte("\x00\x012"), Flags: proto.Uint32(0),
		Seq: proto.Uint32(1), Time: proto.Uint32(1), MsgPlain: proto.String(""), MsgXhtml: proto.String("<b>x")})
	s = appendProto(s, wire.TypeEvent110, &ggpb.GG110Event{Type: ggpb.GG110Event_JSON.Enum(), Seq: proto.Uint32(1),
		Data: proto.String("{}"), Subtype: proto.String("x")})
	s = wire.AppendPacket(s, wire.TypeNotifyReply80, wire.AppendContactStatus(nil, wire.ContactStatus{UIN: 3, Description: "d"}))
	s = wire.AppendPacket(s, wire.TypeTypingNotify, wire.AppendTyping(nil, wire.Typing{Length: 1, UIN: 3}))
	s = wire.AppendPacket(s, wire.TypeDisconnecting, nil)
	f.Add(s)
	f.Add(wire.AppendPacket(wire.AppendPacket(nil, wire.TypeWelcome, []byte{1, 2, 3, 4}), wire.TypeLogin80Failed, []byte{1, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fakeserver.Watchdog(10 * time.Second)()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a, fed := fakeserver.Feed(data)
		c := newClient(a, Options{EventBuffer: 8, MaxBody: 4096, MaxUserlist: 4096})
		go c.readLoop()
		events := make(chan struct{})
		go func() {
			defer close(events)
			for range c.Events() {
			}
		}()
		if c.Login(ctx, 1, "x", 0, "") == nil {
			c.SendMessage(ctx, 2, "y")
			c.Ping(ctx)
			c.UserlistGet(ctx, 0, wire.UserlistFormatGG100)
			c.SetStatus(ctx, wire.StatusNotAvail, "")
		}
		c.Close()
		<-events
		fed()
	})
}

func appendProto(dst []byte, typ uint32, m proto.Message) []byte {
	body, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return wire.AppendPacket(dst, typ, body)
}

// FuzzTextToHTML: the XHTML form is the text escaped as html.EscapeString
// escapes, carriage returns dropped, line breaks as <br>, in a span.
func FuzzTextToHTML(f *testing.F) {
	for _, text := range []string{"", "plain", polish, "<>&'\"", "\r\n\n\r", "a\r\nb\nc&d<e", "ends with &"} {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		want := "<span>" + strings.ReplaceAll(html.EscapeString(strings.ReplaceAll(text, "\r", "")), "\n", "<br>") + "</span>"
		if got := textToHTML(text); got != want {
			t.Fatalf("textToHTML(%q) = %q, want %q", text, got, want)
		}
	})
}
