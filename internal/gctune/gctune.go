// Package gctune lowers the garbage collector's headroom while the process
// allocates little. Go lets the heap grow to GOGC percent above what was
// live before it collects, and keeps that much resident: at the default of
// 100 a server holding a million idle sessions keeps a second heap's worth
// of memory for garbage it is not making. Headroom only saves work while
// the process allocates, so Run sets GOGC from the allocation rate: low
// while sessions sit idle, back to the operator's value as soon as logins
// or messages come.
package gctune

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config says how far Run may lower GOGC.
type Config struct {
	// IdlePercent is the lowest GOGC Run sets; 0 turns Run off. At or
	// above the process's own GOGC, Run has nothing to do.
	IdlePercent int
	// Spacing is the least time between collections Run aims for: it
	// lowers GOGC only as far as keeps collections at least this far apart
	// at the allocation rate it measured, which bounds the extra work to
	// one collection of the live heap per Spacing. 0 means DefaultSpacing.
	Spacing time.Duration
	// Tick is how often Run measures; 0 means DefaultTick.
	Tick time.Duration
	// MinHeadroom is the least headroom, in bytes, Run leaves the heap
	// (0 means DefaultMinHeadroom): a small heap saves little by going
	// lower, and a burst that comes before the next tick would make it
	// collect many times over.
	MinHeadroom float64
	// Release, when set, runs where Run gives memory back to the system
	// (on lowering GOGC, at most once per Spacing), for caches kept out of
	// Go's heap, which the collector cannot see: SQLite's pages.
	Release func()
}

const (
	// DefaultIdlePercent keeps a quarter of the live heap as headroom when
	// idle: resident memory about 1.4× the live heap instead of 2.2×.
	DefaultIdlePercent = 25
	// DefaultSpacing is long beside the collector's own work (milliseconds
	// for tens of megabytes) and short beside its forced collection every
	// two minutes.
	DefaultSpacing = 10 * time.Second
	// DefaultTick reacts to a burst of logins within a second.
	DefaultTick = time.Second
	// DefaultMinHeadroom lets a burst of 5,000 logins a second allocate
	// for a fifth of a second between collections before Run raises
	// GOGC. Below 64 MiB live, Run does not lower GOGC at all.
	DefaultMinHeadroom = 16 << 20
)

// Percent is the GOGC that spaces collections by spacing when the process
// allocates rate bytes per second with live bytes live, within
// [idle, busy]: the headroom that the next spacing's allocations fill, and
// at least minHeadroom bytes.
func Percent(rate, live float64, spacing time.Duration, minHeadroom float64, idle, busy int) int {
	if live <= 0 {
		return busy
	}
	p := math.Ceil(100 * math.Max(rate*spacing.Seconds(), minHeadroom) / live)
	return int(math.Max(float64(idle), math.Min(float64(busy), p)))
}

// Run adjusts GOGC each tick until ctx ends, then gives the process back
// the GOGC it had.
func Run(ctx context.Context, c Config, log *slog.Logger) {
	busy := currentPercent()
	if c.IdlePercent <= 0 || busy <= c.IdlePercent {
		return // off, or GOGC=off or already as low
	}
	spacing := c.Spacing
	if spacing <= 0 {
		spacing = DefaultSpacing
	}
	tick := c.Tick
	if tick <= 0 {
		tick = DefaultTick
	}
	minHeadroom := c.MinHeadroom
	if minHeadroom <= 0 {
		minHeadroom = DefaultMinHeadroom
	}
	samples := []metrics.Sample{{Name: allocsMetric}, {Name: liveMetric}}
	metrics.Read(samples)
	lastAllocs, last := samples[0].Value.Uint64(), time.Now()
	current := busy
	var lastFreed time.Time
	defer func() {
		if current != busy {
			debug.SetGCPercent(busy)
		}
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			metrics.Read(samples)
			allocs, live := samples[0].Value.Uint64(), samples[1].Value.Uint64()
			rate := float64(allocs-lastAllocs) / now.Sub(last).Seconds()
			lastAllocs, last = allocs, now
			want := Percent(rate, float64(live), spacing, minHeadroom, c.IdlePercent, busy)
			// Raising follows any rise at once; lowering waits until
			// it is worth a change, so a steady trickle does not
			// reset the collector's goal every tick.
			if want > current || want < current*3/4 || (want == c.IdlePercent && current != want) {
				debug.SetGCPercent(want)
				log.Debug("GOGC set", "percent", want, "alloc_bytes_per_second", int64(rate), "live_bytes", live)
				lowered := want < current
				current = want
				// Go returns memory to the system only down to the goal
				// of its last collection, made at the higher GOGC: on
				// going quieter, collect now and give back what is free,
				// at most once a spacing.
				if lowered && now.Sub(lastFreed) >= spacing {
					if c.Release != nil {
						c.Release()
					}
					debug.FreeOSMemory()
					lastFreed = now
				}
			}
		}
	}
}

const (
	allocsMetric = "/gc/heap/allocs:bytes"
	liveMetric   = "/gc/heap/live:bytes"
	gogcMetric   = "/gc/gogc:percent"
)

// currentPercent is the process's GOGC (-1 for off), read without
// changing it.
func currentPercent() int {
	s := []metrics.Sample{{Name: gogcMetric}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64())) // off is stored as -1
}
