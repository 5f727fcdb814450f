package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// On a terminal the progress bar shows the rate and the time left, and is
// redrawn at most every progressRedraw however often progress is made.
func TestProgressOnTerminal(t *testing.T) {
	var errOut testenv.LogBuffer
	con := &console{out: &testenv.LogBuffer{}, err: &errOut, terminal: true}
	const total, blocks = 4 << 20, 2048
	start := time.Now()
	p := con.progress("file.bin", total)
	for i := 1; i <= blocks; i++ {
		p.set(int64(i) * total / blocks)
	}
	p.finish()
	elapsed := time.Since(start)
	got := errOut.String()
	redraws := strings.Count(got, "file.bin")
	if limit := int(elapsed/progressRedraw) + 3; redraws > limit {
		t.Errorf("%d redraws for %d blocks in %v, want at most %d", redraws, blocks, elapsed, limit)
	}
	// The rate, and the time spent and left ([0s:1s]) while it runs.
	for _, want := range []string{`100%`, `4\.0/4\.0 MiB`, `iB/s\)`, `\[\d+s:\d+s\]`, `\n$`} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("bar %q lacks %s", got, want)
		}
	}
}

// Elsewhere there is one plain line once the transfer ends.
func TestProgressElsewhere(t *testing.T) {
	var errOut testenv.LogBuffer
	con := &console{out: &testenv.LogBuffer{}, err: &errOut}
	p := con.progress("file.bin", 3<<20)
	for i := int64(1); i <= 3<<20; i += 2045 {
		p.set(i)
	}
	p.set(3 << 20)
	p.finish()
	got := errOut.String()
	if !strings.HasPrefix(got, "3.0 MiB of 3.0 MiB in ") || !strings.HasSuffix(got, "/s\n") || strings.Count(got, "\n") != 1 || strings.Contains(got, "\r") {
		t.Errorf("progress %q", got)
	}
}
