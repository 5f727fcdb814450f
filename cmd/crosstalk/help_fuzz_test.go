package main

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSize: flag and config-file sizes never panic, and a plain
// number of bytes reads as itself.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1664", "64KiB", "100 MiB", "-1", "1GiB", "9999999999TiB", "KiB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if back, err := parseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("%q reads as %d, which reads back as %d (%v)", s, n, back, err)
		}
	})
}

// FuzzParseDuration: durations never panic, and one written without a
// minus sign is never negative (days that overflow are refused).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "30m", "7d", "-1d", "106751d", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && d < 0 && !strings.Contains(s, "-") {
			t.Fatalf("%q reads as %s", s, d)
		}
	})
}
