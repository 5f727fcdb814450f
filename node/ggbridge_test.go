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

	driveclient "github.com/crosstalk-im/crosstalk/drive/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
)

// A GG user sends a file to a MySpaceIM user: the ticket is allowed at
// once, the GG user uploads, and the MySpace user gets a download link.
func TestGGFileToMySpace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), "")
	addAccount(t, n, 2001, "gary@example.com", "Gary", "pg")
	addAccount(t, n, 1003, "my@example.com", "Emma", "pw")

	links := mySpaceMessages(t, ctx, n, 2001)

	gg := loginGG(t, ctx, n.GGAddr, 2001, "pg", wire.StatusAvail, "", 1003)
	token, err := gg.IMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := driveclient.SignIn(ctx, "http://"+n.HTTPAddr, 2001, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.CloseIdleConnections)

	data := make([]byte, 4321)
	for i := range data {
		data[i] = byte(i*29 + i>>6)
	}
	offer, err := dc.Offer(ctx, 1003, "photo 1.jpg", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if offer.Ack != "allowed" {
		t.Fatalf("ticket %+v, want it allowed", offer)
	}
	nextTicketEvent(t, ctx, gg, "allowed", "in_progress")
	if err := dc.Upload(ctx, offer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	nextTicketEvent(t, ctx, gg, "allowed", "completed")

	var text string
	select {
	case text = <-links:
	case <-ctx.Done():
		t.Fatal("no link message")
	}
	prefix := "http://" + n.HTTPAddr + "/link/"
	i := strings.Index(text, prefix)
	if !strings.HasPrefix(text, "Gary sent you a file: photo 1.jpg (4321 bytes): ") || i < 0 {
		t.Fatalf("message %q", text)
	}
	resp, err := http.Get(text[i:])
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
		t.Fatalf("download: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
}
