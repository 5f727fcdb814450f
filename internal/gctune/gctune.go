// Package gctune lowers the garbage collector's headroom while the process
// allocates little. Go lets the heap grow to GOGC percent above what was
// live before it collects, and keeps that much resident: at the default of
// 100 a server holding a million idle sessions keeps a second heap's worth
// of memory for garbage it is not making. Headroom only saves work while
// the process allocates, so Run sets GOGC from the allocation rate and
// what collections cost: the lowest that keeps the collections within a
// share of the CPU, low while sessions sit idle, higher as logins or
// messages come, up to the operator's value.
package gctune

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config says how far Run may lower GOGC.
type Config struct {
	// IdlePercent is the lowest GOGC Run sets; 0 turns Run off. At or
	// above the process's own GOGC, Run has nothing to do.
	IdlePercent int
	// CPUShare is the most of the process's CPU (GOMAXPROCS threads) that
	// collections are to take at the GOGC Run sets: it lowers GOGC only as
	// far as keeps collections that far apart at the allocation rate it
	// measured, by what the collections so far cost per byte of live heap.
	// 0 means DefaultCPUShare.
	CPUShare float64
	// Spacing is the least time between collections Run aims for, however
	// cheap they are. 0 means DefaultSpacing.
	Spacing time.Duration
	// ChurnSpacing is the least time between collections while the
	// process allocates and its live heap stays level (see busySpacing).
	// 0 means DefaultChurnSpacing.
	ChurnSpacing time.Duration
	// Tick is how often Run measures; 0 means DefaultTick.
	Tick time.Duration
	// MinHeadroom is the least headroom, in bytes, Run leaves the heap
	// (0 means DefaultMinHeadroom): a small heap saves little by going
	// lower, and a burst that comes before the next tick would make it
	// collect many times over.
	MinHeadroom float64
	// Release, when set, runs where Run gives memory back to the system
	// (once the process goes quiet, at most once per releaseSpacing), for
	// caches kept out of Go's heap, which the collector cannot see:
	// SQLite's pages.
	Release func()
}

const (
	// DefaultIdlePercent keeps a quarter of the live heap as headroom when
	// idle: resident memory about 1.4× the live heap instead of 2.2×.
	DefaultIdlePercent = 25
	// DefaultCPUShare lets a burst of logins' collections take a
	// twentieth of the machine. A burst at GOGC's 100 leaves its
	// garbage's room behind: spans that the garbage shared with the
	// sessions' records stay in use once it is collected, and 19,000 MSN
	// logins left about 1 KiB more per idle session that way.
	DefaultCPUShare = 0.05
	// DefaultSpacing: MinHeadroom already keeps a small heap's cheap
	// collections apart.
	DefaultSpacing = 100 * time.Millisecond
	// DefaultChurnSpacing: while messages flow over sessions already
	// there, what frequent collections cost is not CPU but the messages'
	// latency: each one stops the world twice and slows the program while
	// it marks. At 20,000 MSN messages a second over 1,000 conversations
	// (crosstalk loadtest msn --rate 20000 --conversations 1000) GOGC
	// stayed at 25, collections about 0.7 s apart, and the p99 was
	// 4.1–14.9 ms in six runs; spaced by this, 2.0–5.6 ms in six runs
	// alternated with them. A heap of a million sessions collects
	// further apart than this at 25 anyway.
	DefaultChurnSpacing = 5 * time.Second
	// DefaultTick reacts to a burst of logins within a second.
	DefaultTick = time.Second
	// DefaultMinHeadroom lets a burst of 5,000 logins a second allocate
	// for a fortieth of a second between collections until Run raises
	// GOGC at its next tick. It bounds the garbage that the burst's last
	// collections leave among the sessions' records, in spans that stay
	// in use while the sessions do: 16 MiB had left about 0.4 KiB more
	// per idle session after 19,000 MSN logins than 4 MiB, and 4 MiB
	// about 0.1 KiB more than 2 MiB. Run lowers GOGC to 25 only above
	// 8 MiB live, and not at all below 2 MiB.
	DefaultMinHeadroom = 2 << 20
)

// quietAllocation is what the process may allocate between two releases
// and still count as quiet (see Run): keep-alives and a few logins are
// quiet, and do not hold back the release that follows a burst.
const quietAllocation = 16 << 20

// releaseSpacing is the least time between the collections Run forces to
// give memory back, each of which also hands back free pages that the next
// burst takes again.
const releaseSpacing = 10 * time.Second

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

// Spacing is how far apart collections must be for them to take at most
// share of procs threads' time, when one costs costPerByte seconds of CPU
// per byte of live heap, and at least least.
func Spacing(costPerByte, live, share float64, procs int, least time.Duration) time.Duration {
	seconds := costPerByte * live / (share * float64(procs))
	return max(least, time.Duration(seconds*float64(time.Second)))
}

// busySpacing is spacing, or churn if longer while the process is not
// quiet and its live heap stayed level since the last tick, grown by at
// most level bytes: what it allocates is garbage, messages relayed, not
// sessions' records. Garbage made beside records that stay (logins) is
// what low headroom is for: it leaves less of itself in the spans the
// records keep in use.
func busySpacing(spacing, churn time.Duration, quiet bool, prevLive, live, level uint64) time.Duration {
	if quiet || live > prevLive+level {
		return spacing
	}
	return max(spacing, churn)
}

// Run adjusts GOGC each tick until ctx ends, then gives the process back
// the GOGC it had.
func Run(ctx context.Context, c Config, log *slog.Logger) {
	busy := currentPercent()
	if c.IdlePercent <= 0 || busy <= c.IdlePercent {
		return // off, or GOGC=off or already as low
	}
	// Zero fields mean their defaults.
	share := cmp.Or(c.CPUShare, DefaultCPUShare)
	least := cmp.Or(c.Spacing, DefaultSpacing)
	churn := cmp.Or(c.ChurnSpacing, DefaultChurnSpacing)
	tick := cmp.Or(c.Tick, DefaultTick)
	minHeadroom := cmp.Or(c.MinHeadroom, DefaultMinHeadroom)
	var m meter
	m.read()
	last := time.Now()
	// costPerByte is the CPU the last collections took per byte of live
	// heap; until Run has seen one, it spaces them by releaseSpacing.
	costPerByte := math.NaN()
	current := busy
	var lastFreed time.Time
	// owed: the process allocated since it last gave memory back.
	owed := true
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
			prev := m
			m.read()
			rate := float64(m.allocs-prev.allocs) / now.Sub(last).Seconds()
			last = now
			if cycles := m.cycles - prev.cycles; cycles > 0 && m.live > 0 {
				costPerByte = (m.gcCPU - prev.gcCPU) / float64(cycles) / float64(m.live)
			}
			// Quiet: what the process allocates between two releases
			// is little (quietAllocation).
			quiet := rate*releaseSpacing.Seconds() <= quietAllocation
			spacing := releaseSpacing
			if !math.IsNaN(costPerByte) {
				spacing = Spacing(costPerByte, float64(m.live), share, runtime.GOMAXPROCS(0), least)
			}
			// A level heap grows by less than the least headroom a tick:
			// a few hundred logins a second.
			spacing = busySpacing(spacing, churn, quiet, prev.live, m.live, uint64(minHeadroom))
			want := Percent(rate, float64(m.live), spacing, minHeadroom, c.IdlePercent, busy)
			if !quiet {
				owed = true
			}
			// Raising follows any rise at once; lowering waits until
			// it is worth a change, so a steady trickle does not
			// reset the collector's goal every tick, but for the last
			// step down once quiet.
			if want > current || want < current*3/4 || (quiet && want < current) {
				debug.SetGCPercent(want)
				log.Debug("GOGC set", "percent", want, "alloc_bytes_per_second", int64(rate), "live_bytes", m.live, "spacing", spacing)
				current = want
			}
			// Go returns memory to the system only down to the goal of
			// its last collection, made at a higher GOGC: once the
			// process has gone quiet after allocating, collect and give
			// back what is free, at most once per releaseSpacing.
			if quiet && owed && now.Sub(lastFreed) >= releaseSpacing {
				if c.Release != nil {
					c.Release()
				}
				debug.FreeOSMemory()
				lastFreed, owed = now, false
			}
		}
	}
}

// meter is what Run reads of the runtime each tick.
type meter struct {
	allocs, live, cycles uint64
	// gcCPU is the CPU the collector took from the program, in seconds:
	// not what it did on processors that had nothing else to do.
	gcCPU   float64
	samples [5]metrics.Sample
}

func (m *meter) read() {
	if m.samples[0].Name == "" {
		for i, name := range []string{allocsMetric, liveMetric, cyclesMetric, gcCPUMetric, gcIdleCPUMetric} {
			m.samples[i].Name = name
		}
	}
	metrics.Read(m.samples[:])
	m.allocs, m.live, m.cycles = m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64(), m.samples[2].Value.Uint64()
	m.gcCPU = m.samples[3].Value.Float64() - m.samples[4].Value.Float64()
}

const (
	allocsMetric = "/gc/heap/allocs:bytes"
	liveMetric   = "/gc/heap/live:bytes"
	gogcMetric   = "/gc/gogc:percent"
	cyclesMetric = "/gc/cycles/total:gc-cycles"
	// The collector's CPU, and the part of it on idle processors.
	gcCPUMetric     = "/cpu/classes/gc/total:cpu-seconds"
	gcIdleCPUMetric = "/cpu/classes/gc/mark/idle:cpu-seconds"
)

// currentPercent is the process's GOGC (-1 for off), read without
// changing it.
func currentPercent() int {
	s := []metrics.Sample{{Name: gogcMetric}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64())) // off is stored as -1
}
