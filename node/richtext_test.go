package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msnp/client"
)

func loginMSIM(t *testing.T, ctx context.Context, addr, email, password string) *msimclient.Client {
	t.Helper()
	c, err := msimclient.Dial(ctx, addr, msimclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, email, password); err != nil {
		t.Fatalf("msim login %s: %v", email, err)
	}
	return c
}

// nextMSIM returns the next MySpaceIM message.
func nextMSIM(t *testing.T, ctx context.Context, c *msimclient.Client) msimclient.Message {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("msim events closed: %v", c.Err())
			}
			if m, ok := ev.(msimclient.Message); ok {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no msim message: %v", ctx.Err())
		}
	}
}

// TestMySpaceFormattingAndEmoticons: what Pidgin's MySpaceIM plugin sends
// (formatting on parts of a message, smileys as <i n="..."/>) reaches GG
// run by run, MSN in the formatting the whole message has, IMIP as text,
// with the smileys people type; and what they send reaches MySpace the
// same way back.
func TestMySpaceFormattingAndEmoticons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "gary@example.com", "Gary", "pg")
	addAccount(t, n, 1003, "my@example.com", "My", "pm")
	alice := login(t, ctx, n.MSNPAddr, "alice@example.com", "pa")
	gary := loginGG(t, ctx, n.GGAddr, 1002, "pg", wire.StatusAvail, "")
	imip := newIMIPPeer(t, ctx, n, 1004, "imip@example.com")
	my := loginMSIM(t, ctx, n.MSIMAddr, "my@example.com", "pm")

	// Pidgin: bold on one word, the official client's colour on another, a smiley.
	const markup = `plain <f s='1'>bold</f> <c v='rgb(255, 0, 0)'>red</c> <i n="happy"/>`
	const text = "plain bold red :)"
	for _, to := range []uint32{1002, 1001, 1004} {
		if err := my.SendMarkup(ctx, to, markup); err != nil {
			t.Fatal(err)
		}
	}
	m := nextGG[ggclient.Message](t, ctx, gary)
	black := `<span style="color:#000000; ">`
	if want := black + `plain </span>` + black + `<b>bold</b></span>` + black + ` </span><span style="color:#FF0000; ">red</span>` + black + ` :)</span>`; m.Text != text || m.HTML != want {
		t.Errorf("GG got %q as %q, want %q", m.Text, m.HTML, want)
	}
	sb, err := alice.Answer(ctx, next[client.Ring](t, ctx, alice.Events()))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Leave()
	if m := next[client.Message](t, ctx, sb.Events()); m.Text != text || !strings.Contains(m.Header.Get("X-MMS-IM-Format"), "EF=;") {
		t.Errorf("MSN got %q in %q: one bold word makes no bold message", m.Text, m.Header.Get("X-MMS-IM-Format"))
	}
	if err := my.SendMarkup(ctx, 1001, `<f s='1'>all <c v='red'>bold</c></f>`); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, ctx, sb.Events()); m.Text != "all bold" || !strings.Contains(m.Header.Get("X-MMS-IM-Format"), "EF=B;") {
		t.Errorf("MSN got %q in %q, want a bold message", m.Text, m.Header.Get("X-MMS-IM-Format"))
	}
	imip.wait(t, ctx, "IMIP's text", imip.has("1003: "+text))

	// Back: GG's runs and the smileys typed at GG and MSN.
	send := &ggpb.GG110SendMessage{
		Recipient: wire.AppendProtoUIN(nil, wire.UINMagicClient, 1003),
		Dummy1:    proto.Uint32(8),
		Seq:       proto.Uint32(1000),
		MsgPlain:  proto.String("hi there ;)"),
		MsgXhtml:  proto.String(`<span style="color:#000000; ">hi </span><span style="color:#000000; "><b><i>there</i></b></span><span style="color:#000000; "> ;)</span>`),
	}
	body, err := proto.Marshal(send)
	if err != nil {
		t.Fatal(err)
	}
	if err := gary.Send(ctx, wire.Packet{Type: wire.TypeSendMsg110, Body: body}); err != nil {
		t.Fatal(err)
	}
	if m := nextMSIM(t, ctx, my); m.From != 1002 || m.Markup != `hi <f s='3'>there</f> <i n="wink"/>` || m.Text != "hi there ;-)" {
		t.Errorf("MySpace got %q from GG (%q)", m.Markup, m.Text)
	}
	if err := sb.SendText(ctx, "ok :D"); err != nil {
		t.Fatal(err)
	}
	if m := nextMSIM(t, ctx, my); m.From != 1001 || !strings.Contains(m.Markup, `>ok <i n="bigsmile"/></f>`) || m.Text != "ok :D" {
		t.Errorf("MySpace got %q from MSN (%q)", m.Markup, m.Text)
	}
	if _, err := imip.c.SendMessage(ctx, "1003", "bye :P"); err != nil {
		t.Fatal(err)
	}
	if m := nextMSIM(t, ctx, my); m.From != 1004 || m.Markup != `bye <i n="tongue"/>` {
		t.Errorf("MySpace got %q from IMIP", m.Markup)
	}
}
