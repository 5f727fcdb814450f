package filetransfer_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/node"
)

// relayChat is chat on a node whose MSNFTP relay carries every file.
func relayChat(t *testing.T, ctx context.Context) (n *node.Node, asb, bsb *client.Switchboard) {
	t.Helper()
	n, err := node.Start(ctx, node.Options{
		DataDir: t.TempDir(), MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", HTTPAddr: node.Off,
		FTPAddr: "127.0.0.1:0", RelayAlways: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(sctx)
	})
	var cs [2]*client.Client
	for i, email := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := n.Store.CreateAccount(ctx, hub.Account{Number: uint32(1001 + i), Email: email}, "pw"); err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, n.MSNPAddr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(ctx, email, "pw"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	asb, err = cs[0].StartChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asb.Close() })
	if _, err := asb.Call(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	for ev := range cs[1].Events() {
		if r, ok := ev.(client.Ring); ok {
			if bsb, err = cs[1].Answer(ctx, r); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	t.Cleanup(func() { bsb.Close() })
	for ev := range asb.Events() {
		if _, ok := ev.(client.Joined); ok {
			break
		}
	}
	return n, asb, bsb
}

func TestRelayedTransfers(t *testing.T) {
	for _, size := range []int{0, 2046, 3 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, asb, bsb := relayChat(t, ctx)
			data := make([]byte, size)
			rand.Read(data)
			sent := make(chan error, 1)
			go func() {
				sent <- filetransfer.Send(ctx, asb, "bob@example.com", "notes.bin", int64(len(data)), bytes.NewReader(data), filetransfer.Options{})
			}()
			from, offer, err := filetransfer.NextOffer(ctx, bsb)
			if err != nil || from != "alice@example.com" || offer.FileSize != int64(size) {
				t.Fatalf("offer %q %+v %v", from, offer, err)
			}
			var got bytes.Buffer
			m, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, &got, filetransfer.Options{})
			if err != nil || m != int64(size) {
				t.Fatalf("receive: %d %v", m, err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
			if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
				t.Fatal("checksum differs")
			}
			if r := n.MSNP.RelayedFiles(); r != 1 {
				t.Fatalf("relayed %d transfers, want 1", r)
			}
		})
	}
}

func TestRelayUnknownCookie(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, _, _ := relayChat(t, ctx)
	nc, err := net.Dial("tcp", n.FTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	fmt.Fprintf(nc, "VER MSNFTP\r\n")
	if line, err := br.ReadString('\n'); err != nil || line != "VER MSNFTP\r\n" {
		t.Fatalf("VER answer %q %v", line, err)
	}
	fmt.Fprintf(nc, "USR bob@example.com 12345\r\n")
	if line, err := br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after a bad cookie: %q %v, want the connection closed", line, err)
	}
	if r := n.MSNP.RelayedFiles(); r != 0 {
		t.Fatalf("relayed %d", r)
	}
}
