package oim

import (
	"testing"
	"time"
)

// The decoders of what clients and servers send never panic, and what
// they accept survives an encode and decode again.

func FuzzParseRSIRequest(f *testing.F) {
	f.Add(RSIRequestBody(OpGetMetadata, "t=a&p=b"))
	f.Add(RSIRequestBody(OpGetMessage, "t=a&p=", MessageID(1)))
	f.Add(RSIRequestBody(OpDeleteMessages, "t=a&p=", MessageID(1), MessageID(2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRSIRequest(b)
		if err != nil {
			return
		}
		ids := r.MessageIDs
		if r.Operation == OpGetMessage {
			ids = []string{r.MessageID}
		}
		if _, err := ParseRSIRequest(RSIRequestBody(r.Operation, "t="+r.Ticket, ids...)); err != nil {
			t.Fatalf("re-encoded %+v: %v", r, err)
		}
	})
}

func FuzzParseStoreRequest(f *testing.F) {
	f.Add(StoreRequestBody(StoreRequest{From: "a@example.com", To: "b@example.com", Ticket: "t=x&p=", AppID: "PROD0119GSJUC$18",
		MessageNumber: 1, MessageType: "text", Content: string(AppendMessage(nil, Message{RunID: "{R}", Sequence: 1, Text: "hi"}))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseStoreRequest(b)
		if err != nil {
			return
		}
		if _, err := ParseStoreRequest(StoreRequestBody(r)); err != nil {
			t.Fatalf("re-encoded %+v: %v", r, err)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	f.Add(string(AppendMessage(nil, Message{From: "b@example.com", FromName: "B", To: "a@example.com", Sent: time.Unix(1e9, 0), RunID: "{R}", Sequence: 2, Text: "Zażółć"})))
	f.Add("Content-Type: text/plain\r\n\r\nplain")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMessage(s)
		if err != nil {
			return
		}
		again, err := ParseMessage(string(AppendMessage(nil, Message{RunID: "{R}", Text: m.Text})))
		if err != nil || again.Text != m.Text {
			t.Fatalf("text %q came back %q, %v", m.Text, again.Text, err)
		}
	})
}

func FuzzParseMailData(f *testing.F) {
	f.Add(AppendMailData(nil, []Entry{{ID: MessageID(1), From: "b@example.com", FromName: "B", Sent: time.Unix(1e9, 0), Size: 10}}))
	f.Add([]byte(TooLarge))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _, err := ParseMailData(b)
		if err != nil {
			return
		}
		again, _, err := ParseMailData(AppendMailData(nil, entries))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("%d entries came back as %d, %v", len(entries), len(again), err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`<Envelope><Body><Fault><faultcode>q0:AuthenticationFailed</faultcode><detail><LockKeyChallenge>1</LockKeyChallenge></detail></Fault></Body></Envelope>`))
	f.Add([]byte(`<Envelope><Body><GetMetadataResponse><MD><M><I>x</I></M></MD></GetMetadataResponse></Body></Envelope>`))
	f.Add([]byte(`<Envelope><Header><SequenceAcknowledgment><AcknowledgmentRange Upper="3"/></SequenceAcknowledgment></Header></Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err == nil && r.MailData != nil {
			_, _, _ = ParseMailData(r.MailData)
		}
	})
}
