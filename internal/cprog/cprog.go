// Package cprog runs small C programs built against Debian's client
// libraries (libgadu, libpurple and its plugins) for the interop tests:
// it builds them, starts them, and talks to them over stdin and stdout,
// one command or event per line.
package cprog

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// Require skips the test when the C toolchain or a pkg-config package is
// missing, except in CI (CI=true), where the interop tests must run. hint
// says how to install what is missing.
func Require(t testing.TB, hint string, pkgs ...string) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"cc", "pkg-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		for _, p := range pkgs {
			if exec.Command("pkg-config", "--exists", p).Run() != nil {
				missing = append(missing, "pkg-config package "+p)
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s (%s)", strings.Join(missing, ", "), hint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires the interop tests to run")
	}
	t.Skip(msg + "; set CI=true to make this a failure")
}

// purple is the libpurple harness core the clients built with BuildPurple
// share (see purple/harness.h).
//
//go:embed purple/harness.c purple/harness.h
var purple embed.FS

// BuildPurple compiles a libpurple client: src with the shared harness
// core (purple/harness.c, included as "harness.h") against libpurple and
// pkgs.
func BuildPurple(t testing.TB, src string, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"harness.c", "harness.h"} {
		b, err := purple.ReadFile("purple/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return build(t, src, strings.TrimSuffix(filepath.Base(src), ".c"),
		[]string{"-I" + dir, filepath.Join(dir, "harness.c")}, append([]string{"purple"}, pkgs...))
}

// Build compiles the C file src against pkg-config packages into the
// test's temporary directory and returns the program's path.
func Build(t testing.TB, src string, pkgs ...string) string {
	t.Helper()
	return build(t, src, strings.TrimSuffix(filepath.Base(src), ".c"), nil, pkgs)
}

// BuildPreload compiles src into a shared library for LD_PRELOAD and
// returns its path.
func BuildPreload(t testing.TB, src string, pkgs ...string) string {
	t.Helper()
	return build(t, src, strings.TrimSuffix(filepath.Base(src), ".c")+".so", []string{"-shared", "-fPIC", "-ldl"}, pkgs)
}

func build(t testing.TB, src, name string, extra, pkgs []string) string {
	t.Helper()
	flags, err := exec.Command("pkg-config", append([]string{"--cflags", "--libs"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("pkg-config %v: %v", pkgs, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	// Sources before the libraries, or the linker drops what they need.
	args := append(append([]string{"-Wall", "-O1", "-o", bin, src}, extra...), strings.Fields(string(flags))...)
	out, err := exec.Command("cc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if len(out) > 0 {
		t.Logf("cc %s:\n%s", src, out)
	}
	return bin
}

// Proc is a client program the test talks to: commands on its stdin, one
// line per event on its stdout.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr testenv.LogBuffer
	exited chan struct{} // closed after the program ended and was waited for

	mu      sync.Mutex
	pending []string // output lines no Expect has taken yet
	all     []string // the whole transcript, for failure reports
	more    chan struct{}
	waitErr error
}

// Start runs a client program. It is killed when the test ends, and its
// transcript and stderr are logged if the test failed (or always, with
// INTEROP_TRANSCRIPTS=1).
func Start(t testing.TB, name, path string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, exited: make(chan struct{}), more: make(chan struct{}, 1)}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 2 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stdout, start)
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() || os.Getenv("INTEROP_TRANSCRIPTS") != "" {
			p.mu.Lock()
			t.Logf("%s transcript:\n%s\n(exit: %v)", name, strings.Join(p.all, "\n"), p.waitErr)
			p.mu.Unlock()
			t.Logf("%s stderr (tail):\n%s", name, tail(p.stderr.String(), 2000))
		}
	})
	return p
}

func (p *Proc) read(stdout io.Reader, start time.Time) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.pending = append(p.pending, line)
		p.all = append(p.all, fmt.Sprintf("%6.3fs %s", time.Since(start).Seconds(), line))
		p.mu.Unlock()
		p.wake()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.mu.Unlock()
	close(p.exited)
	p.wake()
}

func (p *Proc) wake() {
	select {
	case p.more <- struct{}{}:
	default:
	}
}

// Stderr is what the program wrote to stderr so far (its libraries' debug
// output).
func (p *Proc) Stderr() string { return p.stderr.String() }

// Expect waits for an output line matching pattern (a whole-line regular
// expression) and returns its submatches. Lines are taken in order, but
// lines that do not match stay for later calls: events that race each
// other may come in either order.
func (p *Proc) Expect(ctx context.Context, pattern string) []string {
	p.t.Helper()
	m, err := p.expect(ctx, pattern)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return m
}

func (p *Proc) expect(ctx context.Context, pattern string) ([]string, error) {
	re := regexp.MustCompile("^(?:" + pattern + ")$")
	for {
		// Checked before the scan: once the program has exited, every line
		// it printed is already pending, so a failed scan is final.
		var ended bool
		select {
		case <-p.exited:
			ended = true
		default:
		}
		p.mu.Lock()
		for i, line := range p.pending {
			if m := re.FindStringSubmatch(line); m != nil {
				p.pending = append(p.pending[:i], p.pending[i+1:]...)
				p.mu.Unlock()
				return m, nil
			}
		}
		waitErr := p.waitErr
		p.mu.Unlock()
		if ended {
			return nil, fmt.Errorf("exited (%v) without printing %q", waitErr, pattern)
		}
		select {
		case <-p.more:
		case <-p.exited:
		case <-ctx.Done():
			return nil, fmt.Errorf("no %q: %v", pattern, ctx.Err())
		}
	}
}

// Do sends a command line and waits for the program to take it ("OK
// <verb>").
func (p *Proc) Do(ctx context.Context, command string) {
	p.t.Helper()
	p.Send(command)
	verb, _, _ := strings.Cut(command, " ")
	p.Expect(ctx, "OK "+regexp.QuoteMeta(verb))
}

// Send writes a command line without waiting.
func (p *Proc) Send(command string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, command+"\n"); err != nil {
		p.t.Fatalf("%s: writing %q: %v", p.name, command, err)
	}
}

// Wait waits for the program to end and returns its exit error.
func (p *Proc) Wait(ctx context.Context) error {
	p.t.Helper()
	select {
	case <-p.exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.waitErr
	case <-ctx.Done():
		p.t.Fatalf("%s did not exit: %v", p.name, ctx.Err())
		return nil
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("[%d lines before]", len(l)-lines)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
