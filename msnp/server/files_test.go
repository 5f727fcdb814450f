package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

type fakeFiles struct{}

func (fakeFiles) Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error) {
	return drive.Ticket{}, fmt.Errorf("not expected")
}
func (fakeFiles) LinkPath(drive.Ticket) string { return "/link/x" }

// callOther opens a session of bob's and calls carol, who is online through
// protocol, into it.
func callOther(t *testing.T, env *testEnv, protocol string) *rawClient {
	t.Helper()
	env.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := env.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	s, err := env.hub.Attach(context.Background(), carol, protocol, &otherProtocol{more: make(chan struct{}, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(context.Background(), hub.StatusOnline, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Detach(context.Background()) })
	b := dialRaw(t, env.nsAddr)
	b.login("bob@example.com", "pb")
	b.send("CHG 4 NLN\r\nXFR 5 SB\r\n")
	b.expect("CHG 4 NLN")
	line, _ := b.line()
	var addr, cookie string
	fmt.Sscanf(line, "XFR 5 SB %s CKI %s", &addr, &cookie)
	sb := dialRaw(t, addr)
	sb.send("USR 1 bob@example.com " + cookie + "\r\nCAL 2 carol@example.com\r\n")
	sb.expect("USR 1 OK bob@example.com Bob")
	if line, _ = sb.line(); !strings.HasPrefix(line, "CAL 2 RINGING ") {
		t.Fatalf("CAL: %q", line)
	}
	sb.expect("JOI carol@example.com Carol")
	return sb
}

func sendInvitation(sb *rawClient, trid int, inv invite.Invitation) {
	p := inv.Payload()
	sb.send(fmt.Sprintf("MSG %d N %d\r\n%s", trid, len(p), p))
}

func readInvitation(t *testing.T, sb *rawClient) invite.Invitation {
	t.Helper()
	head, payload := sb.readMSG()
	if !strings.HasPrefix(head, "MSG carol@example.com ") {
		t.Fatalf("MSG from %q", head)
	}
	inv, err := invite.Parse([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func fileOfferTo(cookie uint32) invite.Invitation {
	return invite.Invitation{
		Command: invite.Invite, Cookie: cookie, AppName: invite.FileTransferName,
		AppGUID: invite.FileTransferGUID, File: "a.txt", FileSize: 10,
	}
}

func TestFileOfferDeclined(t *testing.T) {
	for _, tc := range []struct {
		name, protocol string
		files          Files
	}{
		{"no drive", "other", nil},
		{"gg", "gg", fakeFiles{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, func(c *Config) { c.Files = tc.files })
			sb := callOther(t, env, tc.protocol)
			sendInvitation(sb, 3, fileOfferTo(77))
			inv := readInvitation(t, sb)
			if inv.Command != invite.Cancel || inv.Cookie != 77 || inv.CancelCode != invite.CancelRejectNotInstalled {
				t.Fatalf("answer %+v", inv)
			}
		})
	}
}

func TestFileOfferSenderUnreachable(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Files = fakeFiles{} })
	sb := callOther(t, env, "other")
	sendInvitation(sb, 3, fileOfferTo(77))
	inv := readInvitation(t, sb)
	if inv.Command != invite.Accept || inv.Cookie != 77 || inv.LaunchApplication != "FALSE" || inv.RequestData != "IP-Address:" {
		t.Fatalf("answer %+v", inv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sendInvitation(sb, 4, invite.Invitation{Command: invite.Accept, Cookie: 77, IPAddress: "127.0.0.1", Port: port, AuthCookie: 5})
	if inv := readInvitation(t, sb); inv.Command != invite.Cancel || inv.CancelCode != invite.CancelFTTimeout {
		t.Fatalf("answer %+v", inv)
	}
	// A CANCEL of a pending offer is taken silently; a new offer is accepted.
	sendInvitation(sb, 5, fileOfferTo(78))
	readInvitation(t, sb)
	sendInvitation(sb, 6, invite.Invitation{Command: invite.Cancel, Cookie: 78, CancelCode: invite.CancelUserCancel})
	sendInvitation(sb, 7, invite.Invitation{Command: invite.Accept, Cookie: 78, IPAddress: "127.0.0.1", Port: port, AuthCookie: 5})
	sendInvitation(sb, 8, fileOfferTo(79))
	if inv := readInvitation(t, sb); inv.Command != invite.Accept || inv.Cookie != 79 {
		t.Fatalf("answer %+v", inv)
	}
}
