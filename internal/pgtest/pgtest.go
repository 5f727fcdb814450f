// Package pgtest gives tests a PostgreSQL database of their own, on one
// server per test process started from Debian's packages (postgresql):
// initdb into a temporary directory, postgres on a loopback port and a unix
// socket in that directory. PostgreSQL refuses to run as root, so a test
// running as root runs it as the postgres user the package creates.
//
// Outside CI (CI is not "true") a test that asks for a database is skipped
// when the server's programs are missing; under CI it fails.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dirPrefix names the temporary directories of the servers this package
// starts, so that one left by a test process that died is found and removed.
const dirPrefix = "crosstalk-pgtest-"

const (
	// startTimeout bounds how long the server may take to accept
	// connections.
	startTimeout = 60 * time.Second
	// abandonedAge is how old a server directory must be before another
	// process takes it for abandoned when its lock is free.
	abandonedAge = time.Minute
)

var (
	once     sync.Once
	srv      *server
	startErr error
	skipWhy  string
	dbSeq    atomic.Int64
)

// server is one running postgres and an administrative connection to it.
type server struct {
	dir  string // holds data/, the socket and owner.lock
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when postgres has ended
	// owner is held locked for as long as this process lives; a directory
	// whose lock is free belongs to a process that is gone.
	owner *os.File

	mu    sync.Mutex // serializes admin, which is one connection
	admin *pgx.Conn
}

// URL returns the URL of a new, empty database, dropped when tb ends.
func URL(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { srv, startErr = start() })
	if skipWhy != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is needed under CI: %s", skipWhy)
		}
		tb.Skipf("skipping the PostgreSQL half: %s (apt-get install postgresql)", skipWhy)
	}
	if startErr != nil {
		tb.Fatalf("PostgreSQL test server: %v", startErr)
	}
	name := "test_" + strconv.FormatInt(dbSeq.Add(1), 10)
	if err := srv.exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.exec(`DROP DATABASE ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", srv.port, name)
}

func (s *server) exec(sql string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.admin.Exec(ctx, sql)
	return err
}

// Main runs a package's tests and then stops the server, if they started
// one: os.Exit(pgtest.Main(m).Run()), or goleak.VerifyTestMain(pgtest.Main(m)).
func Main(m *testing.M) interface{ Run() int } { return runner{m} }

type runner struct{ m *testing.M }

func (r runner) Run() int {
	code := r.m.Run()
	if srv != nil {
		srv.stop()
	}
	return code
}

// binaries finds initdb and postgres: Debian's newest installed version,
// else the PATH.
func binaries() (initdb, postgres string, err error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isFile(i) && isFile(p) {
			return i, p, nil
		}
	}
	if initdb, err = exec.LookPath("initdb"); err != nil {
		return "", "", err
	}
	if postgres, err = exec.LookPath("postgres"); err != nil {
		return "", "", err
	}
	return initdb, postgres, nil
}

// version is the major version in a path /usr/lib/postgresql/N/bin.
func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func start() (*server, error) {
	initdb, postgres, err := binaries()
	if err != nil {
		skipWhy = "no initdb and postgres in /usr/lib/postgresql/*/bin or on the PATH"
		return nil, nil
	}
	removeAbandoned()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	if s.owner, err = os.Create(filepath.Join(dir, "owner.lock")); err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(s.owner.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initCmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initCmd.Dir = dir // postgres programs fail in a working directory their user cannot read
	initCmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // postgres has its own copy
	s.cmd = exec.Command(postgres, "-D", data, "-p", strconv.Itoa(s.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		// A test server keeps nothing worth a crash: no waiting on the disk.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// The server goes when this process does, however it ends.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.done = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	for {
		if s.admin, err = pgx.Connect(ctx, url); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
			continue
		}
		out, _ := os.ReadFile(log.Name())
		s.stop()
		return nil, fmt.Errorf("postgres did not start: %v\n%s", err, out)
	}
}

// runAs is the user to run PostgreSQL as, owning dir: this one, or the
// postgres user when this one is root (which PostgreSQL refuses).
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user to run as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop ends the server at once and removes its directory.
func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close(context.Background())
	}
	if s.done != nil {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.done
	}
	os.RemoveAll(s.dir)
	s.owner.Close()
}

// removeAbandoned removes the directories of servers whose test process
// is gone (a kill, a timeout): their lock is free. Their postgres went
// with the process. A directory younger than abandonedAge may be one whose
// process has not locked it yet.
func removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < abandonedAge {
			continue
		}
		f, err := os.Open(filepath.Join(d, "owner.lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && !running(d) {
			os.RemoveAll(d)
		}
		f.Close()
	}
}

// running reports whether a postmaster still runs in the server directory
// d (its pid file's first line).
func running(d string) bool {
	b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid"))
	if err != nil {
		return false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(string(line))
	return err == nil && syscall.Kill(pid, 0) == nil
}
