package hub

import (
	"reflect"
	"testing"
	"time"
)

func sampleEvents() []Event {
	sent := time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)
	return []Event{
		{Kind: EventPresence, From: Account{Number: 1001, Email: "alice@example.com", DisplayName: "Alice", CreatedAt: sent}, Status: StatusBusy, Text: "in a meeting"},
		{Kind: EventKick, Protocol: "msnp", Session: "0123456789abcdef", At: sent.UnixNano()},
		{Kind: EventKick, Protocol: "msnp", Session: "0123456789abcdef", At: sent.UnixNano(), Instance: "{F26D1F07-95E2-403C-BC18-D4BFED493428}"},
		{Kind: EventKick, Protocol: "webchat", Session: "0123456789abcdef", Reason: KickSignedOut},
		{Kind: EventInvite, From: Account{Number: 7}, Invite: &Invite{Protocol: "msnp", Conversation: "c1", Addr: "127.0.0.1:1865", Cookie: "17.42"}},
		{Kind: EventMessage, From: Account{Number: 7, Nick: "bob"}, SkipProtocol: "gg", Message: &Message{
			Text: "bold and red", Sent: sent, Offline: 12,
			Format: &Format{Font: "Arial", Color: "ff0000", Bold: true, Strike: true},
			Runs:   []Run{{Text: "bold", Format: Format{Bold: true}}, {Text: " and red", Format: Format{Color: "ff0000", Italic: true, Underline: true}}},
		}},
		{Kind: EventTyping, From: Account{Number: 9}, Typing: 3},
		{Kind: EventNotify, Notification: &Notification{Kind: "edisc/send_ticket_changed", Data: `{"id":"x"}`}},
		{Kind: EventNotify, Notification: &Notification{Kind: "msnp/ubn", Data: "a@b 3\nx", Protocol: "msnp"}},
		{Kind: EventFile, From: Account{Number: 9}, Protocol: "msnp", File: "ticket"},
		{Kind: EventReverseAdded, From: Account{Number: 9}, Serial: 42},
		{Kind: EventMailbox},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		to, watermark, got, err := decodeEnvelope(encodeEnvelope(1002, 77, &ev))
		if err != nil || to != 1002 || watermark != 77 || !reflect.DeepEqual(got, ev) {
			t.Errorf("%s: got %d %d %+v %v, want %+v", ev.Kind, to, watermark, got, err, ev)
		}
	}
}

func TestPresenceRecordRoundTrip(t *testing.T) {
	rec := presenceRecord{Sessions: []sessionPresence{
		{ID: "a1", Status: StatusAway, Text: "lunch", Protocol: "gg", Node: "n1", Addr: "192.0.2.7:50000"},
		{ID: "b2", Status: StatusOnline, Protocol: "msnp", Node: "n2", Details: "11 1073741860 %3Cmsnobj%2F%3E"},
	}}
	got, err := decodePresenceRecord(appendPresenceRecord(nil, rec))
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("got %+v %v", got, err)
	}
}

// A record naming more sessions than any account can have is refused
// rather than held.
func TestPresenceRecordBounded(t *testing.T) {
	var rec presenceRecord
	for range maxRecordSessions + 1 {
		rec.Sessions = append(rec.Sessions, sessionPresence{ID: "x", Status: StatusOnline})
	}
	if _, err := decodePresenceRecord(appendPresenceRecord(nil, rec)); err == nil {
		t.Fatal("decoded a record of too many sessions")
	}
}

// FuzzDecodeEnvelope: whatever arrives on the bus decodes or is refused,
// and what decodes encodes back to the same event.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(encodeEnvelope(5, 6, &ev))
	}
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		to, watermark, ev, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		to2, watermark2, ev2, err := decodeEnvelope(encodeEnvelope(to, watermark, &ev))
		if err != nil || to2 != to || watermark2 != watermark || !reflect.DeepEqual(ev2, ev) {
			t.Fatalf("re-encoding changed %+v into %+v (%v)", ev, ev2, err)
		}
	})
}

func FuzzDecodePresenceRecord(f *testing.F) {
	f.Add(appendPresenceRecord(nil, presenceRecord{Sessions: []sessionPresence{{ID: "a", Status: StatusOnline, Protocol: "gg", Node: "n"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodePresenceRecord(data)
		if err != nil {
			return
		}
		again, err := decodePresenceRecord(appendPresenceRecord(nil, rec))
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("re-encoding changed %+v into %+v (%v)", rec, again, err)
		}
	})
}
