package p2p

import (
	"bytes"
	"testing"
)

// FuzzParse: any bytes are read or refused without a panic, and what is
// read writes back to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(Message{Header: Header{ID: 1, TotalSize: 3}, Data: []byte("abc"), AppID: AppFile}.Append(nil))
	f.Add(AckFor(Header{ID: 1, TotalSize: 3}, 2).Append(nil))
	f.Add(make([]byte, HeaderSize+FooterSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if out := m.Append(nil); !bytes.Equal(out, b) {
			t.Fatalf("round trip:\n% x\n% x", b, out)
		}
	})
}

// FuzzParsePayload covers the MIME wrapping as the server reads it.
func FuzzParsePayload(f *testing.F) {
	f.Add(Payload("bob@example.com", Message{Header: Header{TotalSize: 1}, Data: []byte{1}}))
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParsePayload(b)
	})
}

// FuzzParseSLP: whatever parses marshals into text that parses to the
// same message.
func FuzzParseSLP(f *testing.F) {
	f.Add([]byte(sampleInvite))
	f.Add([]byte("MSNSLP/1.0 603 Decline\r\nTo: <msnmsgr:a@b>\r\nFrom: <msnmsgr:c@d>\r\nCall-ID: {x}\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSLP(b)
		if err != nil {
			return
		}
		s.SessionID()
		again, err := ParseSLP(s.Marshal())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", s.Marshal(), err)
		}
		_ = again
	})
}

// FuzzParseFileContext: any Context is read or refused without a panic.
func FuzzParseFileContext(f *testing.F) {
	f.Add(FileContext{Name: "a.txt", Size: 10}.Encode())
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseFileContext(s); err == nil && len(c.Name) > 4*nameBytes {
			t.Fatalf("name of %d bytes", len(c.Name))
		}
	})
}

// FuzzParseV2: any bytes are read or refused without a panic; what is
// read writes out to bytes that read back the same, and to the very
// input when its padding was the shortest.
func FuzzParseV2(f *testing.F) {
	ack, _ := AckV2(MessageV2{Seq: 5, Payload: &DataV2{Data: []byte("x")}}, 9).AppendV2(nil)
	f.Add(ack)
	chunk, _ := MessageV2{Op: OpSYN | OpRAK, Seq: 1, TLVs: []TLV{{Type: TLVPeerInfo, Value: make([]byte, 12)}},
		Payload: &DataV2{TF: TFFirst, TLVs: []TLV{{Type: TLVRemaining, Value: make([]byte, 8)}}, Data: []byte("INVITE")}}.AppendV2(nil)
	f.Add(chunk)
	f.Add(make([]byte, minHeaderV2+FooterSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseV2(b)
		if err != nil {
			return
		}
		m.Ack()
		m.Remaining()
		out, err := m.AppendV2(nil)
		if err != nil {
			t.Fatalf("parsed but cannot write: %v", err)
		}
		again, err := ParseV2(out)
		if err != nil {
			t.Fatalf("re-parse of % x: %v", out, err)
		}
		if again2, _ := again.AppendV2(nil); !bytes.Equal(again2, out) {
			t.Fatalf("not stable:\n% x\n% x", out, again2)
		}
		if len(out) == len(b) && !bytes.Equal(out, b) {
			t.Fatalf("same length, other bytes:\n% x\n% x", b, out)
		}
	})
}
