package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// serveGroups order the flags of serve --help by what they tune; flags
// without a group come first.
var serveGroups = []kong.Group{
	{Key: "addresses", Title: "Addresses", Description: "Where each service listens ('off' turns it off) and where clients are told to find it."},
	{Key: "msn", Title: "MSN"},
	{Key: "gg", Title: "Gadu-Gadu"},
	{Key: "msim", Title: "MySpaceIM"},
	{Key: "imip", Title: "IMIP"},
	{Key: "sip", Title: "SIP (Office Communicator, pidgin-sipe)"},
	{Key: "files", Title: "Files (the GG drive)"},
	{Key: "web", Title: "Web", Description: "Sign-up, account and admin pages and the admin API on the HTTP listener (README: The web pages and the admin API)."},
	{Key: "exposure", Title: "Exposure", Description: "Caps on connections per listener and bounds of the HTTP service (README: Exposing the server)."},
	{Key: "logins", Title: "Password guessing", Description: "Failed logins counted per address and per account, for every protocol at once (README: Exposing the server)."},
}

// Help is the text below serve's usage line.
func (serveCmd) Help() string {
	return "Sizes are bytes, or take a unit: KiB, MiB, GiB (64KiB, 100MiB). Durations take s, m, h or d (90s, 30m, 2h, 7d)."
}

// sizeUnits are the units a size may be written with.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// parseSize reads a byte count: a whole number, negative or not, with or
// without a unit ("1664", "64KiB", "100 MiB", "-1").
func parseSize(s string) (int64, error) {
	num, unit := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, unit = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > 0 && n > (1<<63-1)/unit || n < 0 && n < -(1<<63-1)/unit {
		return 0, fmt.Errorf("expected a size such as 1664, 64KiB or 100MiB, got %q", s)
	}
	return n * unit, nil
}

// sizeMapper decodes flags tagged type:"size" into their integer field.
// JSON config files may give sizes as numbers (bytes) or strings.
type sizeMapper struct{}

func (sizeMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("size")
	if err != nil {
		return err
	}
	var n int64
	switch v := t.Value.(type) {
	case string:
		if n, err = parseSize(v); err != nil {
			return err
		}
	case float64:
		if v != float64(int64(v)) {
			return fmt.Errorf("expected a whole number of bytes, got %v", v)
		}
		n = int64(v)
	default:
		return fmt.Errorf("expected a size such as 64KiB, got %v", v)
	}
	if target.OverflowInt(n) {
		return fmt.Errorf("size %d is too large", n)
	}
	target.SetInt(n)
	return nil
}

// durationMapper decodes a time.Duration as Go writes them (90s, 1h30m),
// and whole days too (7d).
type durationMapper struct{}

func (durationMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("duration")
	if err != nil {
		return err
	}
	s, ok := t.Value.(string)
	if !ok {
		return fmt.Errorf("expected a duration such as 90s, 30m, 2h or 7d, got %v", t.Value)
	}
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	target.Set(reflect.ValueOf(d))
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err == nil && n >= 0 && n <= int64(time.Duration(1<<63-1)/(24*time.Hour)) {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("expected a duration such as 90s, 30m, 2h or 7d, got %q", s)
	}
	return d, nil
}
