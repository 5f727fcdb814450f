package loglimit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiterPassesBurstThenCountsWhatItLeftOut(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	now := time.Unix(1000, 0)
	l := New(1, 3, func() time.Time { return now })
	ctx := context.Background()

	for range 10 {
		l.Log(ctx, log, slog.LevelInfo, "login failed", "reason", "bad_password")
	}
	if n := strings.Count(buf.String(), "login failed"); n != 3 {
		t.Fatalf("%d lines after 10 in a burst of 3, want 3:\n%s", n, buf.String())
	}
	if strings.Contains(buf.String(), "suppressed") {
		t.Fatalf("nothing was left out yet, but:\n%s", buf.String())
	}

	buf.Reset()
	now = now.Add(time.Second)
	l.Log(ctx, log, slog.LevelInfo, "login failed", "reason", "locked")
	l.Log(ctx, log, slog.LevelInfo, "login failed", "reason", "locked")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "suppressed=7") || !strings.Contains(lines[0], "reason=locked") {
		t.Fatalf("one line with suppressed=7 expected a second later, got:\n%s", buf.String())
	}
}

func TestLimiterSpendsNothingOnDisabledLevels(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := New(1e-9, 1, nil)
	for range 5 {
		l.Log(context.Background(), log, slog.LevelInfo, "hidden")
	}
	l.Log(context.Background(), log, slog.LevelWarn, "shown")
	if got := buf.String(); !strings.Contains(got, "shown") || strings.Contains(got, "suppressed") {
		t.Fatalf("log = %q, want the warning without a suppressed count", got)
	}
}
