package service

import "sync"

// Workers runs a connection's background work (store lookups the hub's
// dispatcher may not wait for) until the connection ends: Stop refuses
// new work and waits for the work under way, so none outlives the
// session. The zero value is ready.
type Workers struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// Go runs work on a goroutine of its own, unless Stop was called.
func (w *Workers) Go(work func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		work()
	}()
}

// Stop refuses later work and waits for the work under way.
func (w *Workers) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.wg.Wait()
}
