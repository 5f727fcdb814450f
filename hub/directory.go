package hub

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// directory is this node's copy of the presence bucket, kept current by a
// watch: which protocols each online account is on, known without asking
// the bus. It may lag the bucket by moments, so it serves decisions that a
// moment's lag cannot make wrong (whether mirroring a message can help),
// never a delivery's outcome.
type directory struct {
	watcher jetstream.KeyWatcher
	done    chan struct{}

	mu        sync.RWMutex
	protocols map[uint32][]string
}

func (d *directory) start(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	d.watcher, d.done, d.protocols = w, make(chan struct{}), make(map[uint32][]string)
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
		if err != nil {
			continue
		}
		var protocols []string
		if e.Operation() == jetstream.KeyValuePut {
			var rec presenceRecord
			if json.Unmarshal(e.Value(), &rec) == nil {
				for _, sp := range rec.Sessions {
					if !contains(protocols, sp.Protocol) {
						protocols = append(protocols, sp.Protocol)
					}
				}
			}
		}
		d.mu.Lock()
		if len(protocols) == 0 {
			delete(d.protocols, uint32(n))
		} else {
			d.protocols[uint32(n)] = protocols
		}
		d.mu.Unlock()
	}
}

// hasSessionBesides reports whether the account has a session of a
// protocol other than protocol.
func (d *directory) hasSessionBesides(number uint32, protocol string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, p := range d.protocols[number] {
		if p != protocol {
			return true
		}
	}
	return false
}

// online reports whether the account has a session anywhere, as far as
// this node has heard.
func (d *directory) online(number uint32) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.protocols[number]) > 0
}

func (d *directory) stop() {
	_ = d.watcher.Stop()
	<-d.done
}
