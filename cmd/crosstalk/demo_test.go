package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
)

// After serve --demo, a new user is told each client's settings with the
// server's real ports, and bot commands that work when pasted: the send
// commands reach the demo account listening on the other protocol.
func TestDemoNextSteps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	certs := testenv.TLSCertificates(t)
	n := startNode(t, func(o *node.Options) {
		o.DataDir = dir
		o.SIPTLSAddr, o.SIPTLSCert, o.SIPTLSKey = "127.0.0.1:0", certs.Cert, certs.Key
	})
	demos, err := createDemoAccounts(ctx, n.Store)
	if err != nil || len(demos) != 2 {
		t.Fatalf("demo accounts %+v: %v", demos, err)
	}
	alice, bob := demos[0], demos[1]
	var out bytes.Buffer
	printNextSteps(&out, n, demos)
	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("%s  number %d  password %s", alice.Email, alice.Number, alice.password),
		fmt.Sprintf("%s    number %d  password %s", bob.Email, bob.Number, bob.password),
		"MSN Messenger, aMSN, Pidgin (MSN):  server 127.0.0.1, port " + port(n.MSNPAddr),
		"Gadu-Gadu (Pidgin: GG server):      server 127.0.0.1, port " + port(n.GGAddr),
		"MySpaceIM (Pidgin: server, port):   server 127.0.0.1, port " + port(n.MSNPAddr),
		"IMIP:                               server 127.0.0.1, port " + port(n.IMIPAddr),
		"Office Communicator (Pidgin: TCP):  server 127.0.0.1, port " + port(n.SIPAddr) + "; log in with the e-mail address",
		"Office Communicator (Pidgin: TLS):  server 127.0.0.1, port " + port(n.SIPTLSAddr) + "; log in with the e-mail address",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}

	var commands [][]string
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "  crosstalk "); ok {
			commands = append(commands, shellWords(t, rest))
		}
	}
	if len(commands) != 4 {
		t.Fatalf("%d bot commands in:\n%s", len(commands), text)
	}
	// In order: bob listens on GG (a client logged in with the listen
	// command's flags stands in for it), alice sends from MSN; then alice
	// listens on MSN and bob sends from GG.
	var gg *ggclient.Client
	var msn *client.Client
	order := []string{"gg listen", "msn send <text>", "msn listen", "gg send <text>"}
	for i, args := range commands {
		c, kctx, err := parse(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if kctx.Command() != order[i] {
			t.Fatalf("command %d is %q, want %q", i+1, kctx.Command(), order[i])
		}
		switch kctx.Command() {
		case "gg listen":
			l := c.Gg.Listen
			if gg, err = ggclient.Dial(ctx, l.Server, ggclient.Options{}); err != nil {
				t.Fatal(err)
			}
			defer gg.Close()
			if err := gg.Login(ctx, l.Number, l.Password, ggwire.StatusAvail, ""); err != nil {
				t.Fatalf("gg listen as %+v: %v", l, err)
			}
		case "msn listen":
			gg.Close() // its listener is stopped first
			l := c.Msn.Listen
			if msn, err = client.Dial(ctx, l.Server, client.Options{}); err != nil {
				t.Fatal(err)
			}
			defer msn.Close()
			if err := msn.Login(ctx, l.Login, l.Password); err != nil {
				t.Fatalf("msn listen as %+v: %v", l, err)
			}
			if _, err := msn.Sync(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if err := msn.SetStatus(ctx, client.StatusOnline); err != nil {
				t.Fatal(err)
			}
		case "msn send <text>":
			if err := kctx.Run(slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if m := nextGGMessage(t, ctx, gg); m.From != alice.Number || m.Text != "hello from MSN" {
				t.Errorf("bob got %+v", m)
			}
		case "gg send <text>":
			if err := kctx.Run(slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if m := nextMSNMessage(t, ctx, msn); m.From != bob.Email || m.Text != "hello from GG" {
				t.Errorf("alice got %+v", m)
			}
		}
	}

	// Once the accounts exist, their passwords are not known any more.
	demos, err = createDemoAccounts(ctx, n.Store)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printNextSteps(&out, n, demos)
	if text := out.String(); strings.Contains(text, alice.password) || !strings.Contains(text, "existed already") ||
		!strings.Contains(text, "--number 1002 --password PASSWORD") {
		t.Errorf("second run:\n%s", text)
	}
}

func port(addr string) string {
	_, p := dialAddr(addr)
	return p
}

// shellWords splits a command line as a shell would the ones
// printNextSteps writes: words, and double-quoted text.
func shellWords(t *testing.T, line string) []string {
	var words []string
	for i, part := range strings.Split(strings.TrimSpace(line), `"`) {
		if i%2 == 1 {
			words = append(words, part)
		} else {
			words = append(words, strings.Fields(part)...)
		}
	}
	if strings.Count(line, `"`)%2 != 0 {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	return words
}

func nextGGMessage(t *testing.T, ctx context.Context, c *ggclient.Client) ggclient.Message {
	t.Helper()
	for {
		select {
		case ev := <-c.Events():
			if m, ok := ev.(ggclient.Message); ok {
				return m
			}
		case <-ctx.Done():
			t.Fatal("no GG message")
		}
	}
}

// nextMSNMessage answers the next call and returns its first text.
func nextMSNMessage(t *testing.T, ctx context.Context, c *client.Client) client.Message {
	t.Helper()
	for {
		select {
		case ev := <-c.Events():
			r, ok := ev.(client.Ring)
			if !ok {
				continue
			}
			sb, err := c.Answer(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			for {
				select {
				case ev := <-sb.Events():
					if m, ok := ev.(client.Message); ok && m.ContentType == "text/plain" {
						return m
					}
				case <-ctx.Done():
					t.Fatal("no MSN message")
				}
			}
		case <-ctx.Done():
			t.Fatal("no call on MSN")
		}
	}
}

// serve --demo, run as a user runs it, prints the next steps with the
// ports it listens on, and says the bus it starts listens nowhere.
func TestServeDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const any = "127.0.0.1:0"
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--demo", "--data", filepath.Join(t.TempDir(), "data"),
		"--msnp-addr", any, "--sb-addr", any, "--ftp-addr", any, "--gg-addr", any, "--imip-addr", any, "--sip-addr", any, "--http-addr", any)
	cmd.Env = mainEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "  crosstalk gg send ") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	out, log := printed.String(), stderr.String()
	if !strings.Contains(out, "Office Communicator (Pidgin: TCP):  server 127.0.0.1, port ") || !strings.Contains(out, "  crosstalk msn send --server 127.0.0.1:") ||
		strings.Contains(out, "port 0;") || strings.Contains(out, ":0 ") {
		t.Errorf("printed:\n%s", out)
	}
	if !strings.Contains(log, "embedded NATS, in-process, no network listener") || strings.Contains(log, "nats://") {
		t.Errorf("log:\n%s", log)
	}
}
