package gctune

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name       string
		rate, live float64
		want       int
	}{
		{"idle", 0, 400 * mb, 25},
		{"a trickle", 4 * mb, 400 * mb, 25},  // 40 MB per 10 s is 10 %
		{"between", 16 * mb, 400 * mb, 40},   // 160 MB per 10 s
		{"busy", 200 * mb, 400 * mb, 100},    // 2 GB per 10 s
		{"nothing live yet", 1 * mb, 0, 100}, // no figure to scale by
		{"busy above GOGC", 1000 * mb, mb, 100},
		{"small heap, idle", 0, 32 * mb, 50}, // 16 MB of headroom at least
		{"tiny heap, idle", 0, 8 * mb, 100},
	} {
		if got := Percent(c.rate, c.live, 10*time.Second, 16*mb, 25, 100); got != c.want {
			t.Errorf("%s: Percent(%v, %v) = %d, want %d", c.name, c.rate, c.live, got, c.want)
		}
	}
}

func TestSpacing(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name              string
		costPerByte, live float64
		procs             int
		want              time.Duration
	}{
		// 0.5 ns of CPU per live byte: 25 ms a collection of 50 MB, a
		// twentieth of two threads' time every 250 ms.
		{"logins on two threads", 0.5e-9, 50e6, 2, 250 * time.Millisecond},
		{"four threads", 0.5e-9, 50e6, 4, 125 * time.Millisecond},
		{"a million sessions", 0.5e-9, 2.5e9, 2, 12500 * time.Millisecond},
		{"a small heap", 0.5e-9, 4 * mb, 2, 100 * time.Millisecond}, // the least
	} {
		if got := Spacing(c.costPerByte, c.live, 0.05, c.procs, 100*time.Millisecond); got != c.want {
			t.Errorf("%s: Spacing = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBusySpacing(t *testing.T) {
	const spacing, churn = 100 * time.Millisecond, 2 * time.Second
	for _, c := range []struct {
		name           string
		quiet          bool
		prevLive, live uint64
		want           time.Duration
	}{
		{"messages over a level heap", false, 64 << 20, 65 << 20, churn},
		{"a shrinking heap", false, 64 << 20, 32 << 20, churn},
		{"logins adding records", false, 64 << 20, 67 << 20, spacing},
		{"quiet", true, 64 << 20, 64 << 20, spacing},
	} {
		if got := busySpacing(spacing, churn, c.quiet, c.prevLive, c.live, 2<<20); got != c.want {
			t.Errorf("%s: busySpacing = %v, want %v", c.name, got, c.want)
		}
	}
	if got := busySpacing(5*time.Second, churn, false, 1, 1, 2<<20); got != 5*time.Second {
		t.Errorf("a longer spacing stays: %v", got)
	}
}

// sink keeps TestRunFollowsAllocation's allocations from being optimised away.
var sink []byte

func TestRunFollowsAllocation(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	// A live heap beside which MinHeadroom and a stray allocation of the
	// test's own are nothing.
	ballast := make([]byte, 64<<20)
	defer runtime.KeepAlive(ballast)
	runtime.GC() // Run scales by the heap live at the last collection
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var released atomic.Int32
	go func() {
		defer close(done)
		Run(ctx, Config{IdlePercent: 30, Spacing: 100 * time.Millisecond, Tick: 20 * time.Millisecond, MinHeadroom: 1 << 20,
			Release: func() { released.Add(1) }}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	forced := forcedCollections()
	waitPercent(t, 30, nil)
	// Going idle collects and gives memory back at once, Release's too.
	deadline := time.Now().Add(10 * time.Second)
	for forcedCollections() == forced || released.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("on going idle: %d collections forced, Release called %d times; want both", forcedCollections()-forced, released.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitPercent(t, 100, func() { // far more than the live heap every tick
		for range 64 {
			sink = make([]byte, 256<<10)
		}
	})
	cancel()
	<-done
	if got := currentPercent(); got != 100 {
		t.Errorf("GOGC after Run ended = %d, want the 100 it started with", got)
	}
}

// While the process allocates only garbage beside a level live heap, Run
// spaces collections by ChurnSpacing: GOGC rises above the floor that
// Spacing alone would keep.
func TestRunSpacesCollectionsOfGarbage(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ballast := make([]byte, 64<<20)
	defer runtime.KeepAlive(ballast)
	runtime.GC()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// About 50 MB/s of garbage: 5 MB by Spacing, 8 % of the live
		// heap, under the floor of 30; 50 MB by ChurnSpacing, about 80 %.
		Run(ctx, Config{IdlePercent: 30, Spacing: 100 * time.Millisecond, ChurnSpacing: time.Second, Tick: 100 * time.Millisecond, MinHeadroom: 1 << 20},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitPercent(t, 30, nil) // idle
	deadline := time.Now().Add(10 * time.Second)
	for currentPercent() < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d after 10s of garbage beside a level heap, want 50 or more", currentPercent())
		}
		for range 2 {
			sink = make([]byte, 128<<10)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunKeepsOperatorsLowerPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	Run(context.Background(), Config{IdlePercent: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := currentPercent(); got != 20 {
		t.Errorf("GOGC = %d, want the operator's 20", got)
	}
}

func TestRunOffWhenGCIsOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	if got := currentPercent(); got != -1 {
		t.Fatalf("currentPercent with GOGC=off = %d, want -1", got)
	}
	Run(context.Background(), Config{IdlePercent: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := currentPercent(); got != -1 {
		t.Errorf("GOGC = %d, want off", got)
	}
}

// waitPercent calls work until Run has set GOGC to want.
func waitPercent(t *testing.T, want int, work func()) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for currentPercent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d after 10s, want %d", currentPercent(), want)
		}
		if work != nil {
			work()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forcedCollections counts the collections the process asked for
// (runtime.GC, debug.FreeOSMemory).
func forcedCollections() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
