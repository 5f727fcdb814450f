package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Commands that read or change accounts refuse a data directory without
// a database, and create nothing there.
func TestUserCommandsNeedADatabase(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "dta")
	for _, args := range [][]string{
		{"user", "list", "--data", typo},
		{"user", "passwd", "--data", typo, "1001", "--password", "long-enough"},
		{"user", "del", "--data", typo, "1001"},
	} {
		_, stderr, code := crosstalk(t, args...)
		if code == 0 || !strings.Contains(stderr, "no database at "+filepath.Join(typo, "crosstalk.db")) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if _, err := os.Stat(typo); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s: %v", args, typo, err)
		}
	}
}

// Passwords shorter than minPasswordLength are refused wherever they are
// set; accounts without a --number get the next free one.
func TestUserAdd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	short := strings.Repeat("x", minPasswordLength-1)
	good := strings.Repeat("x", minPasswordLength)

	_, stderr, code := crosstalk(t, "user", "add", "--data", data, "--email", "a@example.com", "--password", short)
	if code == 0 || !strings.Contains(stderr, "at least 6") {
		t.Fatalf("short password: exit %d, %q", code, stderr)
	}
	for _, tc := range []struct {
		email, number, want string
	}{
		{"a@example.com", "", "created account 1001 <a@example.com>"},
		{"b@example.com", "", "created account 1002 <b@example.com>"},
		{"c@example.com", "5000", "created account 5000 <c@example.com>"},
		{"d@example.com", "", "created account 5001 <d@example.com>"},
	} {
		args := []string{"user", "add", "--data", data, "--email", tc.email, "--password", good}
		if tc.number != "" {
			args = append(args, "--number", tc.number)
		}
		if stdout, stderr, code := crosstalk(t, args...); code != 0 || !strings.HasPrefix(stdout, tc.want) {
			t.Fatalf("%v: exit %d, %q %q", args, code, stdout, stderr)
		}
	}
	_, stderr, code = crosstalk(t, "user", "passwd", "--data", data, "1001", "--password", short)
	if code == 0 || !strings.Contains(stderr, "at least 6") {
		t.Fatalf("short new password: exit %d, %q", code, stderr)
	}
	if stdout, stderr, code := crosstalk(t, "user", "passwd", "--data", data, "1001", "--password", good+"y"); code != 0 {
		t.Fatalf("passwd: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, _, code := crosstalk(t, "user", "list", "--data", data)
	for _, n := range []string{"1001", "1002", "5000", "5001"} {
		if code != 0 || !strings.Contains(stdout, "\n"+n+" ") {
			t.Fatalf("list: exit %d, %q lacks %s", code, stdout, n)
		}
	}
}
