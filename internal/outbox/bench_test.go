//go:build unix

package outbox

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

// BenchmarkTrackedWrite measures one tracked write to a loopback client
// that reads everything, until its receipt: written on the writer's
// goroutine (a TCP connection), and by the write goroutine (a connection
// that does not offer its socket). cpu-µs/op is the process's CPU time,
// the reading client's included.
func BenchmarkTrackedWrite(b *testing.B) {
	b.Run("socket", func(b *testing.B) { benchmarkTrackedWrite(b, false) })
	b.Run("goroutine", func(b *testing.B) { benchmarkTrackedWrite(b, true) })
}

// opaque hides the connection's socket from the outbox.
type opaque struct{ net.Conn }

func benchmarkTrackedWrite(b *testing.B, hideSocket bool) {
	server, client := fakeserver.TCPPair(b)
	go io.Copy(io.Discard, client)
	if hideSocket {
		server = opaque{server}
	}
	o := New(server, 1<<20, time.Second)
	msg := make([]byte, 200)
	done := make(chan bool, 1)
	receipt := func(written bool) { done <- written }
	b.ReportAllocs()
	before := cpuTime()
	for b.Loop() {
		if err := o.WriteTracked(msg, receipt); err != nil {
			b.Fatal(err)
		}
		if !<-done {
			b.Fatal("not written")
		}
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
