package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/store"
)

// newKeyFile makes a key file with `crosstalk keys new` and returns its
// path and the key.
func newKeyFile(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	stdout, stderr, code := crosstalk(t, "keys", "new", path)
	if code != 0 {
		t.Fatalf("keys new: exit %d, %s", code, stderr)
	}
	key, err := store.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := store.KeyID(key)
	if want := "wrote key " + id + " to " + path + "\n"; stdout != want {
		t.Errorf("keys new said %q, want %q", stdout, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi.Mode(), err)
	}
	if _, stderr, code := crosstalk(t, "keys", "new", path); code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("keys new over a key: exit %d, %s", code, stderr)
	}
	return path, key
}

// The store's flags come from the command line, the environment and the
// config file; the keys themselves may come from the environment, but
// not from both it and a flag.
func TestStoreFlagSources(t *testing.T) {
	current, currentKey := newKeyFile(t)
	previous, previousKey := newKeyFile(t)
	config := writeConfig(t, `{"database": "postgres://db.example.net/crosstalk", "previous-secret-key-file": ["`+previous+`"]}`)
	t.Setenv("CROSSTALK_SECRET_KEY_FILE", current)
	c, _, err := parse(t, "--config", config, "serve")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := c.Serve.keys()
	if err != nil || c.Serve.Database != "postgres://db.example.net/crosstalk" ||
		!bytes.Equal(kc.Current, currentKey) || len(kc.Previous) != 1 || !bytes.Equal(kc.Previous[0], previousKey) || kc.Signing != nil {
		t.Fatalf("serve's store flags %+v: %v", c.Serve.storeFlags, err)
	}

	os.Unsetenv("CROSSTALK_SECRET_KEY_FILE") // t.Setenv above restores it
	t.Setenv(secretKeyEnv, base64.StdEncoding.EncodeToString(currentKey))
	t.Setenv(previousKeysEnv, base64.StdEncoding.EncodeToString(previousKey)+","+base64.StdEncoding.EncodeToString(currentKey))
	t.Setenv(signingKeyEnv, base64.StdEncoding.EncodeToString(previousKey))
	c, _, err = parse(t, "user", "list", "--database", "postgres://other/db")
	if err != nil {
		t.Fatal(err)
	}
	kc, err = c.User.List.keys()
	if err != nil || c.User.List.Database != "postgres://other/db" || !bytes.Equal(kc.Current, currentKey) ||
		len(kc.Previous) != 2 || !bytes.Equal(kc.Signing, previousKey) {
		t.Fatalf("keys from the environment: %+v, %v", kc, err)
	}

	for _, args := range [][]string{
		{"backup", "--out", "x", "--secret-key-file", current},
		{"keys", "rotate", "--previous-secret-key-file", previous + "," + current},
		{"serve", "--signing-key-file", current},
	} {
		c, kctx, err := parse(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		var f storeFlags
		switch kctx.Command() {
		case "backup":
			f = c.Backup.storeFlags
		case "keys rotate":
			f = c.Keys.Rotate.storeFlags
		case "serve":
			f = c.Serve.storeFlags
		}
		_, err = f.keys()
		if err == nil || !strings.Contains(err.Error(), "not both") {
			t.Errorf("%v with the key in the environment too: %v", args, err)
		}
		for _, secret := range [][]byte{currentKey, previousKey} {
			if err != nil && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(secret)) {
				t.Errorf("the error shows a key: %v", err)
			}
		}
	}
	t.Setenv(signingKeyEnv, "not a key")
	if _, err := (storeFlags{}).keys(); err == nil || !strings.Contains(err.Error(), signingKeyEnv) || strings.Contains(err.Error(), "not a key") {
		t.Errorf("a bad key in the environment: %v", err)
	}
}

// The account commands work on a PostgreSQL store with its key, refuse
// another key, and create nothing in a database without a store.
func TestUserCommandsOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	key, _ := newKeyFile(t)
	data := t.TempDir()
	on := func(args ...string) []string {
		return append(args, "--database", url, "--data", data, "--secret-key-file", key)
	}
	if _, stderr, code := crosstalk(t, on("user", "list")...); code == 0 || !strings.Contains(stderr, "holds no crosstalk store") {
		t.Fatalf("user list before any store: exit %d, %s", code, stderr)
	}
	if stdout, stderr, code := crosstalk(t, on("user", "add", "--email", "pg@example.com", "--password", "secret1")...); code != 0 || !strings.Contains(stdout, "created account 1001") {
		t.Fatalf("user add: exit %d, %s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := crosstalk(t, on("user", "list")...); code != 0 || !strings.Contains(stdout, "pg@example.com") {
		t.Fatalf("user list: exit %d, %s%s", code, stdout, stderr)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("with its key given, the store wrote into --data: %v", entries)
	}
	other, _ := newKeyFile(t)
	_, stderr, code := crosstalk(t, "user", "passwd", "1001", "--password", "secret2", "--database", url, "--data", data, "--secret-key-file", other)
	if code == 0 || !strings.Contains(stderr, "not the database's") {
		t.Fatalf("user passwd with another key: exit %d, %s", code, stderr)
	}
}

// The password key is rotated while a node serves with the new key as its
// current one and the old as previous: logins go on throughout, and
// afterwards a node with the new key alone lets everyone in. A node that
// lacks the key a password was sealed with refuses that login, keeps
// serving, and says which key it lacks; no log line shows a key.
func TestKeyRotationWhileServing(t *testing.T) {
	ctx := testContext(t)
	url := pgtest.URL(t)
	oldFile, oldKey := newKeyFile(t)
	newFile, newKey := newKeyFile(t)
	st, err := store.Open(ctx, store.Config{Database: url, Keys: store.KeyConfig{Current: oldKey}})
	if err != nil {
		t.Fatal(err)
	}
	const accounts = 12
	for i := range accounts {
		if _, err := st.CreateAccount(ctx, hub.Account{Number: uint32(1001 + i), Email: fmt.Sprintf("u%d@example.com", i)}, "password"); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	serving := startNode(t, func(o *node.Options) {
		o.Database, o.Logger = url, logger
		o.Keys = store.KeyConfig{Current: newKey, Previous: [][]byte{oldKey}}
	})
	login := func(n *node.Node, i int) error {
		c, err := msnclient.Dial(ctx, n.MSNPAddr, msnclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Login(ctx, fmt.Sprintf("u%d@example.com", i), "password")
	}
	var (
		logins, failed atomic.Int64
		stop           = make(chan struct{})
		done           = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := login(serving, i%accounts); err != nil {
				failed.Add(1)
				t.Errorf("login during the rotation: %v", err)
			}
			logins.Add(1)
		}
	}()
	for logins.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	rotate := exec.CommandContext(ctx, os.Args[0], "keys", "rotate", "--database", url, "--data", t.TempDir(),
		"--secret-key-file", newFile, "--previous-secret-key-file", oldFile, "--batch", "5")
	rotate.Env = mainEnv()
	out, err := rotate.CombinedOutput()
	newID, _ := store.KeyID(newKey)
	if want := fmt.Sprintf("sealed %d passwords with key %s; 0 were sealed with it already\n", accounts, newID); err != nil || string(out) != want {
		t.Fatalf("keys rotate: %v, %q, want %q", err, out, want)
	}
	before := logins.Load()
	for logins.Load() < before+3 {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	t.Logf("%d logins while the key rotated, %d failed", logins.Load(), failed.Load())

	fresh := startNode(t, func(o *node.Options) {
		o.Database, o.Logger = url, logger
		o.Keys = store.KeyConfig{Current: newKey}
	})
	for i := range accounts {
		if err := login(fresh, i); err != nil {
			t.Errorf("account %d on a node with the new key alone: %v", 1001+i, err)
		}
	}

	stale := startNode(t, func(o *node.Options) {
		o.Database, o.Logger = url, logger
		o.Keys = store.KeyConfig{Current: oldKey}
	})
	if err := login(stale, 0); err == nil {
		t.Fatal("a node without the new key let a user in")
	}
	if err := login(fresh, 0); err != nil {
		t.Errorf("the other node after the refused login: %v", err)
	}
	if _, err := stale.Store.Account(ctx, 1001); err != nil {
		t.Errorf("the refusing node stopped serving: %v", err)
	}
	logMu.Lock()
	text := logs.String()
	logMu.Unlock()
	if !strings.Contains(text, "sealed with key "+newID) {
		t.Errorf("no log line names the missing key %s:\n%s", newID, text)
	}
	for _, key := range [][]byte{oldKey, newKey} {
		for _, form := range []string{base64.StdEncoding.EncodeToString(key), hex.EncodeToString(key), string(key)} {
			if strings.Contains(text, form) {
				t.Fatalf("a log line shows a key")
			}
		}
	}
	if strings.Contains(text, "password\"") || strings.Contains(text, "=password ") {
		t.Errorf("a log line shows a password:\n%s", text)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serve on PostgreSQL with its keys from the environment and a password in
// the database URL logs neither, even at the trace level.
func TestServeLogsNoSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := strings.Replace(pgtest.URL(t), "postgres@", "postgres:db-password-7781@", 1) // the test server trusts loopback
	key, signing := store.NewKey(), store.NewKey()
	cmd := serveCommand(ctx, t.TempDir())
	cmd.Args = append(cmd.Args, "--database", url)
	cmd.Args = append(cmd.Args[:1], append([]string{"--log-level", "trace"}, cmd.Args[1:]...)...)
	cmd.Env = append(cmd.Env, secretKeyEnv+"="+base64.StdEncoding.EncodeToString(key), signingKeyEnv+"="+base64.StdEncoding.EncodeToString(signing))
	p := startServeCmd(t, ctx, cmd)
	p.stop(t)
	out := p.log.String()
	if !strings.Contains(out, "database=postgresql") {
		t.Errorf("the log does not say which database:\n%s", out)
	}
	for _, secret := range []string{"db-password-7781", base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(signing)} {
		if strings.Contains(out, secret) {
			t.Errorf("serve logged a secret:\n%s", out)
		}
	}
}
