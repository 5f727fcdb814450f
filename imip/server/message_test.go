package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
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
