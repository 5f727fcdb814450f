package server

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// MSN Messenger 6 and later move files over MSNSLP: P2P messages inside
// the switchboard (spec msnp8-18 §6). Between two MSN clients the server
// relays them untouched. Toward a member of another protocol it stands in
// as the P2P peer: it answers the INVITE as the drive route allows,
// receives the chunks into the drive and acknowledges the file once it is
// kept; a file from that member to an MSN 6+ client goes out as an INVITE
// from the member, then in chunks once the client says 200 OK.

// remoteCaps is the capabilities number shown for contacts online through
// other protocols when the server can take files for them: MSNC4 (MSN
// 7.0), so that MSN 6+ clients offer them files over MSNSLP, with no
// P2Pv2 or other extended capability.
const remoteCaps = "1073741824"

// p2pWindow bounds the chunks queued to an MSN client and not yet written,
// so that a file never overflows its connection's outbox.
const p2pWindow = 16

// isP2P tells whether a MSG payload is a P2P message.
func isP2P(payload []byte) bool {
	p, _ := parsePayload(payload)
	return p.contentType == p2p.ContentType
}

// speaksP2P tells whether an account's MSN client takes files over
// MSNSLP: MSNP9+ with an MSNC version in its capabilities (the part before
// MSNP16+'s :extcaps).
func (s *Server) speaksP2P(number uint32) bool {
	x := s.extrasOf(number)
	base, _, _ := strings.Cut(x.caps, ":")
	caps, err := strconv.ParseUint(base, 10, 32)
	return err == nil && msnObjects(x.dialect) && caps>>28 >= 1
}

// slpPeer is the server's P2P side, as a remote member, toward one MSN
// client in the session; remote.mu guards it.
type slpPeer struct {
	peer     *p2p.Peer
	incoming map[uint32]*slpIncoming // files from the client, by session id
	sending  map[uint32]*slpSending  // files to the client, by data message id
}

// slpIncoming is a file an MSN client offered the remote member over
// MSNSLP.
type slpIncoming struct {
	from   *sbConn // the sender's connection
	invite p2p.SLP
	name   string
	size   uint64
	ticket string             // the GG recipient's drive ticket
	stop   context.CancelFunc // ends the wait for the GG answer
	w      *io.PipeWriter     // set once accepted: the store reads the chunks
	got    uint64
	stored chan error
	done   bool
	// allIn: the last chunk came. The sender's BYE, or its leaving, then
	// ends the session and no longer the transfer: MSNPSharp says BYE
	// right after its last chunk, while the file is still being kept.
	allIn bool
	// For an MSN client without MSNSLP: the invitation's cookie, and the
	// MSNFTP send that takes the chunks once it accepts.
	cookie uint32
	store  func(context.Context, io.Reader) error
}

// slpSending is a file the server sends an MSN client on the member's
// behalf once accepted.
type slpSending struct {
	o      *outgoingFile
	invite p2p.SLP
	cancel context.CancelFunc
}

// inSession tells whether the MSN client's connection c is still a member
// of the session.
func (r *remote) inSession(c *sbConn) bool {
	if r.sb == nil {
		return false
	}
	r.sb.mu.Lock()
	defer r.sb.mu.Unlock()
	return slices.Contains(r.sb.members, member(c))
}

// slpPeerLocked is the P2P side toward one MSN client's connection: an
// account signed in at several endpoints (MSNP16+) may have more than one
// in the session, each its own P2P peer.
func (r *remote) slpPeerLocked(from *sbConn) *slpPeer {
	if r.p2p == nil {
		r.p2p = make(map[*sbConn]*slpPeer)
	}
	sp := r.p2p[from]
	if sp == nil {
		sp = &slpPeer{peer: r.srv.p2pPeer(r.acct.Email, from.acct.Email, from.dialect),
			incoming: make(map[uint32]*slpIncoming), sending: make(map[uint32]*slpSending)}
		r.p2p[from] = sp
	}
	return sp
}

// forgetPeer drops the P2P side toward a connection that left the
// session; its transfers end with its connection's context.
func (r *remote) forgetPeer(c *sbConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.p2p, c)
}

// sendP2P writes P2P payloads, made under r.mu by build, to the MSN
// client's connection to, while it is in the session.
func (r *remote) sendP2P(ctx context.Context, to *sbConn, build func(*slpPeer) [][]byte) {
	r.mu.Lock()
	payloads := build(r.slpPeerLocked(to))
	r.mu.Unlock()
	if !r.inSession(to) {
		return
	}
	for _, p := range payloads {
		to.relay(ctx, r.acct, p)
	}
}

func (r *remote) sendSLP(ctx context.Context, to *sbConn, s p2p.SLP) {
	r.sendP2P(ctx, to, func(sp *slpPeer) [][]byte { return sp.peer.SLPPayloads(s) })
}

// p2pMessage handles a P2P message an MSN client sent this member.
func (r *remote) p2pMessage(ctx context.Context, from *sbConn, payload []byte) {
	_, m, err := p2p.ParsePayload(payload)
	if err != nil {
		return
	}
	switch {
	case m.IsAck():
		r.p2pAck(ctx, from, m)
	case m.SessionID != 0 && m.Flags == p2p.FlagClose:
		r.p2pClose(ctx, from, m.SessionID)
	case m.SessionID != 0:
		r.p2pData(ctx, from, m)
	default:
		r.mu.Lock()
		sp := r.slpPeerLocked(from)
		text, complete, err := sp.peer.ReceiveSLP(m)
		var ack []byte
		if complete {
			ack = sp.peer.AckPayload(m.Header)
		}
		r.mu.Unlock()
		if err != nil || !complete {
			return
		}
		r.sendP2P(ctx, from, func(*slpPeer) [][]byte { return [][]byte{ack} })
		s, err := p2p.ParseSLP(text)
		if err != nil {
			return
		}
		r.slpMessage(ctx, from, s)
	}
}

// slpMessage handles a whole MSNSLP message from an MSN client.
func (r *remote) slpMessage(ctx context.Context, from *sbConn, s p2p.SLP) {
	switch {
	case s.Method == p2p.Invite && s.ContentType == p2p.SessionRequest:
		r.slpInvite(ctx, from, s)
	case s.Method == p2p.Invite && s.ContentType == p2p.TransRequest:
		// A direct connection: the server never listens, so the data
		// stays in the switchboard.
		r.sendSLP(ctx, from, s.RefuseDirect())
	case s.Method == p2p.Bye:
		r.slpBye(ctx, from, s.CallID)
	case s.Method == "" && s.Status == p2p.StatusOK:
		if o := r.srv.takeOutgoingCall(s.CallID, r.acct.Number, from.acct.Number); o != nil {
			r.startP2PSend(ctx, from, o)
		}
	case s.Method == "":
		if o := r.srv.takeOutgoingCall(s.CallID, r.acct.Number, from.acct.Number); o != nil {
			if s.Status == p2p.StatusDecline {
				o.finish(drive.ErrDeclined)
			} else {
				o.finish(errors.New("msnp: the recipient answered " + strconv.Itoa(s.Status)))
			}
		}
	}
}

// decline answers an INVITE with 603 Decline.
func (r *remote) decline(ctx context.Context, from *sbConn, s p2p.SLP) {
	r.sendSLP(ctx, from, s.Answer(p2p.StatusDecline))
}

// slpBye ends the session that a BYE from the MSN client from closes.
func (r *remote) slpBye(ctx context.Context, from *sbConn, callID string) {
	r.mu.Lock()
	sp := r.slpPeerLocked(from)
	var in *slpIncoming
	for _, x := range sp.incoming {
		if x.invite.CallID == callID {
			in = x
		}
	}
	var out *slpSending
	for id, x := range sp.sending {
		if x.invite.CallID == callID {
			out = x
			delete(sp.sending, id)
		}
	}
	r.mu.Unlock()
	if in != nil {
		r.senderEnded(ctx, in, errors.New("msnp: the sender cancelled"))
	}
	if out != nil {
		out.o.finish(errors.New("msnp: the recipient cancelled"))
		out.cancel()
	}
}

// slpInvite answers a file INVITE: files go where fileRoute says, anything
// else (display pictures of a contact who has none, webcam) is declined.
func (r *remote) slpInvite(ctx context.Context, from *sbConn, s p2p.SLP) {
	if !strings.EqualFold(s.Body.Get("EUF-GUID"), p2p.EUFFileTransfer) {
		r.decline(ctx, from, s)
		return
	}
	fc, err := p2p.ParseFileContext(s.Body.Get("Context"))
	route := routeNone
	if err == nil && fc.Size <= 1<<62 && s.SessionID() != 0 {
		route = r.fileRoute(ctx)
	}
	if (route == routeLink || route == routeDrive) && fc.Size > uint64(r.srv.cfg.Files.MaxFileBytes()) {
		route = routeNone // the drive would not keep it
	}
	in := &slpIncoming{from: from, invite: s, name: fc.Name, size: fc.Size, stored: make(chan error, 1)}
	if route == routeNone || !r.addIncoming(in) {
		r.decline(ctx, from, s)
		return
	}
	// The transfer lives no longer than the sender's connection.
	context.AfterFunc(ctx, func() { r.senderEnded(context.Background(), in, context.Canceled) })
	switch route {
	case routeLink:
		r.acceptIncoming(ctx, in)
		return
	case routeMSNFTP:
		r.offerOldClient(ctx, in)
		return
	}
	files := r.srv.cfg.Files
	t, err := files.Offer(ctx, from.acct.Number, r.acct.Number, in.name, int64(in.size))
	if err != nil {
		r.srv.log.Info("file offer to GG", "from", from.acct.Number, "to", r.acct.Number, "err", err)
		r.dropIncoming(in)
		r.decline(ctx, from, s)
		return
	}
	wctx, stop := context.WithTimeout(ctx, r.srv.cfg.FileAnswerTimeout)
	r.mu.Lock()
	in.ticket, in.stop = t.ID, stop
	live := !in.done
	r.mu.Unlock()
	if !live {
		stop()
		r.withdraw(ctx, t.ID)
		return
	}
	r.awaitGG(wctx, stop, t.ID, func(ack drive.Ack, err error) {
		switch {
		case err == nil && ack == drive.AckAllowed:
			r.acceptIncoming(ctx, in)
		case err == nil: // rejected
			r.dropIncoming(in)
			r.decline(ctx, from, s)
		default:
			r.failIncoming(ctx, in, err, ctx.Err() == nil)
		}
	})
}

func (r *remote) addIncoming(in *slpIncoming) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := r.slpPeerLocked(in.from)
	session := in.invite.SessionID()
	if _, taken := sp.incoming[session]; taken || len(sp.incoming) >= maxFileOffers {
		return false
	}
	sp.incoming[session] = in
	return true
}

// dropIncoming forgets a file offer; it reports whether it was still
// there.
func (r *remote) dropIncoming(in *slpIncoming) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in.done {
		return false
	}
	in.done = true
	if sp := r.p2p[in.from]; sp != nil && sp.incoming[in.invite.SessionID()] == in {
		delete(sp.incoming, in.invite.SessionID())
	}
	if in.stop != nil {
		in.stop()
	}
	return true
}

// failIncoming ends a file offer that will not complete: the store stops
// and keeps nothing, a GG recipient's ticket is withdrawn, and the sender
// hears BYE when tell is set.
func (r *remote) failIncoming(ctx context.Context, in *slpIncoming, err error, tell bool) {
	if !r.dropIncoming(in) {
		return
	}
	r.mu.Lock()
	w := in.w
	r.mu.Unlock()
	if w != nil {
		w.CloseWithError(err)
	}
	if in.ticket != "" {
		r.withdraw(ctx, in.ticket)
	}
	if tell {
		r.sendSLP(ctx, in.from, r.byeFor(in.invite))
	}
}

// senderEnded ends a file offer whose sender said BYE or left, unless
// every chunk is in: that file is kept, and the outcome is the store's.
func (r *remote) senderEnded(ctx context.Context, in *slpIncoming, err error) {
	r.mu.Lock()
	allIn := in.allIn
	r.mu.Unlock()
	if !allIn {
		r.failIncoming(ctx, in, err, false)
	}
}

// byeFor is the BYE that closes the session of inv, sent by this member.
func (r *remote) byeFor(inv p2p.SLP) p2p.SLP { return inv.Bye(r.acct.Email) }

// acceptIncoming says 200 OK to a file offer and starts keeping what
// comes: into the GG recipient's ticket, or as a new drive file whose link
// the recipient gets once it is in, or through in.store. It reports false
// when the offer ended meanwhile.
func (r *remote) acceptIncoming(ctx context.Context, in *slpIncoming) bool {
	pr, pw := io.Pipe()
	r.mu.Lock()
	live := !in.done
	if live {
		in.w = pw
	}
	store := in.store
	r.mu.Unlock()
	if !live {
		return false
	}
	files := r.srv.cfg.Files
	// The store works on a context of its own: the file must be kept for
	// good (or the receiver have it) before the sender hears the
	// acknowledgement.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		defer cancel()
		var err error
		switch {
		case store != nil:
			err = store(sctx, pr)
		case in.ticket != "":
			err = files.Fill(sctx, in.ticket, pr)
		default:
			var t drive.Ticket
			if t, err = files.Deposit(sctx, in.from.acct.Number, r.acct.Number, in.name, int64(in.size), pr); err == nil {
				err = r.deliver(sctx, t)
			}
		}
		pr.CloseWithError(errStoreEnded)
		in.stored <- err
	}()
	r.sendSLP(ctx, in.from, in.invite.Answer(p2p.StatusOK))
	return true
}

// errStoreEnded fails the writes of P2P chunks once their store has
// returned.
var errStoreEnded = errors.New("msnp: the file's store ended")

// p2pData takes a data chunk of a file offer the server accepted. The
// chunks must come in order and match the offered size; the last one is
// acknowledged once the file is kept.
func (r *remote) p2pData(ctx context.Context, from *sbConn, m p2p.Message) {
	r.mu.Lock()
	in := r.slpPeerLocked(from).incoming[m.SessionID]
	var w *io.PipeWriter
	if in != nil {
		w = in.w
	}
	r.mu.Unlock()
	if in == nil || w == nil {
		return
	}
	if m.Offset != in.got || m.TotalSize != in.size {
		r.failIncoming(ctx, in, errors.New("msnp: P2P data does not match the offer"), true)
		return
	}
	// An empty file's store may be done before its one empty chunk.
	if _, err := w.Write(m.Data); err != nil && len(m.Data) > 0 {
		r.failIncoming(ctx, in, err, true)
		return
	}
	in.got += uint64(len(m.Data))
	if !m.Complete() {
		return
	}
	r.mu.Lock()
	in.allIn = true
	r.mu.Unlock()
	w.Close()
	// The connection is tracked, so the count is above zero here.
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		var err error
		select {
		case err = <-in.stored:
		case <-time.After(fileStoreTimeout):
			err = errors.New("msnp: keeping the file took too long")
		}
		if err != nil {
			r.srv.log.Info("P2P file for another protocol failed", "from", from.acct.Number, "to", r.acct.Number, "err", err)
			r.failIncoming(ctx, in, err, true)
			return
		}
		r.dropIncoming(in)
		r.sendP2P(ctx, from, func(sp *slpPeer) [][]byte { return [][]byte{sp.peer.AckPayload(m.Header)} })
		r.srv.log.Info("P2P file received for another protocol", "from", from.acct.Number, "to", r.acct.Number, "size", in.size)
	}()
}

// p2pClose takes the empty message with which a sender closes a P2P
// session (MSNPSharp sends it after its last chunk, before its BYE): it
// ends a file offer as the BYE does, and is no chunk of the file.
func (r *remote) p2pClose(ctx context.Context, from *sbConn, session uint32) {
	r.mu.Lock()
	in := r.slpPeerLocked(from).incoming[session]
	r.mu.Unlock()
	if in != nil {
		r.senderEnded(ctx, in, errors.New("msnp: the sender closed the session"))
	}
}

// p2pAck takes an MSN client's acknowledgement: the one of a file the
// server sent completes it, and the server closes the session.
func (r *remote) p2pAck(ctx context.Context, from *sbConn, m p2p.Message) {
	r.mu.Lock()
	sp := r.slpPeerLocked(from)
	out := sp.sending[m.AckSessionID]
	delete(sp.sending, m.AckSessionID)
	r.mu.Unlock()
	if out == nil {
		return
	}
	out.o.finish(nil)
	out.cancel()
	r.sendSLP(ctx, from, r.byeFor(out.invite))
}

// offerP2P offers a drive file to an MSN 6+ client over MSNSLP, as an
// INVITE from the sender; the data follows the client's 200 OK (see
// startP2PSend). It returns the INVITE's payloads and the BYE that
// withdraws it.
func (s *Server) offerP2P(from hub.Account, to hub.Account, o *outgoingFile) (invite [][]byte, bye []byte) {
	inv := p2p.NewInvite(from.Email, to.Email, p2p.EUFFileTransfer, p2p.NewSessionID(), p2p.AppFile,
		p2p.FileContext{Name: o.ticket.FileName, Size: uint64(o.ticket.FileSize)}.Encode())
	o.invite = &inv
	peer := s.p2pPeer(from.Email, to.Email, s.extrasOf(to.Number).dialect)
	return peer.SLPPayloads(inv), peer.SLPPayloads(inv.Bye(from.Email))[0]
}

// p2pPeer is the server's P2P side, as local, toward the MSN client
// remote of dialect d: WLM 2009 and its MSNP16+ peers also name the
// sender in P2P-Src.
func (s *Server) p2pPeer(local, remote string, d int) *p2p.Peer {
	peer := p2p.NewPeer(local, remote)
	if endpoints(d) {
		peer.Source = local
	}
	return peer
}

// takeOutgoingCall removes and returns the outgoing P2P file of a Call-ID
// when it goes from the remote member from to the MSN client to.
func (s *Server) takeOutgoingCall(callID string, from, to uint32) *outgoingFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, o := range s.outgoing {
		if o.invite != nil && o.invite.CallID == callID && o.from == from && o.to == to {
			delete(s.outgoing, k)
			return o
		}
	}
	return nil
}

// startP2PSend sends an accepted file to the MSN client to in chunks of
// one data message, no faster than clients may send them and at most
// p2pWindow of them waiting in its outbox; the client's acknowledgement of
// the whole (p2pAck) completes it.
func (r *remote) startP2PSend(ctx context.Context, to *sbConn, o *outgoingFile) {
	if !r.inSession(to) { // the connection that accepted takes the file
		o.finish(errors.New("msnp: no switchboard connection to send the file over"))
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	sp := r.slpPeerLocked(to)
	id := sp.peer.NextID()
	sp.sending[id] = &slpSending{o: o, invite: *o.invite, cancel: cancel}
	r.mu.Unlock()
	fail := func(err error) {
		r.mu.Lock()
		delete(sp.sending, id)
		r.mu.Unlock()
		cancel()
		r.sendSLP(ctx, to, r.byeFor(*o.invite))
		o.finish(err)
	}
	session := o.invite.SessionID()
	// The connection is tracked, so the count is above zero here.
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		f, err := o.open()
		if err != nil {
			fail(err)
			return
		}
		defer f.Close()
		size := uint64(o.ticket.FileSize)
		slots := make(chan bool, p2pWindow)
		for range p2pWindow {
			slots <- true
		}
		buf := make([]byte, p2p.MaxChunk)
		rate := ratelimit.New(r.srv.cfg.P2PChunksPerSecond, r.srv.cfg.P2PChunkBurst)
		for off, first := uint64(0), true; first || off < size; first = false {
			time.Sleep(rate.Reserve(time.Now()))
			n, err := io.ReadFull(f, buf[:min(uint64(len(buf)), size-off)])
			if err != nil && !(n == 0 && size == 0) {
				fail(err)
				return
			}
			select {
			case written := <-slots:
				if !written {
					fail(errors.New("msnp: the recipient's connection dropped the file"))
					return
				}
			case <-sctx.Done():
				o.finish(errors.New("msnp: the transfer ended")) // unless it was acknowledged
				return
			}
			m := p2p.Message{Header: p2p.Header{SessionID: session, ID: id, Offset: off, TotalSize: size,
				Flags: p2p.FlagFileData, AckSessionID: id}, Data: buf[:n], AppID: p2p.AppFile}
			line := wire.AppendPayloadCommand(nil, "MSG", sp.peer.Wrap(m), r.acct.Email, wire.EncodeName(r.acct.DisplayName))
			if !to.writeTracked(line, func(written bool) { slots <- written }) {
				fail(errors.New("msnp: the recipient's connection is full"))
				return
			}
			off += uint64(n)
		}
		// The acknowledgement must come within FileAnswerTimeout.
		t := time.NewTimer(r.srv.cfg.FileAnswerTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			fail(errors.New("msnp: the recipient did not acknowledge the file"))
		case <-sctx.Done():
			o.finish(errors.New("msnp: the transfer ended")) // unless it was acknowledged
		}
	}()
}
