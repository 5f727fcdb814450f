package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
)

// sinkFiles keeps every deposited file by reading it to the end.
type sinkFiles struct{ fakeFiles }

func (sinkFiles) Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error) {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, not %d", n, size)
	}
	return drive.Ticket{ID: "t", FileName: name, FileSize: n}, err
}

func (sinkFiles) Deliver(context.Context, drive.Ticket) bool { return true }

// quietSession takes every hub event and keeps none.
type quietSession struct{}

func (quietSession) Deliver(hub.Event) bool { return true }

// p2pMSG is a switchboard MSG in mode D carrying body as a P2P message.
func p2pMSG(trid int, body []byte) string {
	p := "MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: carol@example.com\r\n\r\n" + string(body)
	return fmt.Sprintf("MSG %d D %d\r\n%s", trid, len(p), p)
}

// untilACK reads what the switchboard sends until ACK trid, skipping
// messages; it returns the P2P messages among them.
func untilACK(t testing.TB, sb *rawClient, trid int) []p2p.Message {
	t.Helper()
	var got []p2p.Message
	for {
		line, err := sb.line()
		if err != nil {
			t.Fatalf("waiting for ACK %d: %v", trid, err)
		}
		if line == "ACK "+strconv.Itoa(trid) {
			return got
		}
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "MSG" {
			n, _ := strconv.Atoi(f[3])
			payload := make([]byte, n)
			if _, err := io.ReadFull(sb.br, payload); err != nil {
				t.Fatal(err)
			}
			if _, m, err := p2p.ParsePayload(payload); err == nil {
				got = append(got, m)
			}
		}
	}
}

// slpSeed is an MSNSLP message from bob to carol in one P2P chunk.
func slpSeed(s p2p.SLP) []byte {
	return p2p.Message{Header: p2p.Header{ID: 10, TotalSize: uint64(len(s.Marshal()))}, Data: s.Marshal()}.Append(nil)
}

// fileInvite is bob's INVITE to carol for a file of size bytes in session.
func fileInvite(euf string, session uint32, size uint64) p2p.SLP {
	return p2p.SLP{Method: p2p.Invite, To: "carol@example.com", From: "bob@example.com", Branch: "{B}", CallID: "{C}",
		ContentType: p2p.SessionRequest, Body: p2p.Fields{{Name: "EUF-GUID", Value: euf},
			{Name: "SessionID", Value: strconv.FormatUint(uint64(session), 10)}, {Name: "AppID", Value: "2"},
			{Name: "Context", Value: p2p.FileContext{Name: "a.txt", Size: size}.Encode()}}}
}

// framed joins P2P messages as the fuzz target reads them: each after its
// length in two bytes.
func framed(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// FuzzP2PToRemote sends whatever P2P messages to a peer the server stands
// in for: a member of another protocol (old false), or an MSN client that
// does not speak MSNSLP (old true). The server must answer what it
// answers, keep the switchboard working (a text message after them is
// acknowledged) and never crash.
func FuzzP2PToRemote(f *testing.F) {
	data := p2p.Message{Header: p2p.Header{SessionID: 7, ID: 11, TotalSize: 5}, Data: []byte("hello"), AppID: p2p.AppFile}.Append(nil)
	bye := p2p.SLP{Method: p2p.Bye, To: "carol@example.com", From: "bob@example.com", Branch: "{B}", CallID: "{C}",
		ContentType: p2p.SessionClose, Body: p2p.Fields{{Name: "SessionID", Value: "7"}}}
	trans := fileInvite(p2p.EUFFileTransfer, 7, 5)
	trans.ContentType = p2p.TransRequest
	for _, old := range []bool{false, true} {
		for _, seed := range [][]byte{
			framed(slpSeed(fileInvite(p2p.EUFFileTransfer, 7, 5)), data),
			framed(slpSeed(fileInvite(p2p.EUFFileTransfer, 7, 5)), slpSeed(trans), data[:HeaderSizeForTest+2]),
			framed(slpSeed(fileInvite(p2p.EUFFileTransfer, 7, 5)), slpSeed(bye), data),
			framed(slpSeed(fileInvite(p2p.EUFMSNObject, 7, 5))),
			framed(data, slpSeed(bye)),
			framed([]byte("garbage")),
		} {
			f.Add(old, seed)
		}
	}
	env := newTestEnv(f, func(c *Config) {
		c.Files = sinkFiles{}
		// bob's notification connection opens a switchboard per run.
		c.CommandsPerSecond, c.CommandBurst = 1e9, 1e9
	})
	env.addAccount(f, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(f, 1003, "carol@example.com", "Carol", "pc")
	env.addAccount(f, 1004, "dave@example.com", "Dave", "pd")
	s, err := env.hub.Attach(context.Background(), carol, "other", quietSession{})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, old bool, in []byte) {
		// Bob and Dave sign in afresh for each run (their connections close
		// with it), so that nothing an earlier run left for them reaches
		// this one's connections.
		ns := dialRaw(t, env.nsAddr)
		ns.login("bob@example.com", "pb")
		sb := ns.switchboard("bob@example.com", "Bob")
		callee, name := "carol@example.com", "Carol"
		if old {
			callee, name = "dave@example.com", "Dave"
		}
		var dave *rawClient
		if old {
			dave = dialRaw(t, env.nsAddr) // an MSNP7 client: no MSNSLP
			dave.login("dave@example.com", "pd")
			dave.send("CHG 4 NLN\r\n")
			dave.expect("CHG 4 NLN")
		}
		sb.send("CAL 2 " + callee + "\r\n")
		line, _ := sb.line()
		sid, ok := strings.CutPrefix(line, "CAL 2 RINGING ")
		if !ok {
			t.Fatalf("CAL: %q", line)
		}
		if old {
			// An earlier run's file may still ring Dave, from a chat of its
			// own: he answers the ring of this run's chat.
			line, err := dave.line()
			for err == nil && !strings.HasPrefix(line, "RNG "+sid+" ") {
				line, err = dave.line()
			}
			if err != nil {
				t.Fatal(err)
			}
			dsb := answerRingLine(t, line, "dave@example.com", "bob@example.com")
			defer dsb.nc.Close()
			dsb.expect("IRO 1 1 1 bob@example.com Bob")
			dsb.expect("ANS 1 OK")
		}
		sb.expect("JOI " + callee + " " + name)
		trid := 3
		for len(in) >= 2 {
			n := min(int(binary.LittleEndian.Uint16(in)), len(in)-2, 1400)
			sb.send(p2pMSG(trid, in[2:2+n]))
			untilACK(t, sb, trid)
			in = in[2+n:]
			trid++
		}
		text := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nstill there?"
		sb.send(fmt.Sprintf("MSG %d A %d\r\n%s", trid, len(text), text))
		untilACK(t, sb, trid)
	})
}

// HeaderSizeForTest cuts a seed's data chunk inside its header.
const HeaderSizeForTest = p2p.HeaderSize

// TestP2PToRemoteAnswers: the server, standing in for a member of another
// protocol, acknowledges an INVITE and accepts a file, answers a
// direct-connection INVITE that it does not listen, acknowledges the
// whole file once it is kept, and declines a file larger than the drive
// keeps and a display picture request.
func TestP2PToRemoteAnswers(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Files = sinkFiles{} })
	sb := callOther(t, env, "other")
	readSLP := func(msgs []p2p.Message) []p2p.SLP {
		var out []p2p.SLP
		for _, m := range msgs {
			if m.SessionID == 0 && !m.IsAck() {
				s, err := p2p.ParseSLP(m.Data)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
		}
		return out
	}
	sb.send(p2pMSG(3, slpSeed(fileInvite(p2p.EUFFileTransfer, 7, 5))))
	got := untilACK(t, sb, 3)
	if len(got) != 2 || !got[0].IsAck() || got[0].AckSessionID != 10 {
		t.Fatalf("answer to the INVITE: %+v", got)
	}
	if s := readSLP(got); len(s) != 1 || s[0].Status != p2p.StatusOK || s[0].CallID != "{C}" || s[0].SessionID() != 7 ||
		s[0].From != "carol@example.com" || s[0].To != "bob@example.com" {
		t.Fatalf("answer: %+v", s)
	}
	// WLM 2009's direct-connection INVITE, with its endpoint addresses.
	trans := p2p.SLP{Method: p2p.Invite, To: "carol@example.com;{C}", From: "bob@example.com;{B}", Branch: "{T}", CallID: "{C}",
		ContentType: p2p.TransRequest, Body: p2p.Fields{{Name: "Bridges", Value: "TRUDPv1 TCPv1 SBBridge TURNv1"},
			{Name: "Conn-Type", Value: "Direct-Connect"}, {Name: "Hashed-Nonce", Value: "{44444444-4444-4444-4444-444444444444}"},
			{Name: "SessionID", Value: "7"}}}
	sb.send(p2pMSG(4, slpSeed(trans)))
	if s := readSLP(untilACK(t, sb, 4)); len(s) != 1 || s[0].Status != p2p.StatusOK || s[0].ContentType != p2p.TransResponse ||
		s[0].CallID != "{C}" || s[0].Branch != "{T}" || s[0].To != "bob@example.com" ||
		s[0].Body.Get("Bridge") != "TCPv1" || s[0].Body.Get("Listening") != "false" ||
		s[0].Body.Get("Hashed-Nonce") != "{00000000-0000-0000-0000-000000000000}" {
		t.Fatalf("answer to the direct connection: %+v", s)
	}
	sb.send(p2pMSG(5, p2p.Message{Header: p2p.Header{SessionID: 7, ID: 11, TotalSize: 5}, Data: []byte("hello"), AppID: p2p.AppFile}.Append(nil)))
	got = untilACK(t, sb, 5)
	for len(got) == 0 { // the acknowledgement follows once the file is kept
		_, payload := sb.readMSG()
		_, m, err := p2p.ParsePayload([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if !got[0].IsAck() || got[0].SessionID != 7 || got[0].AckSessionID != 11 || got[0].AckDataSize != 5 {
		t.Fatalf("acknowledgement of the file: %+v", got[0].Header)
	}
	big := fileInvite(p2p.EUFFileTransfer, 9, 1<<20+1)
	big.CallID = "{F}"
	sb.send(p2pMSG(7, slpSeed(big)))
	if s := readSLP(untilACK(t, sb, 7)); len(s) != 1 || s[0].Status != p2p.StatusDecline || s[0].CallID != "{F}" {
		t.Fatalf("answer to a file larger than the drive keeps: %+v", s)
	}
	dp := fileInvite(p2p.EUFMSNObject, 8, 0)
	dp.CallID = "{E}"
	sb.send(p2pMSG(6, slpSeed(dp)))
	if s := readSLP(untilACK(t, sb, 6)); len(s) != 1 || s[0].Status != p2p.StatusDecline || s[0].CallID != "{E}" {
		t.Fatalf("answer to the display picture request: %+v", s)
	}
}

// TestP2PRateOfItsOwn: P2P messages count against P2PChunksPerSecond, not
// the command rate: a file's chunks beyond the command burst are read,
// relayed and acknowledged, while as many text messages are refused
// with 713.
func TestP2PRateOfItsOwn(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Files = sinkFiles{}
		c.CommandsPerSecond, c.CommandBurst = 0.001, 20
		c.P2PChunksPerSecond, c.P2PChunkBurst = 1e6, 100
	})
	sb := callOther(t, env, "other")
	chunk := p2p.Message{Header: p2p.Header{SessionID: 99, ID: 1, TotalSize: p2p.MaxChunk}, Data: make([]byte, p2p.MaxChunk)}.Append(nil)
	for trid := 3; trid < 53; trid++ {
		sb.send(p2pMSG(trid, chunk))
		untilACK(t, sb, trid)
	}
	text := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi"
	refused := 0
	for trid := 53; trid < 83; trid++ {
		sb.send(fmt.Sprintf("MSG %d A %d\r\n%s", trid, len(text), text))
		line, err := sb.line()
		if err != nil {
			t.Fatal(err)
		}
		if line == "713 "+strconv.Itoa(trid) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("text beyond the command burst was not refused")
	}
}

// keptFiles is ggFiles whose Fill reads the whole file, then keeps it only
// once release is closed, and tells what it kept.
type keptFiles struct {
	ggFiles
	release chan struct{}
	kept    chan string
}

func (f keptFiles) Fill(ctx context.Context, id string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	<-f.release
	f.kept <- string(data)
	return nil
}

// A sender that closes the session right after its last chunk, with an
// empty CloseSession message and a BYE (MSNPSharp does), while the file is
// still being kept for a GG user, ends the session, not the transfer: the
// ticket is not withdrawn and the file is acknowledged.
func TestP2PByeAfterLastChunk(t *testing.T) {
	f := keptFiles{ggFiles{answers: make(chan drive.Ack, 1), withdrawn: make(chan string, 1)}, make(chan struct{}), make(chan string, 1)}
	env := newTestEnv(t, func(c *Config) { c.Files = f })
	sb := callOther(t, env, "gg")
	f.answers <- drive.AckAllowed
	sb.send(p2pMSG(3, slpSeed(fileInvite(p2p.EUFFileTransfer, 7, 5))))
	answered := func(msgs []p2p.Message) bool {
		for _, m := range msgs {
			if s, err := p2p.ParseSLP(m.Data); err == nil && m.SessionID == 0 && s.Status == p2p.StatusOK {
				return true
			}
		}
		return false
	}
	for got := untilACK(t, sb, 3); !answered(got); { // the GG user's answer comes later
		_, payload := sb.readMSG()
		_, m, err := p2p.ParsePayload([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		got = []p2p.Message{m}
	}
	sb.send(p2pMSG(4, p2p.Message{Header: p2p.Header{SessionID: 7, ID: 11, TotalSize: 5}, Data: []byte("hello"), AppID: p2p.AppFile}.Append(nil)))
	untilACK(t, sb, 4)
	// Then the empty message that closes the session, and the BYE.
	sb.send(p2pMSG(5, p2p.Message{Header: p2p.Header{SessionID: 7, ID: 12, Flags: p2p.FlagClose}}.Append(nil)))
	untilACK(t, sb, 5)
	bye := p2p.SLP{Method: p2p.Bye, To: "carol@example.com", From: "bob@example.com", Branch: "{B}", CallID: "{C}",
		ContentType: p2p.SessionClose, Body: p2p.Fields{{Name: "SessionID", Value: "7"}}}
	sb.send(p2pMSG(6, slpSeed(bye)))
	untilACK(t, sb, 6)
	close(f.release)
	if data := <-f.kept; data != "hello" {
		t.Fatalf("kept %q", data)
	}
	for { // the acknowledgement of the file, once kept
		_, payload := sb.readMSG()
		if _, m, err := p2p.ParsePayload([]byte(payload)); err == nil && m.IsAck() && m.AckSessionID == 11 {
			break
		}
	}
	select {
	case id := <-f.withdrawn:
		t.Fatalf("ticket %s withdrawn after every chunk was in", id)
	default:
	}
}
