package server

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
)

// FuzzSession sends random bytes to a fresh connection and to a logged-in
// one. The server must not panic, must finish with the connection, and
// must keep serving a bystander.
func FuzzSession(f *testing.F) {
	block := func(typ string, args []string, headers [][2]string, body string) []byte {
		b := wire.NewBlock(typ, args...).Add(wire.HeaderID, "1003")
		for _, h := range headers {
			b.Add(h[0], h[1])
		}
		b.Body = []byte(body)
		b.Blank = true
		enc, err := b.Encode()
		if err != nil {
			f.Fatal(err)
		}
		return enc
	}
	seeds := [][]byte{
		block("HELO", nil, [][2]string{{"Protocol", "IMIP/1.0"}}, ""),
		block("LOGN", []string{"1"}, [][2]string{{"Auth-Type", "imip-md5"}}, "00000000000000000000000000000000"),
		block("PING", nil, nil, ""),
		block("STAT", []string{"AWAY"}, nil, "out"),
		block("STAT", []string{"FOO"}, nil, ""),
		block("STAT", nil, nil, ""),
		block("MESG", nil, [][2]string{{"To", "2"}, {"ACK-Type", "errors-only"}, {"From", "1"}}, "hi"),
		block("MESG", nil, [][2]string{{"To", "3"}}, "hi"),
		block("LIST", []string{"ADD", "2"}, [][2]string{{"List", "Buddy"}}, "let me"),
		block("LIST", []string{"ACCEPT", "2", `"Other"`}, nil, ""),
		block("LIST", []string{"REJECT", "2"}, nil, ""),
		block("LIST", []string{"REMOVE", "2"}, [][2]string{{"List", "Buddy"}}, ""),
		block("ACK", []string{"600"}, [][2]string{{"Reference", "7"}}, ""),
		block("DISC", nil, nil, "bye"),
		[]byte("PING\r\n20\r\nID: 1003\r\nPING\r\n12\r\nID: 1004\r\n"),
		[]byte("MESG\r\n99999999\r\n"),
		[]byte("\x00\xff\r\n"),
	}
	for _, s := range seeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	env := newTestEnv(f, func(c *Config) { c.LoginTimeout = time.Second; c.BlocksPerSecond = 1e6 })
	env.account(f, 1, "Fuzz", "pw")
	env.account(f, 2, "Other", "pw")
	bystander := dialRaw(f, env.addr)
	bystander.login("2", "pw")
	bystander.stat(wire.StatusOnline, "")

	f.Fuzz(func(t *testing.T, loggedIn bool, data []byte) {
		c := dialRaw(t, env.addr)
		if loggedIn {
			c.login("1", "pw")
		}
		_, _ = c.nc.Write(data)
		_ = c.nc.(*net.TCPConn).CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server did not finish with the connection")
			}
		}
		c.nc.Close()
		bystander.t = t
		bystander.ping()
	})
}
