package filetransfer_test

import (
	"testing"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/filetransfer"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
)

// FuzzIsOffer: of whatever invitation a peer sends, only a file
// transfer's INVITE counts as an offer, and it stays one when written out
// again and read back.
func FuzzIsOffer(f *testing.F) {
	f.Add(invite.Invitation{Command: invite.Invite, AppName: invite.FileTransferName, AppGUID: invite.FileTransferGUID,
		Cookie: 7, File: "a.txt", FileSize: 10}.Payload())
	f.Add(invite.Invitation{Command: invite.Accept, Cookie: 7, IPAddress: "10.0.0.1", Port: 6891}.Payload())
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\nInvitation-Command: INVITE\r\n"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		inv, err := invite.Parse(payload)
		if err != nil {
			return
		}
		if !filetransfer.IsOffer(client.Message{Invitation: &inv}) {
			return
		}
		if inv.Command != invite.Invite || inv.AppGUID != invite.FileTransferGUID {
			t.Fatalf("taken for an offer: %+v", inv)
		}
		again, err := invite.Parse(inv.Payload())
		if err != nil || !filetransfer.IsOffer(client.Message{Invitation: &again}) {
			t.Fatalf("offer %+v written out reads back as %+v, %v", inv, again, err)
		}
	})
}
