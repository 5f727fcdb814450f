package mailbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// Asked many times while a read runs, the Rereader reads once more, not
// once per ask; after Stop it reads no more.
func TestRereaderCoalesces(t *testing.T) {
	var r Rereader
	var reads atomic.Int32
	block := make(chan struct{})
	started := make(chan struct{}, 10)
	read := func(context.Context) error {
		reads.Add(1)
		started <- struct{}{}
		<-block
		return nil
	}
	r.Reread(time.Minute, slog.New(slog.DiscardHandler), read)
	<-started
	for range 5 {
		r.Reread(time.Minute, slog.New(slog.DiscardHandler), read)
	}
	block <- struct{}{} // the first read ends; one more starts
	<-started
	close(block)
	r.Stop()
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
	r.Reread(time.Minute, slog.New(slog.DiscardHandler), read)
	r.Stop()
	if n := reads.Load(); n != 2 {
		t.Fatalf("a read after Stop ran (%d reads)", n)
	}
}

// Stop cuts a read waiting on a busy store short rather than wait out its
// timeout, and the read's error is no trouble worth a log line then; a
// read that fails on its own is logged.
func TestRereaderStopCutsReadShort(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	var r Rereader
	fail, secondRead := make(chan struct{}), make(chan struct{})
	var reads atomic.Int32
	read := func(context.Context) error {
		if reads.Add(1) == 1 {
			<-fail
			return errors.New("store unreachable")
		}
		close(secondRead)
		return nil
	}
	r.Reread(time.Minute, log, read)
	// Asked again meanwhile, the Rereader reads once more after it logged.
	r.Reread(time.Minute, log, read)
	close(fail)
	<-secondRead
	r.Stop()
	if !strings.Contains(logged.String(), "store unreachable") {
		t.Errorf("a failed read logged %q, want its error", logged.String())
	}

	logged.Reset()
	var stopped Rereader
	waiting := make(chan struct{})
	var cause atomic.Value
	stopped.Reread(time.Hour, log, func(ctx context.Context) error {
		close(waiting)
		<-ctx.Done()
		cause.Store(ctx.Err())
		return ctx.Err()
	})
	<-waiting
	stopped.Stop()
	if err, _ := cause.Load().(error); !errors.Is(err, context.Canceled) {
		t.Errorf("the read ended with %v, want it cancelled by Stop", err)
	}
	if logged.Len() != 0 {
		t.Errorf("a read Stop cut short logged %q", logged.String())
	}
}

// Every idle session keeps a Rereader: it stays four words.
func TestRereaderSize(t *testing.T) {
	if n := unsafe.Sizeof(Rereader{}); n > 32 {
		t.Errorf("a Rereader takes %d bytes, want at most 32", n)
	}
}
