package fakeserver

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and then fails the run if a goroutine whose stack
// mentions fn (a function name prefix such as "imip/client.(*Client)")
// is still alive: a client that leaks its goroutines leaks them in its
// users' programs too. It does not return.
func Main(m *testing.M, fn string) {
	code := m.Run()
	if code == 0 {
		if leak := leaked(fn, 5*time.Second); leak != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leak)
			code = 1
		}
	}
	os.Exit(code)
}

// leaked returns the stacks of goroutines still inside fn, after giving
// them up to wait to end.
func leaked(fn string, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		// The first stack is this goroutine's own.
		stacks := strings.Split(string(buf), "\n\n")[1:]
		var found []string
		for _, g := range stacks {
			if strings.Contains(g, fn) {
				found = append(found, g)
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return strings.Join(found, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
