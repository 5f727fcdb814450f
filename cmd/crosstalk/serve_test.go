package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// A listener that cannot open names the flag that sets its address.
func TestListenErrorNamesFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, flag := range []string{"--gg-addr", "--sip-addr", "--http-addr"} {
		args := map[string]string{"--msnp-addr": "127.0.0.1:0", "--sb-addr": "127.0.0.1:0", "--ftp-addr": "off",
			"--gg-addr": "127.0.0.1:0", "--imip-addr": "127.0.0.1:0", "--sip-addr": "127.0.0.1:0", "--http-addr": "127.0.0.1:0"}
		args[flag] = taken.Addr().String()
		cmdline := []string{"serve", "--data", t.TempDir()}
		for f, v := range args {
			cmdline = append(cmdline, f, v)
		}
		var c cli
		parser, err := newParser(&c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(cmdline); err != nil {
			t.Fatal(err)
		}
		err = c.Serve.Run(slog.New(slog.DiscardHandler))
		if want := flag + " " + taken.Addr().String() + ": address already in use"; err == nil || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// TestDescriptorExhaustion runs the server as a process with few file
// descriptors and takes them all: /healthz, asked over a connection opened
// before, reports every listener failing; once the connections are gone,
// every listener serves again and /healthz says so.
func TestDescriptorExhaustion(t *testing.T) {
	const fdLimit = 64
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{}
	for i, name := range []string{"msnp", "msnp-sb", "gg", "imip", "http"} {
		addr[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
	}
	cmd := exec.Command("sh", "-c", `ulimit -n `+strconv.Itoa(fdLimit)+` && exec "$0" "$@"`, exe,
		"--log-level", "warn", "serve", "--data", t.TempDir(),
		"--msnp-addr", addr["msnp"], "--sb-addr", addr["msnp-sb"], "--ftp-addr", "off", "--gg-addr", addr["gg"],
		"--imip-addr", addr["imip"], "--sip-addr", "off", "--http-addr", addr["http"],
		// Only the descriptor limit is to bite here, and no timeout.
		"--max-conns-per-addr=-1", "--max-prelogin-per-addr=-1", "--http-max-conns-per-addr=-1",
		"--gg-login-timeout", "5m", "--msnp-handshake-timeout", "5m")
	cmd.Env = mainEnv()
	var stderr testenv.LogBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("server: %v\n%s", err, stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; server log:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var held *healthConn
	waitFor("the server to start", func() bool {
		held = dialHealth(t, addr["http"])
		return held != nil
	})
	if code, h := held.get(t); code != http.StatusOK {
		t.Fatalf("healthz at start: %d %+v", code, h)
	}

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 3 * fdLimit {
		c, err := net.DialTimeout("tcp", addr["gg"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
	}
	// One more waits in each other listener's queue, so that each tries
	// to accept.
	for _, name := range []string{"msnp", "msnp-sb", "imip", "http"} {
		c, err := net.DialTimeout("tcp", addr[name], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
	}
	waitFor("every listener to fail", func() bool {
		code, h := held.get(t)
		failing := 0
		for _, st := range h.Listeners {
			if st.State == "failing" && st.Cause == "descriptors" {
				failing++
			}
		}
		return code == http.StatusServiceUnavailable && failing == len(addr)
	})
	if !strings.Contains(stderr.String(), "accept failed; retrying") {
		t.Fatalf("no warning logged:\n%s", stderr.String())
	}

	for _, c := range flood {
		c.Close()
	}
	flood = nil
	for name, p := range map[string]struct{ say, hear string }{
		"msnp":    {"VER 1 MSNP7 CVR0\r\n", "VER 1 MSNP7 CVR0\r\n"},
		"msnp-sb": {"CAL 1 someone@example.com\r\n", "302 1\r\n"},
		"gg":      {"", "\x01\x00\x00\x00"},
		"imip":    {"HELO\r\n32\r\nID: 1001\r\nProtocol: IMIP/1.0\r\n\r\n", "HELO\r\n"},
	} {
		waitFor(name+" to serve again", func() bool { return exchange(addr[name], p.say, len(p.hear)) == p.hear })
	}
	waitFor("healthz to pass", func() bool {
		c := dialHealth(t, addr["http"])
		if c == nil {
			return false
		}
		defer c.Close()
		code, _ := c.get(t)
		return code == http.StatusOK
	})
}

// exchange says something on a new connection and returns the first n
// bytes of the answer.
func exchange(addr, say string, n int) string {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(nc, say); err != nil {
		return err.Error()
	}
	buf := make([]byte, n)
	n, _ = io.ReadFull(nc, buf)
	return string(buf[:n])
}

// healthConn asks /healthz over one kept-alive connection.
type healthConn struct {
	net.Conn
	br *bufio.Reader
}

type healthReport struct {
	Status    string
	Listeners map[string]struct{ State, Cause string }
}

func dialHealth(t *testing.T, addr string) *healthConn {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil
	}
	t.Cleanup(func() { nc.Close() })
	return &healthConn{Conn: nc, br: bufio.NewReader(nc)}
}

func (c *healthConn) get(t *testing.T) (int, healthReport) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthReport
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(fmt.Errorf("healthz %d: %w", resp.StatusCode, err))
	}
	return resp.StatusCode, h
}
