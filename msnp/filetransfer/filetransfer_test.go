package filetransfer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/offstack"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	"github.com/crosstalk-im/crosstalk/node"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(offstack.WorkerFunction), goleak.IgnoreAnyFunction(offstack.PollerFunction))
}

// chat logs alice and bob in to a node without an MSNFTP relay and puts
// them in one switchboard.
func chat(t *testing.T, ctx context.Context) (asb, bsb *client.Switchboard) {
	t.Helper()
	_, asb, bsb = chatOn(t, ctx, node.Options{})
	return asb, bsb
}

// chatOn starts a node with o (its listeners on loopback) and puts alice
// and bob in one switchboard there.
func chatOn(t *testing.T, ctx context.Context, o node.Options) (n *node.Node, asb, bsb *client.Switchboard) {
	t.Helper()
	o.DataDir, o.MSNPAddr, o.SBAddr, o.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", node.Off
	n, err := node.Start(ctx, o)
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

func TestTransfers(t *testing.T) {
	for _, tc := range []struct {
		size      int
		senderNAT bool
	}{{0, false}, {1, false}, {2045, false}, {2046, true}, {3 << 20, false}, {3 << 20, true}} {
		t.Run(fmt.Sprintf("%d bytes, sender behind NAT %v", tc.size, tc.senderNAT), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			asb, bsb := chat(t, ctx)
			data := make([]byte, tc.size)
			rand.Read(data)
			sent := make(chan error, 1)
			go func() {
				sent <- filetransfer.Send(ctx, asb, "bob@example.com", "notes.bin", int64(len(data)), bytes.NewReader(data),
					filetransfer.Options{NoIncoming: tc.senderNAT})
			}()
			from, offer, err := filetransfer.NextOffer(ctx, bsb)
			if err != nil || from != "alice@example.com" || offer.File != "notes.bin" || offer.FileSize != int64(tc.size) {
				t.Fatalf("offer %q %+v %v", from, offer, err)
			}
			var got bytes.Buffer
			n, err := filetransfer.Receive(ctx, bsb, from, "bob@example.com", offer, &got, filetransfer.Options{})
			if err != nil || n != int64(tc.size) {
				t.Fatalf("receive: %d %v", n, err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("send: %v", err)
			}
			if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
				t.Fatal("checksum differs")
			}
		})
	}
}

func TestRejected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asb, bsb := chat(t, ctx)
	sent := make(chan error, 1)
	go func() {
		sent <- filetransfer.Send(ctx, asb, "bob@example.com", "virus.exe", 10, bytes.NewReader(make([]byte, 10)), filetransfer.Options{})
	}()
	_, offer, err := filetransfer.NextOffer(ctx, bsb)
	if err != nil {
		t.Fatal(err)
	}
	if err := filetransfer.Reject(ctx, bsb, offer); err != nil {
		t.Fatal(err)
	}
	var rej *filetransfer.RejectedError
	if err := <-sent; !errors.As(err, &rej) || rej.Code != invite.CancelReject {
		t.Fatalf("sender got %v", err)
	}
}

// TestAnswerTimeout: a sender that stops waiting for an answer tells the
// receiver with CANCEL TIMEOUT, and one whose caller gives up with
// OUTBANDCANCEL.
func TestAnswerTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asb, bsb := chat(t, ctx)
	for _, tc := range []struct {
		code    string
		timeout time.Duration
		abort   bool // the caller's context ends before the answer timeout
	}{{invite.CancelTimeout, 300 * time.Millisecond, false}, {invite.CancelOutbandCancel, time.Minute, true}} {
		sctx, scancel := context.WithCancel(ctx)
		sent := make(chan error, 1)
		go func() {
			sent <- filetransfer.Send(sctx, asb, "bob@example.com", "slow.bin", 10, bytes.NewReader(make([]byte, 10)),
				filetransfer.Options{AnswerTimeout: tc.timeout})
		}()
		_, offer, err := filetransfer.NextOffer(ctx, bsb)
		if err != nil {
			t.Fatal(err)
		}
		if tc.abort {
			scancel()
		}
		if err := <-sent; err == nil {
			t.Fatal("an unanswered offer succeeded")
		}
		scancel()
		for {
			m := nextMessage(t, ctx, bsb)
			if inv := m.Invitation; inv != nil && inv.Cookie == offer.Cookie {
				if inv.Command != invite.Cancel || inv.CancelCode != tc.code {
					t.Fatalf("receiver got %+v, want CANCEL %s", *inv, tc.code)
				}
				break
			}
		}
	}
}

func nextMessage(t *testing.T, ctx context.Context, sb *client.Switchboard) client.Message {
	t.Helper()
	for {
		select {
		case ev := <-sb.Events():
			if m, ok := ev.(client.Message); ok {
				return m
			}
		case <-ctx.Done():
			t.Fatal("no message")
		}
	}
}

// TestInvitationRefused: an invitation the switchboard refuses (713, sent
// faster than its command rate) ends Send with that error instead of a
// wait for an answer that cannot come.
func TestInvitationRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const burst = 8 // a login's commands fit; the switchboard's run out below
	_, asb, _ := chatOn(t, ctx, node.Options{MSNP: msnpserver.Config{CommandsPerSecond: 0.001, CommandBurst: burst}})
	for range burst - 2 { // USR and CAL went already
		if _, err := asb.Send(ctx, client.TypingPayload("alice@example.com"), 'U'); err != nil {
			t.Fatal(err)
		}
	}
	err := filetransfer.Send(ctx, asb, "bob@example.com", "notes.bin", 10, bytes.NewReader(make([]byte, 10)), filetransfer.Options{AnswerTimeout: 20 * time.Second})
	var se *client.ServerError
	if !errors.As(err, &se) || se.Code != 713 {
		t.Fatalf("Send = %v", err)
	}
}
