package drive_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
)

// stuckOfferer is an MSN front end whose recipient never answers.
type stuckOfferer struct{ offered chan string }

func (o stuckOfferer) OfferFile(ctx context.Context, from hub.Account, to uint32, t drive.Ticket, open func() (io.ReadCloser, error)) error {
	o.offered <- t.ID
	<-ctx.Done()
	return ctx.Err()
}

// TestDeliver: a deposited file goes to its recipient by where they are
// online: an offer over SIP (a hub event for the SIP session), an offer
// through the MSN front end, nothing when they are offline. Close ends a
// hand-over under way, and the file counts as not delivered.
func TestDeliver(t *testing.T) {
	ctx := context.Background()
	offerer := stuckOfferer{offered: make(chan string, 1)}
	e := newEnv(t, func(c *drive.Config) { c.MSN = offerer })
	e.account(t, alice, false)
	e.account(t, bob, false)
	deposit := func(name string) drive.Ticket {
		tk, err := e.srv.Deposit(ctx, alice, bob, name, 3, bytes.NewReader([]byte("abc")))
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}

	if e.srv.Deliver(ctx, deposit("nobody.txt")) {
		t.Fatal("delivered to an offline recipient")
	}

	sipEvents := e.attach(t, bob, "sip")
	tk := deposit("sip.txt")
	if !e.srv.Deliver(ctx, tk) {
		t.Fatal("no route to a SIP recipient")
	}
	if ev := waitKind(t, sipEvents, hub.EventFile); ev.Protocol != "sip" || ev.File != tk.ID || ev.From.Number != alice {
		t.Fatalf("event %+v", ev)
	}

	// MSN comes first for a recipient online through both.
	e.attach(t, bob, "msnp")
	tk = deposit("msn.txt")
	if !e.srv.Deliver(ctx, tk) {
		t.Fatal("no route to an MSN recipient")
	}
	select {
	case id := <-offerer.offered:
		if id != tk.ID {
			t.Fatalf("offered %s, want %s", id, tk.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not offered through MSN")
	}
	e.srv.Close()
	got, err := e.st.Ticket(ctx, tk.ID)
	if err != nil || got.Ack != drive.AckRejected {
		t.Fatalf("after Close: %+v %v", got, err)
	}
}

// TestRejectedAfterUpload: only a ticket-changed notice of a kept file
// turned rejected names a ticket for its sender's frontend to tell of.
func TestRejectedAfterUpload(t *testing.T) {
	for data, want := range map[string]bool{
		`{"id":"t1","ack_status":"rejected","send_status":"completed"}`:   true,
		`{"id":"t1","ack_status":"rejected","send_status":"in_progress"}`: false, // declined before the upload
		`{"id":"t1","ack_status":"allowed","send_status":"completed"}`:    false,
		`not json`: false,
	} {
		id, ok := drive.RejectedAfterUpload(&hub.Notification{Kind: drive.KindTicketChanged, Data: data})
		if ok != want || ok && id != "t1" {
			t.Errorf("%s: %q, %v", data, id, ok)
		}
	}
	kept := `{"id":"t1","ack_status":"rejected","send_status":"completed"}`
	if _, ok := drive.RejectedAfterUpload(&hub.Notification{Kind: drive.KindScopeFilesChanged, Data: kept}); ok {
		t.Error("another kind of notice taken")
	}
	if _, ok := drive.RejectedAfterUpload(nil); ok {
		t.Error("no notice taken")
	}
}
