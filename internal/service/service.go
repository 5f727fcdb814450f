// Package service holds what every protocol server does the same way:
// accepting on listeners, tracking live connections, and shutting down
// gracefully with a protocol-specific goodbye to each client.
package service

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Conn is a live client connection as the tracker sees it.
type Conn interface {
	// Goodbye tells the client the server is going away and closes the
	// connection once that is written.
	Goodbye()
	// Close drops the connection at once.
	Close()
}

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("server closed")

// Tracker accepts connections and knows which are live.
type Tracker struct {
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[Conn]struct{}
	shutdown  bool
	wg        sync.WaitGroup
}

// Serve accepts on l and runs handle for each connection in its own
// goroutine until Shutdown. Accept errors back off (see Serve).
func (t *Tracker) Serve(l net.Listener, handle func(net.Conn)) error {
	t.mu.Lock()
	if t.shutdown {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.listeners == nil {
		t.listeners = make(map[net.Listener]struct{})
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	err := Serve(l, handle)
	if t.closed() {
		return ErrClosed
	}
	return err
}

func (t *Tracker) closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shutdown
}

// Track registers a connection; false once shutting down (the caller then
// closes it).
func (t *Tracker) Track(c Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutdown {
		return false
	}
	if t.conns == nil {
		t.conns = make(map[Conn]struct{})
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return true
}

// Untrack forgets a connection whose handler has finished.
func (t *Tracker) Untrack(c Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// Shutdown stops accepting, says goodbye to every client and waits for
// their handlers to finish, dropping whoever is left when ctx expires.
func (t *Tracker) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.shutdown = true
	for l := range t.listeners {
		_ = l.Close()
	}
	for c := range t.conns {
		c.Goodbye()
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
