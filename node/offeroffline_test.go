package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

// offlineSenderReceiver is an MSN client that takes GG files: over MSNFTP
// (MSNP7) or over MSNSLP (MSNP18, WLM 2009's dialect).
type offlineSenderReceiver struct {
	name  string
	start func(t *testing.T, ctx context.Context) *msnGG
	// offer reads the next file offered in sb and returns what accepts it
	// and returns its bytes.
	offer func(t *testing.T, ctx context.Context, sb *client.Switchboard) (receive func() []byte)
}

var offlineSenderReceivers = []offlineSenderReceiver{
	{
		name:  "MSNP7 MSNFTP",
		start: func(t *testing.T, ctx context.Context) *msnGG { return newMSNGG(t, ctx, Options{}) },
		offer: func(t *testing.T, ctx context.Context, sb *client.Switchboard) func() []byte {
			from, inv, err := filetransfer.NextOffer(ctx, sb)
			if err != nil || from != "gosia@example.com" {
				t.Fatalf("offer from %q: %v", from, err)
			}
			return func() []byte {
				var got bytes.Buffer
				if _, err := filetransfer.Receive(ctx, sb, from, "msn@example.com", inv, &got, filetransfer.Options{}); err != nil {
					t.Fatal(err)
				}
				return got.Bytes()
			}
		},
	},
	{
		name: "MSNP18 MSNSLP",
		start: func(t *testing.T, ctx context.Context) *msnGG {
			return newMSNSLPGG(t, ctx, Options{}, client.Options{Versions: []string{"MSNP18"},
				MachineGUID: "{A11CE000-0000-0000-0000-00000000001A}", Capabilities: 0x90000000})
		},
		offer: func(t *testing.T, ctx context.Context, sb *client.Switchboard) func() []byte {
			offer := nextP2POfferFrom(t, ctx, sb, "gosia@example.com")
			return func() []byte {
				var got bytes.Buffer
				if _, err := filetransfer.ReceiveP2P(ctx, sb, offer, &got, filetransfer.Options{}); err != nil {
					t.Fatal(err)
				}
				return got.Bytes()
			}
		},
	},
}

// untilEvent reads the MSN client's events until one satisfies stop; it
// fails on the way at one that satisfies forbid.
func untilEvent(t *testing.T, ctx context.Context, mc *client.Client, stop, forbid func(client.Event) bool) client.Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-mc.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if forbid(ev) {
				t.Fatalf("unexpected %T %+v", ev, ev)
			}
			if stop(ev) {
				return ev
			}
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func gosiaOffline(ev client.Event) bool {
	off, ok := ev.(client.Offline)
	return ok && off.Email == "gosia@example.com"
}

func never(client.Event) bool { return false }

// eachReceiver runs test for each kind of MSN receiver.
func eachReceiver(t *testing.T, test func(t *testing.T, ctx context.Context, rc offlineSenderReceiver, c *msnGG)) {
	for _, rc := range offlineSenderReceivers {
		t.Run(rc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			test(t, ctx, rc, rc.start(t, ctx))
		})
	}
}

func account(t *testing.T, ctx context.Context, n *Node, number uint32) hub.Account {
	t.Helper()
	a, err := n.Store.Account(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// offerDirect has the MSN service offer the MSN user data from from, as
// the drive hands a completed ticket over, in the background; the channel
// gets the outcome.
func offerDirect(ctx context.Context, c *msnGG, from hub.Account, name string, data []byte) <-chan error {
	done := make(chan error, 1)
	t := drive.Ticket{ID: name, Sender: from.Number, Recipient: 1001, FileName: name, FileSize: int64(len(data))}
	go func() {
		done <- c.n.MSNP.OfferFile(ctx, from, 1001, t, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	}()
	return done
}

// watchedOla is a session of Ola's, whom the MSN user has on their
// forward list: a status change of hers reaches the MSN client after every
// event the hub had for it before.
type watchedOla struct {
	*testenv.Peer
	away bool
}

func watchOla(t *testing.T, ctx context.Context, c *msnGG) *watchedOla {
	t.Helper()
	addAccount(t, c.n, 2003, "ola@example.com", "Ola", "po")
	ola := &watchedOla{Peer: testenv.Attach(t, c.n.Hub, account(t, ctx, c.n, 2003))}
	if err := ola.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.mc.Add(ctx, client.ListForward, "ola@example.com", "Ola", 0); err != nil {
		t.Fatal(err)
	}
	return ola
}

// barrier changes Ola's status and reads the MSN client's events until it
// shows, failing at one that satisfies forbid on the way.
func (o *watchedOla) barrier(t *testing.T, ctx context.Context, c *msnGG, forbid func(client.Event) bool) {
	t.Helper()
	st, code := hub.StatusAway, "AWY"
	if o.away {
		st, code = hub.StatusOnline, "NLN"
	}
	o.away = !o.away
	if err := o.SetPresence(ctx, st, ""); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, ctx, c.mc, func(ev client.Event) bool {
		p, ok := ev.(client.Presence)
		return ok && p.Email == "ola@example.com" && p.Status == code
	}, forbid)
}

// TestGGFileSenderSignsOffDuringOffer: a GG user who signs off while their
// file is being offered to an MSN user stays online toward that user until
// the offer ends (MSN clients leave the switchboard and drop the transfer
// when the sender goes offline), then shows offline; the file arrives.
func TestGGFileSenderSignsOffDuringOffer(t *testing.T) {
	eachReceiver(t, func(t *testing.T, ctx context.Context, rc offlineSenderReceiver, c *msnGG) {
		gosia := account(t, ctx, c.n, 2002)
		// Gosia's last session, which the test ends itself; and Ola, whose
		// status change after that end follows its offline notice in the
		// hub's event order.
		last := testenv.Attach(t, c.n.Hub, gosia)
		if err := last.SetPresence(ctx, hub.StatusOnline, ""); err != nil {
			t.Fatal(err)
		}
		ola := watchOla(t, ctx, c)

		data := randomBytes(100_000)
		ggOffersMSN(t, ctx, c, "bye.bin", data)
		receive := rc.offer(t, ctx, answerRing(t, ctx, c.mc))

		// Gosia signs off everywhere while the offer waits.
		c.gg.Close()
		for {
			sessions, err := c.n.Hub.Sessions(ctx, 2002)
			if err != nil {
				t.Fatal(err)
			}
			if _, gg := sessions[drive.ProtocolGG]; !gg {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		last.Detach(ctx)
		ola.barrier(t, ctx, c, gosiaOffline)

		if got := receive(); sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
		}
		untilEvent(t, ctx, c.mc, gosiaOffline, never) // the truth, once the offer is over
	})
}

// TestGGFileFromOfflineSender: a file whose GG sender the MSN user already
// sees offline is offered once the sender is shown online to that user,
// with the capabilities of a contact the server takes files for; they show
// offline again after it.
func TestGGFileFromOfflineSender(t *testing.T) {
	eachReceiver(t, func(t *testing.T, ctx context.Context, rc offlineSenderReceiver, c *msnGG) {
		gosia := account(t, ctx, c.n, 2002)
		c.gg.Close()
		untilEvent(t, ctx, c.mc, gosiaOffline, never)

		data := randomBytes(70_000)
		offered := offerDirect(ctx, c, gosia, "late.bin", data)
		shown := untilEvent(t, ctx, c.mc, func(ev client.Event) bool {
			p, ok := ev.(client.Presence)
			return ok && p.Email == "gosia@example.com"
		}, func(ev client.Event) bool { _, ring := ev.(client.Ring); return ring }).(client.Presence)
		if shown.Status != "NLN" || strings.Contains(rc.name, "MSNP18") && !strings.HasPrefix(shown.Capabilities, "1073741824") {
			t.Fatalf("sender shown as %+v", shown)
		}
		receive := rc.offer(t, ctx, answerRing(t, ctx, c.mc))
		if got := receive(); sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
		}
		if err := <-offered; err != nil {
			t.Fatalf("offer: %v", err)
		}
		untilEvent(t, ctx, c.mc, gosiaOffline, never)
	})
}

// TestGGFileSenderBackDuringOffer: a sender shown online for an offer who
// signs in meanwhile is shown as they are, and not offline once the offer
// ends.
func TestGGFileSenderBackDuringOffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc := offlineSenderReceivers[0]
	c := rc.start(t, ctx)
	gosia := account(t, ctx, c.n, 2002)
	ola := watchOla(t, ctx, c)
	c.gg.Close()
	untilEvent(t, ctx, c.mc, gosiaOffline, never)

	data := randomBytes(1000)
	offered := offerDirect(ctx, c, gosia, "back.bin", data)
	receive := rc.offer(t, ctx, answerRing(t, ctx, c.mc))
	back := testenv.Attach(t, c.n.Hub, gosia)
	if err := back.SetPresence(ctx, hub.StatusBusy, ""); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, ctx, c.mc, func(ev client.Event) bool {
		p, ok := ev.(client.Presence)
		return ok && p.Email == "gosia@example.com" && p.Status == "BSY"
	}, gosiaOffline)
	if got := receive(); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
	}
	if err := <-offered; err != nil {
		t.Fatalf("offer: %v", err)
	}
	ola.barrier(t, ctx, c, gosiaOffline)
}

// TestGGFilesFromOfflineSenderOverlap: a sender shown online for two
// offers stays so until the second one ends.
func TestGGFilesFromOfflineSenderOverlap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newMSNGG(t, ctx, Options{})
	gosia := account(t, ctx, c.n, 2002)
	ola := watchOla(t, ctx, c)
	c.gg.Close()
	untilEvent(t, ctx, c.mc, gosiaOffline, never)

	files := map[string][]byte{"one.bin": randomBytes(1000), "two.bin": randomBytes(2000)}
	offered := map[string]<-chan error{}
	for name, data := range files {
		offered[name] = offerDirect(ctx, c, gosia, name, data)
	}
	sb := answerRing(t, ctx, c.mc)
	invs := map[string]invite.Invitation{}
	for len(invs) < len(files) {
		from, inv, err := filetransfer.NextOffer(ctx, sb)
		if err != nil || from != "gosia@example.com" {
			t.Fatalf("offer from %q: %v", from, err)
		}
		invs[inv.File] = inv
	}
	for i, name := range []string{"one.bin", "two.bin"} {
		var got bytes.Buffer
		if _, err := filetransfer.Receive(ctx, sb, "gosia@example.com", "msn@example.com", invs[name], &got, filetransfer.Options{}); err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got.Bytes()) != sha256.Sum256(files[name]) {
			t.Fatalf("%s: received %d bytes, not the %d sent", name, got.Len(), len(files[name]))
		}
		if err := <-offered[name]; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if i == 0 {
			ola.barrier(t, ctx, c, gosiaOffline) // the second offer is still under way
		}
	}
	untilEvent(t, ctx, c.mc, gosiaOffline, never)
}
