package server

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/passport"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// sessionStates are the scripts that bring a connection into each state
// before the fuzzer's bytes follow.
var sessionStates = []string{
	"",                     // fresh
	"VER 1 MSNP7 CVR0\r\n", // dialect chosen
	"VER 1 MSNP7 CVR0\r\nUSR 2 MD5 I fuzz@example.com\r\n", // salt sent
	"login",     // logged in
	"login+chg", // logged in and online
	"sb",        // in a switchboard
	"login11",   // logged in with MSNP11 (TWN), online
	"VER 1 MSNP9 CVR0\r\nCVR 2 0x0409 winnt 5.1 i386 MSNMSGR 6.0.0602 MSMSGS fuzz@example.com\r\nUSR 3 TWN I fuzz@example.com\r\n", // policy sent
	"login18", // logged in with MSNP18 (SSO, an endpoint), online
	"VER 1 MSNP15 CVR0\r\nUSR 2 SSO I fuzz@example.com\r\n", // nonce sent
}

// FuzzSession drives notification and switchboard connections with random
// commands in every state. The server must neither panic nor stop serving
// others; the goroutine leak check in TestMain runs after the seeds.
func FuzzSession(f *testing.F) {
	for i := range sessionStates {
		for _, seed := range []string{
			"SYN 3 0\r\nCHG 4 NLN\r\nADD 5 FL other@example.com Other 0\r\n",
			"ADG 6 x 0\r\nREG 7 1 y 0\r\nRMG 8 1\r\nREM 9 FL other@example.com\r\n",
			"XFR 10 SB\r\nBLP 11 BL\r\nGTC 12 N\r\nREA 13 fuzz@example.com New\r\n",
			"CAL 2 other@example.com\r\nMSG 3 A 5\r\nhello",
			"MSG 3 N 99999\r\n", "QRY 4 msmsgs@msnmsgr.com 32\r\n0123", "\x00\xff\r\n\r\nOUT\r\n",
			"USR 4 TWN S t=AAAA&p=\r\nUSR 5 TWN S t=%zz\r\n",
			"ADC 5 FL N=other@example.com F=Other\r\nADC 6 FL C=00000000-0000-0000-0000-000000000002 00000000-0000-0000-0001-000000000001\r\nREM 7 FL 00000000-0000-0000-0000-000000000002\r\n",
			"UUX 8 40\r\n<Data><PSM>hi</PSM><CurrentMedia/></Data>SBP 9 x MFN y\r\nPRP 10 MFN z\r\nGCF 11 Shields.xml\r\n",
			"CHG 12 NLN 268435492 %3Cmsnobj%20Creator%3D%22a%22%20Size%3D%221%22%20Type%3D%223%22%2F%3E\r\nSYN 13 0 0\r\nPNG\r\n",
			"ADL 14 62\r\n<ml><d n=\"example.com\"><c n=\"other\" l=\"3\" t=\"1\"/></d></ml>RML 15 15\r\n<ml><d n=\"x\"/>",
			"FQY 16 45\r\n<ml><d n=\"example.com\"><c n=\"other\"/></d></ml>UUN 17 1:other@example.com 3 5\r\n<a/>\r\n",
			"UUX 18 66\r\n<EndpointData><Capabilities>2788999228:48</Capabilities></EndpointData>CHG 19 NLN 1:2 0\r\n",
			"USR 3 SSO S t=AAAA&p= AAAA {F26D1F07-95E2-403C-BC18-D4BFED493428}\r\nUSR 4 SSO S x\r\n",
			"UUM 20 other@example.com 1 1 49\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhiUUM 21 x 32 2 0\r\n",
		} {
			f.Add(uint8(i), []byte(seed))
		}
	}
	env := newTestEnv(f, func(c *Config) {
		c.HandshakeTimeout = time.Second
		c.Challenge = true
		// The bystander pings after every input; only the fuzzed
		// connections should meet the rate limit.
		c.CommandsPerSecond = 1e6
	})
	env.addAccount(f, 1, "fuzz@example.com", "Fuzz", "pw")
	env.addAccount(f, 2, "other@example.com", "Other", "pw")
	watcher := dialRaw(f, env.nsAddr)
	watcher.login("other@example.com", "pw")

	f.Fuzz(func(t *testing.T, state uint8, data []byte) {
		script := sessionStates[int(state)%len(sessionStates)]
		nc := openInState(t, env, script)
		defer nc.Close()
		_, _ = nc.Write(data)
		_ = nc.(*net.TCPConn).CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil && !isReset(err) {
			t.Fatalf("server did not finish with the connection: %v", err)
		}
		watcher.t = t
		watcher.send("PNG\r\n")
		for {
			line, err := watcher.line()
			if err != nil {
				t.Fatalf("bystander lost its session: %v", err)
			}
			if line == "QNG" {
				break
			}
			if strings.HasPrefix(line, "OUT") {
				t.Fatalf("bystander was disconnected: %q", line)
			}
		}
	})
}

// openInState connects and plays a state's script, consuming the replies.
func openInState(t testing.TB, env *testEnv, script string) net.Conn {
	switch script {
	case "login", "login+chg":
		c := dialRaw(t, env.nsAddr)
		c.login("fuzz@example.com", "pw")
		if s, _ := c.line(); !strings.HasPrefix(s, "CHL 0 ") {
			t.Fatalf("expected challenge, got %q", s)
		}
		if script == "login+chg" {
			c.send("CHG 4 NLN\r\n")
			c.expect("CHG 4 NLN")
		}
		return c.nc
	case "login11":
		c := dialRaw(t, env.nsAddr)
		c.send("VER 1 MSNP11 CVR0\r\nUSR 2 TWN I fuzz@example.com\r\n")
		c.expect("VER 1 MSNP11")
		if s, _ := c.line(); !strings.HasPrefix(s, "USR 2 TWN S ") {
			t.Fatalf("USR TWN I: %q", s)
		}
		c.send("USR 3 TWN S " + env.srv.cfg.Passport.Issue(1, time.Now()) + "\r\n")
		for {
			s, err := c.line()
			if err != nil {
				t.Fatalf("MSNP11 login: %v", err)
			}
			if strings.HasPrefix(s, "CHL 0 ") {
				break
			}
		}
		c.send("CHG 4 NLN 1073741860 0\r\n")
		c.expect("CHG 4 NLN 1073741860 0")
		return c.nc
	case "login18":
		c := dialRaw(t, env.nsAddr)
		rd := wire.NewReader(c.nc, wire.Limits{MaxLine: 4096, MaxPayload: 65536}, "MSG", "GCF", "UBX")
		c.send("VER 1 MSNP18 CVR0\r\nUSR 2 SSO I fuzz@example.com\r\n")
		var nonce string
		for nonce == "" {
			cmd, err := rd.ReadCommand()
			if err != nil {
				t.Fatalf("USR SSO I: %v", err)
			}
			if cmd.Name == "USR" {
				nonce = cmd.Arg(4)
			}
		}
		ticket := env.srv.cfg.Passport.Issue(1, time.Now())
		proof, _ := passport.MBIResponse(env.srv.cfg.Passport.ProofKey(ticket, passport.MessengerClear), nonce)
		c.send("USR 3 SSO S " + ticket + " " + proof + " {F26D1F07-95E2-403C-BC18-D4BFED493428}\r\nCHG 4 NLN 2788999228:48 0\r\n")
		for {
			cmd, err := rd.ReadCommand()
			if err != nil {
				t.Fatalf("MSNP18 login: %v", err)
			}
			if cmd.Name == "CHG" {
				break
			}
		}
		return c.nc
	case "sb":
		c := dialRaw(t, env.nsAddr)
		c.login("fuzz@example.com", "pw")
		chl, _ := c.line()
		sum := md5.Sum([]byte(strings.TrimPrefix(chl, "CHL 0 ") + "Q1P7W2E4J9R8U3S5"))
		c.send(string(wire.AppendPayloadCommand(nil, "QRY", []byte(hex.EncodeToString(sum[:])), "4", "msmsgs@msnmsgr.com")))
		c.expect("QRY 4")
		c.send("CHG 5 NLN\r\nXFR 6 SB\r\n")
		c.expect("CHG 5 NLN")
		s, _ := c.line()
		var addr, cookie string
		if _, err := fmt.Sscanf(s, "XFR 6 SB %s CKI %s", &addr, &cookie); err != nil {
			t.Fatalf("XFR: %q", s)
		}
		sb := dialRaw(t, addr)
		sb.send("USR 1 fuzz@example.com " + cookie + "\r\n")
		// The fuzzer may have renamed the account: only the name can differ.
		if s, err := sb.line(); err != nil || !strings.HasPrefix(s, "USR 1 OK fuzz@example.com ") {
			t.Fatalf("switchboard USR: %q %v", s, err)
		}
		return sb.nc
	}
	nc, err := net.Dial("tcp", env.nsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if script != "" {
		_, _ = io.Copy(nc, bytes.NewBufferString(script))
	}
	return nc
}

// FuzzExtras decodes the MSN details that other nodes write into presence
// records: anything decodes to something, and what is encoded reads back.
func FuzzExtras(f *testing.F) {
	f.Add("11 1073741860 %3Cmsnobj%2F%3E gone%20fishing \\0Music\\01\\0{0}\\0x\\0\\0  ")
	f.Add("18 2788999228:48 0 hi  {F26D1F07-95E2-403C-BC18-D4BFED493428} bobs-pc")
	f.Add("x  ")
	f.Fuzz(func(t *testing.T, s string) {
		x := decodeExtras(s)
		if again := decodeExtras(x.encode()); again != x {
			t.Fatalf("%q: %+v, then %+v", s, x, again)
		}
	})
}
