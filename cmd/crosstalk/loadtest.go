package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

type loadtestCmd struct {
	Msn     loadtestMsnCmd   `cmd:"" help:"Measure the MSN service: logins/s, messages/s and memory per idle connection."`
	Gg      loadtestProtoCmd `cmd:"" help:"Measure the Gadu-Gadu service: logins/s, messages/s and memory per idle session."`
	Imip    loadtestProtoCmd `cmd:"" help:"Measure the IMIP service: logins/s, messages/s and memory per idle session."`
	Msim    loadtestProtoCmd `cmd:"" help:"Measure the MySpaceIM service: logins/s, messages/s and memory per idle session."`
	Sip     loadtestProtoCmd `cmd:"" help:"Measure the SIP (Office Communicator) service: sign-ins/s with NTLM, messages/s and memory per idle session."`
	Webchat loadtestProtoCmd `cmd:"" help:"Measure the web chat service (the browser chat's WebSocket at /chat/ws): logins/s, messages/s and memory per idle session."`
	Cross   loadtestCrossCmd `cmd:"" help:"Measure messages between protocols, pair by pair, each against MSN→MSN."`

	LoginBaselineServer loadtestBaselineServerCmd      `cmd:"" hidden:"" name:"login-baseline-server" help:"The MSN login phase's baseline server (started by that phase)."`
	RelayBaselineServer loadtestRelayBaselineServerCmd `cmd:"" hidden:"" name:"relay-baseline-server" help:"The MSN message phase's baseline server at a rate (started by that phase)."`
}

// Help is the text below loadtest's usage line: the command for each
// figure (README: Load testing says more).
func (loadtestCmd) Help() string {
	return `Without --server each command starts crosstalk serve as a child process on loopback, so that the memory and CPU it reports are the server's alone, with per-connection limits lifted (kept at their defaults with --rate). One command per figure (README: Load testing):

logins/s, msgs/s at saturation with p50/p99, server CPU per login and per message, events refused, message outcomes, memory per idle session (and for MSN, logins/s and CPU per login against a baseline server that only answers the login's commands with canned replies):

    crosstalk loadtest msn
    crosstalk loadtest gg
    crosstalk loadtest imip
    crosstalk loadtest msim
    crosstalk loadtest sip
    crosstalk loadtest webchat

msgs/s and p50/p99 of each protocol pair, and its server CPU per message against MSN→MSN:

    crosstalk loadtest cross

msgs/s at saturation with up to 32 messages in flight per conversation, as a client sends a paste before its acknowledgements arrive:

    crosstalk loadtest msn --phases messages --window 32

delivery latency at 20,000 msgs/s spread over 1,000 conversations, default per-connection limits (and, with a server of its own, against a baseline server that only relays):

    crosstalk loadtest msn --phases messages --rate 20000 --conversations 1000

memory per idle session at 19,000 sessions from 200 loopback addresses, the server started on its own (a process holds 20,000 descriptors here, and each session takes one at both ends):

    crosstalk serve --data /tmp/crosstalk-load --ftp-addr off --max-conns 20000 &
    crosstalk loadtest msn --phases idle --users 19000 --sources 200 --server 127.0.0.1:1863 --data /tmp/crosstalk-load --server-pid $! --metrics http://127.0.0.1:8080/metrics`
}

// loadtestOptions are the flags every loadtest command shares.
type loadtestOptions struct {
	Metrics       string        `help:"The server's metrics URL: its event counters, and its memory and CPU without --server-pid (with a server of your own)."`
	Data          string        `help:"The server's data directory, to create the test accounts in (with a server of your own)." type:"path"`
	ServerPid     int           `name:"server-pid" help:"The server's process id, to read its memory and CPU from /proc (with a server of your own on this machine)."`
	Users         int           `help:"Accounts to use, and idle sessions to hold." default:"500"`
	Workers       int           `help:"Concurrent clients in the login phase; conversations in the message phase at saturation." default:"8"`
	Duration      time.Duration `help:"Length of the login and message phases, each." default:"5s"`
	Rate          float64       `help:"Messages per second to offer, spread evenly over --conversations and timed from when each was due (0: as fast as replies come, over --workers conversations)."`
	Conversations int           `help:"Conversations that --rate is spread over." default:"1000"`
	Window        int           `help:"Messages each conversation at saturation keeps sent and not yet both acknowledged and received (1: the next is sent when the last has arrived); protocols whose client waits for each acknowledgement keep 1." default:"1"`
	Sources       int           `help:"Bind client connections round-robin to 127.0.0.1 … 127.0.0.N, so that a server on loopback sees N addresses (0: the system chooses)."`
	Settle        time.Duration `help:"How long the idle phase holds its sessions before it reads the server's memory. Past the login cache's TTL and JetStream's caches (10s each) what is left is what idle sessions keep for good; the memory the collector freed returns to the system over minutes." default:"1s"`
}

func (o *loadtestOptions) Validate() error {
	switch {
	case o.Users < 2 || o.Workers < 1:
		return errors.New("need at least 2 users and 1 worker")
	case o.Rate < 0 || o.Rate > 0 && o.Conversations < 1:
		return errors.New("--rate needs a positive rate and at least 1 conversation")
	case o.Window < 1 || o.Window > maxWindow:
		return fmt.Errorf("--window is between 1 and %d (the MSN client's event buffer)", maxWindow)
	case o.Sources < 0 || o.Sources > maxSources:
		return fmt.Errorf("--sources is between 0 and %d (127.0.0.1 … 127.0.0.%d)", maxSources, maxSources)
	case o.Settle < 0:
		return errors.New("--settle is not negative")
	}
	return nil
}

// maxWindow bounds --window: a receiving MSN client buffers 1,024
// events, and a window larger would let its buffer overflow.
const maxWindow = 1024

// eventBuffer is how many events each client buffers: in an open loop,
// what its conversation is sent in eventBufferTime, within
// [minEventBuffer, maxWindow]; else the clients' default (maxWindow), which
// --window is bounded by. Buffers hold interfaces that the generator's
// collector scans on every cycle: at the default, 16 KiB per client and
// per switchboard, 48 MiB over 1,000 MSN conversations.
func (o *loadtestOptions) eventBuffer() int {
	if o.Rate <= 0 {
		return 0
	}
	perConversation := o.Rate / float64(o.Conversations) * eventBufferTime.Seconds()
	return min(max(int(math.Ceil(perConversation)), minEventBuffer), maxWindow)
}

// An open loop's clients buffer the events of eventBufferTime, and at
// least minEventBuffer: a receiver that falls further behind overflows its
// buffer, and the connection, and so the run, fails.
const (
	eventBufferTime = 3 * time.Second
	minEventBuffer  = 64
)

// conversations is how many conversations the message phase holds.
func (o *loadtestOptions) conversations() int {
	if o.Rate > 0 {
		return o.Conversations
	}
	return o.Workers
}

// loadtest is one run of a loadtest command.
type loadtest struct {
	*loadtestOptions
	srv      *loadServer
	out      io.Writer
	sources  *sourceAddrs
	accounts int
	// firstConversationAccount is the account the conversations of the
	// next message phase start at (see loadtestCrossCmd.run).
	firstConversationAccount int
}

// start creates the accounts, brings a server of its own up when addrs is
// nil (or takes the one addrs names) and prints what loads it from where.
func (o *loadtestOptions) start(ctx context.Context, out io.Writer, addrs map[string]string, accounts int) (*loadtest, error) {
	accounts = max(accounts, o.Users, 2*o.conversations())
	srv, err := newLoadServer(ctx, o, addrs, accounts, o.Rate > 0)
	if err != nil {
		return nil, err
	}
	lt := &loadtest{loadtestOptions: o, srv: srv, out: out, sources: &sourceAddrs{n: o.Sources}, accounts: accounts}
	from := "addresses the system chooses"
	if o.Sources > 0 {
		from = fmt.Sprintf("127.0.0.1 … 127.0.0.%d, round-robin", o.Sources)
	}
	fmt.Fprintf(out, "clients from %s; per-connection limits %s\n", from, srv.limits)
	return lt, nil
}

// dialing is how the load test's next session connects.
func (lt *loadtest) dialing() dialing {
	return dialing{dialer: lt.sources.dialer(), events: lt.eventBuffer()}
}

// generatorGCPercent is the load generator's GOGC unless the environment
// sets one: its collector runs a quarter as often as by default, CPU that
// the server beside it on the same cores then has. The generator's heap
// is tens of megabytes, on a machine with gigabytes.
const generatorGCPercent = 400

// collectLessOften makes this process, a load generator, collect its
// garbage at generatorGCPercent, unless GOGC says otherwise; the server it
// starts keeps its own setting.
func collectLessOften() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(generatorGCPercent)
	}
}

// interruptible is a load test's context: it ends on Ctrl-C or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// loadtestMsnCmd drives a server with real MSNP clients over TCP.
type loadtestMsnCmd struct {
	Server string `help:"MSN server to load (host:port); empty starts a server of our own on loopback."`
	loadtestOptions
	GGServer   string   `name:"gg-server" help:"GG server (host:port) for the cross-protocol phase (with --server)."`
	IMIPServer string   `name:"imip-server" help:"IMIP server (host:port) for the cross-protocol phase (with --server)."`
	Phases     []string `help:"Phases to run, in this order." default:"logins,messages,cross,idle" enum:"logins,messages,cross,idle"`
}

func (c *loadtestMsnCmd) Run() error {
	collectLessOften()
	ctx, stop := interruptible()
	defer stop()
	return c.run(ctx, os.Stdout)
}

func (c *loadtestMsnCmd) run(ctx context.Context, out io.Writer) error {
	msn := loadProtocolNamed("msn")
	var addrs map[string]string
	if c.Server != "" {
		addrs = map[string]string{"msn": c.Server, "gg": c.GGServer, "imip": c.IMIPServer}
	}
	lt, err := c.start(ctx, out, addrs, 3*c.Workers)
	if err != nil {
		return err
	}
	defer lt.srv.stop()
	fmt.Fprintf(out, "server %s, %d accounts, %d workers, %s per phase\n", lt.srv.addrs["msn"], lt.accounts, c.Workers, c.Duration)
	for _, phase := range c.Phases {
		switch phase {
		case "cross":
			err = lt.msnCrossPhase(ctx)
		case "idle":
			var per float64
			var measured bool
			if per, measured, err = lt.idlePhase(ctx, msn); measured {
				fmt.Fprintf(out, "memory: %.1f KiB resident per idle logged-in connection (%d connections)\n", per/1024, c.Users)
			}
		default:
			err = lt.protocolPhase(ctx, phase, msn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// loadtestProtoCmd is loadtest gg, imip, msim, sip and webchat: the
// protocol is the command's name.
type loadtestProtoCmd struct {
	Server string `help:"The protocol's server to load (host:port); empty starts a server of our own on loopback."`
	loadtestOptions
	Phases []string `help:"Phases to run, in this order." default:"logins,messages,idle" enum:"logins,messages,idle"`
}

func (c *loadtestProtoCmd) Run(kctx *kong.Context) error {
	collectLessOften()
	ctx, stop := interruptible()
	defer stop()
	return c.run(ctx, os.Stdout, loadProtocolNamed(kctx.Selected().Name))
}

func (c *loadtestProtoCmd) run(ctx context.Context, out io.Writer, p loadProtocol) error {
	var addrs map[string]string
	if c.Server != "" {
		addrs = map[string]string{p.key: c.Server}
	}
	lt, err := c.start(ctx, out, addrs, 0)
	if err != nil {
		return err
	}
	defer lt.srv.stop()
	fmt.Fprintf(out, "%s server %s, %d accounts, %d workers, %s per phase\n", p.name, lt.srv.addrs[p.key], lt.accounts, c.Workers, c.Duration)
	for _, phase := range c.Phases {
		if phase == "idle" {
			_, _, err = lt.idlePhase(ctx, p)
		} else {
			err = lt.protocolPhase(ctx, phase, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// protocolPhase runs the login or the message phase of one protocol.
func (lt *loadtest) protocolPhase(ctx context.Context, phase string, p loadProtocol) error {
	if phase == "logins" {
		return lt.loginPhase(ctx, p)
	}
	res, err := lt.messagePhase(ctx, "messages", p, p)
	// As the login baseline: only a server of the load test's own is known
	// to share this machine with it.
	if err == nil && p.key == "msn" && lt.Rate > 0 && lt.srv.child != nil {
		if err := lt.relayBaseline(ctx, res); err != nil {
			return fmt.Errorf("relay baseline: %w", err)
		}
	}
	return err
}

// loginPhase: each worker logs in and out as fast as it can.
func (lt *loadtest) loginPhase(ctx context.Context, p loadProtocol) error {
	addr := lt.srv.addrs[p.key]
	before := lt.srv.read(ctx, lt.out)
	var count atomic.Int64
	elapsed, err := repeat(ctx, lt.Workers, lt.Duration, func(ctx context.Context, w, round int) error {
		ctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		s, err := p.open(ctx, addr, lt.dialing(), (w+round*lt.Workers)%lt.Users, false)
		if err != nil {
			return err
		}
		s.close()
		count.Add(1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("login phase: %w", err)
	}
	n := count.Load()
	fmt.Fprintf(lt.out, "logins: %d in %s = %.0f logins/s\n", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	after := lt.srv.read(ctx, lt.out)
	serverCPU := reportCPU(lt.out, before, after, n, "login")
	// Only a server of the load test's own is known to share this
	// machine with the load test, as the baseline's server will.
	if p.key == "msn" && lt.srv.child != nil {
		if err := lt.loginBaseline(ctx, float64(n)/elapsed.Seconds(), serverCPU); err != nil {
			return fmt.Errorf("login baseline: %w", err)
		}
	}
	return nil
}

// messageResult is what a message phase measured.
type messageResult struct {
	sent, delivered int64
	elapsed         time.Duration
	latencies       []time.Duration
	// senderLags is how late an open loop sent each message, and
	// sinceSent how long each took from being sent to being received.
	senderLags, sinceSent []time.Duration
	// refused counts the messages of an open loop that the server turned
	// away (a rate limit, a closed connection); refusal says why the first
	// one was.
	refused int64
	refusal error
	// cpuPerMessage is the server's CPU time per delivered message, -1
	// when it could not be read.
	cpuPerMessage time.Duration
}

func (r messageResult) rate() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

// messagePhase measures messages from users of protocol from to users of
// protocol to, and prints one line that begins with label: at saturation
// (each of --workers conversations sends its next message when the last
// one arrived) or, with --rate, open loop.
func (lt *loadtest) messagePhase(ctx context.Context, label string, from, to loadProtocol) (messageResult, error) {
	convs, closeAll, err := lt.openConversations(ctx, from, to, lt.conversations())
	defer closeAll()
	if err != nil {
		return messageResult{}, fmt.Errorf("%s: opening conversations: %w", label, err)
	}
	before := lt.srv.read(ctx, lt.out)
	var res messageResult
	if lt.Rate > 0 {
		res, err = openLoop(ctx, convs, lt.Rate, lt.Duration)
	} else {
		res, err = closedLoop(ctx, convs, lt.Window, lt.Duration)
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", label, err)
	}
	time.Sleep(countSettle)
	after := lt.srv.read(ctx, lt.out)
	fmt.Fprintf(lt.out, "%s: %d in %s = %.0f msgs/s; delivery latency p50 %s p99 %s", label, res.delivered,
		res.elapsed.Round(time.Millisecond), res.rate(), percentile(res.latencies, 50), percentile(res.latencies, 99))
	if lt.Rate > 0 {
		fmt.Fprintf(lt.out, " (open loop: %.0f msgs/s offered over %d conversations, %d sent, latency max %s; sent behind schedule p50 %s p99 %s max %s; from sent to received p50 %s p99 %s)\n",
			lt.Rate, len(convs), res.sent, percentile(res.latencies, 100), percentile(res.senderLags, 50), percentile(res.senderLags, 99), percentile(res.senderLags, 100),
			percentile(res.sinceSent, 50), percentile(res.sinceSent, 99))
		if lost := res.sent - res.delivered; lost > 0 {
			fmt.Fprintf(lt.out, "  %d messages not delivered within %s of the phase's end\n", lost, deliveryGrace)
		}
		if res.refused > 0 {
			fmt.Fprintf(lt.out, "  %d messages refused to their senders, the first: %v\n", res.refused, res.refusal)
		}
	} else if _, pipelines := convs[0].from.(pipelinedEnd); pipelines || lt.Window == 1 {
		fmt.Fprintf(lt.out, " (window %d)\n", lt.Window)
	} else {
		fmt.Fprintf(lt.out, " (window 1: the %s client waits for each acknowledgement)\n", from.name)
	}
	reportRelayShare(lt.out, before, after)
	res.cpuPerMessage = reportCPU(lt.out, before, after, res.delivered, "message")
	reportRunDelay(lt.out, before, after)
	var throughHub int64
	if from.key != "msn" || to.key != "msn" {
		throughHub = res.sent
	}
	reportCounts(lt.out, before, after, throughHub)
	return res, nil
}

// countSettle lets the server count the messages that were on their way
// when a phase ended, so that its counts match what the clients sent.
const countSettle = 200 * time.Millisecond

// conversation is two sessions that message each other.
type conversation struct {
	from, to loadEnd
}

// openConversations logs n pairs of accounts in, the first of each through
// protocol from and the second through protocol to, and opens a
// conversation between them. closeAll logs them all out again.
func (lt *loadtest) openConversations(ctx context.Context, from, to loadProtocol, n int) ([]conversation, func(), error) {
	convs := make([]conversation, n)
	sessions := make([]loadSession, 2*n)
	closeAll := func() { closeSessions(sessions, lt.Workers) }
	err := forEach(ctx, n, lt.Workers, func(ctx context.Context, k int) error {
		ctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		a, b := 2*k, 2*k+1 // the sessions'; their accounts are numbered from the phase's first
		aAccount, bAccount := lt.firstConversationAccount+a, lt.firstConversationAccount+b
		var err error
		if sessions[a], err = from.open(ctx, lt.srv.addrs[from.key], lt.dialing(), aAccount, true); err != nil {
			return err
		}
		if sessions[b], err = to.open(ctx, lt.srv.addrs[to.key], lt.dialing(), bAccount, true); err != nil {
			return err
		}
		convs[k].from, convs[k].to, err = openConversation(ctx, sessions[a], aAccount, sessions[b], bAccount)
		return err
	})
	return convs, closeAll, err
}

// closeSessions logs out the sessions that were opened, workers at once.
func closeSessions(sessions []loadSession, workers int) {
	_ = forEach(context.Background(), len(sessions), workers, func(_ context.Context, i int) error {
		if sessions[i] != nil {
			sessions[i].close()
		}
		return nil
	})
}

// stepTimeout bounds every single exchange of the load test; in the
// message phases, where a context for each message would cost the load
// generator more than the rest of it, the phase's end and stepTimeout
// after it bound them all.
const stepTimeout = 30 * time.Second

// stamp is the text of a load test message: when it was due to be sent,
// from which its receiver reckons its delivery time.
func stamp(due time.Time) string {
	var b [len("load ") + 20]byte // one allocation, the string, where a concatenation made two
	return string(appendStamp(b[:0], due))
}

func appendStamp(b []byte, due time.Time) []byte {
	return strconv.AppendInt(append(b, "load "...), due.UnixNano(), 10)
}

// sentStamp is the text of an open loop's message: its stamp, then when
// it was sent, so that its receiver can also tell the time it spent on
// its way from the time its sender fell behind. It is one allocation.
func sentStamp(due, sent time.Time) string {
	var b [len("load ") + 20 + len(" ") + 20]byte
	return string(strconv.AppendInt(append(appendStamp(b[:0], due), ' '), sent.UnixNano(), 10))
}

func parseSentStamp(text string) (due, sent time.Time, err error) {
	dueText, sentText, _ := strings.Cut(strings.TrimPrefix(text, "load "), " ")
	dueNs, err1 := strconv.ParseInt(dueText, 10, 64)
	sentNs, err2 := strconv.ParseInt(sentText, 10, 64)
	if err1 != nil || err2 != nil || !strings.HasPrefix(text, "load ") {
		return time.Time{}, time.Time{}, fmt.Errorf("a message arrived changed: %q", text)
	}
	return time.Unix(0, dueNs), time.Unix(0, sentNs), nil
}

// roundTrip sends one message and waits until it arrives; it returns how
// long that took. ctx bounds it: a context for each message, its timer
// and its channel, were five allocations of the load generator's.
func roundTrip(ctx context.Context, from, to loadEnd) (time.Duration, error) {
	start := time.Now()
	text := stamp(start)
	if err := from.send(ctx, text); err != nil {
		return 0, err
	}
	got, err := to.receive(ctx)
	if err != nil {
		return 0, err
	}
	if got != text {
		return 0, fmt.Errorf("sent %q, received %q", text, got)
	}
	return time.Since(start), nil
}

// closedLoop: in each conversation the first user keeps up to window
// messages sent and not yet both acknowledged and received by the second
// (window 1: sends a message, waits for it to arrive, and sends the next),
// for d. A sender whose client waits for each acknowledgement keeps one.
// Each message's latency runs from its send to its receipt; every message
// must be acknowledged and arrive, in order and intact.
func closedLoop(ctx context.Context, convs []conversation, window int, d time.Duration) (messageResult, error) {
	start := time.Now()
	deadline := start.Add(d)
	latencies := make([][]time.Duration, len(convs))
	err := forEach(ctx, len(convs), len(convs), func(ctx context.Context, w int) error {
		var err error
		latencies[w], err = pipeline(ctx, convs[w], window, deadline)
		return err
	})
	all := slices.Concat(latencies...)
	n := int64(len(all))
	return messageResult{sent: n, delivered: n, elapsed: time.Since(start), latencies: all}, err
}

// inFlight is a message sent and not yet received: its text, and when it
// was sent.
type inFlight struct {
	text string
	sent time.Time
}

// pipeline runs one conversation of closedLoop until deadline and returns
// the latency of each message. The sender takes one of window slots before
// it sends a message and records the message in flying; the receiver
// frees the slot when the message has arrived. The first error of either
// stops both.
func pipeline(ctx context.Context, c conversation, window int, deadline time.Time) ([]time.Duration, error) {
	stopped, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	ctx, cancel := context.WithDeadline(stopped, deadline.Add(stepTimeout))
	defer cancel()
	p, pipelines := c.from.(pipelinedEnd)
	if !pipelines {
		window, p = 1, waitingEnd{c.from}
	}
	slots := make(chan struct{}, window)
	flying := make(chan inFlight, window)
	var latencies []time.Duration
	received := make(chan struct{})
	go func() {
		defer close(received)
		for m := range flying {
			got, err := c.to.receive(ctx)
			if err == nil && got != m.text {
				err = fmt.Errorf("sent %q, received %q (lost, reordered or changed)", m.text, got)
			}
			if err != nil {
				stop(err)
				return
			}
			latencies = append(latencies, time.Since(m.sent))
			<-slots
		}
	}()
	if err := send(ctx, p, slots, flying, window, deadline); err != nil {
		stop(err)
	}
	close(flying)
	<-received
	return latencies, context.Cause(stopped)
}

// send is pipeline's sender: until deadline it waits for a free slot,
// takes every other free one too, and posts that many messages at once
// (as a client sends a paste), keeping at most window unacknowledged; then
// it waits for the last acknowledgements.
func send(ctx context.Context, p pipelinedEnd, slots chan<- struct{}, flying chan<- inFlight, window int, deadline time.Time) error {
	unconfirmed, seq := 0, 0
	texts := make([]string, 0, window)
	var numbered []byte // a text being made: the paste's stamp, " #", its number
	for time.Now().Before(deadline) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		free := 1
	takeFree:
		for ; free < window; free++ {
			select {
			case slots <- struct{}{}:
			default:
				break takeFree
			}
		}
		for ; unconfirmed+free > window; unconfirmed-- {
			if err := p.confirm(ctx); err != nil {
				return err
			}
		}
		now := time.Now()
		texts = texts[:0]
		// The paste's messages share its stamp: each text is one
		// allocation, not four.
		numbered = append(append(numbered[:0], stamp(now)...), " #"...)
		stamped := len(numbered)
		for range free {
			seq++
			numbered = strconv.AppendInt(numbered[:stamped], int64(seq), 10)
			text := string(numbered)
			texts = append(texts, text)
			flying <- inFlight{text: text, sent: now} // never waits: there are as many places as slots
		}
		if err := p.post(ctx, texts); err != nil {
			return err
		}
		unconfirmed += free
	}
	for ; unconfirmed > 0; unconfirmed-- {
		if err := p.confirm(ctx); err != nil {
			return err
		}
	}
	return nil
}

// deliveryGrace is how long an open loop waits after its last send for
// the messages still on their way.
const deliveryGrace = 5 * time.Second

// openLoop: each conversation sends at rate/len(convs) messages a second,
// staggered so that the rate is even, each message when it is due whether
// or not the earlier ones were acknowledged or have arrived (as people
// type); each carries the time it was due, so that a server (or a sender)
// that falls behind shows in the latency of every message it delays. A
// few goroutines send them all, without waiting for the answers
// (sendAsync), so that the generator's own cost stays small beside the
// server's, and how late they sent each message is measured too.
func openLoop(ctx context.Context, convs []conversation, rate float64, d time.Duration) (messageResult, error) {
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(d)
	sendCtx, stopSending := context.WithDeadline(ctx, end.Add(stepTimeout))
	defer stopSending()
	recvCtx, stopReceiving := context.WithCancel(ctx)
	defer stopReceiving()
	var sent, delivered, refused, unanswered, lastDelivery atomic.Int64
	var errOnce, refusalOnce sync.Once
	var firstErr, refusal error
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	latencies := make([][]time.Duration, len(convs))
	sinceSent := make([][]time.Duration, len(convs))
	var receivers sync.WaitGroup
	for i, c := range convs {
		receivers.Go(func() {
			var last time.Time
			for {
				text, err := c.to.receive(recvCtx)
				if err != nil {
					if recvCtx.Err() == nil {
						fail(err)
					}
					return
				}
				due, sentAt, err := parseSentStamp(text)
				if err == nil && !due.After(last) {
					err = fmt.Errorf("conversation %d: the message due at %s arrived after the one due at %s", i, due.Format(time.StampMicro), last.Format(time.StampMicro))
				}
				if err != nil {
					fail(err)
					return
				}
				last = due
				now := time.Now()
				latencies[i] = append(latencies[i], now.Sub(due))
				sinceSent[i] = append(sinceSent[i], now.Sub(sentAt))
				delivered.Add(1)
				raiseTo(&lastDelivery, int64(now.Sub(start)))
			}
		})
	}
	answered := func(err error) {
		if err != nil {
			refused.Add(1)
			refusalOnce.Do(func() { refusal = err })
		} else {
			sent.Add(1)
		}
		unanswered.Add(-1)
	}
	from := make([]asyncEnd, len(convs))
	var queues sync.WaitGroup
	for i, c := range convs {
		from[i] = asyncFrom(sendCtx, c.from, &queues)
	}
	// A sender per processor, each for its share of the conversations,
	// so that the system calls that send run on every processor.
	senders := min(runtime.GOMAXPROCS(0), len(convs))
	lags := make([][]time.Duration, senders)
	var scheduled sync.WaitGroup
	for s := range senders {
		scheduled.Go(func() {
			lags[s] = schedule(ctx, start, end, rate, func(j int) bool { return j%len(convs)%senders == s }, func(j int, due time.Time) {
				unanswered.Add(1)
				from[j%len(convs)].sendAsync(sendCtx, sentStamp(due, time.Now()), answered)
			})
		})
	}
	scheduled.Wait()
	for _, a := range from {
		if q, ok := a.(queuedEnd); ok {
			close(q.queue)
		}
	}
	queues.Wait()
	for unanswered.Load() > 0 && sendCtx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for deadline := time.Now().Add(deliveryGrace); delivered.Load() < sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	stopReceiving()
	receivers.Wait()
	// The throughput is over the time the messages took to arrive, which
	// is longer than the phase when the server fell behind.
	return messageResult{sent: sent.Load(), delivered: delivered.Load(), elapsed: max(d, time.Duration(lastDelivery.Load())), latencies: slices.Concat(latencies...),
		senderLags: slices.Concat(lags...), sinceSent: slices.Concat(sinceSent...), refused: refused.Load(), refusal: refusal}, firstErr
}

// schedule calls send for those of messages 0, 1, 2 … that mine picks,
// due rate a second from start until end (message j at start + j/rate),
// each as soon as it is due: it sleeps until its next message is due, then
// sends every one that is, so that a late wake-up delays messages but not
// the schedule. It returns how late each message was sent.
func schedule(ctx context.Context, start, end time.Time, rate float64, mine func(j int) bool, send func(j int, due time.Time)) []time.Duration {
	perMessage := float64(time.Second) / rate
	var lags []time.Duration
	wait := time.NewTimer(time.Until(start))
	defer wait.Stop()
	for j := 0; ; j++ {
		due := start.Add(time.Duration(float64(j) * perMessage))
		if !due.Before(end) {
			return lags
		}
		if !mine(j) {
			continue
		}
		if until := time.Until(due); until > 0 {
			wait.Reset(until)
			select {
			case <-wait.C:
			case <-ctx.Done():
				return lags
			}
		}
		lags = append(lags, time.Since(due))
		send(j, due)
	}
}

// asyncEnd is a loadEnd that can send without waiting for the server's
// answer.
type asyncEnd interface {
	// sendAsync sends text and returns; done learns the answer once and
	// must not block.
	sendAsync(ctx context.Context, text string, done func(error))
}

// asyncFrom is e if it sends asynchronously, or else a queuedEnd whose
// goroutine, counted in running, sends with ctx until its queue closes.
func asyncFrom(ctx context.Context, e loadEnd, running *sync.WaitGroup) asyncEnd {
	if a, ok := e.(asyncEnd); ok {
		return a
	}
	q := queuedEnd{queue: make(chan queuedText, queuedTexts)}
	running.Go(func() {
		for m := range q.queue {
			m.done(e.send(ctx, m.text))
		}
	})
	return q
}

// queuedEnd sends asynchronously for an end that can only send and wait
// for the answer: its messages wait in a queue for one goroutine that
// sends them one after another, so that they leave in order.
type queuedEnd struct{ queue chan queuedText }

type queuedText struct {
	text string
	done func(error)
}

// queuedTexts is how many messages a queuedEnd holds before its sender
// waits, which the lag it measures then shows.
const queuedTexts = 1024

func (q queuedEnd) sendAsync(_ context.Context, text string, done func(error)) {
	q.queue <- queuedText{text, done}
}

// raiseTo makes a at least v.
func raiseTo(a *atomic.Int64, v int64) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

// settleTime lets the server finish what logins and logouts left it doing
// before its memory is read.
const settleTime = time.Second

// idlePhase logs --users accounts in, online, reads the server's resident
// memory before and after, prints the growth per session and returns it,
// if it could read the memory.
func (lt *loadtest) idlePhase(ctx context.Context, p loadProtocol) (perSession float64, measured bool, err error) {
	time.Sleep(settleTime)
	before, from, err := lt.srv.residentBytes(ctx)
	if err != nil {
		fmt.Fprintf(lt.out, "memory: not measured (%v)\n", err)
		return 0, false, nil
	}
	// A sign-in is the whole of what a client does to come online: the
	// login, and (MSN) the lists and the first status, which the logins
	// phase leaves out.
	cpuBefore := lt.srv.read(ctx, lt.out)
	start := time.Now()
	sessions, err := openIdle(ctx, p, lt.srv.addrs[p.key], lt.sources, lt.Users, lt.Workers)
	defer closeSessions(sessions, lt.Workers)
	if err != nil {
		return 0, false, fmt.Errorf("idle phase: %w", err)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(lt.out, "signed in: %d sessions online in %s = %.0f sign-ins/s\n", lt.Users, elapsed.Round(time.Millisecond), float64(lt.Users)/elapsed.Seconds())
	reportCPU(lt.out, cpuBefore, lt.srv.read(ctx, lt.out), int64(lt.Users), "sign-in")
	time.Sleep(lt.Settle)
	after, _, err := lt.srv.residentBytes(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("idle phase: %w", err)
	}
	perSession = float64(after-before) / float64(lt.Users)
	fmt.Fprintf(lt.out, "memory: %.1f KiB resident per idle logged-in session (%d sessions); server resident %.1f → %.1f MiB, read %v after the logins, from %s\n",
		perSession/1024, lt.Users, float64(before)/(1<<20), float64(after)/(1<<20), lt.Settle, from)
	return perSession, true, nil
}

// openIdle logs accounts 0 … n-1 in at addr, online, workers at once,
// and returns the sessions, those it opened when it fails.
func openIdle(ctx context.Context, p loadProtocol, addr string, sources *sourceAddrs, n, workers int) ([]loadSession, error) {
	sessions := make([]loadSession, n)
	err := forEach(ctx, n, workers, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		var err error
		sessions[i], err = p.open(ctx, addr, dialing{dialer: sources.dialer()}, i, true)
		return err
	})
	return sessions, err
}

// repeat has n workers do step again and again until d has passed; a step
// begun in time is let finish, so that a phase leaves the server no login
// or message half done (a login cut off by the client still logs in, and
// kicks whoever logs in to the account next). It returns how long the
// steps took and the first error.
func repeat(ctx context.Context, n int, d time.Duration, step func(ctx context.Context, w, round int) error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	err := forEach(ctx, n, n, func(ctx context.Context, w int) error {
		for round := 0; time.Now().Before(deadline); round++ {
			if err := step(ctx, w, round); err != nil {
				return err
			}
		}
		return nil
	})
	return time.Since(start), err
}

// forEach calls f for 0 … n-1, at most workers at once, and stops at the
// first error, which it returns.
func forEach(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}
