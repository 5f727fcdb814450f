package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	imipserver "github.com/crosstalk-im/crosstalk/imip/server"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/internal/service"
	msimserver "github.com/crosstalk-im/crosstalk/msim/server"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	"github.com/crosstalk-im/crosstalk/node"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
)

// The load test's tests run each command briefly against a node of the
// test's own and check that every figure it prints is there, parses, and
// counts something; how fast anything went is for the commands to
// measure, not for the tests to judge.

// loadNode is a node with every listener on loopback, MySpaceIM on a port
// of its own, per-connection limits, caps per address and the login
// guard's count per address lifted as a load test's own server has them;
// it returns the node and its data directory.
func loadNode(t testing.TB) (*node.Node, string) {
	var data string
	n := startNode(t, func(o *node.Options) {
		data = o.DataDir
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		o.MSIMAddr = "127.0.0.1:0"
		o.MSNP = msnpserver.Config{CommandsPerSecond: 1e5, CommandBurst: 1e5}
		o.GG = ggserver.Config{PacketsPerSecond: 1e5, PacketBurst: 1e5}
		o.IMIP = imipserver.Config{BlocksPerSecond: 1e5, BlockBurst: 1e5}
		o.MSIM = msimserver.Config{MessagesPerSecond: 1e5, MessageBurst: 1e5}
		o.SIP = sipserver.Config{MessagesPerSecond: 1e5, MessageBurst: 1e5}
		o.Webchat = webchatserver.Config{FramesPerSecond: 1e5, FrameBurst: 1e5}
		o.LoginGuard = loginguard.Config{Address: loginguard.Policy{Free: 1e6, LockAfter: 1e6}}
		o.Admission = service.Limits{MaxConnsPerAddr: -1, MaxPreLoginPerAddr: -1}
		o.HTTP.MaxConnsPerAddr = -1
	})
	return n, data
}

// loadOptions load n briefly from three source addresses, reading its
// memory and CPU from this process (the node runs in it).
func loadOptions(n *node.Node, data string) loadtestOptions {
	return loadtestOptions{
		Metrics: "http://" + n.HTTPAddr + "/metrics", Data: data, ServerPid: os.Getpid(),
		Users: 6, Workers: 2, Duration: 300 * time.Millisecond, Conversations: 2, Sources: 3, Settle: 50 * time.Millisecond, Window: 1,
	}
}

var (
	loginsPrinted    = regexp.MustCompile(`(?m)^logins: (\d+) in \S+ = (\d+) logins/s\n  server CPU: ([\d.]+) µs per login$`)
	messagesPrinted  = regexp.MustCompile(`(?m)^(\S+): (\d+) in \S+ = (\d+) msgs/s; delivery latency p50 (\S+) p99 ([^ \n]+)(.*)\n(?:  .*\n)*?  server CPU: ([\d.]+) µs per message$`)
	countsPrinted    = regexp.MustCompile(`(?m)^  refused \(kind/cause\): (.+)\n  presence events: .*\n  message outcomes: .*\n  message events: published (\d+) = .*; senders told (\d+) of (\d+) sent across protocols$`)
	clientCPUPrinted = regexp.MustCompile(`(?m)^  server CPU: [\d.]+ µs per message\n  load generator CPU: [\d.]+ µs per message \(this process\)$`)
	baselinePrinted  = regexp.MustCompile(`(?m)^baseline: (\d+) in \S+ = \d+ logins/s \(.*\)\n  its CPU: [\d.]+ µs per login; load generator CPU: [\d.]+ µs per login \(this process\)\n  the login phase against it: [\d.]+× the logins/s, [\d.]+× the server CPU per login$`)
	memoryPrinted    = regexp.MustCompile(`(?m)^memory: (-?[\d.]+) KiB resident per idle logged-in session \((\d+) sessions\); server resident [\d.]+ → [\d.]+ MiB, read 50ms after the logins, from /proc/(\d+)/status \((.+)\)$`)
)

// messageFigures are what a message phase printed.
type messageFigures struct {
	label              string
	delivered, rate    int
	p50, p99           time.Duration
	rest               string // what follows the percentiles on the line
	told, throughHub   int
	publishedMessages  int
	refused, cpuPerMsg string
}

// messageFiguresOf finds every message phase in out, with the server
// counters that follow it.
func messageFiguresOf(t *testing.T, out string) []messageFigures {
	t.Helper()
	var all []messageFigures
	for _, m := range messagesPrinted.FindAllStringSubmatchIndex(out, -1) {
		s := func(i int) string { return out[m[2*i]:m[2*i+1]] }
		f := messageFigures{label: s(1), delivered: atoi(t, s(2)), rate: atoi(t, s(3)), rest: s(6), cpuPerMsg: s(7)}
		var err error
		if f.p50, err = time.ParseDuration(s(4)); err != nil {
			t.Errorf("%s: p50 %v", f.label, err)
		}
		if f.p99, err = time.ParseDuration(s(5)); err != nil {
			t.Errorf("%s: p99 %v", f.label, err)
		}
		c := countsPrinted.FindStringSubmatch(out[m[1]:])
		if c == nil {
			t.Fatalf("%s: no server counters after it in:\n%s", f.label, out[m[1]:])
		}
		f.refused, f.publishedMessages, f.told, f.throughHub = c[1], atoi(t, c[2]), atoi(t, c[3]), atoi(t, c[4])
		all = append(all, f)
	}
	return all
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkProtocolRun checks the figures of one protocol's logins, messages
// and idle sessions.
func checkProtocolRun(t *testing.T, out string, users int) {
	t.Helper()
	if m := loginsPrinted.FindStringSubmatch(out); m == nil || atoi(t, m[1]) == 0 || atoi(t, m[2]) == 0 {
		t.Errorf("no logins counted in:\n%s", out)
	}
	msgs := messageFiguresOf(t, out)
	if len(msgs) != 1 || msgs[0].label != "messages" {
		t.Fatalf("want one message phase in:\n%s", out)
	}
	if f := msgs[0]; f.delivered == 0 || f.rate == 0 || f.p50 <= 0 || f.p99 < f.p50 || f.refused != "none" {
		t.Errorf("message figures %+v in:\n%s", f, out)
	}
	m := memoryPrinted.FindStringSubmatch(out)
	if m == nil || atoi(t, m[2]) != users || atoi(t, m[3]) != os.Getpid() || !strings.HasPrefix(filepath.Base(os.Args[0]), m[4]) {
		t.Errorf("no memory per session of %d sessions read from this process in:\n%s", users, out)
	}
}

// loadtest gg, imip, msim, sip and webchat log in, trade messages and
// hold idle sessions through their protocols, and say what the server
// counted.
func TestLoadtestProtocols(t *testing.T) {
	n, data := loadNode(t)
	for _, key := range []string{"gg", "imip", "msim", "sip", "webchat"} {
		t.Run(key, func(t *testing.T) {
			var out bytes.Buffer
			c := loadtestProtoCmd{Server: map[string]string{"gg": n.GGAddr, "imip": n.IMIPAddr, "msim": n.MSIMAddr, "sip": n.SIPAddr, "webchat": n.HTTPAddr}[key],
				loadtestOptions: loadOptions(n, data), Phases: []string{"logins", "messages", "idle"}}
			if err := c.run(testContext(t), &out, loadProtocolNamed(key)); err != nil {
				t.Fatalf("%v after:\n%s", err, &out)
			}
			checkProtocolRun(t, out.String(), c.Users)
			f := messageFiguresOf(t, out.String())[0]
			if f.publishedMessages == 0 || f.told == 0 {
				t.Errorf("the hub counted no messages: %+v", f)
			}
		})
	}
}

// loadtest msn prints what it printed before (the memory line per
// connection, the cross-protocol phase) besides the figures of the other
// protocols; its switchboard messages do not pass through the hub.
func TestLoadtestMSN(t *testing.T) {
	n, data := loadNode(t)
	var out bytes.Buffer
	c := loadtestMsnCmd{Server: n.MSNPAddr, GGServer: n.GGAddr, IMIPServer: n.IMIPAddr,
		loadtestOptions: loadOptions(n, data), Phases: []string{"logins", "messages", "cross", "idle"}}
	if err := c.run(testContext(t), &out); err != nil {
		t.Fatalf("%v after:\n%s", err, &out)
	}
	checkProtocolRun(t, out.String(), c.Users)
	if f := messageFiguresOf(t, out.String())[0]; f.throughHub != 0 || f.publishedMessages != 0 {
		t.Errorf("switchboard messages counted as the hub's: %+v", f)
	}
	cross := regexp.MustCompile(`(?m)^cross-protocol \(MSN↔GG, MSN↔IMIP, GG status churn\): (\d+) messages in \S+ = \d+ msgs/s$`).FindStringSubmatch(out.String())
	if cross == nil || atoi(t, cross[1]) == 0 {
		t.Errorf("no cross-protocol messages in:\n%s", &out)
	}
	if !regexp.MustCompile(`(?m)^memory: -?[\d.]+ KiB resident per idle logged-in connection \(6 connections\)$`).MatchString(out.String()) {
		t.Errorf("no memory per connection in:\n%s", &out)
	}
}

// loadtest cross measures every pair it is given after MSN→MSN, and puts
// each pair's cost per message against it.
func TestLoadtestCross(t *testing.T) {
	n, data := loadNode(t)
	var out bytes.Buffer
	c := loadtestCrossCmd{MsnServer: n.MSNPAddr, GgServer: n.GGAddr, ImipServer: n.IMIPAddr, MsimServer: n.MSIMAddr, SipServer: n.SIPAddr,
		loadtestOptions: loadOptions(n, data), Pairs: []string{"msn-gg", "gg-msn", "msim-imip", "imip-msn", "msn-msim", "gg-msim", "sip-msn", "gg-sip", "sip-msim"}}
	if err := c.run(testContext(t), &out); err != nil {
		t.Fatalf("%v after:\n%s", err, &out)
	}
	var labels []string
	for _, f := range messageFiguresOf(t, out.String()) {
		labels = append(labels, f.label)
		if f.delivered == 0 || f.refused != "none" {
			t.Errorf("%s: %+v", f.label, f)
		}
	}
	if got := strings.Join(labels, " "); got != "MSN→MSN MSN→GG GG→MSN MySpaceIM→IMIP IMIP→MSN MSN→MySpaceIM GG→MySpaceIM SIP→MSN GG→SIP SIP→MySpaceIM" {
		t.Errorf("pairs measured: %s", got)
	}
	if ratios := regexp.MustCompile(`(?m)^  cost per message: [\d.]+× MSN→MSN \(server CPU\)$`).FindAllString(out.String(), -1); len(ratios) != 9 {
		t.Errorf("%d cost ratios, want one per pair but MSN→MSN, in:\n%s", len(ratios), &out)
	}
	// The server runs in this process: the clients' CPU cannot be told
	// apart from it.
	if strings.Contains(out.String(), "load generator CPU") {
		t.Errorf("load generator CPU with the server in the same process:\n%s", &out)
	}
}

// A cross run against a server of your own needs the servers of the
// protocols its pairs use.
func TestLoadtestCrossNeedsServers(t *testing.T) {
	c := loadtestCrossCmd{MsnServer: "127.0.0.1:1", Pairs: []string{"msn-gg"}, loadtestOptions: loadtestOptions{Users: 2, Workers: 1, Window: 1, Data: t.TempDir()}}
	if err := c.run(testContext(t), &bytes.Buffer{}); err == nil || err.Error() != "MSN→GG needs --gg-server" {
		t.Errorf("err = %v", err)
	}
	c.Pairs = []string{"msn-aim"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"msn-aim"`) {
		t.Errorf("unknown pair: %v", err)
	}
	if _, _, err := parse(t, "loadtest", "msn", "--settle=-1s"); err == nil || !strings.Contains(err.Error(), "--settle is not negative") {
		t.Errorf("a negative --settle: %v", err)
	}
	if _, _, err := parse(t, "loadtest", "cross", "--sources", "255"); err == nil || !strings.Contains(err.Error(), "--sources is between 0 and 254") {
		t.Errorf("--sources 255: %v", err)
	}
}

// With --rate the senders keep to a schedule whatever the replies do,
// and the line says what was offered and what came of it.
func TestLoadtestRate(t *testing.T) {
	msgs, open, _ := openLoopRun(t, func(n *node.Node, o loadtestOptions, out io.Writer) error {
		c := loadtestProtoCmd{Server: n.GGAddr, loadtestOptions: o, Phases: []string{"messages"}}
		return c.run(testContext(t), out, loadProtocolNamed("gg"))
	})
	if sent := atoi(t, open[1]); msgs[0].delivered == 0 || sent < msgs[0].delivered || msgs[0].told != sent {
		t.Errorf("%d delivered, %d sent, server told senders of %d", msgs[0].delivered, sent, msgs[0].told)
	}
	if msgs[0].p50 <= 0 || msgs[0].p99 < msgs[0].p50 {
		t.Errorf("latency p50 %s p99 %s", msgs[0].p50, msgs[0].p99)
	}
	for _, d := range open[2:] {
		if _, err := time.ParseDuration(d); err != nil {
			t.Error(err)
		}
	}
}

// openLoopRun runs a message phase of 40 msgs/s over 2 conversations
// against a node of the test's own, and returns what it printed: its
// figures, the open loop's (openLoopPrinted) and the whole output.
func openLoopRun(t *testing.T, run func(n *node.Node, o loadtestOptions, out io.Writer) error) ([]messageFigures, []string, string) {
	t.Helper()
	n, data := loadNode(t)
	var out bytes.Buffer
	o := loadOptions(n, data)
	o.Rate, o.Conversations = 40, 2
	if err := run(n, o, &out); err != nil {
		t.Fatalf("%v after:\n%s", err, &out)
	}
	msgs := messageFiguresOf(t, out.String())
	if len(msgs) != 1 {
		t.Fatalf("want one message phase in:\n%s", &out)
	}
	open := openLoopPrinted.FindStringSubmatch(msgs[0].rest)
	if open == nil {
		t.Fatalf("no open-loop figures in %q", msgs[0].rest)
	}
	return msgs, open, out.String()
}

// openLoopPrinted is what an open loop of 40 msgs/s over 2 conversations
// prints after its percentiles: sent, the latency's maximum, how late the
// messages were sent, and how long they took from being sent.
var openLoopPrinted = regexp.MustCompile(`^ \(open loop: 40 msgs/s offered over 2 conversations, (\d+) sent, latency max (\S+); sent behind schedule p50 (\S+) p99 (\S+) max (\S+); from sent to received p50 (\S+) p99 (\S+)\)$`)

// With --rate over MSN switchboards the server times every message it
// relays, and the load test prints the server's share of the latency
// beside the whole, over as many messages as arrived, the waits for a
// worker before it, and how long the server's threads waited for a
// processor.
func TestLoadtestRateServerShare(t *testing.T) {
	msgs, open, out := openLoopRun(t, func(n *node.Node, o loadtestOptions, out io.Writer) error {
		c := loadtestMsnCmd{Server: n.MSNPAddr, loadtestOptions: o, Phases: []string{"messages"}}
		return c.run(testContext(t), out)
	})
	if sent := atoi(t, open[1]); msgs[0].delivered == 0 || sent != msgs[0].delivered {
		t.Errorf("%d delivered of %d sent", msgs[0].delivered, sent)
	}
	share := regexp.MustCompile(`(?m)^  server's share \(read → written to the receiver's socket\): p50 (\S+) p99 (\S+) over (\d+) messages; before that, readable → read: p50 (\S+) p99 (\S+) over (\d+) wake-ups$`).FindStringSubmatch(out)
	if share == nil {
		t.Fatalf("no server's share in:\n%s", out)
	}
	if timed := atoi(t, share[3]); timed != msgs[0].delivered {
		t.Errorf("the server timed %d messages, %d were delivered", timed, msgs[0].delivered)
	}
	for _, figures := range [][]string{share[1:3], share[4:6]} {
		p50, err50 := time.ParseDuration(figures[0])
		p99, err99 := time.ParseDuration(figures[1])
		if err50 != nil || err99 != nil || p50 <= 0 || p99 < p50 {
			t.Errorf("server's share p50 %s p99 %s", figures[0], figures[1])
		}
	}
	if wakeups := atoi(t, share[6]); wakeups == 0 {
		t.Error("no wake-ups timed")
	}
	// The server is this process: its threads' waits for a processor are
	// the load test's too, and counted once.
	waited := regexp.MustCompile(`(?m)^  waiting for a processor \(/proc schedstat, all threads\): server (\S+)$`).FindStringSubmatch(out)
	if waited == nil {
		t.Fatalf("no waits for a processor in:\n%s", out)
	}
	if _, err := time.ParseDuration(waited[1]); err != nil {
		t.Error(err)
	}
}

// Connections dialled through --sources come from 127.0.0.1 … 127.0.0.N
// in turn.
func TestSourceAddrs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &sourceAddrs{n: 3}
	var got []string
	for range 5 {
		c, err := s.dialer().Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		got = append(got, sc.RemoteAddr().(*net.TCPAddr).IP.String())
	}
	if strings.Join(got, " ") != "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.1 127.0.0.2" {
		t.Errorf("sources: %v", got)
	}
}

// Without a server named, loadtest starts one of its own in a process of
// its own, with accounts made, and reads its memory from /proc.
func TestLoadtestStartsItsServer(t *testing.T) {
	stdout, stderr, code := crosstalk(t, "loadtest", "msn", "--users", "6", "--workers", "2", "--duration", "300ms", "--settle", "50ms")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "clients from addresses the system chooses; per-connection limits lifted (a server of the load test's own)\nserver 127.0.0.1:") {
		t.Errorf("header: %s", stdout)
	}
	m := memoryPrinted.FindStringSubmatch(stdout)
	if m == nil || atoi(t, m[2]) != 6 || atoi(t, m[3]) == os.Getpid() || !strings.HasPrefix(filepath.Base(os.Args[0]), m[4]) {
		t.Errorf("memory not read from the server's process: %s", stdout)
	}
	if len(messageFiguresOf(t, stdout)) != 1 || !strings.Contains(stdout, "\ncross-protocol (MSN↔GG, MSN↔IMIP, GG status churn): ") {
		t.Errorf("phases missing: %s", stdout)
	}
	// With the server in a process of its own, the clients' CPU is told
	// apart from it.
	if !clientCPUPrinted.MatchString(stdout) {
		t.Errorf("no load generator CPU per message: %s", stdout)
	}
	// So is the login baseline's server, in a process of its own too.
	if m := baselinePrinted.FindStringSubmatch(stdout); m == nil || atoi(t, m[1]) == 0 {
		t.Errorf("no login baseline: %s", stdout)
	}
	stdout, stderr, code = crosstalk(t, "loadtest", "msim", "--users", "4", "--workers", "2", "--duration", "300ms", "--rate", "20", "--conversations", "1", "--phases", "logins,messages")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "clients from addresses the system chooses; per-connection limits the defaults (a server of the load test's own)\nMySpaceIM server 127.0.0.1:") ||
		!loginsPrinted.MatchString(stdout) || len(messageFiguresOf(t, stdout)) != 1 {
		t.Errorf("loadtest msim --rate: %s", stdout)
	}
	stdout, stderr, code = crosstalk(t, "loadtest", "sip", "--users", "4", "--workers", "2", "--duration", "300ms", "--phases", "logins,messages")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "\nSIP server 127.0.0.1:") || !loginsPrinted.MatchString(stdout) || len(messageFiguresOf(t, stdout)) != 1 {
		t.Errorf("loadtest sip: %s", stdout)
	}
}

// The commands that loadtest --help and the README's Load testing section
// give parse, as they are written.
func TestLoadtestDocumentedCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## Load testing\n")
	section, _, _ = strings.Cut(section, "\n## ")
	var commands []string
	for _, m := range regexp.MustCompile("`(crosstalk (?:loadtest |serve )[^`]+)`").FindAllStringSubmatch(section, -1) {
		commands = append(commands, m[1])
	}
	for line := range strings.Lines(section + loadtestCmd{}.Help()) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "crosstalk ") {
			commands = append(commands, line)
		}
	}
	if len(commands) < 10 {
		t.Fatalf("found only %d commands: %q", len(commands), commands)
	}
	for _, cmd := range commands {
		line := strings.TrimSuffix(strings.ReplaceAll(cmd, "$!", "4242"), " &")
		if _, _, err := parse(t, shellWords(t, strings.TrimPrefix(line, "crosstalk "))...); err != nil {
			t.Errorf("%s: %v", cmd, err)
		}
	}
}

// An open loop faster than the server lets one client send counts what
// the server refused, and says why, instead of stopping.
func TestLoadtestRateRefusals(t *testing.T) {
	var data string
	n := startNode(t, func(o *node.Options) {
		data = o.DataDir
		o.Logger = slog.New(slog.DiscardHandler)
		o.MSNP = msnpserver.Config{CommandsPerSecond: 5, CommandBurst: 20}
	})
	var out bytes.Buffer
	o := loadOptions(n, data)
	o.Rate, o.Conversations, o.Duration = 40, 1, time.Second
	c := loadtestMsnCmd{Server: n.MSNPAddr, loadtestOptions: o, Phases: []string{"messages"}}
	if err := c.run(testContext(t), &out); err != nil {
		t.Fatalf("%v after:\n%s", err, &out)
	}
	m := regexp.MustCompile(`(?m)^  (\d+) messages refused to their senders, the first: .*error 713`).FindStringSubmatch(out.String())
	if m == nil || atoi(t, m[1]) == 0 {
		t.Errorf("no refusals counted in:\n%s", &out)
	}
	if f := messageFiguresOf(t, out.String()); len(f) != 1 || f[0].delivered == 0 {
		t.Errorf("no messages delivered in:\n%s", &out)
	}
}
