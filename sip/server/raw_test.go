package server

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	"github.com/crosstalk-im/crosstalk/sip/wire"
)

// rawSIP speaks messages directly, for exact checks of what the server
// answers to what a client library would never send.
type rawSIP struct {
	t      testing.TB
	nc     net.Conn
	rd     *wire.Reader
	self   string
	keys   *ntlm.Session
	opaque string
	cnum   int
	seq    int
	// unverified: read does not check signatures (the answer to a
	// handshake, which handshake checks itself).
	unverified bool
}

func dialRawSIP(t testing.TB, addr string) *rawSIP {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawSIP{t: t, nc: nc, rd: wire.NewReader(nc, wire.Limits{})}
}

// request starts a request of ours to our own address.
func (c *rawSIP) request(method string) *wire.Message {
	c.seq++
	return wire.NewRequest(method, c.self).
		Add(wire.HeaderVia, "SIP/2.0/tcp "+c.nc.LocalAddr().String()+";branch=z9hG4bKraw"+strconv.Itoa(c.seq)).
		Add(wire.HeaderFrom, "<"+c.self+">;tag=raw;epid=raw").
		Add(wire.HeaderTo, "<"+c.self+">").
		Add(wire.HeaderCallID, "raw-"+strconv.Itoa(c.seq)).
		Add(wire.HeaderCSeq, fmt.Sprintf("%d %s", c.seq, method)).
		Add(wire.HeaderContact, "<sip:"+c.nc.LocalAddr().String()+";transport=tcp>")
}

// register is a REGISTER of the one registration Call-ID.
func (c *rawSIP) register(authorization string) *wire.Message {
	c.seq++
	m := wire.NewRequest(wire.MethodRegister, "sip:example.com").
		Add(wire.HeaderVia, "SIP/2.0/tcp "+c.nc.LocalAddr().String()+";branch=z9hG4bKraw"+strconv.Itoa(c.seq)).
		Add(wire.HeaderFrom, "<"+c.self+">;tag=raw;epid=raw").
		Add(wire.HeaderTo, "<"+c.self+">").
		Add(wire.HeaderCallID, "raw-register").
		Add(wire.HeaderCSeq, fmt.Sprintf("%d REGISTER", c.seq)).
		Add(wire.HeaderContact, "<sip:"+c.nc.LocalAddr().String()+`;transport=tcp>;+sip.instance="<urn:uuid:raw>"`)
	if authorization != "" {
		m.Add(wire.HeaderAuthorization, authorization)
	}
	return m
}

// signIn runs the three REGISTERs.
func (c *rawSIP) signIn(email, password string) {
	c.t.Helper()
	if res := c.handshake(email, password); res.StatusCode != 200 {
		c.t.Fatalf("third REGISTER: %s", res.LogString())
	}
}

// handshake runs the three REGISTERs and returns the answer to the last.
func (c *rawSIP) handshake(email, password string) *wire.Message {
	c.t.Helper()
	c.self = "sip:" + email
	if res := c.roundTrip(c.register(""), false); res.StatusCode != 401 {
		c.t.Fatalf("first REGISTER: %s", res.FirstLine())
	}
	res := c.roundTrip(c.register(`NTLM qop="auth", realm="SIP Communications Service", targetname="sip.example.com", gssapi-data="", version=4`), false)
	_, p := wire.AuthParams(res.Get(wire.HeaderWWWAuthenticate))
	raw, err := base64.StdEncoding.DecodeString(p["gssapi-data"])
	if err != nil || res.StatusCode != 401 {
		c.t.Fatalf("second REGISTER: %s %v", res.FirstLine(), err)
	}
	ch, err := ntlm.ParseChallenge(raw)
	if err != nil {
		c.t.Fatal(err)
	}
	a, keys, err := ntlm.Respond(ch, ntlm.Credentials{User: email, Password: password}, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	// The answer is signed with the new keys when it is 200, else with
	// those of the association the connection had.
	old, oldOpaque := c.keys, c.opaque
	c.keys, c.opaque = keys, p["opaque"]
	m := c.register("")
	c.sign(m, `, gssapi-data="`+base64.StdEncoding.EncodeToString(a.Marshal())+`", version=4`)
	c.unverified = true
	res = c.roundTrip(m, false)
	c.unverified = false
	if res.StatusCode != 200 {
		c.keys, c.opaque = old, oldOpaque
	}
	c.check(res)
	return res
}

// sign adds the Authorization of a signed message; extra goes before the
// signature fields.
func (c *rawSIP) sign(m *wire.Message, extra string) {
	c.cnum++
	a := wire.SignatureAuth{Protocol: "NTLM", Rand: "c0ffee01", Num: strconv.Itoa(c.cnum), Realm: "SIP Communications Service", TargetName: "sip.example.com"}
	sig := c.keys.SignSIP(wire.SignatureBuffer(m, a))
	m.Set(wire.HeaderAuthorization, fmt.Sprintf(`NTLM qop="auth", opaque="%s", realm="%s", targetname="%s"%s, crand="%s", cnum="%s", response="%s"`,
		c.opaque, a.Realm, a.TargetName, extra, a.Rand, a.Num, sig))
}

// send writes m, signed when sign says so.
func (c *rawSIP) send(m *wire.Message, sign bool) {
	c.t.Helper()
	if sign {
		c.sign(m, "")
	}
	enc, err := m.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(enc)
}

func (c *rawSIP) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message (nil for a keep-alive), checking the
// signature of signed ones.
func (c *rawSIP) read() (*wire.Message, error) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := c.rd.ReadMessage()
	if err != nil || m == nil || c.unverified {
		return m, err
	}
	c.check(m)
	return m, nil
}

// check verifies the signature of a signed message.
func (c *rawSIP) check(m *wire.Message) {
	c.t.Helper()
	if v, ok := m.Lookup(wire.HeaderAuthenticationInfo); ok {
		_, p := wire.AuthParams(v)
		buf := wire.SignatureBuffer(m, wire.SignatureAuth{Protocol: "NTLM", Rand: p["srand"], Num: p["snum"], Realm: p["realm"], TargetName: p["targetname"]})
		if c.keys == nil || !c.keys.VerifySIP(buf, p["rspauth"]) {
			c.t.Fatalf("bad signature on %s", m.LogString())
		}
	}
}

// roundTrip sends m and returns the answer to it, skipping other messages.
func (c *rawSIP) roundTrip(m *wire.Message, sign bool) *wire.Message {
	c.t.Helper()
	c.send(m, sign)
	want := m.Get(wire.HeaderCallID) + m.Get(wire.HeaderCSeq)
	for {
		res, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for the answer to %s: %v", m.FirstLine(), err)
		}
		if res != nil && !res.IsRequest() && res.Get(wire.HeaderCallID)+res.Get(wire.HeaderCSeq) == want {
			return res
		}
	}
}

// closed waits for the server to close the connection, skipping what it
// sends before.
func (c *rawSIP) closed() {
	c.t.Helper()
	for {
		if _, err := c.read(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatal("the server did not close the connection")
			}
			return
		}
	}
}
