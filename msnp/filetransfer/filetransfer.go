// Package filetransfer sends and receives files between MSN clients the
// way MSN Messenger 3–4 did: a text/x-msmsgsinvite negotiation in a
// switchboard session, then MSNFTP on a direct connection. The sender
// listens and the receiver connects, unless the sender declared
// Connectivity: N, in which case the receiver listens and answers with
// Sender-Connect: TRUE.
//
// Both functions read the switchboard's events while they run; the caller
// must not read them at the same time.
package filetransfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

// Options tune a transfer.
type Options struct {
	// NoIncoming says this side cannot accept connections (behind NAT): as
	// sender it declares Connectivity: N, as receiver it refuses to listen.
	NoIncoming bool
	// ListenHost is the address to listen on and advertise; empty uses the
	// address of the switchboard connection.
	ListenHost string
	// AnswerTimeout bounds the wait for the other side's reply and for its
	// connection. Default 2 minutes.
	AnswerTimeout time.Duration
	// StepTimeout bounds connecting to the other side and each MSNFTP step
	// (a line, a block of the file). Default msnftp.DefaultStepTimeout.
	StepTimeout time.Duration
	Progress    func(done int64)
}

// RejectedError is the other side's CANCEL, with its Cancel-Code.
type RejectedError struct{ Code string }

func (e *RejectedError) Error() string { return "transfer cancelled by the other side: " + e.Code }

func (o Options) answerTimeout() time.Duration {
	if o.AnswerTimeout > 0 {
		return o.AnswerTimeout
	}
	return 2 * time.Minute
}

func (o Options) stepTimeout() time.Duration {
	if o.StepTimeout > 0 {
		return o.StepTimeout
	}
	return msnftp.DefaultStepTimeout
}

// Send offers a file to `to` in sb and, if accepted, sends it.
func Send(ctx context.Context, sb *client.Switchboard, to, name string, size int64, r io.Reader, o Options) error {
	offer := invite.Invitation{
		Command: invite.Invite, Cookie: invite.NewCookie(),
		AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: name, FileSize: size,
	}
	if o.NoIncoming {
		offer.Connectivity = "N"
	}
	trid, err := sb.Send(ctx, offer.Payload(), 'N')
	if err != nil {
		return err
	}
	answer, err := waitInvitation(ctx, sb, to, offer.Cookie, trid, o.answerTimeout())
	if err != nil {
		giveUp(ctx, sb, offer.Cookie, err)
		return err
	}
	auth := invite.NewCookie()
	opts := msnftp.SendOptions{AuthCookie: auth, ExpectUser: to, Size: size, Progress: o.Progress, StepTimeout: o.StepTimeout}
	if answer.SenderConnect == "TRUE" {
		// The receiver listens: dial it with the cookie it chose.
		opts.AuthCookie = answer.AuthCookie
		nc, err := dial(ctx, answer, o)
		if err != nil {
			cancelInvitation(ctx, sb, offer.Cookie, invite.CancelTimeout)
			return err
		}
		return msnftp.Send(ctx, nc, opts, r)
	}
	l, err := listen(sb, o)
	if err != nil {
		cancelInvitation(ctx, sb, offer.Cookie, invite.CancelFail)
		return err
	}
	defer l.Close()
	if err := sb.SendInvitation(ctx, listening(offer.Cookie, l, auth)); err != nil {
		return err
	}
	nc, err := acceptConn(ctx, l, o.answerTimeout())
	if err != nil {
		cancelInvitation(ctx, sb, offer.Cookie, invite.CancelTimeout)
		return err
	}
	return msnftp.Send(ctx, nc, opts, r)
}

// Receive accepts an INVITE that arrived from `from` in sb and writes the
// file to w.
func Receive(ctx context.Context, sb *client.Switchboard, from, passport string, offer invite.Invitation, w io.Writer, o Options) (int64, error) {
	opts := msnftp.ReceiveOptions{Passport: passport, MaxSize: offer.FileSize, Progress: o.Progress, StepTimeout: o.StepTimeout}
	accept := invite.Invitation{
		Command: invite.Accept, Cookie: offer.Cookie,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	}
	if offer.Connectivity == "N" && !o.NoIncoming {
		// The sender cannot be reached: we listen, it connects.
		l, err := listen(sb, o)
		if err != nil {
			return 0, err
		}
		defer l.Close()
		opts.AuthCookie = invite.NewCookie()
		accept = listening(offer.Cookie, l, opts.AuthCookie)
		accept.SenderConnect = "TRUE"
		if err := sb.SendInvitation(ctx, accept); err != nil {
			return 0, err
		}
		nc, err := acceptConn(ctx, l, o.answerTimeout())
		if err != nil {
			cancelInvitation(ctx, sb, offer.Cookie, invite.CancelTimeout)
			return 0, err
		}
		return msnftp.Receive(ctx, nc, opts, w)
	}
	if err := sb.SendInvitation(ctx, accept); err != nil {
		return 0, err
	}
	where, err := waitInvitation(ctx, sb, from, offer.Cookie, 0, o.answerTimeout())
	if err != nil {
		giveUp(ctx, sb, offer.Cookie, err)
		return 0, err
	}
	opts.AuthCookie = where.AuthCookie
	nc, err := dial(ctx, where, o)
	if err != nil {
		cancelInvitation(ctx, sb, offer.Cookie, invite.CancelTimeout)
		return 0, err
	}
	return msnftp.Receive(ctx, nc, opts, w)
}

// Reject declines an offer.
func Reject(ctx context.Context, sb *client.Switchboard, offer invite.Invitation) error {
	return cancelInvitation(ctx, sb, offer.Cookie, invite.CancelReject)
}

// NextOffer waits for a file-transfer INVITE in sb and returns it with its
// sender.
func NextOffer(ctx context.Context, sb *client.Switchboard) (from string, offer invite.Invitation, err error) {
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return "", offer, errors.New("switchboard closed")
			}
			if m, ok := ev.(client.Message); ok && IsOffer(m) {
				return m.From, *m.Invitation, nil
			}
		case <-ctx.Done():
			return "", offer, ctx.Err()
		}
	}
}

// IsOffer reports whether a switchboard message offers a file.
func IsOffer(m client.Message) bool {
	return m.Invitation != nil && m.Invitation.Command == invite.Invite && m.Invitation.AppGUID == invite.FileTransferGUID
}

// waitInvitation waits for from's ACCEPT (returned) or CANCEL (an error)
// quoting cookie; trid, when not 0, names our invitation's MSG, whose NAK
// or refusal by the switchboard ends the wait too.
func waitInvitation(ctx context.Context, sb *client.Switchboard, from string, cookie uint32, trid int, timeout time.Duration) (invite.Invitation, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return invite.Invitation{}, errors.New("switchboard closed")
			}
			switch ev := ev.(type) {
			case client.Message:
				inv := ev.Invitation
				if inv == nil || inv.Cookie != cookie || ev.From != from {
					continue
				}
				if inv.Command == invite.Cancel {
					return *inv, &RejectedError{Code: inv.CancelCode}
				}
				if inv.Command == invite.Accept {
					return *inv, nil
				}
			case client.Left:
				if ev.Email == from {
					return invite.Invitation{}, fmt.Errorf("%s left the conversation", from)
				}
			case client.Nak:
				if trid != 0 && ev.TrID == trid {
					return invite.Invitation{}, fmt.Errorf("the invitation did not reach %s", from)
				}
			case client.Refused:
				if trid != 0 && ev.TrID == trid {
					return invite.Invitation{}, fmt.Errorf("the switchboard refused the invitation: %w", &client.ServerError{Code: ev.Code, Command: "MSG"})
				}
			}
		case <-ctx.Done():
			return invite.Invitation{}, fmt.Errorf("no answer from %s: %w", from, ctx.Err())
		}
	}
}

// giveUp tells the other side that this one stopped waiting for its
// answer: CANCEL TIMEOUT when the answer timeout ran out, OUTBANDCANCEL
// when the caller gave up (its context ended). After a CANCEL from the
// other side, or when it left, there is no one to tell.
func giveUp(ctx context.Context, sb *client.Switchboard, cookie uint32, err error) {
	code := invite.CancelTimeout
	switch {
	case ctx.Err() != nil:
		code = invite.CancelOutbandCancel
	case !errors.Is(err, context.DeadlineExceeded):
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = cancelInvitation(wctx, sb, cookie, code) // the switchboard may be gone too
}

func cancelInvitation(ctx context.Context, sb *client.Switchboard, cookie uint32, code string) error {
	return sb.SendInvitation(ctx, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: code})
}

// listening is the ACCEPT that says where we listen.
func listening(cookie uint32, l net.Listener, auth uint32) invite.Invitation {
	addr := l.Addr().(*net.TCPAddr)
	return invite.Invitation{
		Command: invite.Accept, Cookie: cookie,
		IPAddress: addr.IP.String(), Port: addr.Port, AuthCookie: auth,
		LaunchApplication: "FALSE", RequestData: "IP-Address:",
	}
}

func listen(sb *client.Switchboard, o Options) (net.Listener, error) {
	if o.NoIncoming {
		return nil, errors.New("this side takes no incoming connections")
	}
	host := o.ListenHost
	if host == "" {
		host, _, _ = net.SplitHostPort(sb.LocalAddr().String())
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// acceptConn takes one connection, giving up at timeout or with ctx.
func acceptConn(ctx context.Context, l net.Listener, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	nc, err := l.Accept()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("nobody connected: %w", ctx.Err())
	}
	return nc, err
}

func dial(ctx context.Context, inv invite.Invitation, o Options) (net.Conn, error) {
	if inv.IPAddress == "" || inv.Port == 0 {
		return nil, errors.New("the answer names no address to connect to")
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, o.stepTimeout())
	defer cancel()
	return d.DialContext(ctx, "tcp", net.JoinHostPort(inv.IPAddress, strconv.Itoa(inv.Port)))
}
