package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/crosstalk-im/crosstalk/node"
)

// msn send-file and recv-file with --protocol MSNP11 move the file over
// MSNSLP in the switchboard, not MSNFTP: no connection but the
// switchboard's, so neither side needs to take one.
func TestMSNSendFileP2P(t *testing.T) {
	ctx := testContext(t)
	n, ca := startTLSNode(t, func(o *node.Options) {
		o.FTPAddr = "" // no MSNFTP relay to fall back on
	})
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	as := func(email, password string) msnLogin {
		l := msnAs(n, email, password)
		l.Protocol, l.CaCert, l.HttpsAt = "MSNP11", ca, n.HTTPSAddr
		return l
	}
	dir := t.TempDir()
	recv := command((&msnRecvFileCmd{msnLogin: as("bob@example.com", "pw-b"), Dir: dir, NoIncoming: true}).run).
		start(t, ctx, "waiting for a file")
	path, want := testFile(t, "song.mp3", 200<<10+3)
	sent := msnSendFile(as("alice@example.com", "pw-a"), "bob@example.com", path, true).run(t, ctx)
	if sent.err != nil || sent.out.String() != "sent song.mp3 (204803 bytes) to bob@example.com\n" {
		t.Fatalf("send-file: %q, %v\n%s", sent.out, sent.err, sent.errOut)
	}
	received := recv.wait()
	if received.err != nil || received.out.String() != "received song.mp3 (204803 bytes) from alice@example.com\n" {
		t.Fatalf("recv-file: %q, %v\n%s", received.out, received.err, received.errOut)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "song.mp3")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("saved file: %d bytes, %v", len(got), err)
	}
	if r := n.MSNP.RelayedFiles(); r != 0 {
		t.Fatalf("the MSNFTP relay carried %d files", r)
	}
}
