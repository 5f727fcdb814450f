package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
	"github.com/crosstalk-im/crosstalk/msnp/secureftp"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// FileOffer is a contact's offer of a file (a text/x-msmsgsinvite INVITE
// in the IM session); answer it with AcceptFile or DeclineFile.
type FileOffer struct {
	From   string // sip:…
	Cookie uint32
	Name   string
	Size   int64
	// Encrypted: the sender asked for MSN_SECURE_FTP (Encryption: R or S);
	// NoIncoming: it cannot take connections (Connectivity: N).
	Encrypted, NoIncoming bool
}

// FileCancelled: a contact cancelled a file invitation nobody waits for
// an answer to (an offer not answered yet).
type FileCancelled struct {
	From   string
	Cookie uint32
	Code   string // Cancel-Code, such as REJECT, TIMEOUT, FAIL
}

func (FileOffer) isEvent()     {}
func (FileCancelled) isEvent() {}

// FileOptions tune SendFile and AcceptFile. The zero value is pidgin-sipe's
// behaviour: encrypted, and able to take connections.
type FileOptions struct {
	// Plain sends without asking for encryption (Communicator with
	// AllowUnencryptedFileTransfer), or accepts without keys, so that the
	// transfer is plain MSNFTP.
	Plain bool
	// Listen makes the receiver listen for the sender's connection
	// (Sender-Connect) even when the sender did not say it cannot take
	// connections; for a sender, NoIncoming says Connectivity: N, so that
	// the receiver listens.
	Listen, NoIncoming bool
	// AnswerTimeout bounds the wait for the other side's answer (default
	// two minutes); StepTimeout each step of the transfer.
	AnswerTimeout, StepTimeout time.Duration
	// Progress, if set, is called with the bytes moved so far.
	Progress func(int64)
}

// Errors of file transfers.
var (
	// ErrDeclined: the recipient declined the file (CANCEL REJECT).
	ErrDeclined = errors.New("sip client: the recipient declined the file")
	// ErrNoAnswer: no answer to the invitation within AnswerTimeout.
	ErrNoAnswer = errors.New("sip client: no answer to the file invitation")
)

// CancelError is a CANCEL with another code than REJECT.
type CancelError struct{ Code string }

func (e *CancelError) Error() string { return "sip client: file transfer cancelled: " + e.Code }

const defaultAnswerTimeout = 2 * time.Minute

// incomingInvitation takes a text/x-msmsgsinvite MESSAGE: an offer
// becomes a FileOffer event, an answer goes to whoever waits for it.
func (c *Client) incomingInvitation(m *wire.Message, from string) error {
	inv, err := invite.ParseBody(m.Body)
	if err != nil {
		return c.respond(m, 400, "", nil, "")
	}
	if err := c.respond(m, 200, "", nil, ""); err != nil {
		return err
	}
	if inv.Command == invite.Invite {
		return c.emit(FileOffer{From: from, Cookie: inv.Cookie, Name: inv.File, Size: inv.FileSize,
			Encrypted: inv.Encryption != "", NoIncoming: strings.EqualFold(inv.Connectivity, "N")})
	}
	c.mu.Lock()
	ch := c.answers[inv.Cookie]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- inv:
		default: // one answer waits already
		}
		return nil
	}
	if inv.Command == invite.Cancel {
		return c.emit(FileCancelled{From: from, Cookie: inv.Cookie, Code: inv.CancelCode})
	}
	return nil
}

// awaitAnswers registers for the answers to an invitation; done
// unregisters.
func (c *Client) awaitAnswers(cookie uint32) (ch chan invite.Invitation, done func()) {
	ch = make(chan invite.Invitation, 1)
	c.mu.Lock()
	c.answers[cookie] = ch
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.answers, cookie)
		c.mu.Unlock()
	}
}

// nextAnswer waits for an answer to an invitation: an ACCEPT, or the error
// a CANCEL means.
func nextAnswer(ctx context.Context, ch chan invite.Invitation, timeout time.Duration) (invite.Invitation, error) {
	if timeout <= 0 {
		timeout = defaultAnswerTimeout
	}
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case inv := <-ch:
		switch {
		case inv.Command != invite.Cancel:
			return inv, nil
		case inv.CancelCode == invite.CancelReject:
			return inv, ErrDeclined
		}
		return inv, &CancelError{Code: inv.CancelCode}
	case <-wait.Done():
		if ctx.Err() != nil {
			return invite.Invitation{}, ctx.Err()
		}
		return invite.Invitation{}, ErrNoAnswer
	}
}

// sendInvitation sends an invitation message to a contact.
func (c *Client) sendInvitation(ctx context.Context, to string, inv invite.Invitation) error {
	return c.sendInSession(ctx, to, invite.ContentType+"; charset=UTF-8", inv.Body())
}

// cancelInvitation tells the contact we give up, even when ctx is over.
func (c *Client) cancelInvitation(ctx context.Context, to string, cookie uint32, code string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = c.sendInvitation(cctx, to, invite.Invitation{Command: invite.Cancel, Cookie: cookie, CancelCode: code})
}

// SendFile offers a contact a file of size bytes, read from r, and sends
// it once they accept: encrypted (MSN_SECURE_FTP) when the ACCEPT carries
// keys, plain MSNFTP otherwise. It returns nil once the recipient
// confirmed the whole file; ErrDeclined when they declined, a
// *CancelError for another cancellation, ErrNoAnswer when no answer came.
// Ending ctx cancels the transfer for both sides.
func (c *Client) SendFile(ctx context.Context, to, name string, size int64, r io.Reader, opts FileOptions) error {
	to = Address(to)
	cookie := invite.NewCookie()
	answers, done := c.awaitAnswers(cookie)
	defer done()
	offer := invite.Invitation{
		Command: invite.Invite, Cookie: cookie, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		File: name, FileSize: size,
	}
	if !opts.Plain {
		offer.Encryption = "R"
	}
	if opts.NoIncoming {
		offer.Connectivity = "N"
	}
	if err := c.sendInvitation(ctx, to, offer); err != nil {
		return err
	}
	accept, err := nextAnswer(ctx, answers, opts.AnswerTimeout)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrNoAnswer) {
			c.cancelInvitation(ctx, to, cookie, invite.CancelTimeout)
		}
		return err
	}
	var keys *secureftp.Keys
	if accept.EncryptionKey != "" || accept.HashKey != "" {
		k, err := secureftp.ParseKeys(accept.EncryptionKey, accept.HashKey)
		if err != nil {
			c.cancelInvitation(ctx, to, cookie, invite.CancelFail)
			return err
		}
		keys = &k
	}
	var nc net.Conn
	auth := accept.AuthCookie
	if accept.Port != 0 {
		nc, err = c.dialFile(ctx, accept)
	} else {
		auth = invite.NewCookie()
		nc, err = c.listenFile(ctx, to, invite.Invitation{Command: invite.Accept, Cookie: cookie, AuthCookie: auth}, answers, opts)
	}
	if err != nil {
		c.cancelInvitation(ctx, to, cookie, invite.CancelFTTimeout)
		return err
	}
	return msnftp.Send(ctx, nc, msnftp.SendOptions{AuthCookie: auth, ExpectUser: strings.TrimPrefix(to, "sip:"), Size: size,
		Progress: opts.Progress, StepTimeout: opts.StepTimeout, Secure: keys}, r)
}

// AcceptFile accepts an offer and receives the file into w, returning
// the bytes written. It makes keys when the sender asked for encryption
// (unless opts.Plain); it listens for the sender when the sender cannot
// take connections or opts.Listen says so, and otherwise connects to
// where the sender's ACCEPT says it listens.
func (c *Client) AcceptFile(ctx context.Context, offer FileOffer, w io.Writer, opts FileOptions) (int64, error) {
	answers, done := c.awaitAnswers(offer.Cookie)
	defer done()
	accept := invite.Invitation{Command: invite.Accept, Cookie: offer.Cookie, RequestData: "IP-Address:"}
	var keys *secureftp.Keys
	if offer.Encrypted && !opts.Plain {
		k := secureftp.NewKeys()
		keys = &k
		accept.EncryptionKey, accept.HashKey = k.Fields()
	}
	var nc net.Conn
	var err error
	if offer.NoIncoming || opts.Listen {
		accept.AuthCookie, accept.SenderConnect = invite.NewCookie(), "TRUE"
		nc, err = c.listenFile(ctx, offer.From, accept, answers, opts)
	} else {
		if err = c.sendInvitation(ctx, offer.From, accept); err == nil {
			var where invite.Invitation
			if where, err = nextAnswer(ctx, answers, opts.AnswerTimeout); err == nil {
				accept.AuthCookie = where.AuthCookie
				nc, err = c.dialFile(ctx, where)
			}
		}
	}
	if err != nil {
		var ce *CancelError
		if !errors.Is(err, ErrDeclined) && !errors.As(err, &ce) {
			c.cancelInvitation(ctx, offer.From, offer.Cookie, invite.CancelFTTimeout)
		}
		return 0, err
	}
	return msnftp.Receive(ctx, nc, msnftp.ReceiveOptions{
		Passport: strings.TrimPrefix(c.Self(), "sip:"), AuthCookie: accept.AuthCookie, MaxSize: offer.Size, ExactSize: true,
		Progress: opts.Progress, StepTimeout: opts.StepTimeout, Secure: keys,
	}, w)
}

// DeclineFile refuses an offer (CANCEL REJECT).
func (c *Client) DeclineFile(ctx context.Context, offer FileOffer) error {
	return c.sendInvitation(ctx, offer.From, invite.Invitation{Command: invite.Cancel, Cookie: offer.Cookie, CancelCode: invite.CancelReject})
}

// dialFile connects to the address an ACCEPT names.
func (c *Client) dialFile(ctx context.Context, inv invite.Invitation) (net.Conn, error) {
	if inv.IPAddress == "" || inv.Port == 0 {
		return nil, fmt.Errorf("sip client: the ACCEPT names no address")
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.opts.Dialer.DialContext(dctx, "tcp", net.JoinHostPort(inv.IPAddress, strconv.Itoa(inv.Port)))
}

// listenFile opens a port on our address, sends accept with it, and takes
// the other side's connection; a CANCEL meanwhile ends the wait.
func (c *Client) listenFile(ctx context.Context, to string, accept invite.Invitation, answers chan invite.Invitation, opts FileOptions) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(c.local)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	accept.IPAddress, accept.Port = host, l.Addr().(*net.TCPAddr).Port
	if err := c.sendInvitation(ctx, to, accept); err != nil {
		l.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if _, err := nextAnswer(lctx, answers, opts.AnswerTimeout); err != nil && lctx.Err() == nil {
			cancel() // cancelled by the other side
		}
	}()
	timeout := opts.AnswerTimeout
	if timeout <= 0 {
		timeout = defaultAnswerTimeout
	}
	return msnftp.AcceptOne(lctx, l, timeout)
}
