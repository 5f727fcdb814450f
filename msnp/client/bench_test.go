package client

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkLoginMD5 measures what one MSNP7 login costs the library, as
// crosstalk loadtest's login phase makes them: Dial, Login (VER, INF, CVR,
// USR MD5 I, USR MD5 S, the profile message) and Logout, against a canned
// server on loopback that answers each line with one write and allocates
// little, so that the allocations reported are nearly all the client's.
func BenchmarkLoginMD5(b *testing.B) {
	addr := cannedMD5Server(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			c, err := Dial(ctx, addr, Options{})
			if err != nil {
				b.Error(err)
				return
			}
			if err := c.Login(ctx, "bench@example.com", testPassword); err != nil {
				b.Error(err)
				c.Close()
				return
			}
			c.Logout()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// cannedMD5Server serves MD5 logins that always succeed until the
// benchmark ends, and returns its address.
func cannedMD5Server(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	msg := "MSG Hotmail Hotmail " + strconv.Itoa(len(profile)) + "\r\n" + profile
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r := bufio.NewReader(nc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					var reply string
					switch {
					case len(f) == 1 && f[0] == "OUT":
						nc.Write([]byte("OUT\r\n"))
						return
					case len(f) < 2:
						return
					case f[0] == "VER":
						reply = "VER " + f[1] + " MSNP7 CVR0\r\n"
					case f[0] == "INF":
						reply = "INF " + f[1] + " MD5\r\n"
					case f[0] == "CVR":
						reply = "CVR " + f[1] + " 4.7.0105 4.7.0105 4.5.0127 http://download.example/ http://www.example/\r\n"
					case f[0] == "USR" && len(f) == 5 && f[3] == "I":
						reply = "USR " + f[1] + " MD5 S " + testSalt + "\r\n"
					case f[0] == "USR" && len(f) == 5 && f[3] == "S":
						reply = "USR " + f[1] + " OK bench@example.com Bench 1\r\n" + msg
					default:
						return
					}
					if _, err := nc.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkSwitchboardPaste measures what a switchboard message costs the
// library as crosstalk loadtest's conversations send and receive them: 32
// text messages posted at once (PostAll, mode A), each ACKed and also
// received back as a MSG, as the other participant's would be, against a
// canned switchboard on loopback that answers each paste with one write.
// One op is one paste: allocations per message are a 32nd of it.
func BenchmarkSwitchboardPaste(b *testing.B) {
	ctx := context.Background()
	c, err := Dial(ctx, cannedMD5Server(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "bench@example.com", testPassword); err != nil {
		b.Fatal(err)
	}
	nc, err := net.Dial("tcp", cannedSwitchboard(b))
	if err != nil {
		b.Fatal(err)
	}
	sb := c.newSwitchboard(nc, nc.RemoteAddr().String())
	sb.conn.start()
	defer sb.Close()
	const paste = 32
	payloads := make([][]byte, paste)
	for i := range payloads {
		payloads[i] = TextPayload("paste line " + strconv.Itoa(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		ds, err := sb.PostAll(ctx, payloads, 'A')
		if err != nil {
			b.Fatal(err)
		}
		for range paste {
			if _, ok := (<-sb.Events()).(Message); !ok {
				b.Fatal("expected a message")
			}
		}
		for _, d := range ds {
			if err := d.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*paste), "ns/msg")
}

// cannedSwitchboard answers every MSG it reads with ACK and relays it
// back as from other@example.com, what it read at once in one write, and
// returns its address.
func cannedSwitchboard(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		var out []byte
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "MSG" {
				return
			}
			n, _ := strconv.Atoi(f[3])
			payload := make([]byte, n)
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			out = append(out, "ACK "+f[1]+"\r\nMSG other@example.com Other "+f[3]+"\r\n"...)
			out = append(out, payload...)
			if r.Buffered() == 0 {
				if _, err := nc.Write(out); err != nil {
					return
				}
				out = out[:0]
			}
		}
	}()
	return l.Addr().String()
}
