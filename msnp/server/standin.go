package server

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// An MSN 6+ client may send P2P to an MSN client that does not speak
// MSNSLP (MSNP2–8, or no MSNC version in its capabilities). The server
// then stands in as that client's P2P peer, as it does for members of
// other protocols, and hands the file on as MSN 4 knew it: an invitation
// in the switchboard from the sender, then MSNFTP from a port the server
// opens, fed with the P2P chunks as they come.

// standIn returns the server's P2P side for the one other client of the
// session when payload is P2P and that client does not speak MSNSLP; nil
// when the message is relayed as it is.
func (c *sbConn) standIn(others []member, payload []byte) *remote {
	if len(others) != 1 || !isP2P(payload) {
		return nil
	}
	old, ok := others[0].(*sbConn)
	if !ok || c.srv.speaksP2P(old.acct.Number) {
		return nil
	}
	sb := c.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.standIns == nil {
		sb.standIns = make(map[uint32]*remote)
	}
	st := sb.standIns[old.acct.Number]
	if st == nil || st.oldClient != old {
		st = &remote{srv: c.srv, acct: old.acct, sb: sb, oldClient: old}
		sb.standIns[old.acct.Number] = st
	}
	return st
}

// answersStandIn takes this client's answer (ACCEPT or CANCEL) to an
// invitation the server sent it for a P2P sender; it reports whether the
// payload was one.
func (c *sbConn) answersStandIn(ctx context.Context, payload []byte) bool {
	if !isInvitation(payload) {
		return false
	}
	c.sb.mu.Lock()
	st := c.sb.standIns[c.acct.Number]
	c.sb.mu.Unlock()
	if st == nil || st.oldClient != c {
		return false
	}
	inv, err := invite.Parse(payload)
	if err != nil {
		return false
	}
	in := st.incomingByCookie(inv.Cookie)
	if in == nil {
		return false
	}
	switch inv.Command {
	case invite.Accept:
		st.sendOldClient(ctx, in)
	case invite.Cancel:
		st.dropIncoming(in)
		st.decline(ctx, in.from, in.invite)
	}
	return true
}

func isInvitation(payload []byte) bool {
	p, ok := parsePayload(payload)
	return ok && p.contentType == invite.ContentType
}

func (r *remote) incomingByCookie(cookie uint32) *slpIncoming {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.p2p {
		for _, in := range sp.incoming {
			if in.cookie == cookie && cookie != 0 {
				return in
			}
		}
	}
	return nil
}

// offerOldClient offers a P2P sender's file to the client without MSNSLP
// as an invitation from the sender. Unanswered within FileAnswerTimeout,
// the offer ends: the client gets CANCEL TIMEOUT and the sender BYE.
func (r *remote) offerOldClient(ctx context.Context, in *slpIncoming) {
	cookie := invite.NewCookie()
	wctx, stop := context.WithTimeout(ctx, r.srv.cfg.FileAnswerTimeout)
	r.mu.Lock()
	in.cookie, in.stop = cookie, stop
	r.mu.Unlock()
	r.oldClient.relay(ctx, in.from.acct, invite.Invitation{
		Command: invite.Invite, Cookie: cookie, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: in.name, FileSize: int64(in.size),
	}.Payload())
	context.AfterFunc(wctx, func() {
		if !errors.Is(wctx.Err(), context.DeadlineExceeded) {
			return // answered, or the sender left
		}
		r.failIncoming(ctx, in, wctx.Err(), true)
		r.oldClient.relay(ctx, in.from.acct, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: invite.CancelTimeout}.Payload())
	})
}

// sendOldClient answers the old client's ACCEPT, as the sender, with a
// port the server listens on, accepts the P2P offer and serves the chunks
// over MSNFTP there.
func (r *remote) sendOldClient(ctx context.Context, in *slpIncoming) {
	in.stop() // answered in time
	old := r.oldClient
	l, host, err := r.srv.legPort(old)
	if err != nil {
		r.srv.log.Info("P2P file to an older MSN client: no port", "err", err)
		r.failIncoming(ctx, in, err, true)
		return
	}
	auth := invite.NewCookie()
	old.relay(ctx, in.from.acct, invite.Invitation{
		Command: invite.Accept, Cookie: in.cookie, IPAddress: host, Port: l.Addr().(*net.TCPAddr).Port, AuthCookie: auth,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	}.Payload())
	r.mu.Lock()
	in.store = func(sctx context.Context, pr io.Reader) error {
		var host net.IP // only the receiver may take its place
		if ta, ok := old.nc.RemoteAddr().(*net.TCPAddr); ok {
			host = ta.IP
		}
		nc, err := msnftp.AcceptFrom(sctx, l, r.srv.cfg.FileLegTimeout, host)
		if err != nil {
			return errors.New("msnp: the receiver did not connect for the file: " + err.Error())
		}
		return msnftp.Send(sctx, nc, msnftp.SendOptions{AuthCookie: auth, ExpectUser: old.acct.Email, Size: int64(in.size)}, pr)
	}
	r.mu.Unlock()
	if !r.acceptIncoming(ctx, in) {
		l.Close()
	}
}
