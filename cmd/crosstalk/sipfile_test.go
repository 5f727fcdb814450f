package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/hub"
)

// sip send-file and recv-file between two SIP users, encrypted and plain:
// the file arrives whole, and both say what they did.
func TestSIPSendAndRecvFile(t *testing.T) {
	n := startNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-alice")
	addAccount(t, n, 1002, "bob@example.com", "pw-bob")
	for _, pair := range [][2]uint32{{1001, 1002}, {1002, 1001}} {
		if _, err := n.Store.AddToList(context.Background(), pair[0], pair[1], hub.Forward, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "encrypted", true: "plain"}[plain], func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			recv := command((&sipRecvFileCmd{sipLogin: sipAs(n, "bob@example.com", "pw-bob"), Dir: dir, Plain: plain}).run).
				start(t, ctx, "waiting for a file")
			path, data := testFile(t, "report.pdf", 1<<20+3)
			sent := command((&sipSendFileCmd{sipLogin: sipAs(n, "alice@example.com", "pw-alice"), To: "bob@example.com", Plain: plain, File: path}).run).run(t, ctx)
			if sent.err != nil {
				t.Fatalf("send-file: %v\n%s", sent.err, sent.errOut)
			}
			if want := "sent report.pdf (1048579 bytes) to bob@example.com\n"; sent.out.String() != want {
				t.Errorf("sender said %q, want %q", sent.out, want)
			}
			if !strings.Contains(sent.errOut.String(), "1.0 MiB of 1.0 MiB in ") {
				t.Errorf("no progress line: %q", sent.errOut)
			}
			received := recv.wait()
			if received.err != nil {
				t.Fatalf("recv-file: %v\n%s", received.err, received.errOut)
			}
			if want := "received report.pdf (1048579 bytes) from sip:alice@example.com\n"; received.out.String() != want {
				t.Errorf("receiver said %q, want %q", received.out, want)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "report.pdf")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("saved file: %d bytes, %v", len(got), err)
			}
		})
	}
}

// A GG user who rejects the drive ticket of a SIP user's file: send-file
// says they declined it.
func TestSIPSendFileDeclined(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "sip@example.com", "pw-sip")
	addAccount(t, n, 2002, "gg@example.com", "pw-gg")
	if _, err := n.Store.AddToList(context.Background(), 1001, 2002, hub.Forward, 0, 100); err != nil {
		t.Fatal(err)
	}
	answerFirstTicket(t, ctx, n, 2002, "pw-gg", 1001, false)
	path, _ := testFile(t, "spam.exe", 1000)
	r := command((&sipSendFileCmd{sipLogin: sipAs(n, "sip@example.com", "pw-sip"), To: "gg@example.com", File: path}).run).run(t, ctx)
	if r.err == nil || r.err.Error() != "gg@example.com declined the file" {
		t.Fatalf("send-file: %v, want a decline", r.err)
	}
}
