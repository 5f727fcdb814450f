package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An idle keep-alive connection is closed after the idle timeout.
func TestHTTPIdleConnectionClosed(t *testing.T) {
	n := startNodeWith(t, Options{DataDir: t.TempDir(), HTTP: HTTPLimits{IdleTimeout: 200 * time.Millisecond}})
	nc, err := net.DialTimeout("tcp", n.HTTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want the server to close it", err)
	}
}

// uploadTo offers a file of size bytes from a GG user to another, has it
// accepted, and returns a raw connection to the HTTP service with the
// headers of its upload sent, ready for the body.
func uploadTo(t *testing.T, ctx context.Context, n *Node, size int) net.Conn {
	t.Helper()
	sender, recipient := driveUsers(t, ctx, n)
	id, name := offerAccepted(t, ctx, sender, recipient, fmt.Sprintf(`{"send_ticket":{"recipient":"2002","file_name":"big.bin","file_size":"%d"}}`, size))

	base, _ := url.Parse(sender.base)
	var cookies []string
	for _, c := range sender.http.Jar.Cookies(base) {
		cookies = append(cookies, c.String())
	}
	nc, err := net.DialTimeout("tcp", n.HTTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_, err = fmt.Fprintf(nc, "PUT /me/file/outbox/%s%%2C%s HTTP/1.1\r\nHost: x\r\nX-gged-api-version: 6\r\nX-gged-security-token: %s\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n",
		id, url.PathEscape(name), sender.token, strings.Join(cookies, "; "), size)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// partFiles lists the drive's partial uploads in a node's data directory.
func partFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dataDir, "drive", "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// An upload that stops sending is cut after the stall timeout and its
// partial file removed.
func TestStalledUploadCut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	n := startNodeWith(t, Options{DataDir: dir, HTTP: HTTPLimits{StallTimeout: 300 * time.Millisecond}})
	nc := uploadTo(t, ctx, n, 1<<20)
	if _, err := nc.Write(make([]byte, 300<<10)); err != nil {
		t.Fatal(err)
	}
	for len(partFiles(t, dir)) == 0 {
		if ctx.Err() != nil {
			t.Fatal("no partial file while uploading")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Now stall: the server answers and hangs up, or just hangs up.
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the stalled upload was not cut")
	}
	if parts := partFiles(t, dir); len(parts) != 0 {
		t.Fatalf("partial files left: %v", parts)
	}
}

// An upload that keeps moving outlasts the stall timeout three times over.
// Chunks come at a fifth of the timeout: a loaded machine (CI runs the
// race detector beside other packages) once held a 500 ms timeout's
// reader back past it.
func TestSlowUploadCompletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stall, chunks = 1500 * time.Millisecond, 15
	n := startNodeWith(t, Options{DataDir: t.TempDir(), HTTP: HTTPLimits{StallTimeout: stall}})
	nc := uploadTo(t, ctx, n, chunks*1024)
	for range chunks {
		time.Sleep(stall / 5)
		if _, err := nc.Write(bytes.Repeat([]byte{'x'}, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slow upload: %d", resp.StatusCode)
	}
}

// downloadSize is larger than the socket buffers between the server and a
// client that reads nothing, so that the server has to wait for it.
const downloadSize = 12 << 20

// startDownload starts a node with the stall timeout given, stores a file
// in its drive for a download link, requests it over a connection with a
// small receive buffer and returns the answer with its body unread.
func startDownload(t *testing.T, stall time.Duration) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startNodeWith(t, Options{DataDir: t.TempDir(), HTTP: HTTPLimits{StallTimeout: stall}})
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pw")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pw")
	tk, err := n.Drive.Deposit(ctx, 1001, 1002, "big.bin", downloadSize, bytes.NewReader(make([]byte, downloadSize)))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", n.HTTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", n.Drive.LinkPath(tk)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(nc, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.ContentLength != downloadSize {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
	return resp
}

// A download the client stops reading is cut after the stall timeout.
func TestStalledDownloadCut(t *testing.T) {
	const stall = 300 * time.Millisecond
	resp := startDownload(t, stall)
	time.Sleep(4 * stall)
	got, err := io.Copy(io.Discard, resp.Body)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || got == downloadSize {
		t.Fatalf("the stalled download was not cut: %d bytes, %v", got, err)
	}
}

// A download that keeps moving outlasts the stall timeout many times over.
func TestSlowDownloadCompletes(t *testing.T) {
	// Wide margins between reads: a busy machine may stall this reader
	// for several hundred milliseconds.
	const stall = 2 * time.Second
	resp := startDownload(t, stall)
	var got int64
	for {
		time.Sleep(stall / 8)
		k, err := io.CopyN(io.Discard, resp.Body, 1<<20)
		got += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow download cut after %d bytes: %v", got, err)
		}
	}
	if got != downloadSize {
		t.Fatalf("downloaded %d bytes, want %d", got, downloadSize)
	}
}

// /healthz reports every listener, and fails while one is down.
func TestHealthzReportsListeners(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	check := func(wantCode int, want map[string]string) {
		t.Helper()
		resp, err := hc.Get("http://" + n.HTTPAddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for name, st := range h.Listeners {
			got[name] = st.State
		}
		if resp.StatusCode != wantCode || !maps.Equal(got, want) {
			t.Fatalf("healthz: %d %+v, want %d %v", resp.StatusCode, h, wantCode, want)
		}
	}
	states := map[string]string{"msnp": "serving", "msnp-sb": "serving", "gg": "serving", "imip": "serving", "sip": "serving", "http": "serving"}
	check(http.StatusOK, states)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.GG.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	states["gg"] = "closed"
	check(http.StatusServiceUnavailable, states)
}

// A connection a handler hijacked and keeps after returning (the web
// chat's WebSocket) is left with no write deadline: the stall timeout is
// for answers, not for what the handler does with the connection later.
func TestHijackedConnectionKeepsNoDeadline(t *testing.T) {
	const stall = 100 * time.Millisecond
	taken := make(chan net.Conn, 1)
	srv := HTTPLimits{StallTimeout: stall}.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		taken <- conn
	}), slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	nc, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	conn := <-taken
	defer conn.Close()
	time.Sleep(3 * stall) // the handler has returned, the stall timeout passed
	if _, err := io.WriteString(conn, "still here\n"); err != nil {
		t.Fatalf("write after the handler returned: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answer %v, %v", resp, err)
	}
	if line, err := br.ReadString('\n'); line != "still here\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}
