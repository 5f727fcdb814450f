package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msim/client"
	msnclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
)

// An MSN user sends a file to a MySpaceIM user: the server receives it
// over MSNFTP into the drive and sends the MySpace user a download link.
// mySpaceMessages logs my@example.com (1003, password pw) in over
// MySpaceIM with from as a buddy, and returns the texts it gets from
// them.
func mySpaceMessages(t *testing.T, ctx context.Context, n *Node, from uint32) <-chan string {
	t.Helper()
	sc, err := client.Dial(ctx, n.MSIMAddr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if _, err := sc.Login(ctx, "my@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	texts := make(chan string, 4)
	go func() {
		for ev := range sc.Events() {
			if m, ok := ev.(client.Message); ok && m.From == from {
				texts <- m.Text
			}
		}
	}()
	if err := sc.AddBuddy(ctx, from, ""); err != nil {
		t.Fatal(err)
	}
	return texts
}

func TestMSNFileToMySpace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")

	addAccount(t, n, 1001, "msn@example.com", "Em", "pw")
	addAccount(t, n, 1003, "my@example.com", "Emma", "pw")
	mc := login(t, ctx, n.MSNPAddr, "msn@example.com", "pw")
	go func() {
		for range mc.Events() {
		}
	}()
	links := mySpaceMessages(t, ctx, n, 1001)
	if _, err := mc.Add(ctx, msnclient.ListForward, "my@example.com", "x", 0); err != nil {
		t.Fatal(err)
	}

	sb, err := mc.StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Call(ctx, "my@example.com"); err != nil {
		t.Fatal(err)
	}
	next[msnclient.Joined](t, ctx, sb.Events())

	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i*31 + i>>5)
	}
	if err := filetransfer.Send(ctx, sb, "my@example.com", "notes 1.txt", int64(len(data)), bytes.NewReader(data), filetransfer.Options{AnswerTimeout: 10 * time.Second}); err != nil {
		t.Fatalf("send: %v", err)
	}
	var text string
	select {
	case text = <-links:
	case <-ctx.Done():
		t.Fatal("no link message")
	}
	prefix := "http://" + n.HTTPAddr + "/link/"
	i := strings.Index(text, prefix)
	if !strings.HasPrefix(text, "Em sent you a file: notes 1.txt (3000 bytes): ") || i < 0 {
		t.Fatalf("message %q", text)
	}
	link := text[i:]

	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get(link)
	if code != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("download: %d, %d bytes", code, len(body))
	}
	// Flip one hex digit of the signature.
	parts := strings.Split(strings.TrimPrefix(link, prefix), "/")
	sig := []byte(parts[1])
	if sig[0] == '0' {
		sig[0] = '1'
	} else {
		sig[0] = '0'
	}
	if code, _ := get(prefix + parts[0] + "/" + string(sig) + "/" + parts[2]); code != http.StatusNotFound {
		t.Fatalf("tampered link: %d, want 404", code)
	}
}
