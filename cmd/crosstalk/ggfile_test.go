package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without --drive the drive is looked for on the GG server's host, at the
// HTTP service's default port.
func TestDriveURL(t *testing.T) {
	for _, tc := range []struct{ drive, server, want, err string }{
		{"", "chat.example.net:8074", "http://chat.example.net:8080", ""},
		{"", "192.0.2.7:8074", "http://192.0.2.7:8080", ""},
		{"", "[2001:db8::1]:8074", "http://[2001:db8::1]:8080", ""},
		{"", ":8074", "http://localhost:8080", ""},
		{"https://files.example.net", "chat.example.net:8074", "https://files.example.net", ""},
		{"", "chat.example.net", "", `--server "chat.example.net" is not host:port`},
		{"files.example.net:8080", "chat.example.net:8074", "", `--drive "files.example.net:8080" is not an http:// or https:// URL`},
	} {
		got, err := driveURL(tc.drive, tc.server)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("driveURL(%q, %q) = %q, %v; want %q, %q", tc.drive, tc.server, got, err, tc.want, tc.err)
		}
	}
}

// gg send-file and gg recv-file move a file through the drive; what the
// drive says when it refuses, or when it cannot be reached, comes out in
// words.
func TestGGSendFile(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nil)
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "b@example.com", "pw-b")
	drive := ggDrive{Drive: "http://" + n.HTTPAddr}
	path, data := testFile(t, "photo.jpg", 1<<20+7)
	sendFile := func(d ggDrive) ran {
		return command((&ggSendFileCmd{ggLogin: ggAs(n, 1001, "pw-a"), ggDrive: d, To: 1002, File: path}).run).run(t, ctx)
	}

	// Nobody to receive it yet.
	if r := sendFile(drive); r.err == nil || r.err.Error() != "the GG drive refused: recipient is not logged in" || r.out.String() != "" {
		t.Errorf("to an offline contact: %q, %v", r.out, r.err)
	}
	// No drive where it is looked for.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	if r := sendFile(ggDrive{Drive: closed}); r.err == nil ||
		!strings.HasPrefix(r.err.Error(), "cannot reach the GG drive at "+closed+" (the server's --http-addr; say where with --drive): ") {
		t.Errorf("no drive: %v", r.err)
	}

	dir := t.TempDir()
	recv := command((&ggRecvFileCmd{ggLogin: ggAs(n, 1002, "pw-b"), ggDrive: drive, Dir: dir}).run).start(t, ctx, "waiting for a file as 1002")
	sent := sendFile(drive)
	if sent.err != nil || sent.out.String() != "sent photo.jpg (1048583 bytes) to 1002\n" {
		t.Fatalf("send-file: %q, %v\n%s", sent.out, sent.err, sent.errOut)
	}
	received := recv.wait()
	if received.err != nil || received.out.String() != "received photo.jpg (1048583 bytes) from 1001\n" {
		t.Fatalf("recv-file: %q, %v\n%s", received.out, received.err, received.errOut)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "photo.jpg")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("saved file: %d bytes, %v", len(got), err)
	}
	for _, r := range []ran{sent, received} {
		if e := r.errOut.String(); !strings.Contains(e, "1.0 MiB of 1.0 MiB in ") || strings.Contains(e, "\r") {
			t.Errorf("progress on a console that is not a terminal: %q", e)
		}
	}
}
