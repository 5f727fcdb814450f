package service

import (
	"sync/atomic"
	"testing"
)

// Stop waits for the work under way and refuses what comes after it.
func TestWorkers(t *testing.T) {
	var w Workers
	var ran atomic.Int32
	release := make(chan struct{})
	w.Go(func() { <-release; ran.Add(1) })
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while work was under way")
	default:
	}
	close(release)
	<-stopped
	w.Go(func() { ran.Add(1) })
	if n := ran.Load(); n != 1 {
		t.Fatalf("%d pieces of work ran, want 1", n)
	}
}
