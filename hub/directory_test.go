package hub

import (
	"context"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/bus"
)

// A replica the hub closes makes no one wait for it, and is no lag to
// warn of (it was one at every shutdown with logouts under way); until
// then a revision it has not reached is waited for.
func TestDirectoryStopEndsWaits(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, _, err := presenceBucket(ctx, b.JS, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	var d directory
	if err := d.start(ctx, kv); err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(ctx, presenceKey(7), appendPresenceRecord(nil, presenceRecord{}))
	if err != nil {
		t.Fatal(err)
	}
	if !d.waitFor(rev) {
		t.Fatalf("revision %d written, not reached", rev)
	}
	waited := make(chan bool)
	go func() { waited <- d.waitFor(rev + 100) }()
	select {
	case ok := <-waited:
		t.Fatalf("waitFor of a revision not written returned %v at once", ok)
	case <-time.After(100 * time.Millisecond):
	}
	d.stop()
	select {
	case ok := <-waited:
		if !ok {
			t.Error("a wait ended by the hub closing reports a lag")
		}
	case <-time.After(catchUpTimeout / 2):
		t.Fatal("closing the replica did not end the wait")
	}
	if !d.waitFor(rev + 200) {
		t.Error("a wait on a closed replica reports a lag")
	}
}
