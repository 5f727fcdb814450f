package client

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// Answers reach the requests they answer while channels are reused: a
// request given up on (its context ended) whose answer comes later leaves
// no stale answer for the next request in its channel, and an answer sent
// twice reaches its request once. The server here answers every third
// request only once the next one came, and answers the others twice.
func TestAnswersAfterGivingUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		rd := wire.NewReader(nc, wire.Limits{})
		var late *wire.Message
		for {
			m, err := rd.ReadMessage()
			if err != nil {
				served <- nil
				return
			}
			answer := func(req *wire.Message) error {
				n, _, _ := req.CSeq()
				b, err := wire.Response(req, 200, "t").Add("X-Seq", strconv.Itoa(int(n))).Encode()
				if err == nil {
					_, err = nc.Write(b)
				}
				return err
			}
			if late != nil {
				if err := answer(late); err != nil {
					served <- err
					return
				}
				late = nil
			}
			if n, _, _ := m.CSeq(); n%3 == 0 {
				late = m
				continue
			}
			for range 2 {
				if err := answer(m); err != nil {
					served <- err
					return
				}
			}
		}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := New(nc, Options{})
	for n := uint32(1); n <= 60; n++ {
		m := c.base(wire.MethodOptions, "sip:x@example.com", "<sip:a@example.com>;tag=1", "<sip:x@example.com>", "call", n)
		timeout := 10 * time.Second
		if n%3 == 0 {
			timeout = 20 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		res, err := c.request(ctx, m)
		cancel()
		switch {
		case n%3 == 0 && !errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("request %d, answered late: %v, %v", n, res, err)
		case n%3 != 0 && err != nil:
			t.Fatalf("request %d: %v", n, err)
		case n%3 != 0 && res.Get("X-Seq") != strconv.Itoa(int(n)):
			t.Fatalf("request %d got the answer to %s", n, res.Get("X-Seq"))
		}
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
