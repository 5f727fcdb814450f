package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// console is where a client command writes: results to out, notes and
// progress to err. Commands take one so that tests can read what they say.
type console struct {
	out, err io.Writer
	// terminal says err is a terminal, where progress is redrawn in place.
	terminal bool
}

func stdio() *console {
	return &console{out: os.Stdout, err: os.Stderr, terminal: term.IsTerminal(int(os.Stderr.Fd()))}
}

// untilInterrupted is the context of a client command: it ends on Ctrl-C.
func untilInterrupted() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// command is a client command's code: its run method, which the tests
// call with a console of their own.
type command func(context.Context, *slog.Logger, *console) error

// runUntilInterrupted runs a client command on the terminal until it ends
// or Ctrl-C.
func runUntilInterrupted(log *slog.Logger, run command) error {
	ctx, stop := untilInterrupted()
	defer stop()
	return run(ctx, log, stdio())
}

func (con *console) printf(format string, args ...any) { fmt.Fprintf(con.out, format, args...) }
func (con *console) notef(format string, args ...any)  { fmt.Fprintf(con.err, format, args...) }

// progressRedraw is how often at most the progress bar is redrawn.
const progressRedraw = 150 * time.Millisecond

// progress shows a file transfer: on a terminal, a bar with the rate and
// the time left; elsewhere nothing until one plain line at the end, so
// that logs get no carriage returns.
type progress struct {
	con   *console
	bar   *progressbar.ProgressBar // nil when not on a terminal
	total int64

	mu    sync.Mutex
	start time.Time // of the first bytes, not of the wait for an answer
	done  int64
}

func (con *console) progress(name string, total int64) *progress {
	p := &progress{con: con, total: total}
	if con.terminal {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(con.err),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(progressRedraw),
		)
	}
	return p
}

// set records the bytes moved so far; it is the transfers' Progress hook.
func (p *progress) set(n int64) {
	p.mu.Lock()
	if p.start.IsZero() {
		p.start = time.Now()
	}
	p.done = n
	p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

// finish ends the display: the bar's last state on its own line, or the
// plain summary line.
func (p *progress) finish() {
	p.mu.Lock()
	done, start := p.done, p.start
	p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Exit()
		p.con.notef("\n")
		return
	}
	var elapsed time.Duration
	if !start.IsZero() {
		elapsed = time.Since(start)
	}
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf(", %s/s", humanBytes(int64(float64(done)/s)))
	}
	p.con.notef("%s of %s in %s%s\n", humanBytes(done), humanBytes(p.total), elapsed.Round(time.Millisecond), rate)
}

// humanBytes writes a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
