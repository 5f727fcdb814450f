package hub

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// directory is this node's replica of the presence bucket, kept current by
// a watch: who is online, through which protocols and on which nodes,
// known without asking the bus.
//
// A replica lags the bucket, so reads are made causal instead: every write
// this node makes, and every event another node sends, carries the
// bucket's revision its writer had seen (a watermark), and the reader
// waits until the replica has caught up with it (waitFor). A session that
// logs in and then reads its contacts' presence therefore sees every
// change made before its own write, and a node that changes an account's
// presence knows every session that logged in before the change, so no
// watcher misses the announcement.
type directory struct {
	watcher jetstream.KeyWatcher
	done    chan struct{}
	// stopping is set when the hub closes the replica, whose end is then
	// no lag to wait for or report.
	stopping atomic.Bool

	mu      sync.RWMutex
	records map[uint32]revisioned
	// gone keeps the revision of each account's delete marker, which the
	// next compare-and-set of the account must name.
	gone map[uint32]uint64
	// perNode counts the sessions the replica places on each node.
	perNode  map[string]int
	seen     uint64        // the bucket revision the replica reflects
	advanced chan struct{} // closed and replaced whenever seen moves
}

// revisioned is an account's presence record and its bucket revision.
type revisioned struct {
	rec presenceRecord
	rev uint64
}

// catchUpTimeout bounds a wait for the replica; past it the reader goes on
// with what it has (and the lag is logged).
const catchUpTimeout = 2 * time.Second

func (d *directory) start(ctx context.Context, kv jetstream.KeyValue) error {
	// A watch ends with its context: this one lasts until stop, not
	// until the context the hub was started with (serve's ends at the
	// first signal, while sessions are still leaving).
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	d.watcher, d.done = w, make(chan struct{})
	d.records, d.gone, d.advanced = make(map[uint32]revisioned), make(map[uint32]uint64), make(chan struct{})
	d.perNode = make(map[string]int)
	go d.follow()
	return nil
}

func (d *directory) follow() {
	defer close(d.done)
	for e := range d.watcher.Updates() {
		if e == nil {
			continue // the end of the initial values
		}
		n, err := strconv.ParseUint(e.Key(), 10, 32)
		var rec presenceRecord
		if err == nil && e.Operation() == jetstream.KeyValuePut {
			rec, err = decodePresenceRecord(e.Value())
		}
		d.mu.Lock()
		if err == nil {
			d.count(d.records[uint32(n)].rec, -1)
			d.count(rec, +1)
			if e.Operation() == jetstream.KeyValuePut {
				d.records[uint32(n)] = revisioned{rec: rec, rev: e.Revision()}
				delete(d.gone, uint32(n))
			} else {
				delete(d.records, uint32(n))
				d.gone[uint32(n)] = e.Revision()
			}
		}
		if e.Revision() > d.seen {
			d.seen = e.Revision()
			close(d.advanced)
			d.advanced = make(chan struct{})
		}
		d.mu.Unlock()
	}
}

// count adds delta to the session count of each of rec's nodes.
func (d *directory) count(rec presenceRecord, delta int) {
	for _, sp := range rec.Sessions {
		if d.perNode[sp.Node] += delta; d.perNode[sp.Node] <= 0 {
			delete(d.perNode, sp.Node)
		}
	}
}

// waitFor returns once the replica reflects bucket revision rev, or after
// catchUpTimeout or when the replica stopped following the bucket
// (false); while the hub closes it does not wait, and reports no lag.
func (d *directory) waitFor(rev uint64) bool {
	var timer *time.Timer
	for {
		d.mu.RLock()
		seen, advanced := d.seen, d.advanced
		d.mu.RUnlock()
		if seen >= rev {
			return true
		}
		if timer == nil {
			timer = time.NewTimer(catchUpTimeout)
			defer timer.Stop()
		}
		select {
		case <-advanced:
		case <-timer.C:
			return false
		case <-d.done:
			return d.stopping.Load()
		}
	}
}

// watermark is the revision this replica reflects.
func (d *directory) watermark() uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.seen
}

// record returns an account's record, and the revision a compare-and-set
// of it must name (0 when the account never had one).
func (d *directory) record(number uint32) (presenceRecord, uint64) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r, ok := d.records[number]; ok {
		return r.rec, r.rev
	}
	return presenceRecord{}, d.gone[number]
}

// nodes lists the nodes holding sessions of the account that an event not
// meant for skipProtocol would reach.
func (d *directory) nodes(number uint32, skipProtocol string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.records[number].rec.nodes(skipProtocol)
}

// hasSessionBesides reports whether the account has a session of a
// protocol other than protocol.
func (d *directory) hasSessionBesides(number uint32, protocol string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, sp := range d.records[number].rec.Sessions {
		if sp.Protocol != protocol {
			return true
		}
	}
	return false
}

func (d *directory) stop() {
	d.stopping.Store(true)
	_ = d.watcher.Stop()
	<-d.done
}
