package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// loadServer is the server under load: where each protocol listens, and
// where its resources and counters are read.
type loadServer struct {
	addrs   map[string]string // protocol key ("msn") → host:port
	metrics string            // metrics URL, "" when unknown
	data    string            // data directory, for the test accounts
	pid     int               // process id on this machine, 0 when unknown
	limits  string            // its per-connection limits, as printed
	child   *childServer      // the server the load test started, if it did
}

func (s *loadServer) stop() {
	if s.child != nil {
		s.child.stop()
	}
}

// newLoadServer creates the test accounts, 0 to accounts-1, and starts a
// server of the load test's own when addrs is nil, or describes the one
// addrs names. A server of our own keeps its default per-connection
// limits when they are what is measured (keepLimits) and lifts them
// otherwise, to measure saturation.
func newLoadServer(ctx context.Context, o *loadtestOptions, addrs map[string]string, accounts int, keepLimits bool) (*loadServer, error) {
	if addrs != nil {
		if o.Data == "" {
			return nil, errors.New("--data is needed with a server of your own, to create the test accounts")
		}
		if err := createLoadAccounts(ctx, o.Data, accounts); err != nil {
			return nil, err
		}
		return &loadServer{addrs: addrs, metrics: o.Metrics, data: o.Data, pid: o.ServerPid, limits: "as the server was started"}, nil
	}
	child, err := spawnServer(ctx, accounts, keepLimits)
	if err != nil {
		return nil, err
	}
	limits := "lifted (a server of the load test's own)"
	if keepLimits {
		limits = "the defaults (a server of the load test's own)"
	}
	return &loadServer{addrs: child.addrs, metrics: child.metrics, data: child.data, pid: child.cmd.Process.Pid, limits: limits, child: child}, nil
}

// serverReading is what the server had used and counted at one moment:
// a phase's share is the difference of two readings.
type serverReading struct {
	cpu    time.Duration // -1 when it cannot be read
	counts serverCounts  // nil when it cannot be read
	// relay is the server's timing of the messages it relayed, and
	// wakeup of its connections' waits for a worker; empty when they
	// cannot be read.
	relay, wakeup serverHistogram
	// clientCPU is the load test's own CPU time, -1 when it cannot be
	// told from the server's (a server in this process).
	clientCPU time.Duration
	// runDelay and clientRunDelay are how long the server's threads and
	// the load test's waited, ready to run, for a processor so far: the
	// machine's other work and each other's; -1 when unknown, and the
	// load test's when it cannot be told from the server's.
	runDelay, clientRunDelay time.Duration
}

func (s *loadServer) read(ctx context.Context, out io.Writer) serverReading {
	r := serverReading{cpu: -1, clientCPU: -1, runDelay: -1, clientRunDelay: -1}
	if cpu, err := s.cpuTime(ctx); err == nil {
		r.cpu = cpu
	}
	if s.pid > 0 {
		if d, err := processRunDelay(s.pid); err == nil {
			r.runDelay = d
		}
	}
	if self := os.Getpid(); s.pid != self {
		if cpu, err := processCPU(self); err == nil {
			r.clientCPU = cpu
		}
		if d, err := processRunDelay(self); err == nil {
			r.clientRunDelay = d
		}
	}
	if s.metrics == "" {
		return r
	}
	families, err := scrape(ctx, s.metrics)
	if err != nil {
		fmt.Fprintf(out, "  server counters not read: %v\n", err)
		return r
	}
	r.counts = countsOf(families)
	r.relay = histogramOf(families, "crosstalk_message_relay_seconds")
	r.wakeup = histogramOf(families, "crosstalk_wakeup_seconds")
	return r
}

// serverHistogram is one of the server's histograms of durations, summed
// over its labels: the upper bounds of its buckets in seconds, how many
// observations were at most each, and how many there were in all.
type serverHistogram struct {
	bounds     []float64
	cumulative []uint64
	count      uint64
}

func histogramOf(families map[string]*dto.MetricFamily, name string) serverHistogram {
	var h serverHistogram
	for _, m := range families[name].GetMetric() {
		buckets := m.GetHistogram().GetBucket()
		if h.bounds == nil {
			h.bounds = make([]float64, len(buckets))
			h.cumulative = make([]uint64, len(buckets))
		}
		for i, b := range buckets[:min(len(buckets), len(h.bounds))] {
			h.bounds[i] = b.GetUpperBound()
			h.cumulative[i] += b.GetCumulativeCount()
		}
		h.count += m.GetHistogram().GetSampleCount()
	}
	return h
}

// since is what h counted after earlier.
func (h serverHistogram) since(earlier serverHistogram) serverHistogram {
	d := serverHistogram{bounds: h.bounds, cumulative: slices.Clone(h.cumulative), count: h.count - earlier.count}
	if len(earlier.cumulative) == len(h.cumulative) {
		for i := range d.cumulative {
			d.cumulative[i] -= earlier.cumulative[i]
		}
	}
	return d
}

// quantile estimates the duration that the fraction q of the messages
// took at most, interpolating within its bucket as Prometheus's
// histogram_quantile does; past the last finite bucket it is that
// bucket's bound.
func (h serverHistogram) quantile(q float64) time.Duration {
	rank := q * float64(h.count)
	lower, below := 0.0, uint64(0)
	for i, upper := range h.bounds {
		if math.IsInf(upper, 1) {
			break
		}
		if c := h.cumulative[i]; float64(c) >= rank && c > below {
			lower += (upper - lower) * (rank - float64(below)) / float64(c-below)
			break
		}
		lower, below = upper, h.cumulative[i]
	}
	return time.Duration(lower * float64(time.Second)).Round(time.Microsecond)
}

// reportRelayShare prints the server's own share of the delivery latency
// between two readings, as it timed the messages it relayed, and how long
// its connections waited for a worker before that, if it timed them.
func reportRelayShare(out io.Writer, before, after serverReading) {
	relay, wakeup := after.relay.since(before.relay), after.wakeup.since(before.wakeup)
	if relay.count == 0 {
		return
	}
	fmt.Fprintf(out, "  server's share (read → written to the receiver's socket): p50 %s p99 %s over %d messages", relay.quantile(0.5), relay.quantile(0.99), relay.count)
	if wakeup.count > 0 {
		fmt.Fprintf(out, "; before that, readable → read: p50 %s p99 %s over %d wake-ups", wakeup.quantile(0.5), wakeup.quantile(0.99), wakeup.count)
	}
	fmt.Fprintln(out)
}

// reportCPU prints the server's CPU time per unit of work between two
// readings and returns it (-1 when unknown).
func reportCPU(out io.Writer, before, after serverReading, n int64, unit string) time.Duration {
	if before.cpu < 0 || after.cpu < 0 || n == 0 {
		return -1
	}
	per := (after.cpu - before.cpu) / time.Duration(n)
	fmt.Fprintf(out, "  server CPU: %.1f µs per %s\n", microseconds(per), unit)
	if before.clientCPU >= 0 && after.clientCPU >= 0 {
		// What the clients cost bounds what this machine can measure: the
		// server and they share its cores.
		client := (after.clientCPU - before.clientCPU) / time.Duration(n)
		fmt.Fprintf(out, "  load generator CPU: %.1f µs per %s (this process)\n", microseconds(client), unit)
	}
	return per
}

// microseconds is d in µs, as the figures are printed.
func microseconds(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// reportRunDelay prints how long the server's threads, and the load
// test's, waited for a processor between two readings, when it could read
// that: time that every latency the phase measured may hold, and that
// neither process spent working.
func reportRunDelay(out io.Writer, before, after serverReading) {
	if before.runDelay < 0 || after.runDelay < 0 {
		return
	}
	fmt.Fprintf(out, "  waiting for a processor (/proc schedstat, all threads): server %s", (after.runDelay - before.runDelay).Round(time.Millisecond))
	if before.clientRunDelay >= 0 && after.clientRunDelay >= 0 {
		fmt.Fprintf(out, ", load generator %s", (after.clientRunDelay - before.clientRunDelay).Round(time.Millisecond))
	}
	fmt.Fprintln(out)
}

// processRunDelay is how long the threads of a process have waited, ready
// to run, for a processor, from the scheduler's statistics in
// /proc/<pid>/task/*/schedstat (the second field, in nanoseconds); the
// threads that ended no longer count.
func processRunDelay(pid int) (time.Duration, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("no scheduler statistics for process %d", pid)
	}
	var total time.Duration
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended meanwhile
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			return 0, fmt.Errorf("unexpected %s: %q", path, b)
		}
		ns, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, err
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go runs on.
const clockTicks = 100

// cpuTime is the server's user and system CPU time so far: from /proc
// when its process id is known, else from its metrics.
func (s *loadServer) cpuTime(ctx context.Context) (time.Duration, error) {
	if s.pid > 0 {
		return processCPU(s.pid)
	}
	if s.metrics == "" {
		return 0, errors.New("no --server-pid or --metrics")
	}
	v, err := s.metricValue(ctx, "process_cpu_seconds_total")
	return time.Duration(v * float64(time.Second)), err
}

// processCPU is a process's user and system CPU time so far, from /proc.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name in parentheses, from the third
	// (state): utime and stime are the 14th and 15th.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, errors.New("unexpected /proc stat line")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// residentBytes is the server's resident memory: VmRSS from /proc when its
// process id is known, else process_resident_memory_bytes from its
// metrics. It says which it read: the file and the process's name (a
// shell's, when $! named the shell that started the server), or the URL.
func (s *loadServer) residentBytes(ctx context.Context) (int64, string, error) {
	if s.pid > 0 {
		path := fmt.Sprintf("/proc/%d/status", s.pid)
		f, err := os.Open(path)
		if err != nil {
			return 0, "", err
		}
		defer f.Close()
		var name string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Name:"); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kib << 10, fmt.Sprintf("%s (%s)", path, name), err
			}
		}
		return 0, "", fmt.Errorf("no VmRSS in %s", path)
	}
	if s.metrics == "" {
		return 0, "", errors.New("no --server-pid or --metrics")
	}
	v, err := s.metricValue(ctx, "process_resident_memory_bytes")
	return int64(v), s.metrics, err
}

func (s *loadServer) metricValue(ctx context.Context, name string) (float64, error) {
	families, err := scrape(ctx, s.metrics)
	if err != nil {
		return 0, err
	}
	ms := families[name].GetMetric()
	if len(ms) == 0 {
		return 0, fmt.Errorf("no %s in %s", name, s.metrics)
	}
	if g := ms[0].GetGauge(); g != nil {
		return g.GetValue(), nil
	}
	return ms[0].GetCounter().GetValue(), nil
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// serverCounts is the server's own account of events and messages, read
// from its metrics.
type serverCounts map[string]float64

// hubCounters are the metrics the load test reports.
var hubCounters = []string{"crosstalk_events_total", "crosstalk_events_refused_total", "crosstalk_message_outcomes_total"}

func countsOf(families map[string]*dto.MetricFamily) serverCounts {
	counts := serverCounts{}
	for _, name := range hubCounters {
		for _, m := range families[name].GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			counts[name+"/"+strings.Join(labels, "/")] = m.GetCounter().GetValue()
		}
	}
	return counts
}

// reportCounts prints what the server counted between two readings, if it
// could read both: events by kind and stage, refusals by cause, and what
// message senders were told, checked against the messages the clients
// sent through the hub.
func reportCounts(out io.Writer, before, after serverReading, clientsSent int64) {
	if before.counts == nil || after.counts == nil {
		return
	}
	delta := func(prefix string) map[string]float64 {
		d := map[string]float64{}
		for k, v := range after.counts {
			if rest, ok := strings.CutPrefix(k, prefix+"/"); ok && v-before.counts[k] > 0 {
				d[rest] = v - before.counts[k]
			}
		}
		return d
	}
	show := func(title string, m map[string]float64) {
		keys := make([]string, 0, len(m))
		for k, v := range m {
			keys = append(keys, fmt.Sprintf("%s %.0f", k, v))
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			keys = []string{"none"}
		}
		fmt.Fprintf(out, "  %s: %s\n", title, strings.Join(keys, ", "))
	}
	events := delta("crosstalk_events_total")
	refused := delta("crosstalk_events_refused_total")
	show("hub events (kind/stage)", events)
	show("refused (kind/cause)", refused)
	var presenceRefused float64
	for k, v := range refused {
		if strings.HasPrefix(k, "presence/") {
			presenceRefused += v
		}
	}
	fmt.Fprintf(out, "  presence events: published %.0f = delivered %.0f + refused %.0f + to no one online %.0f\n",
		events["presence/published"], events["presence/delivered"], presenceRefused, events["presence/unheard"])
	outcomes := delta("crosstalk_message_outcomes_total")
	told := outcomes["delivered"] + outcomes["stored"] + outcomes["mailbox_full"] + outcomes["blocked"]
	show("message outcomes", outcomes)
	fmt.Fprintf(out, "  message events: published %.0f = delivered %.0f + refused %.0f (+ %.0f dropped unread by a full queue, kind unknown); senders told %.0f of %d sent across protocols\n",
		events["message/published"], events["message/delivered"], refused["message/session_refused"]+refused["message/no_session"],
		refused["unknown/queue_full"], told, clientsSent)
}

type childServer struct {
	cmd     *exec.Cmd
	addrs   map[string]string
	metrics string
	data    string
}

// spawnServer runs `crosstalk serve` from this binary on free loopback
// ports with a temporary data directory: a process of its own, so that
// its memory, CPU and descriptors are its alone. MySpaceIM gets a port of
// its own, so that its logins do not wait for the shared port's sniffing.
// Admission caps and the login guard's count of failures per address are
// lifted: the load test is one crowd of clients from few addresses, whose
// concurrent logins the guard counts as failures until they succeed, and
// whose logins cut off at the end of a phase stay counted. Per-connection
// limits are lifted too unless keepLimits.
func spawnServer(ctx context.Context, accounts int, keepLimits bool) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "crosstalk-loadtest-")
	if err != nil {
		return nil, err
	}
	if err := createLoadAccounts(ctx, data, accounts); err != nil {
		_ = os.RemoveAll(data)
		return nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	args := []string{"--log-level", "warn", "serve", "--data", data,
		"--msnp-addr", addr(ports[0]), "--sb-addr", addr(ports[1]), "--http-addr", addr(ports[2]), "--gg-addr", addr(ports[3]),
		"--imip-addr", addr(ports[4]), "--msim-addr", addr(ports[5]), "--ftp-addr", addr(ports[6]), "--sip-addr", addr(ports[7]),
		"--max-conns=-1", "--max-conns-per-addr=-1", "--max-prelogin-per-addr=-1", "--http-max-conns-per-addr=-1",
		"--login-address-free", "1000000", "--login-address-lock-at", "1000000"}
	if !keepLimits {
		args = append(args, "--msnp-command-rate", "100000", "--msnp-command-burst", "100000", "--gg-packet-rate", "100000", "--gg-packet-burst", "100000",
			"--msim-message-rate", "100000", "--msim-message-burst", "100000", "--imip-block-rate", "100000", "--imip-block-burst", "100000",
			"--sip-message-rate", "100000", "--sip-message-burst", "100000", "--webchat-message-rate", "100000", "--webchat-message-burst", "100000")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(data)
		return nil, err
	}
	s := &childServer{cmd: cmd, metrics: "http://" + addr(ports[2]) + "/metrics", data: data, addrs: map[string]string{
		"msn": addr(ports[0]), "gg": addr(ports[3]), "imip": addr(ports[4]), "msim": addr(ports[5]), "sip": addr(ports[7]),
		"webchat": addr(ports[2]),
	}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := scrape(ctx, s.metrics); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("the spawned server did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *childServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(filepath.Clean(s.data))
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
