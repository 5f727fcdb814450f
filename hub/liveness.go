package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/metrics"
)

// Liveness: every node renews a record of its own in the nodes bucket.
// When one stops renewing it (killed, powered off, cut off from the bus),
// the live node of the smallest name marks it dead and takes its sessions
// out of presence, so its users look offline to their watchers, stop
// being offered messages and lose what their sessions vouched for (GG's
// IMTokens, drive logins). A node that finds itself marked dead (it was
// only cut off) writes its sessions back.

const nodesBucketName = "crosstalk_nodes"

// DefaultNodeTimeout is how long a node may go without renewing its
// record before it counts as dead: a dead node's users go offline within
// about this plus a second.
const DefaultNodeTimeout = 6 * time.Second

// Values of a node's record.
var (
	nodeAlive = []byte("alive")
	nodeDead  = []byte("dead")
)

// liveness follows the nodes bucket: when each node was last heard.
type liveness struct {
	bucket  jetstream.KeyValue
	watcher jetstream.KeyWatcher
	started time.Time
	stop    chan struct{}
	done    sync.WaitGroup

	mu    sync.Mutex
	heard map[string]time.Time // by node, local time of its last renewal
}

func (h *Hub) startLiveness(ctx context.Context) error {
	l := &h.liveness
	err := whileBusBusy(ctx, func() (err error) {
		l.bucket, err = h.cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      nodesBucketName,
			Description: "which nodes are alive",
			Storage:     jetstream.MemoryStorage,
			History:     1,
			Replicas:    h.cfg.Replicas,
		})
		if err == nil {
			_, err = l.bucket.Put(ctx, h.cfg.Node, nodeAlive)
		}
		return err
	})
	if err != nil {
		return err
	}
	if l.watcher, err = l.bucket.WatchAll(context.WithoutCancel(ctx)); err != nil { // until stopLiveness, as the directory's
		return err
	}
	l.started, l.stop = time.Now(), make(chan struct{})
	l.heard = make(map[string]time.Time)
	l.done.Add(2)
	go h.followNodes()
	go h.renewAndReap()
	return nil
}

// followNodes records each renewal as it is heard, and answers a mark of
// death on this node's own record by writing its sessions back.
func (h *Hub) followNodes() {
	l := &h.liveness
	defer l.done.Done()
	for e := range l.watcher.Updates() {
		if e == nil {
			continue
		}
		node := e.Key()
		dead := e.Operation() != jetstream.KeyValuePut || string(e.Value()) == string(nodeDead)
		l.mu.Lock()
		if dead {
			delete(l.heard, node)
		} else {
			l.heard[node] = time.Now()
		}
		l.mu.Unlock()
		if dead && node == h.cfg.Node && e.Operation() == jetstream.KeyValuePut {
			h.background.Add(1)
			go func() {
				defer h.background.Done()
				h.revive()
			}()
		}
	}
}

// renewAndReap renews this node's record three times per timeout and
// reaps nodes that stopped renewing theirs.
func (h *Hub) renewAndReap() {
	l := &h.liveness
	defer l.done.Done()
	renew := time.NewTicker(h.cfg.NodeTimeout / 3)
	defer renew.Stop()
	check := time.NewTicker(min(time.Second, h.cfg.NodeTimeout/3))
	defer check.Stop()
	for {
		select {
		case <-renew.C:
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.NodeTimeout/3)
			if _, err := l.bucket.Put(ctx, h.cfg.Node, nodeAlive); err != nil {
				h.warn("node liveness not renewed", "err", err)
			}
			cancel()
		case <-check.C:
			for _, node := range h.deadNodes(time.Now()) {
				h.reap(node)
			}
		case <-l.stop:
			return
		}
	}
}

// deadNodes lists the nodes that hold sessions in presence but have not
// renewed their record for NodeTimeout, when this node is the live node
// that reaps (the smallest name), so that one node does the work.
func (h *Hub) deadNodes(now time.Time) []string {
	l := &h.liveness
	l.mu.Lock()
	for node, at := range l.heard {
		if node != h.cfg.Node && now.Sub(at) < h.cfg.NodeTimeout && node < h.cfg.Node {
			l.mu.Unlock()
			return nil // a live node of a smaller name reaps
		}
	}
	var dead []string
	for _, node := range h.directory.nodeNames() {
		if node == h.cfg.Node {
			continue
		}
		at, heard := l.heard[node]
		if !heard {
			at = l.started // never heard since this node started
		}
		if now.Sub(at) >= h.cfg.NodeTimeout {
			dead = append(dead, node)
		}
	}
	l.mu.Unlock()
	return dead
}

// reap marks a node dead and takes its sessions out of presence, telling
// their watchers.
func (h *Hub) reap(node string) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DeliveryTimeout)
	defer cancel()
	if _, err := h.liveness.bucket.Put(ctx, node, nodeDead); err != nil {
		h.warn("mark node dead", "node", node, "err", err)
		return
	}
	sessions := 0
	for _, sess := range h.directory.sessionsOn(node) {
		_, before, after, text, err := h.updatePresence(ctx, sess.account, sess.id, nil)
		if err != nil {
			h.warn("reap session", "node", node, "account", sess.account, "err", err)
			continue
		}
		sessions++
		metrics.SessionsReaped.Inc()
		if before.Visible() != after.Visible() {
			if acct, err := h.cfg.Store.Account(ctx, sess.account); err == nil {
				if err := h.announce(ctx, acct, after, text); err != nil {
					h.warn("announce reaped session", "account", sess.account, "err", err)
				}
			}
		}
		// Stored messages the dead session claimed are free again.
		h.nudgeMailbox(ctx, sess.account)
	}
	metrics.NodesReaped.Inc()
	h.log.Warn("node stopped renewing its liveness: its sessions left presence", "node", node, "sessions", sessions)
}

// revive answers this node being marked dead while it lived (it was cut
// off from the bus): it renews its record and writes its sessions'
// presence back.
func (h *Hub) revive() {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DeliveryTimeout)
	defer cancel()
	if _, err := h.liveness.bucket.Put(ctx, h.cfg.Node, nodeAlive); err != nil {
		h.warn("node liveness not renewed", "err", err)
		return
	}
	h.mu.Lock()
	sessions := h.users.appendAll(nil)
	h.mu.Unlock()
	for _, s := range sessions {
		if st, text := s.lastPresence(); st != "" {
			if err := s.SetPresence(ctx, st, text); err != nil && !errors.Is(err, ErrDetached) {
				h.warn("presence after revival", "account", s.Account().Number, "err", err)
			}
		}
	}
	h.log.Warn("this node was taken for dead by the others: its sessions' presence was written back", "sessions", len(sessions))
}

func (h *Hub) stopLiveness() {
	l := &h.liveness
	close(l.stop)
	_ = l.watcher.Stop()
	l.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.bucket.Delete(ctx, h.cfg.Node)
}

// nodeSession names one session in the replica.
type nodeSession struct {
	account uint32
	id      string
}

// sessionsOn lists the sessions the replica places on node.
func (d *directory) sessionsOn(node string) []nodeSession {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []nodeSession
	for number, r := range d.records {
		for _, sp := range r.rec.Sessions {
			if sp.Node == node {
				out = append(out, nodeSession{account: number, id: sp.ID})
			}
		}
	}
	return out
}

// nodeNames lists the nodes holding sessions in the replica.
func (d *directory) nodeNames() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.perNode))
	for node := range d.perNode {
		out = append(out, node)
	}
	return out
}
