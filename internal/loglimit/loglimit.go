// Package loglimit keeps a flood of alike log lines, such as the failed
// logins anyone on the internet can cause at will, from flooding the log: a
// Limiter passes a burst of lines and then a steady rate, and the next line
// it passes says how many it left out.
package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/ratelimit"
)

// Limiter rations the lines of one kind. It is safe for concurrent use, so
// every connection of every server can share one.
type Limiter struct {
	mu         sync.Mutex
	bucket     ratelimit.Bucket
	suppressed int
	now        func() time.Time
}

// New passes burst lines at once and perSecond lines a second on average,
// by the clock now (nil: time.Now).
func New(perSecond float64, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{bucket: ratelimit.New(perSecond, burst), now: now}
}

// Log writes the line to log unless too many came lately. The first line
// written after some were left out carries their number as "suppressed".
func (l *Limiter) Log(ctx context.Context, log *slog.Logger, level slog.Level, msg string, args ...any) {
	if !log.Enabled(ctx, level) {
		return // a line nobody would see spends no allowance
	}
	l.mu.Lock()
	if !l.bucket.Allow(l.now()) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	left := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if left > 0 {
		args = append(args[:len(args):len(args)], "suppressed", left)
	}
	log.Log(ctx, level, msg, args...)
}
