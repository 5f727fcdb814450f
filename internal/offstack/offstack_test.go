package offstack

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// deep recurses through about 32 KiB of stack, as a login's database work
// can.
func deep(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%256])
}

func goroutineID() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

func TestWorkerFunction(t *testing.T) {
	if name := runtime.FuncForPC(reflect.ValueOf(work).Pointer()).Name(); name != WorkerFunction {
		t.Fatalf("workers run %s, WorkerFunction says %s", name, WorkerFunction)
	}
}

func TestRunOnAnotherGoroutine(t *testing.T) {
	caller := goroutineID()
	var ran uint64
	Run(func() { ran = goroutineID() })
	if ran == 0 || ran == caller {
		t.Fatalf("ran on goroutine %d, the caller is %d", ran, caller)
	}
}

// Goroutines that hand their deep calls over keep small stacks while they
// wait; the same calls made in place would leave each with 64 KiB.
func TestCallersKeepSmallStacks(t *testing.T) {
	const callers = 1000
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.StackInuse
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		parked := make(chan struct{})
		wg.Go(func() {
			Run(func() { deep(128) })
			close(parked)
			<-release
		})
		<-parked
	}
	runtime.ReadMemStats(&ms)
	perCaller := int64(ms.StackInuse-before) / callers
	close(release)
	wg.Wait()
	t.Logf("%d bytes of stack per waiting caller", perCaller)
	if perCaller > 8192 {
		t.Fatalf("%d bytes of stack per waiting caller, want at most 8192", perCaller)
	}
}

// A burst of concurrent calls starts as many workers; beyond maxIdle they
// leave as soon as their call is done, and the rest once idle for
// idleLife.
func TestWorkersLeave(t *testing.T) {
	base := runtime.NumGoroutine()
	const burst = 3 * maxIdle
	release := make(chan struct{})
	var started, wg sync.WaitGroup
	started.Add(burst)
	for range burst {
		wg.Go(func() { Run(func() { started.Done(); <-release }) })
	}
	started.Wait()
	close(release)
	wg.Wait()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines, %d before the burst", what, runtime.NumGoroutine(), base)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("at most maxIdle workers wait", func() bool { return runtime.NumGoroutine() <= base+maxIdle })
	waitFor("idle workers leave", func() bool { return runtime.NumGoroutine() <= base })
}

// batches is a Reader whose client sends frames in batches: after each
// Wait, the next batch is buffered.
type batches struct {
	sizes    []int // frames per batch still to come
	buffered int   // frames of the current batch not yet read
	log      []string
	caller   uint64
	offCall  bool // something that should run on a worker ran on the caller
}

func (b *batches) Wait() {
	b.log = append(b.log, "wait")
	if goroutineID() != b.caller {
		b.offCall = true
	}
	b.buffered, b.sizes = b.sizes[0], b.sizes[1:]
}

func (b *batches) Buffered() int { return b.buffered }

func (b *batches) Release() { b.log = append(b.log, "release") }

func (b *batches) onWorker(what string) {
	b.log = append(b.log, what)
	if goroutineID() == b.caller {
		b.offCall = true
	}
}

func TestReadLoop(t *testing.T) {
	b := &batches{sizes: []int{2, 1, 3}, caller: goroutineID()}
	ended := errors.New("the client left")
	next := func() (bool, error) {
		b.onWorker("next")
		b.buffered--
		if b.buffered == 0 && len(b.sizes) == 0 {
			return true, ended
		}
		return false, nil
	}
	if err := ReadLoop(b, next, func() { b.onWorker("arm") }); err != ended {
		t.Fatalf("ReadLoop returned %v, want next's last error", err)
	}
	want := "arm wait next arm next arm wait next arm wait next arm next arm next release"
	if got := strings.Join(b.log, " "); got != want {
		t.Fatalf("calls:\n%s\nwant\n%s", got, want)
	}
	if b.offCall {
		t.Fatal("a wait ran on a worker, or a frame or arm on the caller")
	}
}

// BenchmarkRun measures the hand-over to a worker and back, the cost a
// connection pays per batch of frames.
func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		Run(func() {})
	}
}
