package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// serveProcess is `crosstalk serve` in a process of its own, on loopback
// ports, with its error output (the log) in log.
type serveProcess struct {
	cmd *exec.Cmd
	log testenv.LogBuffer
}

func serveCommand(ctx context.Context, data string) *exec.Cmd {
	const any = "127.0.0.1:0"
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--data", data,
		"--msnp-addr", any, "--sb-addr", any, "--ftp-addr", any, "--gg-addr", any, "--imip-addr", any, "--sip-addr", any, "--http-addr", any)
	cmd.Env = mainEnv()
	return cmd
}

// startServe starts serve and waits until it serves. It is stopped with
// the test, if not before.
func startServe(t *testing.T, ctx context.Context, data string) *serveProcess {
	t.Helper()
	return startServeCmd(t, ctx, serveCommand(ctx, data))
}

// startServeCmd is startServe with a serve command of the test's making.
func startServeCmd(t *testing.T, ctx context.Context, cmd *exec.Cmd) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: cmd}
	p.cmd.Stderr = &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(t) })
	for !strings.Contains(p.log.String(), "msg=serving") {
		select {
		case <-ctx.Done():
			t.Fatalf("serve did not start:\n%s", p.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return p
}

// stop ends the server as SIGTERM does; later calls do nothing.
func (p *serveProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("serve: %v\n%s", err, p.log.String())
	}
}

// A second serve on the data directory of a running one exits at once,
// saying which directory, why, and the pid holding it; account commands
// keep working beside the server; once it stops, serve starts there again.
func TestServeHoldsDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := filepath.Join(t.TempDir(), "data")
	first := startServe(t, ctx, data)

	second := serveCommand(ctx, data)
	out, err := second.CombinedOutput()
	if code := second.ProcessState.ExitCode(); code != 1 || err == nil {
		t.Fatalf("second serve: exit %d, %v:\n%s", code, err, out)
	}
	pid := strconv.Itoa(first.cmd.Process.Pid)
	want := "crosstalk: data directory " + data + " is in use: another crosstalk process (pid " + pid + ") serves it"
	if !strings.Contains(string(out), want) {
		t.Errorf("second serve said:\n%s\nwant it to say %q", out, want)
	}

	if stdout, stderr, code := crosstalk(t, "user", "add", "--data", data, "--email", "a@example.com", "--password", "secret-a"); code != 0 {
		t.Fatalf("user add beside the server: exit %d, %s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := crosstalk(t, "user", "list", "--data", data); code != 0 || !strings.Contains(stdout, "a@example.com") {
		t.Fatalf("user list beside the server: exit %d, %s%s", code, stdout, stderr)
	}

	first.stop(t)
	startServe(t, ctx, data).stop(t)
}
