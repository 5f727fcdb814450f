package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// The version says what the go command recorded in the binary: module
// version, commit, whether the tree was modified, commit time, Go version.
func TestDescribeBuild(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.1",
		Main:      debug.Module{Path: "github.com/crosstalk-im/crosstalk", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "freebsd"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-03-04T05:06:07Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	want := "crosstalk v1.2.3\n" +
		"commit    0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)\n" +
		"committed 2025-03-04T05:06:07Z\n" +
		"go        go1.26.1 freebsd/arm64\n"
	if got := describeBuild(stamped); got != want {
		t.Errorf("stamped build:\n%s\nwant:\n%s", got, want)
	}

	clean := *stamped
	clean.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "89abcdef"}, {Key: "vcs.modified", Value: "false"}}
	clean.Main.Version = "(devel)"
	want = "crosstalk (devel)\ncommit    89abcdef\ngo        go1.26.1 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := describeBuild(&clean); got != want {
		t.Errorf("clean checkout:\n%s\nwant:\n%s", got, want)
	}

	unstamped := &debug.BuildInfo{GoVersion: "go1.26.0"}
	if got := describeBuild(unstamped); !strings.HasPrefix(got, "crosstalk unknown\ncommit    unknown (built without version control information)\n") {
		t.Errorf("build without VCS information:\n%s", got)
	}
}

// crosstalk version, run as a user runs it, reads this binary's own build
// information.
func TestVersionCommand(t *testing.T) {
	stdout, stderr, code := crosstalk(t, "version")
	bi, _ := debug.ReadBuildInfo()
	if code != 0 || stdout != describeBuild(bi) || !strings.Contains(stdout, "go        "+runtime.Version()+" ") {
		t.Fatalf("exit %d, printed:\n%s%s", code, stdout, stderr)
	}
}
