package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// StallingProxy stands between one client and a server and can stop
// reading what the server sends, the way a client that stops reading
// would: the server's socket fills and its output queue overflows. What it
// read before it stalled, and what the server's socket still holds, reach
// the client when it resumes.
type StallingProxy struct {
	Addr string // where the client connects

	mu        sync.Mutex
	stalled   bool
	resume    *sync.Cond
	upstreams []*net.TCPConn
}

// stallBuffer is the receive buffer of the proxy's connection to the
// server: small, so that the server's writes back up after a few
// kilobytes when it stalls.
const stallBuffer = 64 << 10

// NewStallingProxy forwards the connections made to its Addr to server.
func NewStallingProxy(tb testing.TB, server string) *StallingProxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &StallingProxy{Addr: l.Addr().String()}
	p.resume = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		l.Close()
		p.Resume()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			upstream, err := net.Dial("tcp", server)
			if err != nil {
				client.Close()
				continue
			}
			_ = upstream.(*net.TCPConn).SetReadBuffer(stallBuffer)
			p.mu.Lock()
			p.upstreams = append(p.upstreams, upstream.(*net.TCPConn))
			p.mu.Unlock()
			// Each direction ends with a half close, as the peers' own did:
			// a full close with unread input would reset the connection
			// and lose what the other side had yet to read.
			var both sync.WaitGroup
			both.Add(2)
			wg.Add(1)
			go func() {
				defer wg.Done()
				both.Wait()
				client.Close()
				upstream.Close()
			}()
			go func() {
				defer both.Done()
				_, _ = io.Copy(upstream, client)
				_ = upstream.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer both.Done()
				p.forward(client, upstream)
				_ = client.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return p
}

func (p *StallingProxy) forward(client, upstream net.Conn) {
	buf := make([]byte, 1024)
	for {
		p.mu.Lock()
		for p.stalled {
			p.resume.Wait()
		}
		p.mu.Unlock()
		n, err := upstream.Read(buf)
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stall stops reading from the server.
func (p *StallingProxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// resumeBuffer opens the window again after a stall: with the small one,
// a backed-up server's data would trickle through zero-window probes.
const resumeBuffer = 1 << 20

// Resume reads from the server again.
func (p *StallingProxy) Resume() {
	p.mu.Lock()
	for _, u := range p.upstreams {
		_ = u.SetReadBuffer(resumeBuffer)
	}
	p.stalled = false
	p.resume.Broadcast()
	p.mu.Unlock()
}
