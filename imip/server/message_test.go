package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// A message encoded straight from its parts (appendMessage) is the bytes
// that encode makes of messageBlock's block, whatever the sender's name
// and the text hold.
func TestAppendMessageEncodesMessageBlock(t *testing.T) {
	sent := time.Date(2026, 12, 7, 20, 55, 1, 999, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		from hub.Account
		to   uint32
		msg  hub.Message
	}{
		{"plain", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "hello", Sent: sent}},
		{"no nick", hub.Account{Number: 7}, 4294967295, hub.Message{Text: "hi", Sent: sent}},
		{"quotes and line ends in the nick", hub.Account{Number: 1001, DisplayName: "A \"B\"\r\nC\x7f\x00"}, 1002, hub.Message{Text: "x", Sent: sent}},
		{"invalid UTF-8 in the nick", hub.Account{Number: 1001, DisplayName: "\xff\xfeé"}, 1002, hub.Message{Text: "x", Sent: sent}},
		{"long nick", hub.Account{Number: 1001, DisplayName: strings.Repeat("ñ", 200)}, 1002, hub.Message{Text: "x", Sent: sent}},
		{"empty text", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Sent: sent}},
		{"lines in the text", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "one\r\n\r\ntwo\nthree\r\n", Sent: sent}},
		{"same second, other nanoseconds", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "x", Sent: sent.Add(999_000_000)}},
		{"the second before", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "x", Sent: sent.Add(-time.Nanosecond - 999)}},
		{"before 1970", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "x", Sent: time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)}},
		{"zero time", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "x"}},
		{"year past 9999", hub.Account{Number: 1001, DisplayName: "Alice"}, 1002, hub.Message{Text: "x", Sent: time.Date(12026, 1, 2, 3, 4, 5, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{srv: &Server{}}
			want, err := c.encode([]byte("before"), messageBlock(tc.from, tc.to, tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			got := appendMessage([]byte("before"), c.srv.ids.Load(), tc.from, tc.to, &tc.msg)
			if !bytes.Equal(got, want) {
				t.Errorf("appendMessage gave\n%q\nencode gave\n%q", got, want)
			}
		})
	}
}

// "ACK 600" encoded straight from the IDs (appendAckOK) is the bytes that
// encode makes of ackBlock's block, whatever ID the request had.
func TestAppendAckOKEncodesAckBlock(t *testing.T) {
	for _, id := range []string{"", "1001", "0", "007", "4294967295", "4294967296", "+5", "-1", "x", " 12"} {
		t.Run(id, func(t *testing.T) {
			req := wire.NewBlock(wire.TypeMESG).Add(wire.HeaderTo, "1002")
			if id != "" {
				req.Add(wire.HeaderID, id)
			}
			c := &conn{srv: &Server{}}
			want, err := c.encode([]byte("before"), ackBlock(req, wire.CodeOK))
			if err != nil {
				t.Fatal(err)
			}
			ref, hasRef := req.ID()
			got := appendAckOK([]byte("before"), c.srv.ids.Load(), ref, hasRef)
			if !bytes.Equal(got, want) {
				t.Errorf("appendAckOK gave\n%q\nencode gave\n%q", got, want)
			}
		})
	}
}
