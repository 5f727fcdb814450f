// Package ratelimit bounds how fast one client may send commands.
package ratelimit

import (
	"sync"
	"time"
)

// Bucket is a token bucket refilled from the clock on each use, so an idle
// connection costs no timer. It is not safe for concurrent use: each
// connection's reader owns its own.
type Bucket struct {
	// rate and burst in 32 bits, last as an offset from epoch rather than
	// a time.Time: a third of the room, in every connection's record.
	rate, burst float32
	tokens      float64
	last        time.Duration // since epoch, plus one; 0: never used
}

// epoch is what Bucket.last counts from.
var epoch = time.Now()

// New allows rate commands per second on average and burst at once.
func New(rate float64, burst int) Bucket {
	return Bucket{rate: float32(rate), burst: float32(burst), tokens: float64(burst)}
}

// Allow takes one token if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Reserve takes one token, borrowing against the future when there is
// none, and returns how long the caller should wait before going on. For
// protocols with no "slow down" reply: the sender is slowed, not refused.
func (b *Bucket) Reserve(now time.Time) time.Duration {
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / float64(b.rate) * float64(time.Second))
}

func (b *Bucket) refill(now time.Time) {
	at := now.Sub(epoch) + 1
	if b.last != 0 {
		b.tokens = min(float64(b.burst), b.tokens+(at-b.last).Seconds()*float64(b.rate))
	}
	b.last = at
}

// Sampler lets one occurrence through per interval and counts the rest, for
// log lines that an overload or an attacker could otherwise repeat without
// end. The zero value lets everything through; it is safe for concurrent
// use.
type Sampler struct {
	Every time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// Allow reports whether this occurrence may be logged and, if so, how many
// were held back since the last one that was.
func (s *Sampler) Allow(now time.Time) (ok bool, suppressed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.suppressed++
		return false, 0
	}
	s.next = now.Add(s.Every)
	suppressed, s.suppressed = s.suppressed, 0
	return true, suppressed
}
