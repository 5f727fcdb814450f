package node

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
)

// relayFile is the file both relay benchmarks move.
const relayFile = 8 << 20

// unlimitedMSNP lifts the command rate limit: each file takes an
// invitation, and the benchmarks offer files faster than a client may send
// commands for long.
var unlimitedMSNP = msnpserver.Config{CommandsPerSecond: 1e9, CommandBurst: 1 << 30}

// BenchmarkRelay measures a file's whole way through the server: an MSN
// client sends it over MSNFTP, the server stores it in the drive for a
// MySpaceIM contact, and the contact downloads it over HTTP. Compare its
// MB/s with BenchmarkLoopbackCopy, the same bytes over one plain loopback
// connection, and with BenchmarkDurableWrite, the same bytes written to
// disk and synced.
func BenchmarkRelay(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := benchNode(ctx, b, Options{MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		GGAddr: Off, IMIPAddr: Off, MSNP: unlimitedMSNP},
		accountOf(1001, "msn@example.com", "Em"), accountOf(1003, "my@example.com", "Emma"))
	mc := login(b, ctx, n.MSNPAddr, "msn@example.com", "pw")
	go drain(mc.Events())
	sc, err := msimclient.Dial(ctx, n.MSIMAddr, msimclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Login(ctx, "my@example.com", "pw"); err != nil {
		b.Fatal(err)
	}
	links := make(chan string, 1)
	go func() {
		for ev := range sc.Events() {
			if m, ok := ev.(msimclient.Message); ok {
				if i := strings.Index(m.Text, "http://"); i >= 0 {
					links <- m.Text[i:]
				}
			}
		}
	}()
	sb := call(ctx, b, mc, "my@example.com")
	if _, ok := waitFor[client.Joined](ctx, sb.Events()); !ok {
		b.Fatal("no JOI")
	}
	data := bytes.Repeat([]byte("relay benchmark "), relayFile/16)
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	b.SetBytes(relayFile)
	b.ResetTimer()
	for b.Loop() {
		if err := filetransfer.Send(ctx, sb, "my@example.com", "bench.bin", relayFile, bytes.NewReader(data), filetransfer.Options{}); err != nil {
			b.Fatal(err)
		}
		var link string
		select {
		case link = <-links:
		case <-ctx.Done():
			b.Fatal("no link")
		}
		resp, err := hc.Get(link)
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || got != relayFile {
			b.Fatalf("downloaded %d bytes: %v", got, err)
		}
	}
}

// BenchmarkRelayMSN measures a file's way between two MSN clients that
// cannot take connections, so that the server's MSNFTP relay carries it:
// MSNFTP from the sender to the relay, and from the relay to the receiver.
// Compare its MB/s with BenchmarkLoopbackCopy.
func BenchmarkRelayMSN(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := benchNode(ctx, b, Options{MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", FTPAddr: "127.0.0.1:0",
		GGAddr: Off, IMIPAddr: Off, MSIMAddr: Off, HTTPAddr: Off, MSNP: unlimitedMSNP},
		accountOf(1001, "alice@example.com", "Alice"), accountOf(1002, "bob@example.com", "Bob"))
	alice := login(b, ctx, n.MSNPAddr, "alice@example.com", "pw")
	go drain(alice.Events())
	bob := login(b, ctx, n.MSNPAddr, "bob@example.com", "pw")
	asb := call(ctx, b, alice, "bob@example.com")
	ring, ok := waitFor[client.Ring](ctx, bob.Events())
	if !ok {
		b.Fatal("no ring")
	}
	go drain(bob.Events())
	bsb, err := bob.Answer(ctx, ring)
	if err != nil {
		b.Fatal(err)
	}
	defer bsb.Close()
	if _, ok := waitFor[client.Joined](ctx, asb.Events()); !ok {
		b.Fatal("no JOI")
	}
	data := bytes.Repeat([]byte("relay benchmark "), relayFile/16)
	behindNAT := filetransfer.Options{NoIncoming: true}
	b.SetBytes(relayFile)
	b.ResetTimer()
	for b.Loop() {
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.Send(ctx, asb, "bob@example.com", "bench.bin", relayFile, bytes.NewReader(data), behindNAT)
		}()
		from, offer, err := filetransfer.NextOffer(ctx, bsb)
		if err != nil {
			b.Fatal(err)
		}
		got, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, io.Discard, behindNAT)
		if err != nil || got != relayFile {
			b.Fatalf("received %d bytes: %v", got, err)
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if r := n.MSNP.RelayedFiles(); r != int64(b.N) {
		b.Fatalf("the relay carried %d of %d files", r, b.N)
	}
}

// call opens a chat from c and invites email into it; it closes when the
// test or benchmark ends.
func call(ctx context.Context, tb testing.TB, c *client.Client, email string) *client.Switchboard {
	tb.Helper()
	sb, err := c.StartChat(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sb.Close() })
	if _, err := sb.Call(ctx, email); err != nil {
		tb.Fatal(err)
	}
	return sb
}

// BenchmarkLoopbackCopy is the baseline for BenchmarkRelay: the same bytes
// over one loopback TCP connection.
func BenchmarkLoopbackCopy(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := bytes.Repeat([]byte("relay benchmark "), relayFile/16)
	b.SetBytes(relayFile)
	for b.Loop() {
		done := make(chan int64, 1)
		go func() {
			nc, err := l.Accept()
			if err != nil {
				done <- -1
				return
			}
			defer nc.Close()
			k, _ := io.Copy(io.Discard, nc)
			done <- k
		}()
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(data); err != nil {
			b.Fatal(err)
		}
		nc.Close()
		if k := <-done; k != relayFile {
			b.Fatalf("copied %d bytes", k)
		}
	}
}

// BenchmarkDurableWrite writes BenchmarkRelay's file into a file of the
// same file system and syncs it, as the drive does before it offers a
// file: where the disk syncs slower than loopback copies, this, not the
// protocols, bounds BenchmarkRelay. Compare the two MB/s.
func BenchmarkDurableWrite(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("relay benchmark "), relayFile/16)
	b.SetBytes(relayFile)
	for b.Loop() {
		f, err := os.CreateTemp(dir, "blob")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		os.Remove(f.Name())
	}
}
