package drive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
)

func TestDeposit(t *testing.T) {
	ctx := context.Background()
	// Several of the buffers the drive writes through, and more than it
	// writes before it starts putting the file on disk.
	data := payload(3 << 19)
	for _, tc := range []struct {
		name string
		body io.Reader
		ok   bool
	}{
		{"exact", iotest.HalfReader(bytes.NewReader(data)), true},
		{"byte by byte", iotest.OneByteReader(bytes.NewReader(data)), true},
		{"short", bytes.NewReader(data[:len(data)-1]), false},
		{"long", io.MultiReader(bytes.NewReader(data), strings.NewReader("x")), false},
		{"broken", iotest.TimeoutReader(bytes.NewReader(data)), false},
		{"broken late", io.MultiReader(bytes.NewReader(data[:300<<10]), iotest.ErrReader(errors.New("cut"))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.account(t, alice, false)
			e.account(t, bob, false)
			tk, err := e.srv.Deposit(ctx, alice, bob, "a/b.txt", int64(len(data)), tc.body)
			if !tc.ok {
				if err == nil {
					t.Fatal("deposit succeeded")
				}
				if files := e.blobFiles(t); len(files) != 0 {
					t.Fatalf("files left: %v", files)
				}
				if n, err := e.st.ExpiredTickets(ctx, time.Now().AddDate(1, 0, 0), 10); err != nil || len(n) != 0 {
					t.Fatalf("tickets left: %v %v", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if tk.Status != drive.StatusCompleted || tk.Ack != drive.AckAllowed || tk.FileSize != int64(len(data)) ||
				tk.FileName != drive.SanitizeName("a/b.txt") || tk.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("ticket %+v", tk)
			}
			got, err := os.ReadFile(filepath.Join(e.dir, "drive", tk.ID))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob: %v", err)
			}
		})
	}
}

func TestDepositLimits(t *testing.T) {
	e := newEnv(t, func(c *drive.Config) { c.MaxFileBytes = 100; c.QuotaBytes = 150 })
	e.account(t, alice, false)
	e.account(t, bob, false)
	ctx := context.Background()
	if _, err := e.srv.Deposit(ctx, alice, bob, "big", 101, bytes.NewReader(payload(101))); err == nil {
		t.Fatal("file over the size limit taken")
	}
	if _, err := e.srv.Deposit(ctx, alice, bob, "one", 100, bytes.NewReader(payload(100))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Deposit(ctx, alice, bob, "two", 100, bytes.NewReader(payload(100))); err == nil {
		t.Fatal("file over the quota taken")
	}
	if files := e.blobFiles(t); len(files) != 1 { // the blob of "one"
		t.Fatalf("files: %v", files)
	}
}

// slowReader yields a KiB of zeros per millisecond and counts them.
type slowReader struct{ n int64 }

func (r *slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	k := min(len(p), 1024)
	clear(p[:k])
	r.n += int64(k)
	return k, nil
}

// The ticket is written while the file comes in: a file over the quota is
// refused without being read to its end, and leaves nothing behind.
func TestDepositOverQuotaStops(t *testing.T) {
	const size = 64 << 20
	e := newEnv(t, func(c *drive.Config) { c.QuotaBytes = size - 1 })
	e.account(t, alice, false)
	e.account(t, bob, false)
	ctx := context.Background()
	var body slowReader
	_, err := e.srv.Deposit(ctx, alice, bob, "big", size, &body)
	if !errors.Is(err, drive.ErrQuota) || body.n >= size {
		t.Fatalf("deposit read %d bytes: %v, want ErrQuota", body.n, err)
	}
	if files := e.blobFiles(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	if n, err := e.st.ExpiredTickets(ctx, time.Now().AddDate(1, 0, 0), 10); err != nil || len(n) != 0 {
		t.Fatalf("tickets left: %v %v", n, err)
	}
}

func TestLink(t *testing.T) {
	e := newEnv(t, nil)
	e.account(t, alice, false)
	e.account(t, bob, false)
	data := payload(3000)
	tk, err := e.srv.Deposit(context.Background(), alice, bob, "my file.bin", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	path := e.srv.LinkPath(tk)
	if !strings.HasPrefix(path, "/link/"+tk.ID+"/") || !strings.HasSuffix(path, "/my%20file.bin") {
		t.Fatalf("path %q", path)
	}
	get := func(p string) (int, http.Header, []byte) {
		t.Helper()
		resp, err := http.Get(e.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	code, hdr, body := get(path)
	if code != http.StatusOK || !bytes.Equal(body, data) || !strings.Contains(hdr.Get("Content-Disposition"), `attachment; filename="my file.bin"`) {
		t.Fatalf("good link: %d %q, %d bytes", code, hdr.Get("Content-Disposition"), len(body))
	}
	parts := strings.Split(path, "/") // "", link, id, sig, name
	sig := []byte(parts[3])
	sig[len(sig)-1] ^= 1
	other := []byte(tk.ID)
	other[0] ^= 1
	for _, p := range []string{
		"/link/" + tk.ID + "/" + string(sig) + "/" + parts[4],
		"/link/" + string(other) + "/" + parts[3] + "/" + parts[4],
		"/link/" + tk.ID + "/" + parts[3],
		"/link/" + tk.ID + "//" + parts[4],
	} {
		if code, _, _ := get(p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	// A second server with the same key makes the same links.
	srv2, err := drive.New(drive.Config{Tickets: e.st, Hub: e.hub, Dir: e.dir, Tokens: e.tokens, Key: e.key})
	if err != nil {
		t.Fatal(err)
	}
	if srv2.LinkPath(tk) != path {
		t.Fatal("same key, other link")
	}
	// Without a key, servers on one directory share the one kept there.
	dir := t.TempDir()
	var paths [2]string
	for i := range paths {
		srv, err := drive.New(drive.Config{Tickets: e.st, Hub: e.hub, Dir: dir, Tokens: e.tokens})
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = srv.LinkPath(tk)
	}
	if paths[0] == "" || paths[0] != paths[1] || paths[0] == path {
		t.Fatalf("links from the kept key: %q", paths)
	}
	fi, err := os.Stat(filepath.Join(dir, "drive", "link.key"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}
