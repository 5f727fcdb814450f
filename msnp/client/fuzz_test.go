package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// FuzzServerInput feeds arbitrary server output to a notification and a
// switchboard connection while requests that collect multi-line replies
// (SYN, ANS) and a ping are waiting: nothing may panic, every request must
// return, and Close must finish.
func FuzzServerInput(f *testing.F) {
	f.Add([]byte("SYN 0 5\r\nGTC 0 5 A\r\nBLP 0 5 AL\r\nPRP 5 PHH 1%202\r\nLSG 0 5 1 1 0 Other 0\r\n" +
		"LST 0 FL 5 1 1 a@b.c A 0,1\r\nBPR 5 a@b.c PHM 3\r\nLST 0 AL 5 0 0\r\nLST 0 BL 5 0 0\r\nLST 0 RL 5 0 0\r\n"))
	f.Add([]byte("SYN 0 5\r\nLST 0 XX 5 1 1 a b\r\nILN 0 NLN a@b.c A\r\nQNG\r\nIRO 1 1 1 a@b.c A\r\nANS 1 OK\r\n"))
	f.Add([]byte("MSG Hotmail Hotmail 20\r\nContent-Type: text\r\n\r\nCHL 0 123\r\nRNG 1 2 CKI\r\nOUT OTH\r\n"))
	f.Add([]byte("911 0\r\n500 x\r\nNAK 0\r\nACK 0\r\nJOI a@b.c\r\nBYE a@b.c 1\r\nMSG a@b.c A 5\nhello"))
	f.Add([]byte("ADD 0 RL\r\nREM 0 RL x\r\nNLN\r\nFLN\r\nMSG 1\r\nMSG a b -1\r\n\r\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		defer fakeserver.Watchdog(10 * time.Second)()
		c := newClient(Options{EventBuffer: 4})
		cn, nsDone := serve(c.wrap, data)
		c.conn = cn
		cn.start()
		sb, sbDone := serve(func(nc net.Conn, addr string, _ int) *conn {
			s := c.newSwitchboard(nc, addr)
			return s.conn
		}, data)
		sb.start()

		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); c.Sync(ctx, 0) }()
		go func() { defer wg.Done(); c.Ping(ctx) }()
		go func() {
			defer wg.Done()
			sb.request(ctx, func(wire.Command) (bool, error) { return false, nil }, "ANS", "a@b.c", "1", "2")
		}()
		wg.Wait()
		c.Close()
		sb.close()
		nsDone()
		sbDone()
	})
}

// serve connects a conn built by mk to a fakeserver.Feed of data.
func serve(mk func(net.Conn, string, int) *conn, data []byte) (*conn, func()) {
	a, fed := fakeserver.Feed(data)
	return mk(a, "pipe", 0), fed
}

// TestSyncMalformedSYN: a SYN answer too short for its dialect's form is
// an error of Sync, never a crash of the client's reader (MSNP8–12 read
// the counts from its last two arguments).
func TestSyncMalformedSYN(t *testing.T) {
	for _, dialect := range []int{7, 8, 10} {
		for _, line := range []string{"SYN 0\r\n", "SYN 0 2 3\r\n"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c := newClient(Options{EventBuffer: 4})
			c.dialect = dialect
			cn, done := serve(c.wrap, []byte(line))
			c.conn = cn
			cn.start()
			if _, err := c.Sync(ctx, 0); err == nil {
				t.Errorf("MSNP%d: %q synced", dialect, line)
			}
			cancel()
			c.Close()
			done()
		}
	}
}
