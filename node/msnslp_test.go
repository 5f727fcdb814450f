package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
)

// msn7Caps is what MSN Messenger 7.0 says in CHG: MSNC4 in the top
// nibble, so peers talk MSNSLP to it.
const msn7Caps = 0x40000000

// loginMSN7 logs in as an MSNP11 client that speaks MSNSLP.
func loginMSN7(t *testing.T, ctx context.Context, n *Node, hc *http.Client, email, password string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, n.MSNPAddr, client.Options{Versions: []string{"MSNP11"}, Passport: hc, Capabilities: msn7Caps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, email, password); err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		t.Fatal(err)
	}
	return c
}

// msn7Chat puts two MSNP11 clients that speak MSNSLP in one switchboard.
func msn7Chat(t *testing.T, ctx context.Context) (n *Node, asb, bsb *client.Switchboard) {
	t.Helper()
	n, ca := startHTTPSNode(t)
	hc := passportClient(t, n, ca)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	alice := loginMSN7(t, ctx, n, hc, "alice@example.com", "pa")
	bob := loginMSN7(t, ctx, n, hc, "bob@example.com", "pb")
	if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", 0); err != nil {
		t.Fatal(err)
	}
	asb = call(ctx, t, alice, "bob@example.com")
	t.Cleanup(func() { asb.Close() })
	bsb, err := bob.Answer(ctx, next[client.Ring](t, ctx, bob.Events()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsb.Close() })
	next[client.Joined](t, ctx, asb.Events())
	return n, asb, bsb
}

// p2pSizes: empty, one byte, one chunk, one byte more, several MiB.
var p2pSizes = []int{0, 1, p2p.MaxChunk, p2p.MaxChunk + 1, 3 << 20}

// TestP2PFileBetweenMSNClients: two MSNP11 clients move files over MSNSLP
// in their switchboard; the server relays every P2P message, data chunks
// of the full size included.
func TestP2PFileBetweenMSNClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, asb, bsb := msn7Chat(t, ctx)
	for _, size := range p2pSizes {
		data := randomBytes(size)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", "photo.jpg", int64(size), bytes.NewReader(data), filetransfer.Options{})
		}()
		offer, err := filetransfer.NextP2POffer(ctx, bsb)
		if err != nil || offer.From != "alice@example.com" || offer.Name != "photo.jpg" || offer.Size != int64(size) {
			t.Fatalf("offer %+v %v", offer, err)
		}
		var got bytes.Buffer
		k, err := filetransfer.ReceiveP2P(ctx, bsb, offer, &got, filetransfer.Options{})
		if err != nil || k != int64(size) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %d, %v", size, k, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("%d bytes: send: %v", size, err)
		}
	}
	// Declined.
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.SendP2P(ctx, asb, "bob@example.com", "no.txt", 3, bytes.NewReader([]byte("abc")), filetransfer.Options{})
	}()
	offer, err := filetransfer.NextP2POffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.DeclineP2P(ctx, bsb, offer); err != nil {
		t.Fatal(err)
	}
	var rej *filetransfer.RejectedError
	if err := <-sent; !errors.As(err, &rej) || rej.Code != filetransfer.CodeDeclined {
		t.Fatalf("declined send: %v", err)
	}
}
