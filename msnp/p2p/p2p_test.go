package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	m := Message{Header: Header{SessionID: 7, ID: 0x01020304, Offset: 1202, TotalSize: 5000, Flags: FlagFileData,
		AckSessionID: 9, AckUniqueID: 10, AckDataSize: 11}, Data: []byte("chunk"), AppID: AppFile}
	b := m.Append(nil)
	if len(b) != HeaderSize+5+FooterSize {
		t.Fatalf("%d bytes", len(b))
	}
	// Little-endian header, big-endian footer.
	if b[4] != 4 || b[7] != 1 || !bytes.Equal(b[len(b)-4:], []byte{0, 0, 0, 2}) {
		t.Fatalf("byte order: % x", b)
	}
	if binary.LittleEndian.Uint32(b[24:]) != 5 {
		t.Fatal("length not taken from the data")
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Length = 5
	if got.Header != m.Header || string(got.Data) != "chunk" || got.AppID != AppFile {
		t.Fatalf("got %+v", got)
	}
	if got.Complete() || got.IsAck() {
		t.Fatal("flags read wrong")
	}
}

func TestParseRejects(t *testing.T) {
	ok := Message{Header: Header{TotalSize: 3}, Data: []byte("abc")}.Append(nil)
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short":             {ok[:HeaderSize+FooterSize-1], ErrShort},
		"length too large":  {append(append([]byte{}, ok[:24]...), append([]byte{4, 0, 0, 0}, ok[28:]...)...), ErrLength},
		"past total":        {Message{Header: Header{Offset: 2, TotalSize: 3}, Data: []byte("ab")}.Append(nil), ErrRange},
		"offset past total": {Message{Header: Header{Offset: 1 << 63, TotalSize: 3}, Data: []byte("a")}.Append(nil), ErrRange},
	} {
		if _, err := Parse(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := Parse(ok); err != nil {
		t.Fatal(err)
	}
}

func TestAckFor(t *testing.T) {
	got := Header{SessionID: 5, ID: 100, Offset: 2404, TotalSize: 3000, Length: 596, AckSessionID: 77}
	a := AckFor(got, 200)
	want := Header{SessionID: 5, ID: 200, TotalSize: 3000, Flags: FlagAck, AckSessionID: 100, AckUniqueID: 77, AckDataSize: 3000}
	if a.Header != want || len(a.Data) != 0 || !a.IsAck() {
		t.Fatalf("ack %+v", a.Header)
	}
}

func TestPayload(t *testing.T) {
	m := Message{Header: Header{ID: 3, TotalSize: 2}, Data: []byte{0, 1}, AppID: AppDisplayPicture}
	p := Payload("bob@example.com", m)
	if !bytes.HasPrefix(p, []byte("MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: bob@example.com\r\n\r\n")) {
		t.Fatalf("%q", p)
	}
	dest, got, err := ParsePayload(p)
	if err != nil || dest != "bob@example.com" || got.ID != 3 || !bytes.Equal(got.Data, []byte{0, 1}) || got.AppID != AppDisplayPicture {
		t.Fatalf("%q %+v %v", dest, got, err)
	}
	// MSNP16+ peers name the endpoint.
	p16 := bytes.Replace(p, []byte("bob@example.com"), []byte("bob@example.com;{F26D1F07-95E2-403C-BC18-D4BFED493428}"), 1)
	if dest, _, err := ParsePayload(p16); err != nil || dest != "bob@example.com" {
		t.Fatalf("%q %v", dest, err)
	}
	if _, _, err := ParsePayload([]byte("MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi")); err != ErrNotP2P {
		t.Fatal(err)
	}
}

func TestChunks(t *testing.T) {
	for _, size := range []int{0, 1, MaxChunk, MaxChunk + 1, 3*MaxChunk + 7} {
		data := bytes.Repeat([]byte{7}, size)
		var got []byte
		n := 0
		err := Chunks(9, 42, FlagFileData, AppFile, data, func(m Message) error {
			if m.ID != 42 || m.SessionID != 9 || m.TotalSize != uint64(size) || m.Offset != uint64(len(got)) || len(m.Data) > MaxChunk {
				t.Fatalf("chunk %+v", m.Header)
			}
			b := m.Append(nil)
			back, err := Parse(b)
			if err != nil {
				return err
			}
			got = append(got, back.Data...)
			n++
			if back.Complete() != (len(got) == size) {
				t.Fatalf("complete at %d of %d", len(got), size)
			}
			return nil
		})
		if err != nil || !bytes.Equal(got, data) || n != max(1, (size+MaxChunk-1)/MaxChunk) {
			t.Fatalf("%d bytes: %d chunks, %v", size, n, err)
		}
	}
	stop := errors.New("stop")
	if err := Chunks(1, 1, 0, 0, make([]byte, 5000), func(Message) error { return stop }); err != stop {
		t.Fatal(err)
	}
}

// A file INVITE as clients write it (values ours).
const sampleInvite = "INVITE MSNMSGR:bob@example.com MSNSLP/1.0\r\n" +
	"To: <msnmsgr:bob@example.com>\r\n" +
	"From: <msnmsgr:alice@example.com>\r\n" +
	"Via: MSNSLP/1.0/TLP ;branch={33517CE4-02FC-4428-B6F4-39927229B722}\r\n" +
	"CSeq: 0 \r\n" +
	"Call-ID: {9D79AE57-1BD5-444B-B14E-3FC9BB2B5D58}\r\n" +
	"Max-Forwards: 0\r\n" +
	"Content-Type: application/x-msnmsgr-sessionreqbody\r\n" +
	"Content-Length: 73\r\n" +
	"\r\n" +
	"EUF-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n" +
	"SessionID: 1980589\r\n" +
	"\r\n\x00"

func TestParseSLP(t *testing.T) {
	s, err := ParseSLP([]byte(sampleInvite))
	if err != nil {
		t.Fatal(err)
	}
	if s.Method != Invite || s.To != "bob@example.com" || s.From != "alice@example.com" || s.CSeq != 0 ||
		s.Branch != "{33517CE4-02FC-4428-B6F4-39927229B722}" || s.CallID != "{9D79AE57-1BD5-444B-B14E-3FC9BB2B5D58}" ||
		s.ContentType != SessionRequest || s.Body.Get("euf-guid") != EUFFileTransfer || s.SessionID() != 1980589 {
		t.Fatalf("%+v", s)
	}
	// Marshal writes it back byte for byte.
	if got := string(s.Marshal()); got != sampleInvite {
		t.Fatalf("marshal:\n%q\nwant\n%q", got, sampleInvite)
	}
	ok := s.Reply(StatusOK, "OK", SessionRequest, Fields{{"SessionID", "1980589"}})
	back, err := ParseSLP(ok.Marshal())
	if err != nil || back.Method != "" || back.Status != 200 || back.Reason != "OK" || back.To != "alice@example.com" ||
		back.From != "bob@example.com" || back.CSeq != 1 || back.CallID != s.CallID || back.Branch != s.Branch || back.SessionID() != 1980589 {
		t.Fatalf("%+v %v", back, err)
	}
	decline := s.Reply(StatusDecline, "Decline", SessionRequest, Fields{{"SessionID", "1980589"}})
	if !strings.HasPrefix(string(decline.Marshal()), "MSNSLP/1.0 603 Decline\r\n") {
		t.Fatalf("%q", decline.Marshal())
	}
	// MSNP16+ addresses carry an endpoint.
	s16, err := ParseSLP([]byte(strings.Replace(sampleInvite, "<msnmsgr:alice@example.com>", "<msnmsgr:alice@example.com;{F26D1F07-95E2-403C-BC18-D4BFED493428}>", 1)))
	if err != nil || s16.From != "alice@example.com" {
		t.Fatalf("%+v %v", s16, err)
	}
}

func TestParseSLPRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"hello\r\n\r\n",
		"INVITE bob MSNSLP/1.0\r\nCall-ID: {x}\r\n\r\n",
		"MSNSLP/1.0 abc OK\r\nTo: <msnmsgr:a>\r\nFrom: <msnmsgr:b>\r\nCall-ID: {x}\r\n\r\n",
		strings.Replace(sampleInvite, "Call-ID", "X-Call", 1),
		strings.Replace(sampleInvite, "Content-Length: 73", "Content-Length: -1", 1),
		sampleInvite + strings.Repeat("x", MaxSLP),
	} {
		if _, err := ParseSLP([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFileContext(t *testing.T) {
	for _, c := range []FileContext{{"notes.txt", 3000}, {"zażółć gęślą jaźń 🙂.png", 1 << 40}, {"", 0}} {
		enc := c.Encode()
		got, err := ParseFileContext(enc)
		if err != nil || got != c {
			t.Fatalf("%+v → %+v %v", c, got, err)
		}
	}
	long := FileContext{Name: strings.Repeat("a", 400), Size: 1}
	if got, err := ParseFileContext(long.Encode()); err != nil || len(got.Name) != nameBytes/2-1 {
		t.Fatalf("%d %v", len(got.Name), err)
	}
	for _, bad := range []string{"!!!", "AAAA", FileContext{Name: "x"}.Encode()[:100]} {
		if _, err := ParseFileContext(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPeerSLP(t *testing.T) {
	a, b := NewPeer("alice@example.com", "bob@example.com"), NewPeer("bob@example.com", "alice@example.com")
	inv := SLP{Method: Invite, To: "bob@example.com", From: "alice@example.com", Branch: NewGUID(), CallID: NewGUID(),
		ContentType: SessionRequest, Body: Fields{{"EUF-GUID", EUFFileTransfer}, {"SessionID", "5"}, {"AppID", "2"},
			{"Context", FileContext{Name: "a.txt", Size: 1}.Encode()}, {"X-Padding", strings.Repeat("p", 600)}}}
	payloads := a.SLPPayloads(inv)
	if len(payloads) < 2 {
		t.Fatalf("a long INVITE takes %d chunks", len(payloads))
	}
	for i, pl := range payloads {
		dest, m, err := ParsePayload(pl)
		if err != nil || dest != "bob@example.com" || m.SessionID != 0 || m.AppID != AppSLP {
			t.Fatalf("%q %+v %v", dest, m.Header, err)
		}
		text, complete, err := b.ReceiveSLP(m)
		if err != nil || complete != (i == len(payloads)-1) {
			t.Fatalf("chunk %d: %v %v", i, complete, err)
		}
		if complete {
			got, err := ParseSLP(text)
			if err != nil || got.CallID != inv.CallID || got.Body.Get("Context") != inv.Body.Get("Context") {
				t.Fatalf("%+v %v", got, err)
			}
			_, ack, _ := ParsePayload(b.AckPayload(m.Header))
			if !ack.IsAck() || ack.AckSessionID != m.ID || ack.AckDataSize != m.TotalSize {
				t.Fatalf("ack %+v", ack.Header)
			}
		}
	}
	// Out of order, and too many at once.
	_, second, _ := ParsePayload(payloads[1])
	if _, _, err := b.ReceiveSLP(second); err != ErrOutOfOrder {
		t.Fatal(err)
	}
	for i := range maxPartial + 1 {
		_, first, _ := ParsePayload(a.SLPPayloads(inv)[0])
		if _, _, err := b.ReceiveSLP(first); (err == ErrTooMany) != (i == maxPartial) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, _, err := b.ReceiveSLP(Message{Header: Header{TotalSize: MaxSLP + 1}}); err != ErrBadSLP {
		t.Fatal(err)
	}
}

// wlm2009TransReq is a direct-connection INVITE as WLM 2009 writes it
// (fields from spec msnp8-18 §6; addresses with endpoints).
var wlm2009TransReq = func() string {
	body := "Bridges: TRUDPv1 TCPv1 SBBridge TURNv1\r\nNetID: 0\r\nConn-Type: Direct-Connect\r\nTCP-Conn-Type: Direct-Connect\r\n" +
		"UPnPNat: false\r\nICF: false\r\nHashed-Nonce: {44444444-4444-4444-4444-444444444444}\r\nSessionID: 7\r\n" +
		"SChannelState: 0\r\nCapabilities-Flags: 1\r\n\r\n"
	return "INVITE MSNMSGR:carol@example.com;{C0000000-0000-0000-0000-00000000000C} MSNSLP/1.0\r\n" +
		"To: <msnmsgr:carol@example.com;{C0000000-0000-0000-0000-00000000000C}>\r\n" +
		"From: <msnmsgr:bob@example.com;{B0B00000-0000-0000-0000-000000000002}>\r\n" +
		"Via: MSNSLP/1.0/TLP ;branch={33333333-3333-3333-3333-333333333333}\r\nCSeq: 0 \r\n" +
		"Call-ID: {22222222-2222-2222-2222-222222222222}\r\nMax-Forwards: 0\r\n" +
		"Content-Type: application/x-msnmsgr-transreqbody\r\nContent-Length: " + strconv.Itoa(len(body)+1) + "\r\n\r\n" + body + "\x00"
}()

func TestRefuseDirect(t *testing.T) {
	inv, err := ParseSLP([]byte(wlm2009TransReq))
	if err != nil {
		t.Fatal(err)
	}
	if inv.To != "carol@example.com" || inv.From != "bob@example.com" {
		t.Fatalf("endpoint addresses read as %q, %q", inv.To, inv.From)
	}
	for name, tc := range map[string]struct {
		inv   SLP
		nonce string
	}{
		"WLM 2009, Hashed-Nonce": {inv, "Hashed-Nonce"},
		"MSN 7, Nonce": {SLP{Method: Invite, To: "carol@example.com", From: "bob@example.com", Branch: "{B}", CSeq: 0,
			CallID: "{C}", ContentType: TransRequest, Body: Fields{{Name: "Bridges", Value: "TCPv1"}, {Name: "Nonce", Value: "{9}"}}}, "Nonce"},
	} {
		a := tc.inv.RefuseDirect()
		text := string(a.Marshal())
		want := "MSNSLP/1.0 200 OK\r\nTo: <msnmsgr:bob@example.com>\r\nFrom: <msnmsgr:carol@example.com>\r\n" +
			"Via: MSNSLP/1.0/TLP ;branch=" + tc.inv.Branch + "\r\nCSeq: 1 \r\nCall-ID: " + tc.inv.CallID + "\r\n"
		if !strings.HasPrefix(text, want) {
			t.Errorf("%s: head\n%q\nwant prefix\n%q", name, text, want)
		}
		if !strings.Contains(text, "Content-Type: application/x-msnmsgr-transrespbody\r\n") ||
			!strings.HasSuffix(text, "\r\n\r\nBridge: TCPv1\r\nListening: false\r\n"+tc.nonce+": {00000000-0000-0000-0000-000000000000}\r\n\r\n\x00") {
			t.Errorf("%s: %q", name, text)
		}
	}
}
