package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/msnftp"
)

type msnSendFileCmd struct {
	msnLogin
	To         string `help:"Recipient's e-mail address." required:""`
	NoIncoming bool   `help:"This machine cannot accept connections (behind NAT): ask the receiver to listen."`
	File       string `arg:"" help:"File to send." type:"existingfile"`
}

func (c *msnSendFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

// transferOptions bound every wait of a transfer by Timeout.
func (l msnLogin) transferOptions(noIncoming bool, p *progress) filetransfer.Options {
	return filetransfer.Options{NoIncoming: noIncoming, AnswerTimeout: l.Timeout, StepTimeout: l.Timeout, Progress: p.set}
}

func (c *msnSendFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	f, size, err := openFile(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	sb, err := c.chat(ctx, cl, c.To)
	if err != nil {
		return err
	}
	defer sb.Leave()
	name := filepath.Base(c.File)
	con.notef("offering %s to %s\n", name, c.To)
	bar := con.progress(name, size)
	if c.p2p() {
		err = filetransfer.SendP2P(ctx, sb, c.To, name, size, f, c.transferOptions(c.NoIncoming, bar))
	} else {
		err = filetransfer.Send(ctx, sb, c.To, name, size, f, c.transferOptions(c.NoIncoming, bar))
	}
	bar.finish()
	if err != nil {
		return transferError(c.To, err)
	}
	con.printf("sent %s (%d bytes) to %s\n", name, size, c.To)
	return nil
}

// transferError says in words why a transfer failed.
func transferError(peer string, err error) error {
	var rejected *filetransfer.RejectedError
	switch {
	case errors.As(err, &rejected) && rejected.Code == invite.CancelReject: // also MSNSLP's 603 Decline
		return fmt.Errorf("%s declined the file", peer)
	case errors.As(err, &rejected):
		return fmt.Errorf("%s cancelled the transfer (%s)", peer, rejected.Code)
	case errors.Is(err, msnftp.ErrCancelled):
		return fmt.Errorf("%s cancelled the transfer", peer)
	case errors.As(err, new(*msnftp.ByeError)):
		return fmt.Errorf("%s could not keep the file: %w", peer, err)
	}
	return err
}

type msnRecvFileCmd struct {
	msnLogin
	Dir        string `help:"Directory to save into." default:"." type:"existingdir"`
	NoIncoming bool   `help:"This machine cannot accept connections (behind NAT)."`
}

func (c *msnRecvFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnRecvFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	con.notef("waiting for a file as %s; Ctrl-C to stop\n", c.Login)
	// Every chat is answered, not only the first: the first may be another
	// contact's, or the server's delivering messages kept while offline.
	wctx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer stopWatching()
	offers := make(chan msnOffer)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return errors.New("disconnected before a file arrived")
			}
			if r, ok := ev.(client.Ring); ok {
				watchers.Go(func() { c.watch(wctx, cl, r, con, offers) })
			}
		case o := <-offers:
			stopWatching()
			defer o.sb.Leave()
			return c.receive(ctx, o, con)
		case <-ctx.Done():
			return errors.New("stopped before a file arrived")
		}
	}
}

// msnOffer is a file offered in one of the chats recv-file answered: an
// invitation (MSNFTP), or an MSNSLP INVITE (p2p set).
type msnOffer struct {
	sb    *client.Switchboard
	from  string
	offer invite.Invitation
	p2p   *filetransfer.P2POffer
}

// watch answers a ring and waits in that chat for a file offer, which it
// hands over with the chat, showing the text that arrives meanwhile. Until
// then it leaves the chat when it ends or ctx does.
func (c *msnRecvFileCmd) watch(ctx context.Context, cl *client.Client, r client.Ring, con *console, offers chan<- msnOffer) {
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	sb, err := cl.Answer(actx, r)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			con.notef("could not join %s's chat: %v\n", r.Caller, err)
		}
		return
	}
	p2p := filetransfer.NewP2PWatcher(sb)
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return
			}
			m, ok := ev.(client.Message)
			var o *msnOffer
			switch {
			case !ok:
			case filetransfer.IsOffer(m):
				o = &msnOffer{sb: sb, from: m.From, offer: *m.Invitation}
			case m.ContentType == "text/plain":
				con.notef("%s <%s>: %s\n", m.Friendly, m.From, m.Text)
			default:
				if offer, ok := p2p.Offer(ctx, m); ok {
					o = &msnOffer{sb: sb, from: m.From, offer: invite.Invitation{File: offer.Name, FileSize: offer.Size}, p2p: &offer}
				}
			}
			if o != nil {
				select {
				case offers <- *o:
					return
				case <-ctx.Done():
				}
			}
		case <-ctx.Done():
			sb.Leave()
			return
		}
	}
}

// receive takes an offered file into Dir.
func (c *msnRecvFileCmd) receive(ctx context.Context, o msnOffer, con *console) error {
	name := safeName(o.offer.File)
	con.notef("%s sends %s (%d bytes)\n", o.from, name, o.offer.FileSize)
	bar := con.progress(name, o.offer.FileSize)
	n, err := saveFile(c.Dir, name, func(w io.Writer) (n int64, err error) {
		if o.p2p != nil {
			n, err = filetransfer.ReceiveP2P(ctx, o.sb, *o.p2p, w, c.transferOptions(c.NoIncoming, bar))
		} else {
			n, err = filetransfer.Receive(ctx, o.sb, o.from, c.Login, o.offer, w, c.transferOptions(c.NoIncoming, bar))
		}
		bar.finish()
		if err != nil {
			err = transferError(o.from, err)
		}
		return n, err
	})
	if err != nil {
		return err
	}
	con.printf("received %s (%d bytes) from %s\n", name, n, o.from)
	return nil
}

// openFile opens a file to send and says its size.
func openFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, info.Size(), nil
}

// saveFile has receive write a file that goes into dir as name: first into
// a hidden temporary file, renamed once receive succeeded and removed
// otherwise, so that no partial file is left behind.
func saveFile(dir, name string, receive func(w io.Writer) (int64, error)) (int64, error) {
	out, err := os.CreateTemp(dir, "."+name+".part-*")
	if err != nil {
		return 0, err
	}
	n, err := receive(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(out.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(out.Name())
	}
	return n, err
}

// safeName keeps the last path element of an offered name, so that a
// sender cannot write outside the chosen directory.
func safeName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == ".." || name == "" {
		return "received-file"
	}
	return name
}
