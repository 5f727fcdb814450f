package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
)

type msnSendFileCmd struct {
	msnLogin
	To         string `help:"Recipient's e-mail address." required:""`
	NoIncoming bool   `help:"This machine cannot accept connections (behind NAT): ask the receiver to listen."`
	File       string `arg:"" help:"File to send." type:"existingfile"`
}

func (c *msnSendFileCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	sb, err := cl.StartChat(ctx)
	if err != nil {
		return err
	}
	defer sb.Leave()
	if _, err := sb.Call(ctx, c.To); err != nil {
		return fmt.Errorf("calling %s: %w", c.To, err)
	}
	if err := waitJoined(ctx, sb, c.To); err != nil {
		return err
	}
	bar := progressBar(info.Size())
	err = filetransfer.Send(ctx, sb, c.To, filepath.Base(c.File), info.Size(), f,
		filetransfer.Options{NoIncoming: c.NoIncoming, Progress: bar})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf("sent %s (%d bytes) to %s\n", filepath.Base(c.File), info.Size(), c.To)
	return nil
}

type msnRecvFileCmd struct {
	msnLogin
	Dir        string `help:"Directory to save into." default:"." type:"existingdir"`
	NoIncoming bool   `help:"This machine cannot accept connections (behind NAT)."`
}

func (c *msnRecvFileCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	fmt.Fprintf(os.Stderr, "waiting for a file as %s; Ctrl-C to stop\n", c.Login)
	for ev := range cl.Events() {
		r, ok := ev.(client.Ring)
		if !ok {
			continue
		}
		sb, err := cl.Answer(ctx, r)
		if err != nil {
			return err
		}
		defer sb.Leave()
		from, offer, err := filetransfer.NextOffer(ctx, sb)
		if err != nil {
			return err
		}
		name := safeName(offer.File)
		out, err := os.CreateTemp(c.Dir, "."+name+".part-*")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s sends %s (%d bytes)\n", from, name, offer.FileSize)
		n, err := filetransfer.Receive(ctx, sb, from, c.Login, offer, out,
			filetransfer.Options{NoIncoming: c.NoIncoming, Progress: progressBar(offer.FileSize)})
		fmt.Fprintln(os.Stderr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out.Name()) // no partial file left behind
			return err
		}
		if err := os.Rename(out.Name(), filepath.Join(c.Dir, name)); err != nil {
			return err
		}
		fmt.Printf("received %s (%d bytes) from %s\n", name, n, from)
		return nil
	}
	return errors.New("disconnected before a file arrived")
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

// progressBar draws transfer progress on standard error.
func progressBar(total int64) func(int64) {
	return func(done int64) {
		const width = 30
		filled := width
		percent := 100
		if total > 0 {
			filled = int(done * width / total)
			percent = int(done * 100 / total)
		}
		fmt.Fprintf(os.Stderr, "\r[%s%s] %3d%% %d/%d bytes", strings.Repeat("#", filled), strings.Repeat(".", width-filled), percent, done, total)
	}
}
