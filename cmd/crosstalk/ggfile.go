package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
)

// defaultHTTPPort is the port of serve's --http-addr by default.
const defaultHTTPPort = "8080"

type ggDrive struct {
	Drive string `help:"The GG drive's URL (the server's --http-addr); empty: http://<host of --server>:8080."`
}

// driveURL is --drive, or else the GG server's host with the HTTP
// service's default port: GG11 clients reach the drive at a fixed address,
// so the protocol has no way to tell where it is.
func driveURL(drive, server string) (string, error) {
	if drive != "" {
		u, err := url.Parse(drive)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("--drive %q is not an http:// or https:// URL", drive)
		}
		return drive, nil
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return "", fmt.Errorf("--server %q is not host:port: %w", server, err)
	}
	if host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, defaultHTTPPort), nil
}

// signIn opens a drive session with the GG session's IMToken.
func (c ggLogin) signIn(ctx context.Context, d ggDrive, gg *ggclient.Client) (*driveclient.Client, error) {
	base, err := driveURL(d.Drive, c.Server)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	token, err := gg.IMToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("the GG server sent no token for the drive: %w", err)
	}
	dc, err := driveclient.SignIn(ctx, base, c.Number, token, nil)
	if err != nil {
		return nil, driveError(base, err)
	}
	return dc, nil
}

// driveError says in words why a drive call failed.
func driveError(base string, err error) error {
	var refused *driveclient.Error
	var unreachable *url.Error
	switch {
	case errors.As(err, &refused) && refused.Message != "":
		return fmt.Errorf("the GG drive refused: %s", refused.Message)
	case errors.As(err, &refused):
		return fmt.Errorf("the GG drive refused with HTTP status %d", refused.HTTPStatus)
	case errors.Is(err, errStalled):
		return fmt.Errorf("the GG drive at %s stopped answering", base)
	case errors.As(err, &unreachable) && !errors.Is(err, context.Canceled):
		return fmt.Errorf("cannot reach the GG drive at %s (the server's --http-addr; say where with --drive): %w", base, unreachable.Err)
	}
	return err
}

// errStalled ends a transfer that made no progress for a step's time.
var errStalled = errors.New("no progress")

// stallGuard is a context that ends with errStalled once moved has not
// been called for the given time.
func stallGuard(ctx context.Context, step time.Duration) (gctx context.Context, moved func(), stop func()) {
	gctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(step, func() { cancel(errStalled) })
	return gctx, func() { t.Reset(step) }, func() { t.Stop(); cancel(nil) }
}

type ggSendFileCmd struct {
	ggLogin
	ggDrive
	To   uint32 `help:"Recipient's number." required:""`
	File string `arg:"" help:"File to send." type:"existingfile"`
}

func (c *ggSendFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *ggSendFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	f, size, err := openFile(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	gg, err := c.connect(ctx, log, c.To)
	if err != nil {
		return err
	}
	defer logout(gg)
	dc, err := c.signIn(ctx, c.ggDrive, gg)
	if err != nil {
		return err
	}
	defer dc.CloseIdleConnections()
	base, _ := driveURL(c.Drive, c.Server)
	// Each step has --timeout of its own.
	step, cancel := context.WithTimeout(ctx, c.Timeout)
	t, err := dc.Offer(step, c.To, filepath.Base(c.File), size)
	cancel()
	if err != nil {
		return driveError(base, err)
	}
	con.notef("offered %s to %d; waiting for an answer\n", t.FileName, c.To)
	step, cancel = context.WithTimeout(ctx, c.Timeout)
	err = waitTicket(step, gg, t.ID, func(ack, _ string) bool { return ack != "unknown" })
	cancel()
	if err != nil {
		return fmt.Errorf("%d did not answer: %w", c.To, err)
	}
	step, cancel = context.WithTimeout(ctx, c.Timeout)
	t, err = dc.Ticket(step, t.ID)
	cancel()
	if err != nil {
		return driveError(base, err)
	}
	if t.Ack != "allowed" {
		return fmt.Errorf("%d declined the file", c.To)
	}
	bar := con.progress(t.FileName, size)
	uctx, moved, stop := stallGuard(ctx, c.Timeout)
	defer stop()
	err = dc.Upload(uctx, t, &progressReader{r: f, progress: func(n int64) { moved(); bar.set(n) }})
	bar.finish()
	if err != nil {
		return driveError(base, errors.Join(err, context.Cause(uctx)))
	}
	con.printf("sent %s (%d bytes) to %d\n", t.FileName, size, c.To)
	return nil
}

type ggRecvFileCmd struct {
	ggLogin
	ggDrive
	Dir string `help:"Directory to save into." default:"." type:"existingdir"`
}

func (c *ggRecvFileCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *ggRecvFileCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	gg, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer logout(gg)
	dc, err := c.signIn(ctx, c.ggDrive, gg)
	if err != nil {
		return err
	}
	defer dc.CloseIdleConnections()
	base, _ := driveURL(c.Drive, c.Server)
	con.notef("waiting for a file as %d; Ctrl-C to stop\n", c.Number)
	var id string
	if err := waitTicket(ctx, gg, "", func(ack, _ string) bool { return ack == "unknown" }, &id); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	t, err := dc.Ticket(actx, id)
	if err != nil {
		return driveError(base, err)
	}
	con.notef("%d sends %s (%d bytes)\n", t.Sender, t.FileName, t.FileSize)
	if err := dc.Answer(actx, t.ID, true); err != nil {
		return driveError(base, err)
	}
	// The sender uploads now, which takes as long as the file needs.
	if err := waitTicket(ctx, gg, t.ID, func(_, status string) bool { return status == "completed" }); err != nil {
		return err
	}
	name := safeName(t.FileName)
	bar := con.progress(name, t.FileSize)
	dctx, moved, stop := stallGuard(ctx, c.Timeout)
	defer stop()
	n, err := saveFile(c.Dir, name, func(w io.Writer) (int64, error) {
		n, err := dc.Download(dctx, t, &progressWriter{w: w, progress: func(n int64) { moved(); bar.set(n) }})
		bar.finish()
		switch {
		case err != nil:
			err = driveError(base, errors.Join(err, context.Cause(dctx)))
		case n != t.FileSize:
			err = fmt.Errorf("got %d of %d bytes", n, t.FileSize)
		}
		return n, err
	})
	if err != nil {
		return err
	}
	con.printf("received %s (%d bytes) from %d\n", name, n, t.Sender)
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
