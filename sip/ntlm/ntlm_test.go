package ntlm

import (
	"bytes"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The NTLMv2 example of [MS-NLMP] 4.2.4: user "User", domain "Domain",
// password "Password", workstation "COMPUTER", server challenge
// 0123456789abcdef, client challenge aa×8, time 0, random session key
// 55×16.
const (
	specChallenge = `4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef 0000000000000000
		24002400 44000000 060070170000000f 530065007200760065007200
		02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000`
	specAuthenticate = `4e544c4d53535000 03000000 18001800 6c000000 54005400 84000000 0c000c00 48000000
		08000800 54000000 10001000 5c000000 10001000 d8000000 358288e2 0501280a0000000f
		44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
		86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa
		68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
		02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000
		c5dad2544fc9799094ce1ce90bc9d03e`
	specSessionBaseKey = "8de40ccadbc14a82f15cb0ad0de95ca3"
	specClientSignKey  = "4788dc861b4782f35d43fd98fe1a2d39"
	specClientSealKey  = "59f600973cc4960a25480a7c196e4c58"
	specPlaintext      = "50006c00610069006e007400650078007400" // "Plaintext" in UTF-16LE
	specCiphertext     = "54e50165bf1936dc996020c1811b0f06fb5f"
	specSignature      = "010000007fb38ec5c55d497600000000"
)

func TestSpecChallenge(t *testing.T) {
	raw := unhex(t, specChallenge)
	c, err := ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flags != 0xe28a8233 || c.TargetName != "Server" || hex.EncodeToString(c.ServerChallenge[:]) != "0123456789abcdef" {
		t.Fatalf("parsed %+v", c)
	}
	if got := c.Marshal(); !bytes.Equal(got, raw) {
		t.Fatalf("Marshal:\n%x\nwant\n%x", got, raw)
	}
}

// TestSpecAuthenticate builds the example's AUTHENTICATE byte for byte
// from its inputs, and checks the server side against it: the session
// base key, the client's signing and sealing keys, and the GSS_WrapEx
// example of 4.2.4.4 for the MAC.
func TestSpecAuthenticate(t *testing.T) {
	c, err := ParseChallenge(unhex(t, specChallenge))
	if err != nil {
		t.Fatal(err)
	}
	cc := [8]byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa}
	var rsk [16]byte
	for i := range rsk {
		rsk[i] = 0x55
	}
	want := unhex(t, specAuthenticate)
	a, client := respond(c, Credentials{User: "User", Domain: "Domain", Password: "Password", Workstation: "COMPUTER"}, 0xe2888235, 0, cc, rsk)
	if got := a.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("AUTHENTICATE:\n%x\nwant\n%x", got, want)
	}

	parsed, err := ParseAuthenticate(want)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.User != "User" || parsed.Domain != "Domain" || parsed.Workstation != "COMPUTER" {
		t.Fatalf("parsed %+v", parsed)
	}
	baseKey, err := c.sessionBaseKey(parsed, "Password")
	if err != nil || hex.EncodeToString(baseKey) != specSessionBaseKey {
		t.Fatalf("session base key %x, %v", baseKey, err)
	}
	if _, err := c.sessionBaseKey(parsed, "password"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	server := newSession(parsed.Flags, baseKey, parsed.EncryptedRandomSessionKey, false)
	for _, s := range []struct {
		name       string
		sign, seal []byte
	}{{"server's receive keys", server.recvSign[:], server.recvSeal[:]}, {"client's send keys", client.sendSign[:], client.sendSeal[:]}} {
		if hex.EncodeToString(s.sign) != specClientSignKey || hex.EncodeToString(s.seal) != specClientSealKey {
			t.Errorf("%s: sign %x seal %x", s.name, s.sign, s.seal)
		}
	}

	handle, _ := rc4.NewCipher(server.recvSeal[:])
	plain := unhex(t, specPlaintext)
	sealed := make([]byte, len(plain))
	handle.XORKeyStream(sealed, plain)
	if hex.EncodeToString(sealed) != specCiphertext {
		t.Fatalf("sealed %x", sealed)
	}
	var stream [checksumSize]byte
	handle.XORKeyStream(stream[:], stream[:])
	if sig := mac(parsed.Flags, stream, &server.recvMAC, 0, plain); hex.EncodeToString(sig[:]) != specSignature {
		t.Fatalf("signature %x, want %s", sig, specSignature)
	}
}

var target = TargetInfo{NetBIOSDomain: "CROSSTALK", NetBIOSComputer: "SIP", DNSDomain: "example.com", DNSComputer: "sip.example.com"}

// signIn runs a connectionless sign-in as pidgin-sipe does it.
func signIn(t testing.TB, user, password, serverPassword string) (*Session, *Session, error) {
	t.Helper()
	now := time.Date(2009, 4, 15, 12, 0, 0, 0, time.UTC)
	c := NewChallenge(target, now)
	if c.Flags != 0xe2998255 {
		t.Fatalf("challenge flags %#x", c.Flags)
	}
	wire, err := ParseChallenge(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	a, client, err := Respond(wire, Credentials{User: user, Password: password, Workstation: "HOST"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ts, _ := timestampOf(wire.TargetInfo); !bytes.Equal(a.NTResponse[24:32], unhexLE(ts)) {
		t.Fatalf("blob time %x, want the challenge's %d", a.NTResponse[24:32], ts)
	}
	received, err := ParseAuthenticate(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	server, err := c.Verify(received, serverPassword)
	return client, server, err
}

func unhexLE(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

func TestSignInAndSIPSignatures(t *testing.T) {
	client, server, err := signIn(t, "alice@example.com", "zażółć", "zażółć")
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("<NTLM><c0ffee01><2><SIP Communications Service><sip.example.com><k2><2><MESSAGE>")
	sig := client.SignSIP(buf)
	if len(sig) != 32 || sig != strings.ToUpper(sig) {
		t.Fatalf("signature %q", sig)
	}
	if !server.VerifySIP(buf, sig) || !server.VerifySIP(buf, strings.ToLower(sig)) {
		t.Fatal("server refuses the client's signature")
	}
	if server.VerifySIP(append(buf, 'x'), sig) {
		t.Fatal("server accepts a signature of other bytes")
	}
	if client.VerifySIP(buf, sig) {
		t.Fatal("a signature made with the client's keys passes as the server's")
	}
	if !client.VerifySIP(buf, server.SignSIP(buf)) {
		t.Fatal("client refuses the server's signature")
	}
	other := client.Sign(101, buf)
	if server.VerifySIP(buf, strings.ToUpper(hex.EncodeToString(other[:]))) {
		t.Fatal("a signature with sequence number 101 passes")
	}
	if !server.Verify(buf, other) {
		t.Fatal("Verify refuses a signature with its own sequence number")
	}
	for _, bad := range []string{"", "zz", sig[:30], strings.Repeat("g", 32)} {
		if server.VerifySIP(buf, bad) {
			t.Fatalf("VerifySIP accepts %q", bad)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	if _, _, err := signIn(t, "alice@example.com", "guess", "secret"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("got %v", err)
	}
}

// Windows clients upper-case all of a Unicode user name; pidgin-sipe only
// its ASCII letters. The server accepts either.
func TestUnicodeUserName(t *testing.T) {
	now := time.Now()
	c := NewChallenge(target, now)
	cred := Credentials{User: "łucja@example.com", Password: "pw"}
	var cc [8]byte
	var rsk [16]byte
	flags := uint32(ConnectionlessFlags &^ Flag56)
	a, _ := respond(c, cred, flags, filetime(now), cc, rsk)
	if _, err := c.Verify(a, "pw"); err != nil {
		t.Fatalf("ASCII upper case: %v", err)
	}
	key := responseKeyNT("pw", strings.ToUpper(cred.User), "")
	blob := a.NTResponse[16:]
	a.NTResponse = append(hmacMD5(key, c.ServerChallenge[:], blob), blob...)
	if _, err := c.Verify(a, "pw"); err != nil {
		t.Fatalf("Unicode upper case: %v", err)
	}
}

func TestRefusedNegotiations(t *testing.T) {
	c := NewChallenge(target, time.Now())
	a, _, err := Respond(c, Credentials{User: "u", Password: "p"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(a *Authenticate){
		"no datagram":     func(a *Authenticate) { a.Flags &^= FlagDatagram },
		"no key exchange": func(a *Authenticate) { a.Flags &^= FlagKeyExchange },
		"NTLMv1 response": func(a *Authenticate) { a.NTResponse = a.NTResponse[:24] },
		"short key":       func(a *Authenticate) { a.EncryptedRandomSessionKey = a.EncryptedRandomSessionKey[:8] },
	} {
		b := *a
		change(&b)
		if _, err := c.Verify(&b, "p"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
	weak := *c
	weak.Flags &^= FlagSign
	if _, _, err := Respond(&weak, Credentials{User: "u", Password: "p"}, time.Now()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("client answers a challenge without signing: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	auth := unhex(t, specAuthenticate)
	for name, b := range map[string][]byte{
		"empty":            nil,
		"wrong signature":  append([]byte("NTLMSSX\x00"), auth[8:]...),
		"wrong type":       unhex(t, specChallenge),
		"field past end":   auth[:100],
		"header too short": auth[:40],
	} {
		if _, err := ParseAuthenticate(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseChallenge(auth); !errors.Is(err, ErrMalformed) {
		t.Errorf("challenge from an AUTHENTICATE: %v", err)
	}
}

func FuzzParseAuthenticate(f *testing.F) {
	f.Add([]byte{})
	spec, _ := hex.DecodeString(strings.Join(strings.Fields(specAuthenticate), ""))
	f.Add(spec)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthenticate(b)
		if err != nil {
			return
		}
		if _, err := ParseAuthenticate(a.Marshal()); err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
	})
}

// The checksum signatures carry is HMAC-MD5 over the sequence number and
// the message, whatever their lengths.
func TestChecksumIsHMACMD5(t *testing.T) {
	var key [16]byte
	for n := range 200 {
		_, _ = rand.Read(key[:])
		msg := make([]byte, n*7)
		_, _ = rand.Read(msg)
		seq := uint32(n * 977)
		want := hmacMD5(key[:], binary.LittleEndian.AppendUint32(nil, seq), msg)
		hk := newHMACKey(&key)
		if got := hk.checksum(seq, msg); !bytes.Equal(got[:], want) {
			t.Fatalf("message of %d bytes, seq %d: %x, want %x", len(msg), seq, got, want)
		}
	}
}

// Signing and checking a SIP signature allocates nothing but the MD5
// state: the key stream of its fixed sequence number is made at sign-in.
func BenchmarkSignSIP(b *testing.B) {
	client, server, err := signIn(b, "alice@example.com", "pw", "pw")
	if err != nil {
		b.Fatal(err)
	}
	buf := []byte(`<NTLM><0a1b2c3d><7><SIP Communications Service><sip.example.com><f2a9bc><5><MESSAGE><sip:bob@example.com><8a9b><sip:alice@example.com><1c2d><><><>`)
	b.ReportAllocs()
	for b.Loop() {
		if !server.VerifySIP(buf, client.SignSIP(buf)) {
			b.Fatal("signature refused")
		}
	}
}

// FuzzParseChallenge: a client reads the server's CHALLENGE; whatever it
// holds is a message or ErrMalformed, and a message re-encodes to itself.
func FuzzParseChallenge(f *testing.F) {
	f.Add([]byte{})
	spec, _ := hex.DecodeString(strings.Join(strings.Fields(specChallenge), ""))
	f.Add(spec)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChallenge(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := ParseChallenge(c.Marshal())
		if err != nil || again.Flags != c.Flags || again.ServerChallenge != c.ServerChallenge ||
			!bytes.Equal(again.TargetInfo, c.TargetInfo) || again.Version != c.Version {
			t.Fatalf("re-encoded challenge reads %+v, %v; want %+v", again, err, c)
		}
	})
}
