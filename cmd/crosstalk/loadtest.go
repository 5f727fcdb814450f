package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/store"
)

type loadtestCmd struct {
	Msn loadtestMsnCmd `cmd:"" help:"Measure the MSN service: logins/s, messages/s and memory per idle connection."`
}

// loadtestMsnCmd drives a server with real MSNP clients over TCP. Without
// --server it starts its own server as a child process on loopback, so
// the memory it reports is the server's alone.
type loadtestMsnCmd struct {
	Server   string        `help:"MSN server to load (host:port); empty starts a server of our own on loopback."`
	Metrics  string        `help:"The server's metrics URL, for its memory (with --server)."`
	Data     string        `help:"The server's data directory, to create the test accounts in (with --server)." type:"path"`
	Users    int           `help:"Accounts to use, and idle connections to hold." default:"500"`
	Workers  int           `help:"Concurrent clients in the login and message phases." default:"8"`
	Duration time.Duration `help:"Length of the login and message phases, each." default:"5s"`

	GGServer   string `name:"gg-server" help:"GG server (host:port) for the cross-protocol phase (with --server)."`
	IMIPServer string `name:"imip-server" help:"IMIP server (host:port) for the cross-protocol phase (with --server)."`
}

const loadtestNumberBase = 3_000_000_000

func loadtestEmail(i int) string { return fmt.Sprintf("load%d@loadtest.invalid", i) }

func loadtestNumber(i int) uint32 { return uint32(loadtestNumberBase + i) }

func (c *loadtestMsnCmd) login(email string) msnLogin {
	return msnLogin{Server: c.Server, Login: email, Password: "load", Timeout: stepTimeout}
}

func (c *loadtestMsnCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Users < 2 || c.Workers < 1 {
		return errors.New("need at least 2 users and 1 worker")
	}
	if c.Server == "" {
		srv, err := spawnServer(ctx)
		if err != nil {
			return err
		}
		defer srv.stop()
		c.Server, c.Metrics, c.Data, c.GGServer, c.IMIPServer = srv.msnp, srv.metrics, srv.data, srv.gg, srv.imip
	}
	if c.Data == "" {
		return errors.New("--data is needed with --server, to create the test accounts")
	}
	if err := createLoadAccounts(ctx, c.Data, c.Users); err != nil {
		return err
	}
	fmt.Printf("server %s, %d accounts, %d workers, %s per phase\n", c.Server, c.Users, c.Workers, c.Duration)

	logins, err := c.loginPhase(ctx)
	if err != nil {
		return fmt.Errorf("login phase: %w", err)
	}
	fmt.Printf("logins: %d in %s = %.0f logins/s\n", logins.n, logins.elapsed.Round(time.Millisecond), logins.rate())

	before := c.serverCounts(ctx)
	msgs, latencies, err := c.messagePhase(ctx)
	if err != nil {
		return fmt.Errorf("message phase: %w", err)
	}
	fmt.Printf("messages: %d in %s = %.0f msgs/s; delivery latency p50 %s p99 %s\n", msgs.n,
		msgs.elapsed.Round(time.Millisecond), msgs.rate(), percentile(latencies, 50), percentile(latencies, 99))
	if after := c.serverCounts(ctx); after != nil {
		after.report(before, 0)
	}

	if c.GGServer != "" && c.IMIPServer != "" && c.Users >= 3*c.Workers {
		if err := followEachOther(ctx, c.Data, c.Users, c.Workers); err != nil {
			return err
		}
		before := c.serverCounts(ctx)
		cross, err := c.crossPhase(ctx)
		if err != nil {
			return fmt.Errorf("cross-protocol phase: %w", err)
		}
		fmt.Printf("cross-protocol (MSN↔GG, MSN↔IMIP, GG status churn): %d messages in %s = %.0f msgs/s\n",
			cross.n, cross.elapsed.Round(time.Millisecond), cross.rate())
		if after := c.serverCounts(ctx); after != nil {
			after.report(before, cross.n)
		}
	} else {
		fmt.Println("cross-protocol: not run (needs --gg-server, --imip-server and 3 users per worker)")
	}

	if c.Metrics == "" {
		fmt.Println("memory: not measured (no --metrics)")
		return nil
	}
	perConn, err := c.idlePhase(ctx)
	if err != nil {
		return fmt.Errorf("idle phase: %w", err)
	}
	fmt.Printf("memory: %.1f KiB resident per idle logged-in connection (%d connections)\n", perConn/1024, c.Users)
	return nil
}

type phaseResult struct {
	n       int64
	elapsed time.Duration
}

func (r phaseResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// loginPhase: each worker logs in and out as fast as it can.
func (c *loadtestMsnCmd) loginPhase(ctx context.Context) (phaseResult, error) {
	var count atomic.Int64
	start := time.Now()
	err := c.workers(ctx, func(ctx context.Context, w int) error {
		for i := w; ctx.Err() == nil; i += c.Workers {
			cl, err := c.login(loadtestEmail(i % c.Users)).connectOnly(ctx)
			if err != nil {
				return err
			}
			_ = cl.Logout()
			count.Add(1)
		}
		return nil
	})
	return phaseResult{count.Load(), time.Since(start)}, err
}

// messagePhase: each worker is a pair of users in one switchboard; the
// first sends acknowledged messages and waits for the second to get each.
func (c *loadtestMsnCmd) messagePhase(ctx context.Context) (phaseResult, []time.Duration, error) {
	var count atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	start := time.Now()
	err := c.workers(ctx, func(ctx context.Context, w int) error {
		a, b := (2*w)%c.Users, (2*w+1)%c.Users
		asb, bsb, cleanup, err := c.openChat(loadtestEmail(a), loadtestEmail(b))
		if err != nil {
			return err
		}
		defer cleanup()
		var mine []time.Duration
		for ctx.Err() == nil {
			t0 := time.Now()
			if err := sendAndReceive(asb, bsb); err != nil {
				return err
			}
			mine = append(mine, time.Since(t0))
			count.Add(1)
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
		return nil
	})
	return phaseResult{count.Load(), time.Since(start)}, latencies, err
}

// stepTimeout bounds every single exchange of the load test.
const stepTimeout = 30 * time.Second

func sendAndReceive(from, to *client.Switchboard) error {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := from.SendText(ctx, "load test message"); err != nil {
		return err
	}
	for {
		select {
		case ev, ok := <-to.Events():
			if !ok {
				return errors.New("switchboard closed")
			}
			if _, ok := ev.(client.Message); ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *loadtestMsnCmd) openChat(from, to string) (*client.Switchboard, *client.Switchboard, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var clients []*client.Client
	cleanup := func() {
		for _, cl := range clients {
			_ = cl.Logout()
		}
	}
	fail := func(err error) (*client.Switchboard, *client.Switchboard, func(), error) {
		cleanup()
		return nil, nil, nil, err
	}
	var ends [2]*client.Client
	for i, who := range []string{from, to} {
		cl, err := c.login(who).connect(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			return fail(err)
		}
		clients = append(clients, cl)
		ends[i] = cl
	}
	asb, err := ends[0].StartChat(ctx)
	if err != nil {
		return fail(err)
	}
	if _, err := asb.Call(ctx, to); err != nil {
		return fail(err)
	}
	ring, err := waitRing(ctx, ends[1])
	if err != nil {
		return fail(err)
	}
	bsb, err := ends[1].Answer(ctx, ring)
	if err != nil {
		return fail(err)
	}
	if err := waitJoined(ctx, asb, to); err != nil {
		return fail(err)
	}
	return asb, bsb, func() { asb.Close(); bsb.Close(); cleanup() }, nil
}

func waitRing(ctx context.Context, c *client.Client) (client.Ring, error) {
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return client.Ring{}, errors.New("disconnected while waiting for RNG")
			}
			if r, ok := ev.(client.Ring); ok {
				return r, nil
			}
		case <-ctx.Done():
			return client.Ring{}, ctx.Err()
		}
	}
}

// serverCounts reads the server's event and message counters, or says why
// it cannot and returns nil.
func (c *loadtestMsnCmd) serverCounts(ctx context.Context) serverCounts {
	if c.Metrics == "" {
		return nil
	}
	counts, err := readServerCounts(ctx, c.Metrics)
	if err != nil {
		fmt.Printf("  server counters not read: %v\n", err)
		return nil
	}
	return counts
}

// idlePhase logs every account in, online, and reads the server's resident
// memory before and after.
func (c *loadtestMsnCmd) idlePhase(ctx context.Context) (float64, error) {
	settle := func() { time.Sleep(500 * time.Millisecond) }
	settle()
	before, err := residentBytes(ctx, c.Metrics)
	if err != nil {
		return 0, err
	}
	clients := make([]*client.Client, 0, c.Users)
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for i := range c.Users {
		lctx, cancel := context.WithTimeout(ctx, stepTimeout)
		cl, err := c.login(loadtestEmail(i)).connect(lctx, slog.New(slog.DiscardHandler))
		cancel()
		if err != nil {
			return 0, err
		}
		clients = append(clients, cl)
	}
	settle()
	after, err := residentBytes(ctx, c.Metrics)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(c.Users), nil
}

func (c *loadtestMsnCmd) workers(ctx context.Context, run func(context.Context, int) error) error {
	deadline := time.Now().Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	errs := make(chan error, c.Workers)
	for w := range c.Workers {
		go func() { errs <- run(ctx, w) }()
	}
	var all []error
	for range c.Workers {
		// A network deadline can fire a moment before ctx reports it:
		// errors at the end of the phase are its end, not failures.
		if err := <-errs; err != nil && time.Now().Before(deadline) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// connectOnly logs in without going online.
func (l msnLogin) connectOnly(ctx context.Context) (*client.Client, error) {
	c, err := client.Dial(ctx, l.Server, client.Options{})
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, l.Login, l.Password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func createLoadAccounts(ctx context.Context, dir string, n int) error {
	st, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		_, err := st.CreateAccount(ctx, hub.Account{Number: loadtestNumber(i), Email: loadtestEmail(i)}, "load")
		if err != nil && !errors.Is(err, hub.ErrAccountExists) {
			return err
		}
	}
	return nil
}

func residentBytes(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in metrics")
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}

type childServer struct {
	cmd                           *exec.Cmd
	msnp, gg, imip, metrics, data string
}

// spawnServer runs `crosstalk serve` from this binary on free loopback
// ports with a temporary data directory.
func spawnServer(ctx context.Context) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "crosstalk-loadtest-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	cmd := exec.Command(exe, "--log-level", "warn", "serve", "--data", data,
		"--msnp-addr", addr(ports[0]), "--sb-addr", addr(ports[1]), "--http-addr", addr(ports[2]), "--gg-addr", addr(ports[3]), "--imip-addr", addr(ports[4]),
		"--msnp-command-rate", "100000", "--msnp-command-burst", "100000", "--gg-packet-rate", "100000", "--gg-packet-burst", "100000",
		"--max-conns-per-addr=-1", "--max-prelogin-per-addr=-1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &childServer{cmd: cmd, msnp: addr(ports[0]), gg: addr(ports[3]), imip: addr(ports[4]), metrics: "http://" + addr(ports[2]) + "/metrics", data: data}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := residentBytes(ctx, s.metrics); err == nil {
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
