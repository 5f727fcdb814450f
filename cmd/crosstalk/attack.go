package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/loginprobe"
)

type attackCmd struct {
	Guess attackGuessCmd `cmd:"" help:"Measure how many passwords a guesser gets checked per second, per account and per address, on a server of your own."`
}

// Bounds of one run: the command measures, it is not a tool for attacking
// other people's servers.
const (
	maxGuessAttempts = 10_000
	maxGuessDuration = time.Hour
	maxGuessSources  = 254
)

// attackGuessCmd tries wrong passwords on one account, from one or more
// loopback source addresses, as fast as the server answers, and reads the
// server's metrics to tell the guesses it checked from those it held back
// unchecked. With --password it then tries the right password until the
// server takes it, to measure how long the lock lasts.
type attackGuessCmd struct {
	Protocol    string        `help:"Protocol to guess through: msn, gg, msim or imip." required:"" enum:"msn,gg,msim,imip"`
	Server      string        `help:"The server's host:port for that protocol (on loopback unless --allow-remote)." required:""`
	Account     string        `help:"Account to guess: an e-mail address for msn and msim, a number for gg and imip." required:""`
	Attempts    int           `help:"Wrong passwords to try (at most 10000)." default:"100"`
	Duration    time.Duration `help:"Stop guessing after this long (at most 1h)." default:"1m"`
	From        string        `help:"First source address; each further source adds one to its last byte." default:"127.0.0.1"`
	Sources     int           `help:"Source addresses to spread the guesses over, to measure the per-account limit (at most 254, loopback only)." default:"1"`
	Rate        float64       `help:"Attempts per second from each source address; 0: as fast as the server answers." default:"0"`
	Metrics     string        `help:"The server's metrics URL (http://host:port/metrics), to count the guesses it checked and its locks."`
	Password    string        `help:"The account's right password: after guessing, try it until it is taken, from the guessing address (one source) or a new one (several)." env:"CROSSTALK_ATTACK_PASSWORD"`
	ProbeEvery  time.Duration `help:"How often to try the right password while waiting for the lock to end." default:"1s"`
	ProbeFor    time.Duration `help:"Give up waiting for the lock to end after this long (at most 1h)." default:"20m"`
	Timeout     time.Duration `help:"Time allowed for one login attempt." default:"10s"`
	AllowRemote bool          `help:"Allow a server that is not on loopback: only one you run yourself."`

	remote bool // the server is not on loopback
}

func (c *attackGuessCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.check(ctx); err != nil {
		return err
	}
	protocol := map[string]string{"msn": "msnp", "gg": "gg", "msim": "msim", "imip": "imip"}[c.Protocol]
	sources := c.sourceAddresses()
	fmt.Printf("guessing %s account %s at %s from %d address(es) starting at %s: up to %d attempts, up to %s\n",
		c.Protocol, c.Account, c.Server, len(sources), showAddress(sources[0]), c.Attempts, c.Duration)

	before, err := c.readMetrics(ctx, protocol)
	if err != nil {
		return err
	}
	run := c.guess(ctx, protocol, sources, before)
	// An interrupted run still reports what it saw.
	after, err := c.readMetrics(context.WithoutCancel(ctx), protocol)
	if err != nil {
		return err
	}
	run.report(before, after, len(sources), c.Metrics != "")

	if c.Password == "" || ctx.Err() != nil {
		return nil
	}
	probeFrom := sources[0]
	if len(sources) > 1 {
		probeFrom = nextAddress(sources[len(sources)-1])
	}
	took, err := c.probe(ctx, protocol, probeFrom)
	if err != nil {
		return err
	}
	fmt.Printf("the right password from %s was taken %s after the last guess", showAddress(probeFrom), took.Round(100*time.Millisecond))
	if run.lockedAt > 0 {
		fmt.Printf(", %s after the first lock", (run.elapsed - run.lockedAt + took).Round(100*time.Millisecond))
	}
	fmt.Println()
	return nil
}

func showAddress(ip net.IP) string {
	if ip == nil {
		return "any address"
	}
	return ip.String()
}

// check enforces the command's bounds and its loopback-only default.
func (c *attackGuessCmd) check(ctx context.Context) error {
	switch {
	case c.Attempts < 1 || c.Attempts > maxGuessAttempts:
		return fmt.Errorf("--attempts must be 1 to %d", maxGuessAttempts)
	case c.Duration <= 0 || c.Duration > maxGuessDuration:
		return fmt.Errorf("--duration must be positive and at most %s", maxGuessDuration)
	case c.ProbeFor <= 0 || c.ProbeFor > maxGuessDuration || c.ProbeEvery <= 0:
		return fmt.Errorf("--probe-for must be positive and at most %s, --probe-every positive", maxGuessDuration)
	case c.Sources < 1 || c.Sources > maxGuessSources:
		return fmt.Errorf("--sources must be 1 to %d", maxGuessSources)
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	}
	from := net.ParseIP(c.From).To4()
	if from == nil || int(from[3])+c.Sources > 255 {
		return fmt.Errorf("--from must be an IPv4 address leaving room for %d sources", c.Sources)
	}
	host, _, err := net.SplitHostPort(c.Server)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	loopback := true
	for _, ip := range ips {
		loopback = loopback && ip.IP.IsLoopback()
	}
	c.remote = !loopback
	switch {
	case !loopback && !c.AllowRemote:
		return fmt.Errorf("%s is not on loopback: guess only against your own server, and say so with --allow-remote", c.Server)
	case !loopback && (c.Sources > 1 || c.From != "127.0.0.1"):
		return errors.New("several or chosen source addresses only work against a server on loopback")
	case loopback && !from.IsLoopback():
		return errors.New("--from must be a loopback address")
	}
	return nil
}

// sourceAddresses are the addresses guesses come from; nil means any (a
// remote server is reached from whatever address the system picks).
func (c *attackGuessCmd) sourceAddresses() []net.IP {
	if c.remote {
		return []net.IP{nil}
	}
	ip := net.ParseIP(c.From).To4()
	out := []net.IP{ip}
	for len(out) < c.Sources {
		out = append(out, nextAddress(out[len(out)-1]))
	}
	return out
}

func nextAddress(ip net.IP) net.IP {
	next := append(net.IP(nil), ip.To4()...)
	next[3]++
	return next
}

// guessRun is what the guessing phase saw.
type guessRun struct {
	attempts, refused, taken, failed int64
	elapsed                          time.Duration
	lastErr                          error
	// With metrics: when the server first locked, and how many guesses it
	// had checked by then.
	lockedAt      time.Duration
	checkedBefore int64
}

// guess runs one guesser per source address until the attempts are spent
// or the duration is over.
func (c *attackGuessCmd) guess(ctx context.Context, protocol string, sources []net.IP, before loginCounts) guessRun {
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var left atomic.Int64
	left.Store(int64(c.Attempts))
	var mu sync.Mutex
	var run guessRun
	var wg sync.WaitGroup
	start := time.Now()
	for _, from := range sources {
		wg.Go(func() {
			next := time.Now()
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				if c.Rate > 0 {
					select {
					case <-time.After(time.Until(next)):
					case <-ctx.Done():
						return
					}
					next = next.Add(time.Duration(float64(time.Second) / c.Rate))
				}
				actx, acancel := context.WithTimeout(ctx, c.Timeout)
				err := loginprobe.Login(actx, protocol, c.Server, from, c.Account, "wrong-"+rand.Text())
				acancel()
				if ctx.Err() != nil {
					return // the attempt was cut short by the end of the run
				}
				mu.Lock()
				run.count(err)
				watching := run.lockedAt == 0 && c.Metrics != ""
				mu.Unlock()
				if !watching {
					continue
				}
				now, _ := c.readMetrics(ctx, protocol)
				mu.Lock()
				if run.lockedAt == 0 && now.locks() > before.locks() {
					run.lockedAt, run.checkedBefore = time.Since(start), now.checked-before.checked
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	return run
}

func (r *guessRun) count(err error) {
	r.attempts++
	switch {
	case err == nil:
		r.taken++
	case errors.Is(err, loginprobe.ErrRefused):
		r.refused++
	default:
		r.failed++
		r.lastErr = err
	}
}

func (r guessRun) report(before, after loginCounts, sources int, measured bool) {
	secs := r.elapsed.Seconds()
	fmt.Printf("attempts: %d in %s = %.1f answers/s (refused %d, taken %d, broken %d)\n",
		r.attempts, r.elapsed.Round(time.Millisecond), float64(r.attempts)/secs, r.refused, r.taken, r.failed)
	if r.lastErr != nil {
		fmt.Printf("last broken attempt: %v\n", r.lastErr)
	}
	if !measured {
		fmt.Println("guesses checked: not measured (give --metrics)")
		return
	}
	checked := after.checked - before.checked
	fmt.Printf("guesses the server checked: %d = %.3f/s for the account, %.3f/s per address; held back unchecked: %d; locks: %d by address, %d by account\n",
		checked, float64(checked)/secs, float64(checked)/secs/float64(sources), after.held-before.held,
		after.addressLocks-before.addressLocks, after.accountLocks-before.accountLocks)
	if r.lockedAt > 0 {
		at := r.lockedAt.Seconds()
		fmt.Printf("before the first lock: %d guesses checked in %s = %.3f/s for the account, %.3f/s per address\n",
			r.checkedBefore, r.lockedAt.Round(time.Millisecond), float64(r.checkedBefore)/at, float64(r.checkedBefore)/at/float64(sources))
	}
}

// probe tries the right password from one address until the server takes
// it, and returns how long that took.
func (c *attackGuessCmd) probe(ctx context.Context, protocol string, from net.IP) (time.Duration, error) {
	start := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, c.Timeout)
		err := loginprobe.Login(actx, protocol, c.Server, from, c.Account, c.Password)
		cancel()
		if err == nil {
			return time.Since(start), nil
		}
		if !errors.Is(err, loginprobe.ErrRefused) {
			return 0, fmt.Errorf("the right password: %w", err)
		}
		if time.Since(start) > c.ProbeFor {
			return 0, fmt.Errorf("the right password was still refused after %s", c.ProbeFor)
		}
		select {
		case <-time.After(c.ProbeEvery):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// loginCounts are the server's login metrics for one protocol.
type loginCounts struct {
	checked, held              int64 // failed logins with their password checked, and held back
	addressLocks, accountLocks int64
}

func (n loginCounts) locks() int64 { return n.addressLocks + n.accountLocks }

var (
	loginsLine = regexp.MustCompile(`^crosstalk_logins_total\{protocol="([^"]*)",result="([^"]*)"\} (\S+)$`)
	locksLine  = regexp.MustCompile(`^crosstalk_login_locks_total\{protocol="([^"]*)",scope="([^"]*)"\} (\S+)$`)
)

func (c *attackGuessCmd) readMetrics(ctx context.Context, protocol string) (loginCounts, error) {
	var n loginCounts
	if c.Metrics == "" {
		return n, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Metrics, nil)
	if err != nil {
		return n, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return n, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if m := loginsLine.FindStringSubmatch(line); m != nil && m[1] == protocol {
			v, _ := strconv.ParseFloat(m[3], 64)
			switch m[2] {
			case "bad_password", "unknown_account":
				n.checked += int64(v)
			case "locked":
				n.held += int64(v)
			}
		}
		if m := locksLine.FindStringSubmatch(line); m != nil && m[1] == protocol {
			v, _ := strconv.ParseFloat(m[3], 64)
			if m[2] == "account" {
				n.accountLocks += int64(v)
			} else {
				n.addressLocks += int64(v)
			}
		}
	}
	return n, sc.Err()
}
