package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	"github.com/crosstalk-im/crosstalk/store"
)

// clusterNodeTimeout is the nodes' --node-timeout in TestThreeNodes; a
// dead node's users must look offline within it and a few seconds.
const clusterNodeTimeout = 3 * time.Second

// natsServer is one nats-server process of a cluster.
type natsServer struct {
	cmd    *exec.Cmd
	client string // its client URL
}

// startNATSCluster builds nats-server from the module this project pins
// and runs n of them as one JetStream cluster on loopback.
func startNATSCluster(t *testing.T, n int) []*natsServer {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the cluster test builds nats-server with the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	servers := make([]*natsServer, n)
	for i := range n {
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(ports[i]), "-n", fmt.Sprintf("nats-%d", i+1),
			"-js", "-sd", t.TempDir(), "--cluster_name", "crosstalk", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		cmd.Stderr = &testenv.LogBuffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		servers[i] = &natsServer{cmd: cmd, client: fmt.Sprintf("nats://127.0.0.1:%d", ports[i])}
	}
	// Ready once JetStream answers through the cluster (a meta leader is
	// elected).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if jetStreamReady(servers[0].client) {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatal("the NATS cluster never offered JetStream")
		}
	}
}

func jetStreamReady(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// clusterNode is one `crosstalk serve` process of the test.
type clusterNode struct {
	cmd                  *exec.Cmd
	msnp, gg, imip, http string
	msim, sip            string
	log                  *testenv.LogBuffer
}

// startClusterNode starts a node with a data directory of its own on the
// shared database, with the shared password key.
func startClusterNode(t *testing.T, database, keyFile, natsURLs string) *clusterNode {
	t.Helper()
	ports, err := freePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) }
	n := &clusterNode{msnp: addr(0), gg: addr(2), imip: addr(3), http: addr(4), msim: addr(6), sip: addr(7), log: &testenv.LogBuffer{}}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(exe, "--log-level", "warn", "serve", "--data", t.TempDir(), "--database", database,
		"--secret-key-file", keyFile, "--nats", natsURLs, "--bus-replicas", "3",
		"--node-timeout", clusterNodeTimeout.String(),
		"--msnp-addr", n.msnp, "--sb-addr", addr(1), "--ftp-addr", addr(5), "--msim-addr", n.msim,
		"--gg-addr", n.gg, "--imip-addr", n.imip, "--sip-addr", n.sip, "--http-addr", n.http)
	n.cmd.Env = mainEnv()
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		if t.Failed() {
			t.Logf("node %s log:\n%s", n.msnp, n.log)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + n.http + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never became healthy:\n%s", n.msnp, n.log)
		}
	}
}

// metric sums the node's samples of a counter whose labels contain
// labels ("" for all of them).
func (n *clusterNode) metric(t *testing.T, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, labels) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// kill ends the process as a power cut would: no goodbye to anyone.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
}

// ggInbox collects what one GG client receives.
type ggInbox struct {
	mu       sync.Mutex
	texts    map[string]int
	statuses map[uint32]uint32
	changed  chan struct{}
}

func watchGG(c *ggclient.Client) *ggInbox {
	in := &ggInbox{texts: map[string]int{}, statuses: map[uint32]uint32{}, changed: make(chan struct{}, 1)}
	go func() {
		for ev := range c.Events() {
			in.mu.Lock()
			switch ev := ev.(type) {
			case ggclient.Message:
				in.texts[ev.Text]++
			case ggclient.Status:
				in.statuses[ev.UIN] = ev.Status
			}
			in.mu.Unlock()
			select {
			case in.changed <- struct{}{}:
			default:
			}
		}
	}()
	return in
}

// wait returns once cond holds, or fails the test after limit.
func (in *ggInbox) wait(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		in.mu.Lock()
		ok := cond()
		in.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-in.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
}

func loginGGAt(t *testing.T, ctx context.Context, addr string, uin uint32, contacts ...uint32) *ggclient.Client {
	t.Helper()
	c, err := ggclient.Dial(ctx, addr, ggclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, uin, "pw", ggwire.StatusAvail, ""); err != nil {
		t.Fatalf("gg login %d at %s: %v", uin, addr, err)
	}
	list := make([]ggwire.Contact, len(contacts))
	for i, n := range contacts {
		list[i] = ggwire.Contact{UIN: n, Type: ggwire.UserNormal}
	}
	if err := c.NotifyList(ctx, list); err != nil {
		t.Fatal(err)
	}
	return c
}

func loginIMIPAt(t *testing.T, ctx context.Context, addr string, number uint32) *imipclient.Client {
	t.Helper()
	c, err := imipclient.Dial(ctx, addr, imipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, strconv.FormatUint(uint64(number), 10), "pw"); err != nil {
		t.Fatalf("imip login %d at %s: %v", number, addr, err)
	}
	if err := c.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func loginMSNAt(t *testing.T, ctx context.Context, addr, email string) *msnclient.Client {
	t.Helper()
	c, err := msnclient.Dial(ctx, addr, msnclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, "pw"); err != nil {
		t.Fatalf("msn login %s at %s: %v", email, addr, err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(ctx, msnclient.StatusOnline); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestThreeNodes runs the service as an operator grows it: a three-server
// NATS cluster, three `crosstalk serve` processes on one PostgreSQL
// database, each with a data directory of its own and the same password
// key, clients of all five protocols spread over them. Then one node is
// killed (SIGKILL) while messages flow, and then one NATS server.
func TestThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	natsServers := startNATSCluster(t, 3)
	var urls []string
	for _, s := range natsServers {
		urls = append(urls, s.client)
	}
	database := pgtest.URL(t)
	keyFile, key := newKeyFile(t)
	st, err := store.Open(ctx, store.Config{Database: database, Keys: store.KeyConfig{Current: key}})
	if err != nil {
		t.Fatal(err)
	}
	const alice, bob, gary, carol, dave, mia, sam = 1001, 1002, 1003, 1004, 1005, 1006, 1007
	for _, a := range []hub.Account{
		{Number: alice, Email: "alice@example.com", DisplayName: "Alice"},
		{Number: bob, Email: "bob@example.com", DisplayName: "Bob"},
		{Number: gary, Email: "gary@example.com", DisplayName: "Gary"},
		{Number: carol, Email: "carol@example.com", DisplayName: "Carol"},
		{Number: dave, Email: "dave@example.com", DisplayName: "Dave"},
		{Number: mia, Email: "mia@example.com", DisplayName: "Mia"},
		{Number: sam, Email: "sam@example.com", DisplayName: "Sam"},
	} {
		if _, err := st.CreateAccount(ctx, a, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		nodes[i] = startClusterNode(t, database, keyFile, strings.Join(urls, ","))
	}

	// An MSN switchboard on another node: Alice (node 1) calls Dave
	// (node 2), who is sent to node 1's switchboard.
	aliceMSN := loginMSNAt(t, ctx, nodes[0].msnp, "alice@example.com")
	daveMSN := loginMSNAt(t, ctx, nodes[1].msnp, "dave@example.com")
	if _, err := aliceMSN.Add(ctx, msnclient.ListForward, "dave@example.com", "Dave", 0); err != nil {
		t.Fatal(err)
	}
	for p := testenv.Next[msnclient.Presence](t, ctx, aliceMSN.Events()); p.Email != "dave@example.com"; p = testenv.Next[msnclient.Presence](t, ctx, aliceMSN.Events()) {
	}
	asb, err := aliceMSN.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer asb.Leave()
	if _, err := asb.Call(ctx, "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	dsb, err := daveMSN.Answer(ctx, testenv.Next[msnclient.Ring](t, ctx, daveMSN.Events()))
	if err != nil {
		t.Fatal(err)
	}
	defer dsb.Leave()
	testenv.Next[msnclient.Joined](t, ctx, asb.Events())
	if err := asb.SendText(ctx, "across nodes"); err != nil {
		t.Fatal(err)
	}
	if m := testenv.Next[msnclient.Message](t, ctx, dsb.Events()); m.Text != "across nodes" {
		t.Fatalf("dave got %+v", m)
	}

	// GG on node 2 and node 1, IMIP on node 3: presence and messages
	// within and across protocols.
	bobGG := loginGGAt(t, ctx, nodes[1].gg, bob, gary, carol)
	bobIn := watchGG(bobGG)
	garyGG := loginGGAt(t, ctx, nodes[0].gg, gary, bob)
	carolIMIP := loginIMIPAt(t, ctx, nodes[2].imip, carol)
	bobIn.wait(t, "bob sees gary and carol online", 10*time.Second, func() bool {
		return bobIn.statuses[gary] == ggwire.StatusAvail && bobIn.statuses[carol] != 0 && bobIn.statuses[carol] != ggwire.StatusNotAvail
	})
	if err := carolIMIP.SendMessageAcked(ctx, strconv.Itoa(bob), "from IMIP on node 3"); err != nil {
		t.Fatal(err)
	}
	bobIn.wait(t, "bob gets carol's message", 10*time.Second, func() bool { return bobIn.texts["from IMIP on node 3"] == 1 })

	// MySpaceIM on node 1 and Office Communicator (SIP) on node 2: Sam
	// writes to Mia, Mia to Bob.
	miaMSIM, err := msimclient.Dial(ctx, nodes[0].msim, msimclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { miaMSIM.Close() })
	if _, err := miaMSIM.Login(ctx, "mia@example.com", "pw"); err != nil {
		t.Fatalf("msim login: %v", err)
	}
	samSIP, err := sipclient.Dial(ctx, nodes[1].sip, sipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { samSIP.Close() })
	if err := samSIP.SignIn(ctx, "sam@example.com", "pw"); err != nil {
		t.Fatalf("sip sign-in: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Mia's presence reaches Sam's node a moment after her login.
		if err := samSIP.SendMessage(ctx, "sip:mia@example.com", "from SIP on node 2"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("sip message to mia: %v", err)
		}
	}
	if m := testenv.Next[msimclient.Message](t, ctx, miaMSIM.Events()); m.From != sam || m.Text != "from SIP on node 2" {
		t.Fatalf("mia got %+v", m)
	}
	if err := miaMSIM.SendIM(ctx, bob, "from MySpaceIM on node 1"); err != nil {
		t.Fatal(err)
	}
	bobIn.wait(t, "bob gets mia's message", 10*time.Second, func() bool { return bobIn.texts["from MySpaceIM on node 1"] == 1 })

	// A GG drive file uploaded through node 2 and downloaded through node
	// 1: the nodes share no directory, the file lives on the bus.
	drives := map[uint32]*driveclient.Client{}
	for uin, at := range map[uint32]struct {
		c    *ggclient.Client
		node *clusterNode
	}{bob: {bobGG, nodes[1]}, gary: {garyGG, nodes[0]}} {
		token, err := at.c.IMToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if drives[uin], err = driveclient.SignIn(ctx, "http://"+at.node.http, uin, token, nil); err != nil {
			t.Fatalf("drive sign-in of %d: %v", uin, err)
		}
		t.Cleanup(drives[uin].CloseIdleConnections)
	}
	file := make([]byte, 300_000)
	rand.Read(file)
	offer, err := drives[bob].Offer(ctx, gary, "across.bin", int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if err := drives[gary].Answer(ctx, offer.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := drives[bob].Upload(ctx, offer, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	ticket, err := drives[gary].Ticket(ctx, offer.ID)
	if err != nil {
		t.Fatal(err)
	}
	var downloaded bytes.Buffer
	if _, err := drives[gary].Download(ctx, ticket, &downloaded); err != nil || sha256.Sum256(downloaded.Bytes()) != sha256.Sum256(file) {
		t.Fatalf("download through another node: %d bytes, %v", downloaded.Len(), err)
	}

	// Gary keeps writing to Bob while Carol's node is killed.
	var (
		sentMu sync.Mutex
		acked  []string
	)
	stop := make(chan struct{})
	flowing := make(chan struct{})
	go func() {
		defer close(flowing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			text := fmt.Sprintf("flow %d", i)
			if ack, err := garyGG.SendMessage(ctx, bob, text); err == nil && ack.Status == 0 {
				sentMu.Lock()
				acked = append(acked, text)
				sentMu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	nodes[2].kill(t)
	bobIn.wait(t, "bob sees carol offline after her node died", clusterNodeTimeout+5*time.Second, func() bool {
		return bobIn.statuses[carol] == ggwire.StatusNotAvail || bobIn.statuses[carol] == ggwire.StatusNotAvailDescr
	})
	t.Logf("carol seen offline %s after her node was killed (--node-timeout %s)", time.Since(killed).Round(10*time.Millisecond), clusterNodeTimeout)

	// She logs in again on another node.
	loginIMIPAt(t, ctx, nodes[0].imip, carol)
	bobIn.wait(t, "bob sees carol back", 10*time.Second, func() bool {
		return bobIn.statuses[carol] != ggwire.StatusNotAvail && bobIn.statuses[carol] != ggwire.StatusNotAvailDescr
	})
	close(stop)
	<-flowing
	sentMu.Lock()
	delivered := append([]string(nil), acked...)
	sentMu.Unlock()
	if len(delivered) == 0 {
		t.Fatal("no message flowed during the kill")
	}
	bobIn.wait(t, "bob has every message gary was told was delivered", 10*time.Second, func() bool {
		for _, text := range delivered {
			if bobIn.texts[text] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d messages acknowledged as delivered across the kill, all received", len(delivered))
	// The surviving nodes dropped nothing for want of room, and lost no
	// message (crosstalk_message_outcomes_total counts every one).
	for i, n := range nodes[:2] {
		full := n.metric(t, "crosstalk_events_refused_total", `cause="queue_full"`)
		lost := n.metric(t, "crosstalk_message_outcomes_total", `outcome="lost"`)
		refused := n.metric(t, "crosstalk_events_refused_total", "")
		t.Logf("node %d: %v events refused in all (none for a full queue: %v), %v messages lost", i+1, refused, full, lost)
		if full != 0 || lost != 0 {
			t.Errorf("node %d: %v events refused for a full queue, %v messages lost", i+1, full, lost)
		}
		if n.metric(t, "crosstalk_message_outcomes_total", `outcome="delivered"`) == 0 {
			t.Errorf("node %d counted no delivered message: its metrics were not read", i+1)
		}
	}

	// One NATS server dies: the service goes on.
	_ = natsServers[1].cmd.Process.Kill()
	_ = natsServers[1].cmd.Wait()
	var through string
	for i, deadline := 0, time.Now().Add(60*time.Second); ; i++ {
		text := fmt.Sprintf("after the NATS server died %d", i)
		if ack, err := garyGG.SendMessage(ctx, bob, text); err == nil && ack.Status == 0 {
			through = text
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message delivered after one NATS server died")
		}
		time.Sleep(500 * time.Millisecond)
	}
	bobIn.wait(t, "bob gets a message after the NATS server died", 10*time.Second, func() bool { return bobIn.texts[through] == 1 })
	if err := aliceMSN.SetStatus(ctx, msnclient.StatusBusy); err != nil {
		t.Fatal(err)
	}
	if err := asb.SendText(ctx, "still here"); err != nil {
		t.Fatal(err)
	}
	if m := testenv.Next[msnclient.Message](t, ctx, dsb.Events()); m.Text != "still here" {
		t.Fatalf("dave got %+v", m)
	}
}
