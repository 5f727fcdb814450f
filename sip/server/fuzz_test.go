package server

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// FuzzSession sends random input to a fresh connection and to a signed-in
// one; for the signed-in one, every message the input holds is signed
// before it goes, so that the fuzzer reaches past the signature check.
// The server must not panic, must finish with the connection, and must
// keep serving a bystander.
func FuzzSession(f *testing.F) {
	// The messages pidgin-sipe sent in the recorded transcript, as seeds.
	transcript, err := os.ReadFile("testdata/pidgin-sipe.txt")
	if err != nil {
		f.Fatal(err)
	}
	for block := range strings.SplitSeq(string(transcript), "\n>>> client\n") {
		msg, _, _ := strings.Cut(block, "\n\n<<< server")
		msg, _, _ = strings.Cut(msg, "\n\nhub ")
		if strings.HasPrefix(msg, "#") {
			continue
		}
		f.Add(true, []byte(strings.ReplaceAll(msg, "\n", "\r\n")+"\r\n"))
	}
	for _, s := range []string{
		"INVITE sip:user2@example.com SIP/2.0\r\nVia: x\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user2@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nms-text-format: text/plain;ms-body=aGk=\r\n\r\n",
		"MESSAGE sip:x SIP/2.0\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user2@example.com>\r\nCall-ID: c\r\nCSeq: 2 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
		"SERVICE sip:x SIP/2.0\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user1@example.com>\r\nCall-ID: s\r\nCSeq: 1 SERVICE\r\nContent-Type: application/SOAP+xml\r\nContent-Length: 60\r\n\r\n<s:Envelope><s:Body><m:addGroup><m:name>x</m:name></m:addGroup>",
		"\r\n\r\n\r\n",
		"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\nAuthorization: NTLM gssapi-data=\"\"\r\n\r\n",
		"\x00\xff\r\n\r\n",
		// A file offer in a session, then its cancellation.
		"INVITE sip:user2@example.com SIP/2.0\r\nVia: x\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user2@example.com>\r\nCall-ID: f\r\nCSeq: 1 INVITE\r\nms-text-format: text/x-msmsgsinvite; charset=UTF-8;ms-body=eA==\r\n\r\n" +
			"MESSAGE sip:x SIP/2.0\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user2@example.com>\r\nCall-ID: f\r\nCSeq: 2 MESSAGE\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\nContent-Length: 206\r\n\r\n" +
			"Application-Name: File Transfer\r\nApplication-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 7\r\nApplication-File: a.txt\r\nApplication-FileSize: 3\r\nEncryption: R\r\n" +
			"MESSAGE sip:x SIP/2.0\r\nFrom: <sip:user1@example.com>;tag=1\r\nTo: <sip:user2@example.com>\r\nCall-ID: f\r\nCSeq: 3 MESSAGE\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\nContent-Length: 71\r\n\r\n" +
			"Invitation-Command: CANCEL\r\nInvitation-Cookie: 7\r\nCancel-Code: REJECT\r\n",
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	env := newTestEnv(f, func(c *Config) {
		c.LoginTimeout = time.Second
		c.MessagesPerSecond = 1e6
		c.Files = newMemFiles()
		c.FileLegTimeout = time.Second
	})
	env.account(f, 1, "Fuzz", "pw")
	env.account(f, 2, "Other", "pw")
	env.follow(f, 1, 2)
	bystander := dialRawSIP(f, env.addr)
	bystander.signIn("user2@example.com", "pw")

	f.Fuzz(func(t *testing.T, signedIn bool, data []byte) {
		c := dialRawSIP(t, env.addr)
		if signedIn {
			c.signIn("user1@example.com", "pw")
			rd := wire.NewReader(bytes.NewReader(data), wire.Limits{})
			for {
				m, err := rd.ReadMessage()
				if err != nil {
					break
				}
				if m != nil && m.IsRequest() {
					c.sign(m, "")
				}
				if m != nil {
					if enc, err := m.Encode(); err == nil {
						_, _ = c.nc.Write(enc)
					}
				}
			}
		} else {
			_, _ = c.nc.Write(data)
		}
		_ = c.nc.(*net.TCPConn).CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server did not finish with the connection")
			}
		}
		c.nc.Close()
		bystander.t = t
		if res := bystander.roundTrip(bystander.request(wire.MethodOptions), true); res.StatusCode != 200 {
			t.Fatalf("bystander: %s", res.FirstLine())
		}
	})
}
