package main

import (
	"context"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/loginguard"
	"github.com/crosstalk-im/crosstalk/node"
)

func TestAttackGuessRefusesWhatItShouldNotDo(t *testing.T) {
	ok := attackGuessCmd{Protocol: "msn", Server: "localhost:1863", Account: "a@example.com",
		Attempts: 10, Duration: time.Minute, From: "127.0.0.1", Sources: 1, ProbeEvery: time.Second, ProbeFor: time.Minute}
	if err := ok.check(context.Background()); err != nil {
		t.Fatalf("a loopback run: %v", err)
	}
	for name, change := range map[string]func(*attackGuessCmd){
		"remote server":        func(c *attackGuessCmd) { c.Server = "192.0.2.1:1863" },
		"remote with sources":  func(c *attackGuessCmd) { c.Server, c.AllowRemote, c.Sources = "192.0.2.1:1863", true, 3 },
		"too many attempts":    func(c *attackGuessCmd) { c.Attempts = maxGuessAttempts + 1 },
		"too long":             func(c *attackGuessCmd) { c.Duration = 2 * time.Hour },
		"too many sources":     func(c *attackGuessCmd) { c.Sources = 255 },
		"sources past .255":    func(c *attackGuessCmd) { c.From, c.Sources = "127.0.0.250", 10 },
		"non-loopback sources": func(c *attackGuessCmd) { c.From = "192.0.2.7" },
		"endless probing":      func(c *attackGuessCmd) { c.ProbeFor = 2 * time.Hour },
	} {
		c := ok
		change(&c)
		if err := c.check(context.Background()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	remote := ok
	remote.Server, remote.AllowRemote = "192.0.2.1:1863", true
	if err := remote.check(context.Background()); err != nil {
		t.Fatalf("a remote run with --allow-remote: %v", err)
	}
	if src := remote.sourceAddresses(); len(src) != 1 || src[0] != nil {
		t.Fatalf("a remote run guesses from %v, want any address", src)
	}
}

// The guessing phase against a node counts what the server answered and,
// through its metrics, the guesses it checked before it locked.
func TestAttackGuessMeasuresALock(t *testing.T) {
	ctx := context.Background()
	n, err := node.Start(ctx, node.Options{
		DataDir: t.TempDir(), MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", GGAddr: node.Off, IMIPAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", MSIMAddr: node.Off, FTPAddr: node.Off,
		LoginGuard: loginguard.Config{Address: loginguard.Policy{Free: 2, LockAfter: 3, LockFor: time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = n.Shutdown(sctx)
	})
	if _, err := n.Store.CreateAccount(ctx, hub.Account{Number: 1001, Email: "a@example.com"}, "right"); err != nil {
		t.Fatal(err)
	}
	c := attackGuessCmd{Protocol: "imip", Server: n.IMIPAddr, Account: "1001", Attempts: 8, Duration: time.Minute,
		From: "127.0.3.1", Sources: 1, Metrics: "http://" + n.HTTPAddr + "/metrics", Timeout: 5 * time.Second}
	before, err := c.readMetrics(ctx, "imip")
	if err != nil {
		t.Fatal(err)
	}
	run := c.guess(ctx, "imip", c.sourceAddresses(), before)
	after, err := c.readMetrics(ctx, "imip")
	if err != nil {
		t.Fatal(err)
	}
	if run.attempts != 8 || run.refused != 8 || run.failed != 0 {
		t.Fatalf("run %+v, want 8 refused attempts", run)
	}
	if checked, held := after.checked-before.checked, after.held-before.held; checked != 3 || held != 5 {
		t.Fatalf("the server checked %d and held back %d of 8 guesses", checked, held)
	}
	if after.addressLocks-before.addressLocks != 1 || run.lockedAt == 0 || run.checkedBefore != 3 {
		t.Fatalf("lock not seen: %+v, locks %d → %d", run, before.addressLocks, after.addressLocks)
	}

	// --rate paces each source: never more than one attempt per 1/rate.
	c.Attempts, c.Duration, c.Rate = maxGuessAttempts, 300*time.Millisecond, 10
	if run := c.guess(ctx, "imip", c.sourceAddresses(), after); run.attempts > 4 {
		t.Fatalf("%d attempts in 300 ms at 10 a second", run.attempts)
	}
}
