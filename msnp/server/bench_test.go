package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
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
	b.Run("pipelined", benchmarkPipelinedMessages)
}

// benchmarkPipelinedMessages measures messages that alice sends 32 at a
// time, in one write, as a client with several messages to send may: one
// op is one message, relayed and ACKed.
func benchmarkPipelinedMessages(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.CommandsPerSecond = 1e9; c.CommandBurst = 1 << 30 })
	env.addAccount(b, 1001, "alice@example.com", "Alice", "pa")
	env.addAccount(b, 1002, "bob@example.com", "Bob", "pb")
	asb, bsb := aliceCallsBob(b, env)
	const perWrite = 32
	frames, texts := pipelined(3, perWrite, 0)
	b.ReportAllocs()
	for b.Loop() {
		asb.send(frames)
		for i := range texts {
			bsb.expectMessage(texts[i])
			asb.expect("ACK " + strconv.Itoa(3+i))
		}
	}
	b.ReportMetric(float64(b.N*perWrite)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perWrite), "ns/msg")
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
	asb, bsb := aliceCallsBob(b, env)
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

// BenchmarkSSOLogin measures an MSNP18 login with everything it costs:
// the token request at RST.srf (plain HTTP on loopback: TLS is the HTTP
// service's, not measured here), VER, CVR, USR SSO I (with the GCF push),
// USR SSO S with the MBI_KEY_OLD proof and the machine GUID, the lists
// from FindMembership and ABFindContactsPaged over SOAP, the initial ADL,
// and OUT.
func BenchmarkSSOLogin(b *testing.B) {
	env := newTestEnv(b, func(c *Config) { c.CommandsPerSecond = 1e9 })
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if abch.Handles(r.URL.Path) {
			env.srv.AddressBookHandler().ServeHTTP(w, r)
			return
		}
		env.srv.PassportHandler().ServeHTTP(w, r)
	}))
	b.Cleanup(httpSrv.Close)
	benchmarkLogins(b, env, func(email string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc, err := net.Dial("tcp", env.nsAddr)
		if err != nil {
			return err
		}
		defer nc.Close()
		rd := wire.NewReader(nc, wire.Limits{MaxLine: 4096, MaxPayload: 65536}, "MSG", "GCF", "UBX", "ADL")
		read := func(name string) (wire.Command, error) {
			for {
				cmd, err := rd.ReadCommand()
				if err != nil || cmd.Name == name {
					return cmd, err
				}
				if _, isErr := strconv.Atoi(cmd.Name); isErr == nil {
					return cmd, fmt.Errorf("error %s", cmd)
				}
			}
		}
		io.WriteString(nc, "VER 1 MSNP18 CVR0\r\nCVR 2 0x0409 winnt 5.1 i386 MSNMSGR 8.5.1302 BC01 "+email+"\r\nUSR 3 SSO I "+email+"\r\n")
		usr, err := read("USR")
		if err != nil {
			return err
		}
		tokens, err := passport.RequestTokens(ctx, httpSrv.Client(), httpSrv.URL+passport.RSTPaths[1], email, "pw", []passport.RequestedToken{
			{Address: passport.MessengerClear, Policy: usr.Arg(3)}, {Address: "contacts.msn.com", Policy: "MBI"},
		})
		if err != nil {
			return err
		}
		proof, err := passport.MBIResponse(tokens.Proofs[passport.MessengerClear], usr.Arg(4))
		if err != nil {
			return err
		}
		io.WriteString(nc, "USR 4 SSO S "+tokens.Tickets[passport.MessengerClear]+" "+proof+" {F26D1F07-95E2-403C-BC18-D4BFED493428}\r\n")
		if usr, err = read("USR"); err != nil || usr.Arg(1) != "OK" {
			return fmt.Errorf("USR SSO S: %v %v", usr, err)
		}
		abTicket := tokens.Tickets["contacts.msn.com"]
		for _, op := range []string{"FindMembership", "ABFindContactsPaged"} {
			path := abch.AddressBookPath
			if op == "FindMembership" {
				path = abch.SharingPath
			}
			if _, err := abch.Call(ctx, httpSrv.Client(), httpSrv.URL+path, op, abch.NewRequest(op, abTicket, abch.FullViewArg), &abch.Book{}); err != nil {
				return err
			}
		}
		ml := `<ml l="1"></ml>`
		io.WriteString(nc, fmt.Sprintf("ADL 5 %d\r\n%sOUT\r\n", len(ml), ml))
		if _, err := read("ADL"); err != nil {
			return err
		}
		_, err = read("OUT")
		return err
	})
}
