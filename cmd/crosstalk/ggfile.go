package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
)

type ggDrive struct {
	Drive string `help:"The GG drive's URL (the server's --http-addr)." default:"http://localhost:8080"`
}

func (d ggDrive) signIn(ctx context.Context, gg *ggclient.Client, uin uint32) (*driveclient.Client, error) {
	token, err := gg.IMToken(ctx)
	if err != nil {
		return nil, err
	}
	return driveclient.SignIn(ctx, d.Drive, uin, token, nil)
}

type ggSendFileCmd struct {
	ggLogin
	ggDrive
	To   uint32 `help:"Recipient's number." required:""`
	File string `arg:"" help:"File to send." type:"existingfile"`
}

func (c *ggSendFileCmd) Run(log *slog.Logger) error {
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
	gg, err := c.connect(ctx, log, c.To)
	if err != nil {
		return err
	}
	defer logout(gg)
	dc, err := c.signIn(ctx, gg, c.Number)
	if err != nil {
		return err
	}
	defer dc.CloseIdleConnections()
	t, err := dc.Offer(ctx, c.To, filepath.Base(c.File), info.Size())
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "offered %s to %d; waiting for an answer\n", t.FileName, c.To)
	if err := waitTicket(ctx, gg, t.ID, func(ack, _ string) bool { return ack != "unknown" }); err != nil {
		return err
	}
	if t, err = dc.Ticket(ctx, t.ID); err != nil {
		return err
	}
	if t.Ack != "allowed" {
		return fmt.Errorf("%d declined the file", c.To)
	}
	bar := progressBar(info.Size())
	if err := dc.Upload(ctx, t, &progressReader{r: f, progress: bar}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr)
	fmt.Printf("sent %s (%d bytes) to %d\n", t.FileName, info.Size(), c.To)
	return nil
}

type ggRecvFileCmd struct {
	ggLogin
	ggDrive
	Dir string `help:"Directory to save into." default:"." type:"existingdir"`
}

func (c *ggRecvFileCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	gg, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer logout(gg)
	dc, err := c.signIn(ctx, gg, c.Number)
	if err != nil {
		return err
	}
	defer dc.CloseIdleConnections()
	fmt.Fprintf(os.Stderr, "waiting for a file as %d; Ctrl-C to stop\n", c.Number)
	var id string
	if err := waitTicket(ctx, gg, "", func(ack, _ string) bool { return ack == "unknown" }, &id); err != nil {
		return err
	}
	t, err := dc.Ticket(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d sends %s (%d bytes)\n", t.Sender, t.FileName, t.FileSize)
	if err := dc.Answer(ctx, t.ID, true); err != nil {
		return err
	}
	if err := waitTicket(ctx, gg, t.ID, func(_, status string) bool { return status == "completed" }); err != nil {
		return err
	}
	name := safeName(t.FileName)
	out, err := os.CreateTemp(c.Dir, "."+name+".part-*")
	if err != nil {
		return err
	}
	n, err := dc.Download(ctx, t, &progressWriter{w: out, progress: progressBar(t.FileSize)})
	fmt.Fprintln(os.Stderr)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != t.FileSize {
		err = fmt.Errorf("got %d of %d bytes", n, t.FileSize)
	}
	if err != nil {
		os.Remove(out.Name())
		return err
	}
	if err := os.Rename(out.Name(), filepath.Join(c.Dir, name)); err != nil {
		return err
	}
	fmt.Printf("received %s (%d bytes) from %d\n", name, n, t.Sender)
	return nil
}

// waitTicket waits for an edisc/send_ticket_changed notification on the
// GG session for ticket id (any ticket when id is empty, whose id is then
// stored in found) that satisfies done.
func waitTicket(ctx context.Context, gg *ggclient.Client, id string, done func(ack, status string) bool, found ...*string) error {
	for {
		select {
		case ev, ok := <-gg.Events():
			if !ok {
				return errors.New("the GG session ended")
			}
			m, ok := ev.(ggclient.MPANotify)
			if !ok || m.Subtype != "edisc/send_ticket_changed" {
				continue
			}
			var change struct {
				ID     string `json:"id"`
				Ack    string `json:"ack_status"`
				Status string `json:"send_status"`
			}
			if json.Unmarshal([]byte(m.Data), &change) != nil || id != "" && change.ID != id {
				continue
			}
			if done(change.Ack, change.Status) {
				for _, f := range found {
					*f = change.ID
				}
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type progressReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	k, err := p.r.Read(b)
	p.n += int64(k)
	p.progress(p.n)
	return k, err
}

type progressWriter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	k, err := p.w.Write(b)
	p.n += int64(k)
	p.progress(p.n)
	return k, err
}
