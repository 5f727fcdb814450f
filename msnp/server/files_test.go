package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

type fakeFiles struct{}

func (fakeFiles) Deposit(ctx context.Context, sender, recipient uint32, name string, size int64, r io.Reader) (drive.Ticket, error) {
	return drive.Ticket{}, fmt.Errorf("not expected")
}
func (fakeFiles) Deliver(context.Context, drive.Ticket) bool { return false }
func (fakeFiles) MaxFileBytes() int64                        { return 1 << 20 }
func (fakeFiles) Offer(ctx context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error) {
	return drive.Ticket{}, fmt.Errorf("not expected")
}
func (fakeFiles) AwaitAnswer(ctx context.Context, id string) (drive.Ack, error) {
	return drive.AckUnknown, fmt.Errorf("not expected")
}
func (fakeFiles) Fill(ctx context.Context, id string, r io.Reader) error {
	return fmt.Errorf("not expected")
}
func (fakeFiles) Withdraw(ctx context.Context, id string) error { return nil }
func (fakeFiles) HandOver(context.Context, string, func(drive.Ticket, func() (io.ReadCloser, error)) error) error {
	return fmt.Errorf("not expected")
}
func (fakeFiles) Ticket(context.Context, string) (drive.Ticket, error) {
	return drive.Ticket{}, drive.ErrNoTicket
}

// ggFiles answers drive offers with what answers holds; an empty answer
// waits until the context ends.
type ggFiles struct {
	fakeFiles
	answers   chan drive.Ack
	withdrawn chan string
}

func (f ggFiles) Offer(ctx context.Context, sender, recipient uint32, name string, size int64) (drive.Ticket, error) {
	return drive.Ticket{ID: fmt.Sprintf("t-%s", name), Sender: sender, Recipient: recipient, FileName: name, FileSize: size}, nil
}

func (f ggFiles) AwaitAnswer(ctx context.Context, id string) (drive.Ack, error) {
	select {
	case a := <-f.answers:
		if a != "" {
			return a, nil
		}
	case <-ctx.Done():
		return drive.AckUnknown, ctx.Err()
	}
	<-ctx.Done()
	return drive.AckUnknown, ctx.Err()
}

func (f ggFiles) Withdraw(ctx context.Context, id string) error {
	f.withdrawn <- id
	return nil
}

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
	sb := b.switchboard("bob@example.com", "Bob")
	sb.send("CAL 2 carol@example.com\r\n")
	if line, _ := sb.line(); !strings.HasPrefix(line, "CAL 2 RINGING ") {
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
		files          drive.FileBridge
	}{
		{"no drive", "other", nil},
		{"gg without a drive", "gg", nil},
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

// A member online only through GG gets a drive ticket; their answer, or
// its absence, travels back to the sender.
func TestFileOfferToGG(t *testing.T) {
	f := ggFiles{answers: make(chan drive.Ack, 4), withdrawn: make(chan string, 4)}
	env := newTestEnv(t, func(c *Config) { c.Files = f; c.FileAnswerTimeout = 300 * time.Millisecond })
	sb := callOther(t, env, "gg")

	f.answers <- drive.AckRejected
	sendInvitation(sb, 3, fileOfferTo(77))
	if inv := readInvitation(t, sb); inv.Command != invite.Cancel || inv.Cookie != 77 || inv.CancelCode != invite.CancelReject {
		t.Fatalf("rejected: %+v", inv)
	}

	f.answers <- ""
	sendInvitation(sb, 4, fileOfferTo(78))
	if inv := readInvitation(t, sb); inv.Command != invite.Cancel || inv.Cookie != 78 || inv.CancelCode != invite.CancelTimeout {
		t.Fatalf("unanswered: %+v", inv)
	}
	if id := <-f.withdrawn; id != "t-a.txt" {
		t.Fatalf("withdrawn %q", id)
	}

	f.answers <- drive.AckAllowed
	sendInvitation(sb, 5, fileOfferTo(79))
	if inv := readInvitation(t, sb); inv.Command != invite.Accept || inv.Cookie != 79 || inv.LaunchApplication != "FALSE" || inv.RequestData != "IP-Address:" {
		t.Fatalf("allowed: %+v", inv)
	}
	// The sender cancels an offer still waiting: the ticket is withdrawn
	// and nothing goes back.
	f.answers <- ""
	sendInvitation(sb, 6, fileOfferTo(80))
	sendInvitation(sb, 7, invite.Invitation{Command: invite.Cancel, Cookie: 80, CancelCode: invite.CancelUserCancel})
	select {
	case <-f.withdrawn:
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled offer not withdrawn")
	}
}
