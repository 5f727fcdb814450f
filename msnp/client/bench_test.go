package client

import (
	"bufio"
	"context"
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
