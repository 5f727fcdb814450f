package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/testenv"
)

// A second node on the data directory of a running one with the embedded
// bus fails at once, saying which directory and who holds it; once the
// first has stopped, a new one starts there.
func TestDataDirOneNode(t *testing.T) {
	dir := t.TempDir()
	loopback := func() Options {
		return Options{DataDir: dir, MSNPAddr: "127.0.0.1:0", SBAddr: "127.0.0.1:0", GGAddr: "127.0.0.1:0",
			IMIPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}
	}
	first, err := Start(context.Background(), loopback())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Shutdown(context.Background()) })
	second, err := Start(context.Background(), loopback())
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) {
		if second != nil {
			second.Shutdown(context.Background())
		}
		t.Fatalf("second node on %s: %v, want DataDirInUseError", dir, err)
	}
	abs, _ := filepath.Abs(dir)
	if inUse.Dir != abs || inUse.PID != os.Getpid() {
		t.Errorf("error names %s, pid %d; want %s, pid %d", inUse.Dir, inUse.PID, abs, os.Getpid())
	}
	msg := err.Error()
	for _, want := range []string{abs, "another crosstalk process (pid " + strconv.Itoa(os.Getpid()) + ")"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	// The refused node closed what it opened: the first still serves.
	addAccount(t, first, 1001, "a@example.com", "A", "secret-a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	login(t, ctx, first.MSNPAddr, "a@example.com", "secret-a").Close()

	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	again := startNodeWith(t, Options{DataDir: dir})
	login(t, ctx, again.MSNPAddr, "a@example.com", "secret-a")
}

// Nodes on an external bus may share a data directory (README: several
// processes make one service): they take no lock.
func TestDataDirSharedWithExternalBus(t *testing.T) {
	url := testenv.NATS(t)
	dir := t.TempDir()
	startNode(t, dir, url)
	startNode(t, dir, url)
}
