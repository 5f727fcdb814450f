package node

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/gg/ggpb"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	imipserver "github.com/crosstalk-im/crosstalk/imip/server"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	msimserver "github.com/crosstalk-im/crosstalk/msim/server"
	msimwire "github.com/crosstalk-im/crosstalk/msim/wire"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	msnpwire "github.com/crosstalk-im/crosstalk/msnp/wire"
	"github.com/crosstalk-im/crosstalk/sip/ntlm"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	sipwire "github.com/crosstalk-im/crosstalk/sip/wire"
	webchatclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webchatserver "github.com/crosstalk-im/crosstalk/webchat/server"
	webchatwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// secrets are values that must reach no log, by what they are.
type secrets map[string]string

func (s secrets) add(what, value string) {
	if len(value) < 8 {
		panic(fmt.Sprintf("secret %s %q is too short to search a log for", what, value))
	}
	s[what] = value
}

// A node logging at trace level with every protocol's wire dump on logs
// none of the secrets of a login on each protocol, of a GG session's
// IMToken, of a drive sign-in, or of an MSN switchboard invitation.
func TestTraceLogsHoldNoSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs testenv.LogBuffer
	n := startNodeWith(t, Options{
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: msnpserver.LevelTrace})),
		MSNP:    msnpserver.Config{Trace: true},
		GG:      ggserver.Config{Trace: true},
		MSIM:    msimserver.Config{Trace: true},
		IMIP:    imipserver.Config{Trace: true},
		SIP:     sipserver.Config{Trace: true},
		Webchat: webchatserver.Config{Trace: true},
	})
	password := "pw-" + rand.Text()
	addAccount(t, n, 3001, "trace@example.com", "Trace", password)
	s := secrets{}
	s.add("password", password)

	msnLoginSecrets(t, n, "trace@example.com", password, s)
	ggLoginSecrets(t, ctx, n, 3001, password, s)
	msimLoginSecrets(t, n, "trace@example.com", password, s)
	imipLoginSecrets(t, n, 3001, password, s)
	sipLoginSecrets(t, n, "trace@example.com", password, s)
	webchatLoginSecrets(t, ctx, n, "trace@example.com", password)

	got := logs.String()
	for _, protocol := range []string{"msnp", "gg", "msim", "imip", "sip", "webchat"} {
		if !strings.Contains(got, "protocol="+protocol) || !strings.Contains(got, "msg=<<") {
			t.Fatalf("no wire dump of %s in the log; the test would prove nothing:\n%s", protocol, got)
		}
	}
	for what, value := range s {
		if strings.Contains(got, value) {
			t.Errorf("the log holds the %s %q", what, value)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", got)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc
}

// msnLoginSecrets logs in over MSNP, asks for a switchboard and joins it:
// the MD5 salt and response, and the switchboard cookie.
func msnLoginSecrets(t *testing.T, n *Node, email, password string, s secrets) {
	t.Helper()
	nc := dialRaw(t, n.MSNPAddr)
	rd := msnpwire.NewReader(nc, msnpwire.DefaultLimits, "MSG")
	exchange := func(nc net.Conn, rd *msnpwire.Reader, name string, args ...string) msnpwire.Command {
		t.Helper()
		if _, err := nc.Write(msnpwire.AppendCommand(nil, name, args...)); err != nil {
			t.Fatal(err)
		}
		for {
			cmd, err := rd.ReadCommand()
			if err != nil {
				t.Fatalf("waiting for %s: %v", name, err)
			}
			if cmd.Name == name || cmd.Name == "911" {
				return cmd
			}
		}
	}
	exchange(nc, rd, "VER", "1", "MSNP7", "CVR0")
	exchange(nc, rd, "INF", "2")
	salt := exchange(nc, rd, "USR", "3", "MD5", "I", email).Arg(3)
	response := md5hex(salt + password)
	if ok := exchange(nc, rd, "USR", "4", "MD5", "S", response); ok.Arg(1) != "OK" {
		t.Fatalf("MSN login: %s", ok)
	}
	s.add("MSN salt", salt)
	s.add("MSN MD5 response", response)
	exchange(nc, rd, "CHG", "5", "NLN")
	xfr := exchange(nc, rd, "XFR", "6", "SB")
	addr, cookie := xfr.Arg(2), xfr.Arg(4)
	s.add("MSN switchboard cookie", cookie)
	_, port, _ := net.SplitHostPort(addr)
	sb := dialRaw(t, net.JoinHostPort("127.0.0.1", port))
	if ok := exchange(sb, msnpwire.NewReader(sb, msnpwire.DefaultLimits, "MSG"), "USR", "1", email, cookie); ok.Arg(1) != "OK" {
		t.Fatalf("switchboard: %s", ok)
	}
}

// ggLoginSecrets logs in over GG and signs in to the drive with the
// IMToken: the seed, the login hash, the IMToken, and the drive's session
// cookie and security token.
func ggLoginSecrets(t *testing.T, ctx context.Context, n *Node, uin uint32, password string, s secrets) {
	t.Helper()
	nc := dialRaw(t, n.GGAddr)
	rd := ggwire.NewReader(nc)
	expect := func(typ uint32) ggwire.Packet {
		t.Helper()
		p, err := rd.ReadPacket()
		if err != nil || p.Type != typ {
			t.Fatalf("waiting for %s: %v %v", ggwire.TypeName(typ), p, err)
		}
		return p
	}
	welcome, err := ggwire.ParseWelcome(expect(ggwire.TypeWelcome).Body)
	if err != nil {
		t.Fatal(err)
	}
	hash := ggwire.HashSHA1(password, welcome.Seed)
	body, err := proto.MarshalOptions{AllowPartial: true}.Marshal(&ggpb.GG105Login{
		Lang: proto.String("pl"), Uin: ggwire.AppendProtoUIN(nil, 1, uin), Hash: hash,
		InitialStatus: proto.Uint32(ggwire.StatusAvail),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(ggwire.AppendPacket(nil, ggwire.TypeLogin105, body)); err != nil {
		t.Fatal(err)
	}
	expect(ggwire.TypeLogin110OK)
	var token ggpb.GG110Imtoken
	if err := proto.Unmarshal(expect(ggwire.TypeIMToken).Body, &token); err != nil {
		t.Fatal(err)
	}
	s.add("GG seed", hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, welcome.Seed)))
	s.add("GG login hash", hex.EncodeToString(hash))
	s.add("GG IMToken", token.GetImtoken())
	s.add("GG IMToken (hex, as in packet dumps)", hex.EncodeToString([]byte(token.GetImtoken())))

	signin, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+n.HTTPAddr+"/signin", nil)
	if err != nil {
		t.Fatal(err)
	}
	signin.Header.Set("Authorization", "IMToken "+token.GetImtoken())
	signin.Header.Set("X-gged-user", "gg/pl:"+strconv.FormatUint(uint64(uin), 10))
	resp, err := http.DefaultClient.Do(signin)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	security := resp.Header.Get("X-gged-security-token")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == drive.CookieName {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == nil {
		t.Fatalf("drive sign-in: %s, cookies %v", resp.Status, resp.Cookies())
	}
	s.add("drive security token", security)
	s.add("drive session cookie", cookie.Value)

	// One signed-in request, which presents both.
	get, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+"/send_ticket/0123456789abcdef0123456789abcdef", nil)
	if err != nil {
		t.Fatal(err)
	}
	get.AddCookie(cookie)
	get.Header.Set("X-gged-security-token", security)
	if resp, err = http.DefaultClient.Do(get); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		t.Fatalf("the signed-in request was not signed in: %s", resp.Status)
	}
	http.DefaultClient.CloseIdleConnections()
}

// msimLoginSecrets logs in over MySpaceIM: the nonce and the login2
// response.
func msimLoginSecrets(t *testing.T, n *Node, email, password string, s secrets) {
	t.Helper()
	nc := dialRaw(t, n.MSIMAddr)
	rd := msimwire.NewReader(nc)
	greeting, err := rd.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := greeting.Bytes("nc")
	if err != nil {
		t.Fatal(err)
	}
	response, err := msimwire.Login2Response(nonce, email, password)
	if err != nil {
		t.Fatal(err)
	}
	login := msimwire.Message{
		msimwire.Int(msimwire.TypeLogin2, msimwire.AuthAlgorithm),
		msimwire.Str("username", email),
		msimwire.Raw("response", response),
		msimwire.Int("id", msimwire.LoginID),
	}
	if _, err := nc.Write(msimwire.Append(nil, login)); err != nil {
		t.Fatal(err)
	}
	ok, err := rd.ReadMessage()
	if lc, _ := ok.Int(msimwire.TypeLoginChallenge); err != nil || lc != msimwire.LCSuccess {
		t.Fatalf("MySpaceIM login: %v %v", ok, err)
	}
	s.add("MySpaceIM nonce", base64.StdEncoding.EncodeToString(nonce))
	s.add("MySpaceIM nonce (hex)", hex.EncodeToString(nonce))
	s.add("MySpaceIM login2 response", response)
}

// imipLoginSecrets logs in over IMIP: the salt and the login hash.
func imipLoginSecrets(t *testing.T, n *Node, number uint32, password string, s secrets) {
	t.Helper()
	var salt string
	var nc net.Conn
	var rd *imipwire.Reader
	// The salt is a random 32-bit number; one too short to search a log
	// for without chance hits is skipped by a new connection.
	for len(salt) < 9 {
		nc = dialRaw(t, n.IMIPAddr)
		rd = imipwire.NewReader(nc)
		helo, err := imipwire.NewBlock(imipwire.TypeHELO).Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(helo); err != nil {
			t.Fatal(err)
		}
		reply, err := rd.ReadBlock()
		if err != nil {
			t.Fatal(err)
		}
		salt = string(reply.Body)
	}
	logn := imipwire.NewBlock(imipwire.TypeLOGN, strconv.FormatUint(uint64(number), 10))
	hash := imipwire.LoginHash(salt, password)
	logn.Body = []byte(hash)
	enc, err := logn.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(enc); err != nil {
		t.Fatal(err)
	}
	if echo, err := rd.ReadBlock(); err != nil || echo.Type != imipwire.TypeLOGN {
		t.Fatalf("IMIP login: %v %v", echo, err)
	}
	s.add("IMIP salt", salt)
	s.add("IMIP login hash", hash)
}

// sipLoginSecrets signs in over SIP as pidgin-sipe does: the NTLM
// challenge and AUTHENTICATE, the signatures of both sides.
func sipLoginSecrets(t *testing.T, n *Node, email, password string, s secrets) {
	t.Helper()
	nc := dialRaw(t, n.SIPAddr)
	rd := sipwire.NewReader(nc, sipwire.Limits{})
	seq := 0
	register := func(authorization string) *sipwire.Message {
		seq++
		m := sipwire.NewRequest(sipwire.MethodRegister, "sip:example.com").
			Add(sipwire.HeaderVia, "SIP/2.0/tcp "+nc.LocalAddr().String()).
			Add(sipwire.HeaderFrom, "<sip:"+email+">;tag=t").
			Add(sipwire.HeaderTo, "<sip:"+email+">").
			Add(sipwire.HeaderCallID, "trace").
			Add(sipwire.HeaderCSeq, strconv.Itoa(seq)+" REGISTER")
		if authorization != "" {
			m.Add(sipwire.HeaderAuthorization, authorization)
		}
		return m
	}
	exchange := func(m *sipwire.Message) *sipwire.Message {
		t.Helper()
		enc, err := m.Encode()
		if err == nil {
			_, err = nc.Write(enc)
		}
		if err != nil {
			t.Fatal(err)
		}
		res, err := rd.ReadMessage()
		if err != nil || res == nil {
			t.Fatalf("SIP answer: %v", err)
		}
		return res
	}
	exchange(register(""))
	res := exchange(register(`NTLM qop="auth", realm="SIP Communications Service", targetname="x", gssapi-data="", version=4`))
	_, p := sipwire.AuthParams(res.Get(sipwire.HeaderWWWAuthenticate))
	raw, err := base64.StdEncoding.DecodeString(p["gssapi-data"])
	if err != nil {
		t.Fatal(err)
	}
	challenge, err := ntlm.ParseChallenge(raw)
	if err != nil {
		t.Fatal(err)
	}
	a, keys, err := ntlm.Respond(challenge, ntlm.Credentials{User: email, Password: password}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := register("")
	auth := sipwire.SignatureAuth{Protocol: "NTLM", Rand: "c0ffee01", Num: "1", Realm: p["realm"], TargetName: p["targetname"]}
	sig := keys.SignSIP(sipwire.SignatureBuffer(m, auth))
	authenticate := base64.StdEncoding.EncodeToString(a.Marshal())
	m.Add(sipwire.HeaderAuthorization, fmt.Sprintf(`NTLM qop="auth", opaque="%s", realm="%s", targetname="%s", gssapi-data="%s", version=4, crand="c0ffee01", cnum="1", response="%s"`,
		p["opaque"], auth.Realm, auth.TargetName, authenticate, sig))
	ok := exchange(m)
	if ok.StatusCode != 200 {
		t.Fatalf("SIP sign-in: %s", ok.FirstLine())
	}
	s.add("NTLM challenge", p["gssapi-data"])
	s.add("NTLM server challenge", hex.EncodeToString(challenge.ServerChallenge[:]))
	s.add("NTLM AUTHENTICATE", authenticate)
	s.add("SIP client signature", sig)
	_, info := sipwire.AuthParams(ok.Get(sipwire.HeaderAuthenticationInfo))
	s.add("SIP server signature", info["rspauth"])
}

// webchatLoginSecrets logs in over the web chat with the password (which
// the caller checks for) and sends a message whose text must not be
// dumped either.
func webchatLoginSecrets(t *testing.T, ctx context.Context, n *Node, email, password string) {
	t.Helper()
	c, err := webchatclient.Dial(ctx, "ws://"+n.HTTPAddr+"/chat/ws", webchatclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, webchatwire.Contact{Email: email + ".nobody"}, "private text "+password); err == nil {
		t.Fatal("a message to nobody was taken")
	}
}
