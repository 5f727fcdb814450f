package server

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// BenchmarkLogin measures complete MD5 logins on loopback: connect, VER,
// USR I, USR S, profile message, OUT.
func BenchmarkLogin(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.CommandsPerSecond = 1e9 })
	benchmarkLogins(b, env, func(email string) error {
		c := dialRaw(b, env.nsAddr)
		c.login(email, "pw")
		c.send("OUT\r\n")
		c.expect("OUT")
		return c.nc.Close()
	})
}

// benchmarkLogins runs login in parallel, each goroutine as one of 64
// accounts (password "pw"), and reports logins/s.
func benchmarkLogins(b *testing.B, env *testEnv, login func(email string) error) {
	const accounts = 64
	for i := range accounts {
		env.addAccount(b, uint32(1000+i), fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i), "pw")
	}
	b.ReportAllocs()
	b.ResetTimer()
	var mu sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		email := fmt.Sprintf("user%d@example.com", next%accounts)
		next++
		mu.Unlock()
		for pb.Next() {
			if err := login(email); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkSwitchboardMessage measures one text message from alice to bob
// through a switchboard, acknowledged (mode A) after delivery: with bob on
// MSN only, and with bob also logged in through another protocol, where
// each message is mirrored to that session too.
func BenchmarkSwitchboardMessage(b *testing.B) {
	b.Run("msn-only", func(b *testing.B) { benchmarkSwitchboardMessage(b, false) })
	b.Run("mirrored", func(b *testing.B) { benchmarkSwitchboardMessage(b, true) })
}

func benchmarkSwitchboardMessage(b *testing.B, mirrored bool) {
	env := newTestEnv(b, func(c *Config) { c.CommandsPerSecond = 1e9; c.CommandBurst = 1 << 30 })
	env.addAccount(b, 1001, "alice@example.com", "Alice", "pa")
	bobAcct := env.addAccount(b, 1002, "bob@example.com", "Bob", "pb")
	if mirrored {
		s, err := env.hub.Attach(context.Background(), bobAcct, "gg", discard{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Detach(context.Background()) })
		for !env.hub.HasSessionBesides(bobAcct.Number, protocolName) {
			time.Sleep(time.Millisecond)
		}
	}
	alice, bob := dialRaw(b, env.nsAddr), dialRaw(b, env.nsAddr)
	alice.login("alice@example.com", "pa")
	bob.login("bob@example.com", "pb")
	alice.send("CHG 4 NLN\r\n")
	alice.expect("CHG 4 NLN")
	bob.send("CHG 4 NLN\r\n")
	bob.expect("CHG 4 NLN")
	alice.send("XFR 5 SB\r\n")
	var addr, cookie, sid, ringCookie string
	s, _ := alice.line()
	fmt.Sscanf(s, "XFR 5 SB %s CKI %s", &addr, &cookie)
	asb := dialRaw(b, addr)
	asb.send("USR 1 alice@example.com " + cookie + "\r\n")
	asb.expect("USR 1 OK alice@example.com Alice")
	asb.send("CAL 2 bob@example.com\r\n")
	s, _ = asb.line()
	fmt.Sscanf(s, "CAL 2 RINGING %s", &sid)
	s, _ = bob.line()
	fmt.Sscanf(s, "RNG "+sid+" %s CKI %s", &addr, &ringCookie)
	bsb := dialRaw(b, addr)
	bsb.send("ANS 1 bob@example.com " + ringCookie + " " + sid + "\r\n")
	bsb.expect("IRO 1 1 1 alice@example.com Alice")
	bsb.expect("ANS 1 OK")
	asb.expect("JOI bob@example.com Bob")

	payload := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n\r\nhello, this is a benchmark message"
	frame := fmt.Sprintf("MSG 3 A %d\r\n%s", len(payload), payload)
	buf := make([]byte, len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		asb.send(frame)
		head, err := bsb.line()
		if err != nil || !strings.HasPrefix(head, "MSG alice@example.com Alice ") {
			b.Fatalf("bob got %q %v", head, err)
		}
		if _, err := io.ReadFull(bsb.br, buf); err != nil {
			b.Fatal(err)
		}
		asb.expect("ACK 3")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// discard is a session of another protocol that takes every event.
type discard struct{}

func (discard) Deliver(hub.Event) bool { return true }

// BenchmarkPassportLogin measures an MSNP11 login with everything it
// costs: the Passport 1.4 sign-in at the nexus and login server (plain
// HTTP on loopback: TLS is the HTTP service's, not measured here), then
// VER, USR TWN I, USR TWN S with the ticket, and OUT.
func BenchmarkPassportLogin(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.CommandsPerSecond = 1e9 })
	login := httptest.NewServer(env.srv.PassportHandler())
	b.Cleanup(login.Close)
	benchmarkLogins(b, env, func(email string) error {
		c := dialRaw(b, env.nsAddr)
		defer c.nc.Close()
		c.send("VER 1 MSNP11 CVR0\r\nUSR 2 TWN I " + email + "\r\n")
		c.expect("VER 1 MSNP11")
		policy, _ := c.line()
		ticket, err := passportSignIn(login, email, "pw", strings.TrimPrefix(policy, "USR 2 TWN S "))
		if err != nil {
			return err
		}
		c.send("USR 3 TWN S " + ticket + "\r\nOUT\r\n")
		if s, _ := c.line(); !strings.HasPrefix(s, "USR 3 OK ") {
			return fmt.Errorf("USR TWN S: %q", s)
		}
		for s, err := c.line(); s != "OUT"; s, err = c.line() {
			if err != nil {
				return err
			}
		}
		return nil
	})
}
