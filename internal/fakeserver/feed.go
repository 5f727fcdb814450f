package fakeserver

import (
	"io"
	"net"
	"runtime"
	"sync"
	"time"
)

// Feed returns the client's end of an in-memory connection whose other
// end writes data, discards whatever the client sends and hangs up. wait
// returns once the other end is done. It suits fuzzing, where data is
// arbitrary server output.
func Feed(data []byte) (client net.Conn, wait func()) {
	a, b := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.Discard, b) }()
	go func() {
		defer wg.Done()
		b.Write(data)
		// Let the client read before hanging up, so replies can match.
		time.Sleep(time.Millisecond)
		b.Close()
	}()
	return a, wg.Wait
}

// Watchdog crashes the program with all goroutines' stacks unless stop is
// called within d. Under fuzzing a hang is a bug, and a crash keeps the
// input that caused it.
func Watchdog(d time.Duration) (stop func()) {
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
		case <-time.After(d):
			buf := make([]byte, 1<<20)
			panic("iteration hangs:\n" + string(buf[:runtime.Stack(buf, true)]))
		}
	}()
	return func() { close(finished) }
}
