package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
)

type sipSendFileCmd struct {
	sipLogin
	To         string `help:"Recipient's e-mail address." required:""`
	Plain      bool   `help:"Send without encryption (plain MSNFTP, as Communicator with AllowUnencryptedFileTransfer); by default the receiver is asked for MSN_SECURE_FTP."`
	NoIncoming bool   `help:"This machine cannot accept connections (behind NAT): say so in the invitation."`
	File       string `arg:"" help:"File to send." type:"existingfile"`
}

func (c *sipSendFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

// fileOptions bound every wait of a transfer by Timeout.
func (l sipLogin) fileOptions(plain, noIncoming bool, p *progress) sipclient.FileOptions {
	return sipclient.FileOptions{Plain: plain, NoIncoming: noIncoming,
		AnswerTimeout: l.Timeout, StepTimeout: l.Timeout, Progress: p.set}
}

func (c *sipSendFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	f, size, err := openFile(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer signOut(cl)
	name := filepath.Base(c.File)
	con.notef("offering %s to %s\n", name, c.To)
	bar := con.progress(name, size)
	err = cl.SendFile(ctx, c.To, name, size, f, c.fileOptions(c.Plain, c.NoIncoming, bar))
	bar.finish()
	if err != nil {
		return sipTransferError(c.To, err)
	}
	con.printf("sent %s (%d bytes) to %s\n", name, size, c.To)
	return nil
}

// sipTransferError says in words why a transfer failed.
func sipTransferError(peer string, err error) error {
	var cancelled *sipclient.CancelError
	var refused *sipclient.StatusError
	switch {
	case errors.Is(err, sipclient.ErrDeclined):
		return fmt.Errorf("%s declined the file", peer)
	case errors.As(err, &cancelled):
		return fmt.Errorf("%s cancelled the transfer (%s)", peer, cancelled.Code)
	case errors.Is(err, sipclient.ErrNoAnswer):
		return fmt.Errorf("%s did not answer the offer", peer)
	case errors.As(err, &refused) && refused.Code == 480:
		return fmt.Errorf("%s is offline", peer)
	}
	return transferError(peer, err)
}

type sipRecvFileCmd struct {
	sipLogin
	Dir   string `help:"Directory to save into." default:"." type:"existingdir"`
	Plain bool   `help:"Accept without keys, so that the transfer is plain MSNFTP."`
}

func (c *sipRecvFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *sipRecvFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer signOut(cl)
	con.notef("waiting for a file as %s; Ctrl-C to stop\n", c.Login)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return errors.New("disconnected before a file arrived")
			}
			switch ev := ev.(type) {
			case sipclient.FileOffer:
				return c.receive(ctx, cl, ev, con)
			case sipclient.Message:
				con.notef("%s: %s\n", ev.From, ev.Text)
			}
		case <-ctx.Done():
			return errors.New("stopped before a file arrived")
		}
	}
}

// receive takes an offered file into Dir.
func (c *sipRecvFileCmd) receive(ctx context.Context, cl *sipclient.Client, offer sipclient.FileOffer, con *console) error {
	name := safeName(offer.Name)
	con.notef("%s sends %s (%d bytes)\n", offer.From, name, offer.Size)
	bar := con.progress(name, offer.Size)
	n, err := saveFile(c.Dir, name, func(w io.Writer) (int64, error) {
		n, err := cl.AcceptFile(ctx, offer, w, c.fileOptions(c.Plain, false, bar))
		bar.finish()
		if err != nil {
			err = sipTransferError(offer.From, err)
		}
		return n, err
	})
	if err != nil {
		return err
	}
	con.printf("received %s (%d bytes) from %s\n", name, n, offer.From)
	return nil
}
