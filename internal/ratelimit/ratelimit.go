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
	rate, burst, tokens float64
	last                time.Time
}

// New allows rate commands per second on average and burst at once.
func New(rate float64, burst int) Bucket {
	return Bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
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
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func (b *Bucket) refill(now time.Time) {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
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
