// Package ntlm is connectionless NTLMv2 ([MS-NLMP]) as Office
// Communications Server 2007 used it to sign in SIP clients, and the
// message signatures of [MS-SIPAE] made with its keys: the server's
// CHALLENGE, the check of a client's AUTHENTICATE against the account's
// password, the key derivation, and signing and verifying with a fresh RC4
// key per message (datagram mode). The client half (Respond) serves the
// client library and the tests.
//
// Only what pidgin-sipe 1.25 and Office Communicator need is spoken:
// NTLMv2 responses (a 24-byte NTLMv1 response is refused), extended
// session security, key exchange. The MIC of newer clients is not
// checked; a fresh random server challenge per sign-in is what stops a
// replayed AUTHENTICATE.
package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// Negotiate flags ([MS-NLMP] 2.2.2.5).
const (
	FlagUnicode                 = 0x00000001
	FlagOEM                     = 0x00000002
	FlagRequestTarget           = 0x00000004
	FlagSign                    = 0x00000010
	FlagSeal                    = 0x00000020
	FlagDatagram                = 0x00000040
	FlagNTLM                    = 0x00000200
	FlagAlwaysSign              = 0x00008000
	FlagTargetTypeDomain        = 0x00010000
	FlagTargetTypeServer        = 0x00020000
	FlagExtendedSessionSecurity = 0x00080000
	FlagIdentify                = 0x00100000
	FlagTargetInfo              = 0x00800000
	FlagVersion                 = 0x02000000
	Flag128                     = 0x20000000
	FlagKeyExchange             = 0x40000000
	Flag56                      = 0x80000000
)

// ConnectionlessFlags is what a server offers for SIP: pidgin-sipe refuses
// a challenge without signing, datagram mode, identify, key exchange,
// extended session security or target info (0xE2998255).
const ConnectionlessFlags = FlagUnicode | FlagRequestTarget | FlagSign | FlagDatagram | FlagNTLM |
	FlagAlwaysSign | FlagTargetTypeDomain | FlagExtendedSessionSecurity | FlagIdentify |
	FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExchange | Flag56

// requiredFlags are those a connectionless session cannot do without.
const requiredFlags = FlagUnicode | FlagNTLM | FlagExtendedSessionSecurity | FlagTargetInfo |
	FlagSign | FlagDatagram | FlagKeyExchange

// Version is the 8-byte VERSION structure: Windows 6.1.7600 (the era of
// OCS 2007 R2), NTLM revision 15.
var Version = [8]byte{6, 1, 0xb0, 0x1d, 0, 0, 0, 15}

var signature = []byte("NTLMSSP\x00")

const (
	typeChallenge    = 2
	typeAuthenticate = 3
)

// Errors.
var (
	ErrMalformed     = errors.New("ntlm: malformed message")
	ErrUnsupported   = errors.New("ntlm: unsupported negotiation (NTLMv2 with extended session security, key exchange and signing is required)")
	ErrWrongPassword = errors.New("ntlm: the response does not match the password")
)

// Challenge is a CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2).
type Challenge struct {
	Flags           uint32
	ServerChallenge [8]byte
	TargetName      string
	TargetInfo      []byte // AV pairs (see TargetInfo)
	Version         [8]byte
}

// NewChallenge makes a server's challenge with a fresh random server
// challenge and the connectionless flags.
func NewChallenge(target TargetInfo, now time.Time) *Challenge {
	c := &Challenge{Flags: ConnectionlessFlags, TargetName: target.NetBIOSDomain, TargetInfo: target.Marshal(now), Version: Version}
	_, _ = rand.Read(c.ServerChallenge[:])
	return c
}

// Marshal encodes c: the 56-byte header, then the target name and the
// target info.
func (c *Challenge) Marshal() []byte {
	name := encodeString(c.TargetName, c.Flags)
	b := make([]byte, 56, 56+len(name)+len(c.TargetInfo))
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeChallenge)
	putField(b[12:], len(name), 56)
	binary.LittleEndian.PutUint32(b[20:], c.Flags)
	copy(b[24:], c.ServerChallenge[:])
	putField(b[40:], len(c.TargetInfo), 56+len(name))
	copy(b[48:], c.Version[:])
	b = append(b, name...)
	return append(b, c.TargetInfo...)
}

// ParseChallenge decodes a CHALLENGE_MESSAGE.
func ParseChallenge(b []byte) (*Challenge, error) {
	if err := checkHeader(b, typeChallenge, 48); err != nil {
		return nil, err
	}
	c := &Challenge{Flags: binary.LittleEndian.Uint32(b[20:])}
	copy(c.ServerChallenge[:], b[24:32])
	name, err1 := field(b, 12)
	info, err2 := field(b, 40)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	c.TargetName = decodeString(name, c.Flags)
	c.TargetInfo = bytes.Clone(info)
	if len(b) >= 56 {
		copy(c.Version[:], b[48:56])
	}
	return c, nil
}

// Authenticate is an AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3), without MIC.
type Authenticate struct {
	Flags                     uint32
	LMResponse, NTResponse    []byte
	Domain, User, Workstation string
	EncryptedRandomSessionKey []byte
	Version                   [8]byte
}

// authHeader is the size of the AUTHENTICATE header with Version and
// without MIC, the form pidgin-sipe and [MS-NLMP] 4.2.4.3 use.
const authHeader = 72

// Marshal encodes a: the header, then domain, user, workstation, the LM and
// NT responses and the session key, in that order.
func (a *Authenticate) Marshal() []byte {
	payload := [][]byte{
		encodeString(a.Domain, a.Flags), encodeString(a.User, a.Flags), encodeString(a.Workstation, a.Flags),
		a.LMResponse, a.NTResponse, a.EncryptedRandomSessionKey,
	}
	// Descriptor offsets in the header for each payload item above.
	at := []int{28, 36, 44, 12, 20, 52}
	b := make([]byte, authHeader)
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeAuthenticate)
	off := authHeader
	for i, p := range payload {
		putField(b[at[i]:], len(p), off)
		off += len(p)
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[60:], a.Flags)
	copy(b[64:72], a.Version[:])
	return b
}

// ParseAuthenticate decodes an AUTHENTICATE_MESSAGE.
func ParseAuthenticate(b []byte) (*Authenticate, error) {
	if err := checkHeader(b, typeAuthenticate, 64); err != nil {
		return nil, err
	}
	a := &Authenticate{Flags: binary.LittleEndian.Uint32(b[60:])}
	lm, e1 := field(b, 12)
	nt, e2 := field(b, 20)
	dom, e3 := field(b, 28)
	user, e4 := field(b, 36)
	ws, e5 := field(b, 44)
	key, e6 := field(b, 52)
	if err := errors.Join(e1, e2, e3, e4, e5, e6); err != nil {
		return nil, err
	}
	a.LMResponse, a.NTResponse, a.EncryptedRandomSessionKey = bytes.Clone(lm), bytes.Clone(nt), bytes.Clone(key)
	a.Domain, a.User, a.Workstation = decodeString(dom, a.Flags), decodeString(user, a.Flags), decodeString(ws, a.Flags)
	if a.Flags&FlagVersion != 0 && len(b) >= authHeader {
		copy(a.Version[:], b[64:72])
	}
	return a, nil
}

func checkHeader(b []byte, typ uint32, min int) error {
	if len(b) < min || !bytes.Equal(b[:8], signature) {
		return fmt.Errorf("%w: no NTLMSSP header", ErrMalformed)
	}
	if t := binary.LittleEndian.Uint32(b[8:]); t != typ {
		return fmt.Errorf("%w: message type %d, want %d", ErrMalformed, t, typ)
	}
	return nil
}

// field returns the payload a length/offset descriptor at at points to.
func field(b []byte, at int) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(b[at:]))
	off := int(binary.LittleEndian.Uint32(b[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off < 0 || off > len(b) || n > len(b)-off {
		return nil, fmt.Errorf("%w: field at %d points outside the message", ErrMalformed, at)
	}
	return b[off : off+n], nil
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b, uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

func encodeString(s string, flags uint32) []byte {
	if flags&FlagUnicode == 0 {
		return []byte(s)
	}
	return utf16le(s)
}

func decodeString(b []byte, flags uint32) string {
	if flags&FlagUnicode == 0 {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// AV pair ids ([MS-NLMP] 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
)

// TargetInfo names the server in a challenge.
type TargetInfo struct {
	NetBIOSDomain, NetBIOSComputer, DNSDomain, DNSComputer string
}

// Marshal encodes the AV pairs with now as MsvAvTimestamp, the time the
// client then puts in its response.
func (t TargetInfo) Marshal(now time.Time) []byte {
	var b []byte
	add := func(id uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	add(avNbDomainName, utf16le(t.NetBIOSDomain))
	add(avNbComputerName, utf16le(t.NetBIOSComputer))
	add(avDNSDomainName, utf16le(t.DNSDomain))
	add(avDNSComputerName, utf16le(t.DNSComputer))
	add(avTimestamp, binary.LittleEndian.AppendUint64(nil, filetime(now)))
	add(avEOL, nil)
	return b
}

// timestampOf returns the MsvAvTimestamp of AV pairs, if there is one.
func timestampOf(info []byte) (uint64, bool) {
	for len(info) >= 4 {
		id, n := binary.LittleEndian.Uint16(info), int(binary.LittleEndian.Uint16(info[2:]))
		if id == avEOL || len(info) < 4+n {
			break
		}
		if id == avTimestamp && n == 8 {
			return binary.LittleEndian.Uint64(info[4:]), true
		}
		info = info[4+n:]
	}
	return 0, false
}

// filetime is Windows time: 100 ns since 1601.
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// responseKeyNT is NTOWFv2: HMAC-MD5 of MD4(UTF-16LE(password)) over
// UTF-16LE(upper-cased user ‖ domain).
func responseKeyNT(password, upperUser, domain string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return hmacMD5(h.Sum(nil), utf16le(upperUser+domain))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// asciiUpper upper-cases ASCII letters only, as pidgin-sipe does for the
// user name.
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// ntBlobMin is the NTLMv2 client challenge without target info: version,
// reserved, timestamp, client challenge, reserved.
const ntBlobMin = 28

// Verify checks an AUTHENTICATE against the challenge the server sent and
// the account's password, and returns the server's side of the session.
// ErrWrongPassword means the password does not match; ErrUnsupported a
// client that did not negotiate what signing needs.
func (c *Challenge) Verify(a *Authenticate, password string) (*Session, error) {
	if a.Flags&requiredFlags != requiredFlags {
		return nil, ErrUnsupported
	}
	if len(a.EncryptedRandomSessionKey) != 16 {
		return nil, ErrUnsupported
	}
	baseKey, err := c.sessionBaseKey(a, password)
	if err != nil {
		return nil, err
	}
	return newSession(a.Flags, baseKey, a.EncryptedRandomSessionKey, false), nil
}

// sessionBaseKey checks the NTLMv2 response and returns the session base
// key it proves.
func (c *Challenge) sessionBaseKey(a *Authenticate, password string) ([]byte, error) {
	if len(a.NTResponse) < 16+ntBlobMin {
		return nil, ErrUnsupported
	}
	proof, blob := a.NTResponse[:16], a.NTResponse[16:]
	users := []string{asciiUpper(a.User)}
	if u := strings.ToUpper(a.User); u != users[0] {
		users = append(users, u) // Windows upper-cases all of Unicode
	}
	for _, user := range users {
		key := responseKeyNT(password, user, a.Domain)
		if hmac.Equal(hmacMD5(key, c.ServerChallenge[:], blob), proof) {
			return hmacMD5(key, proof), nil
		}
	}
	return nil, ErrWrongPassword
}

// Credentials are what a client signs in with.
type Credentials struct {
	User, Domain, Password string
	Workstation            string
}

// Respond answers a challenge as pidgin-sipe does: the flags both sides
// share, an NTLMv2 response whose time is the challenge's MsvAvTimestamp
// (or now), a random session key exchanged. It returns the message and the
// client's side of the session.
func Respond(c *Challenge, cred Credentials, now time.Time) (*Authenticate, *Session, error) {
	if c.Flags&requiredFlags != requiredFlags || c.Flags&FlagAlwaysSign == 0 || c.Flags&FlagIdentify == 0 {
		return nil, nil, ErrUnsupported
	}
	flags := c.Flags&(ConnectionlessFlags) | FlagRequestTarget
	if flags&Flag128 != 0 {
		flags &^= Flag56
	}
	ts, ok := timestampOf(c.TargetInfo)
	if !ok {
		ts = filetime(now)
	}
	var clientChallenge [8]byte
	var sessionKey [16]byte
	_, _ = rand.Read(clientChallenge[:])
	_, _ = rand.Read(sessionKey[:])
	a, s := respond(c, cred, flags, ts, clientChallenge, sessionKey)
	return a, s, nil
}

// respond computes the AUTHENTICATE for fixed inputs (the tests use those
// of [MS-NLMP] 4.2.4).
func respond(c *Challenge, cred Credentials, flags uint32, ts uint64, clientChallenge [8]byte, sessionKey [16]byte) (*Authenticate, *Session) {
	key := responseKeyNT(cred.Password, asciiUpper(cred.User), cred.Domain)
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = binary.LittleEndian.AppendUint64(blob, ts)
	blob = append(blob, clientChallenge[:]...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, c.TargetInfo...)
	blob = append(blob, 0, 0, 0, 0)
	proof := hmacMD5(key, c.ServerChallenge[:], blob)
	baseKey := hmacMD5(key, proof)
	exchanged := rc4Apply(baseKey, sessionKey[:])
	a := &Authenticate{
		Flags:                     flags,
		LMResponse:                append(hmacMD5(key, c.ServerChallenge[:], clientChallenge[:]), clientChallenge[:]...),
		NTResponse:                append(proof, blob...),
		Domain:                    cred.Domain,
		User:                      cred.User,
		Workstation:               cred.Workstation,
		EncryptedRandomSessionKey: exchanged,
		Version:                   [8]byte{5, 1, 0x28, 0x0a, 0, 0, 0, 15},
	}
	return a, newSession(flags, baseKey, exchanged, true)
}

func rc4Apply(key, data []byte) []byte {
	c, _ := rc4.NewCipher(key) // only fails for an empty or over-long key
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// Session holds the keys of one side of an authenticated session, in one
// allocation: a server keeps one per signed-in client for hours.
type Session struct {
	flags              uint32
	sendSign, sendSeal [md5.Size]byte
	recvSign, recvSeal [md5.Size]byte
	// sendSIP and recvSIP are the RC4 key streams that encrypt the
	// checksum of every MS-SIPAE signature: its sequence number is always
	// SIPSequence, so its per-message key, and the 8 bytes of key stream
	// used, never change.
	sendSIP, recvSIP [checksumSize]byte
	// sendMAC and recvMAC are the signing keys made ready for HMAC.
	sendMAC, recvMAC hmacKey
}

// checksumSize is the part of the HMAC a signature carries.
const checksumSize = 8

// newSession derives the signing and sealing keys ([MS-NLMP] 3.4.5.2,
// 3.4.5.3) from the NTLMv2 session base key (the key exchange key) and the
// exchanged random session key.
func newSession(flags uint32, keyExchangeKey, encryptedKey []byte, client bool) *Session {
	exported := keyExchangeKey
	if flags&FlagKeyExchange != 0 {
		exported = rc4Apply(keyExchangeKey, encryptedKey)
	}
	c2s, s2c := "client-to-server", "server-to-client"
	sealKey := exported
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealKey = exported[:7]
	default:
		sealKey = exported[:5]
	}
	derive := func(k []byte, purpose string) [md5.Size]byte {
		return md5.Sum(append(bytes.Clone(k), "session key to "+purpose+" key magic constant\x00"...))
	}
	s := &Session{
		flags:    flags,
		sendSign: derive(exported, c2s+" signing"), sendSeal: derive(sealKey, c2s+" sealing"),
		recvSign: derive(exported, s2c+" signing"), recvSeal: derive(sealKey, s2c+" sealing"),
	}
	if !client {
		s.sendSign, s.recvSign = s.recvSign, s.sendSign
		s.sendSeal, s.recvSeal = s.recvSeal, s.sendSeal
	}
	s.sendSIP, s.recvSIP = s.keyStream(s.sendSeal[:], SIPSequence), s.keyStream(s.recvSeal[:], SIPSequence)
	s.sendMAC, s.recvMAC = newHMACKey(&s.sendSign), newHMACKey(&s.recvSign)
	return s
}

// SignatureSize is the size of an NTLMSSP_MESSAGE_SIGNATURE.
const SignatureSize = 16

// Sign returns the signature of msg with sequence number seq, made with
// this side's keys. In datagram mode every message has an RC4 key of its
// own, MD5(sealing key ‖ seq) ([MS-NLMP] 3.4.4.2, 3.4.3).
func (s *Session) Sign(seq uint32, msg []byte) [SignatureSize]byte {
	stream := s.sendSIP
	if seq != SIPSequence {
		stream = s.keyStream(s.sendSeal[:], seq)
	}
	return mac(s.flags, stream, &s.sendMAC, seq, msg)
}

// Verify checks the peer's signature of msg, with the sequence number the
// signature carries.
func (s *Session) Verify(msg []byte, sig [SignatureSize]byte) bool {
	seq := binary.LittleEndian.Uint32(sig[12:])
	stream := s.recvSIP
	if seq != SIPSequence {
		stream = s.keyStream(s.recvSeal[:], seq)
	}
	want := mac(s.flags, stream, &s.recvMAC, seq, msg)
	return hmac.Equal(want[:], sig[:])
}

// keyStream is the start of the RC4 key stream that encrypts the checksum
// of the signature with sequence number seq: in datagram mode each message
// has a key of its own, MD5(sealing key ‖ seq).
func (s *Session) keyStream(sealKey []byte, seq uint32) [checksumSize]byte {
	key := sealKey
	if s.flags&FlagDatagram != 0 {
		sum := md5.Sum(binary.LittleEndian.AppendUint32(bytes.Clone(sealKey), seq))
		key = sum[:]
	}
	c, _ := rc4.NewCipher(key)
	var stream [checksumSize]byte
	c.XORKeyStream(stream[:], stream[:])
	return stream
}

// mac is MAC() with extended session security ([MS-NLMP] 3.4.4.2): the
// first 8 bytes of HMAC-MD5(signing key, seq ‖ msg), encrypted with the
// key stream when keys were exchanged.
func mac(flags uint32, stream [checksumSize]byte, signKey *hmacKey, seq uint32, msg []byte) [SignatureSize]byte {
	var out [SignatureSize]byte
	binary.LittleEndian.PutUint32(out[0:], 1)
	sum := signKey.checksum(seq, msg)
	copy(out[4:12], sum[:checksumSize])
	if flags&FlagKeyExchange != 0 {
		subtle.XORBytes(out[4:12], out[4:12], stream[:])
	}
	binary.LittleEndian.PutUint32(out[12:], seq)
	return out
}

// hmacKey is an HMAC-MD5 key (RFC 2104) as the MD5 states after its
// inner and outer pad blocks, made once per session: every signature
// then hashes two blocks fewer.
type hmacKey struct {
	inner, outer [md5.Size]byte
}

// md5StateSize is the size of a marshalled MD5 state: a magic string,
// the four state words, a block of pending input and the length hashed.
const md5StateSize = 4 + md5.Size + md5.BlockSize + 8

func newHMACKey(key *[md5.Size]byte) hmacKey {
	padState := func(pad byte) (state [md5.Size]byte) {
		var block [md5.BlockSize]byte
		for i := range block {
			block[i] = pad
		}
		subtle.XORBytes(block[:md5.Size], block[:md5.Size], key[:])
		h := md5.New()
		h.Write(block[:])
		b, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		copy(state[:], b[4:])
		return state
	}
	return hmacKey{inner: padState(0x36), outer: padState(0x5c)}
}

// marshalled is an MD5 state, one block of a pad hashed, in the form
// that UnmarshalBinary takes.
func marshalled(state *[md5.Size]byte) (b [md5StateSize]byte) {
	copy(b[:], "md5\x01")
	copy(b[4:], state[:])
	binary.BigEndian.PutUint64(b[md5StateSize-8:], md5.BlockSize)
	return b
}

// checksum is HMAC-MD5(k, seq ‖ msg) with one MD5 state on the stack of
// its caller rather than crypto/hmac's several allocations: every SIP
// message is signed or checked with it.
func (k *hmacKey) checksum(seq uint32, msg []byte) [md5.Size]byte {
	h := md5.New()
	resume := h.(encoding.BinaryUnmarshaler)
	state := marshalled(&k.inner)
	if err := resume.UnmarshalBinary(state[:]); err != nil {
		panic("ntlm: MD5 state not restored: " + err.Error())
	}
	var num [4]byte
	binary.LittleEndian.PutUint32(num[:], seq)
	h.Write(num[:])
	h.Write(msg)
	var inner, sum [md5.Size]byte
	h.Sum(inner[:0])
	state = marshalled(&k.outer)
	if err := resume.UnmarshalBinary(state[:]); err != nil {
		panic("ntlm: MD5 state not restored: " + err.Error())
	}
	h.Write(inner[:])
	h.Sum(sum[:0])
	return sum
}

// SIPSequence is the sequence number every MS-SIPAE signature uses: the
// SIP layer has its own counters (cnum, snum), and [MS-SIPAE] has the
// NTLM security provider sign with 100 every time.
const SIPSequence = 100

// SignSIP signs an MS-SIPAE signature buffer and returns the signature as
// the 32 upper-case hex digits of a response= or rspauth= parameter.
func (s *Session) SignSIP(buf []byte) string {
	var hexSig [2 * SignatureSize]byte
	return string(s.AppendSignSIP(hexSig[:0], buf))
}

// AppendSignSIP is SignSIP appending the digits to dst, for a caller that
// builds the header around them.
func (s *Session) AppendSignSIP(dst, buf []byte) []byte {
	sig := s.Sign(SIPSequence, buf)
	const upperHex = "0123456789ABCDEF"
	for _, b := range sig {
		dst = append(dst, upperHex[b>>4], upperHex[b&0x0f])
	}
	return dst
}

// VerifySIP checks the hex signature of an MS-SIPAE signature buffer
// (either case of hex digits).
func (s *Session) VerifySIP(buf []byte, sig string) bool {
	var b [SignatureSize]byte
	if len(sig) != 2*SignatureSize {
		return false
	}
	if _, err := hex.Decode(b[:], []byte(sig)); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[12:]) == SIPSequence && s.Verify(buf, b)
}
