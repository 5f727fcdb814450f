package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleSession holds idle logged-in sessions of each protocol on a
// node in this process, their clients in a process of their own, and
// reports what one session keeps on the server: live heap after a
// collection (heap-B/session), goroutine stacks (stack-B/session),
// goroutines, and the growth of the process's resident memory
// (resident-B/session, where /proc tells it), as the load test reads it.
// Resident memory is about twice the live heap (GOGC=100 lets the heap
// grow to twice what survived the last collection), plus stacks.
// It fails when a session keeps more than its protocol's budget, or a
// goroutine: what was cut to reach the budgets is to stay cut.
//
//	go test -run '^$' -bench BenchmarkIdleSession ./cmd/crosstalk/
//
// -idle.sessions sets how many sessions are held, -idle.heapprofile writes
// heap profiles into a directory, every allocation sampled: P.heap with
// protocol P's sessions held, P.base.heap before, for
// go tool pprof -sample_index=inuse_space -diff_base P.base.heap P.heap.
func BenchmarkIdleSession(b *testing.B) {
	for _, p := range loadProtocols {
		b.Run(p.key, func(b *testing.B) { benchmarkIdleSession(b, p) })
	}
}

var (
	idleSessions    = flag.Int("idle.sessions", 2000, "idle sessions BenchmarkIdleSession holds per protocol")
	idleHeapProfile = flag.String("idle.heapprofile", "", "directory for BenchmarkIdleSession's heap profiles, one per protocol")
	idleSettle      = flag.Duration("idle.settle", 15*time.Second, "how long BenchmarkIdleSession waits before each reading of memory: past the login cache's TTL (10s) and JetStream's block cache (10s), what remains is what an idle session keeps for good, but for JetStream's subject state (2m)")
)

// idleHeapBudget is the most live heap one idle session of each protocol
// may keep at the default -idle.sessions and -idle.settle, in bytes: what
// it kept when last cut, and a tenth more for what varies between runs
// (maps grow in steps, the bus's caches fill). At 2,000 sessions the bus's
// bounded caches still count some 250 bytes per session, which more
// sessions share.
var idleHeapBudget = map[string]float64{
	"msn": 3000, "gg": 2500, "imip": 2350, "msim": 2450, "sip": 3200, "webchat": 4700,
}

// idleClientsEnv makes the test binary hold idle sessions instead of
// running the tests (see holdIdleClients).
const idleClientsEnv = "RUN_IDLE_CLIENTS"

func benchmarkIdleSession(b *testing.B, p loadProtocol) {
	if *idleHeapProfile != "" {
		runtime.MemProfileRate = 1
		defer func() { runtime.MemProfileRate = 512 << 10 }()
	}
	n, data := loadNode(b)
	users := *idleSessions
	if err := createLoadAccounts(context.Background(), data, users); err != nil {
		b.Fatal(err)
	}
	addr := map[string]string{"msn": n.MSNPAddr, "gg": n.GGAddr, "imip": n.IMIPAddr, "msim": n.MSIMAddr, "sip": n.SIPAddr, "webchat": n.HTTPAddr}[p.key]
	for b.Loop() {
		before := settledMemory(*idleSettle)
		if *idleHeapProfile != "" {
			writeHeapProfile(b, filepath.Join(*idleHeapProfile, p.key+".base.heap"))
		}
		start := time.Now()
		stop := startIdleClients(b, p.key, addr, users)
		loggedIn := time.Since(start)
		after := settledMemory(*idleSettle)
		if *idleHeapProfile != "" {
			writeHeapProfile(b, filepath.Join(*idleHeapProfile, p.key+".heap"))
		}
		stop()
		per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(users) }
		heap, stack := per(after.heap, before.heap), per(after.stack, before.stack)
		goroutines := float64(after.goroutines-before.goroutines) / float64(users)
		b.ReportMetric(heap, "heap-B/session")
		b.ReportMetric(stack, "stack-B/session")
		b.ReportMetric(goroutines, "goroutines/session")
		b.ReportMetric(float64(users)/loggedIn.Seconds(), "logins/s")
		if before.resident >= 0 && after.resident >= 0 {
			b.ReportMetric(float64(after.resident-before.resident)/float64(users), "resident-B/session")
		}
		b.Logf("%d sessions: %.0f B of heap, %.0f B of stack and %.2f goroutines each; resident %d → %d KiB",
			users, heap, stack, goroutines, before.resident>>10, after.resident>>10)
		if heap > idleHeapBudget[p.key] {
			b.Errorf("an idle %s session keeps %.0f bytes of heap, over its budget of %.0f", p.key, heap, idleHeapBudget[p.key])
		}
		// A few goroutines (workers finishing, the poller) may come and
		// go; one per session would be a whole one.
		if goroutines > 0.01 {
			b.Errorf("an idle %s session holds %.2f goroutines", p.key, goroutines)
		}
	}
}

type memoryReading struct {
	heap, stack uint64
	goroutines  int
	resident    int64 // VmRSS, -1 where it cannot be read
}

// settledMemory reads the live heap, the stacks and the goroutines after
// wait, once what logins left running has ended: offstack's workers wait
// a second for more work, then exit. Two collections empty the
// sync.Pools, which keep what they hold through one.
func settledMemory(wait time.Duration) memoryReading {
	time.Sleep(wait)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	resident := int64(-1)
	if n, _, err := (&loadServer{pid: os.Getpid()}).residentBytes(context.Background()); err == nil {
		resident = n
	}
	return memoryReading{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine(), resident: resident}
}

func writeHeapProfile(b *testing.B, file string) {
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// startIdleClients runs this test binary as a process that logs users
// accounts in through protocol key at addr and holds them; it returns once
// they are all logged in, with the function that logs them out.
func startIdleClients(b *testing.B, key, addr string, users int) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", idleClientsEnv, key, addr, users))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("idle clients: %v", err)
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		stop()
		b.Fatalf("idle clients said %q (%v)", line, err)
	}
	return stop
}

// holdIdleClients is the process startIdleClients starts: spec is
// "protocol host:port users". It says "ready" once every session is
// logged in, then holds them until its standard input closes.
func holdIdleClients(spec string) error {
	var key, addr, n string
	if _, err := fmt.Sscan(spec, &key, &addr, &n); err != nil {
		return err
	}
	users, err := strconv.Atoi(n)
	if err != nil {
		return err
	}
	const workers = 8
	sessions, err := openIdle(context.Background(), loadProtocolNamed(key), addr, &sourceAddrs{n: min(users/100+1, maxSources)}, users, workers)
	defer closeSessions(sessions, workers)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// runIdleClients runs holdIdleClients when the test binary was started as
// idle clients.
func runIdleClients() (ran bool) {
	spec, ok := os.LookupEnv(idleClientsEnv)
	if !ok {
		return false
	}
	if err := holdIdleClients(spec); err != nil {
		fmt.Fprintln(os.Stderr, strings.TrimSpace(err.Error()))
		os.Exit(1)
	}
	return true
}
