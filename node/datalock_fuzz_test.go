package node

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzLockHolder: whatever a lock file holds (another program's, a torn
// write), reading its holder gives the pid written there or 0, never a
// crash.
func FuzzLockHolder(f *testing.F) {
	f.Add([]byte("4242\n"))
	f.Add([]byte(""))
	f.Add([]byte("  -7 \n garbage"))
	f.Add([]byte(strings.Repeat("9", 64)))
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "serve.lock")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		pid := lockHolder(file)
		if pid == 0 {
			return
		}
		head := content[:min(len(content), 32)]
		if want, err := strconv.Atoi(strings.TrimSpace(string(head))); err != nil || want != pid {
			t.Fatalf("lockHolder(%q) = %d", content, pid)
		}
	})
}
