package filetransfer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/p2p"
)

// MSN Messenger 6 and later send files over MSNSLP instead (SendP2P,
// NextP2POffer, ReceiveP2P, DeclineP2P): an INVITE in P2P messages inside
// the switchboard, answered 200 OK or 603 Decline, then the file in chunks
// of the same session, acknowledged once complete, and BYE. These keep
// the data in the switchboard; they never negotiate a direct connection.

// newPeer is our P2P side toward remote in sb: joined as an MSNP16+
// endpoint, it names us in P2P-Src as WLM 2009 does in version 1.
func newPeer(sb *client.Switchboard, remote string) *p2p.Peer {
	peer := p2p.NewPeer(sb.Email(), remote)
	if sb.Endpoint() != "" {
		peer.Source = sb.Email()
	}
	return peer
}

// P2POffer is a file offered over MSNSLP.
type P2POffer struct {
	From string
	Name string
	Size int64

	invite p2p.SLP
	peer   *p2p.Peer
}

// Errors that end a P2P transfer from the other side: RejectedError with
// these codes.
const (
	CodeDeclined = invite.CancelReject // 603 Decline
	CodeBye      = "BYE"               // the other side closed the session
)

// SendP2P offers a file to `to` in sb over MSNSLP and, if accepted, sends
// it. It returns once the receiver has acknowledged the whole file.
func SendP2P(ctx context.Context, sb *client.Switchboard, to, name string, size int64, r io.Reader, o Options) error {
	if size < 0 {
		return errors.New("filetransfer: negative size")
	}
	peer := newPeer(sb, to)
	session := p2p.NewSessionID()
	inv := p2p.NewInvite(sb.Email(), to, p2p.EUFFileTransfer, session, p2p.AppFile, p2p.FileContext{Name: name, Size: uint64(size)}.Encode())
	if err := sendAll(ctx, sb, peer.SLPPayloads(inv)); err != nil {
		return err
	}
	answer, err := awaitP2P(ctx, sb, peer, o.answerTimeout(), func(in p2pIn) bool {
		return in.slp != nil && in.slp.CallID == inv.CallID
	})
	if err != nil {
		bye(ctx, sb, peer, inv)
		return err
	}
	if err := answerError(*answer.slp); err != nil {
		return err
	}

	// The data: one message of size bytes, in chunks.
	id := peer.NextID()
	buf := make([]byte, p2p.MaxChunk)
	var sent int64
	acked := false
	for first := true; first || sent < size; first = false {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-sent)])
		if err != nil && n == 0 && size > 0 {
			bye(ctx, sb, peer, inv)
			return fmt.Errorf("filetransfer: reading the file: %w", err)
		}
		m := p2p.Message{Header: p2p.Header{SessionID: session, ID: id, Offset: uint64(sent), TotalSize: uint64(size),
			Flags: p2p.FlagFileData, AckSessionID: id}, Data: buf[:n], AppID: p2p.AppFile}
		if _, err := sb.Send(ctx, peer.Wrap(m), 'D'); err != nil {
			return err
		}
		sent += int64(n)
		if o.Progress != nil {
			o.Progress(sent)
		}
		// The receiver may have cancelled meanwhile.
		if acked, err = drainP2P(sb, peer, inv.CallID, id); err != nil {
			return err
		}
	}
	if !acked {
		in, err := awaitP2P(ctx, sb, peer, o.stepTimeout(), func(in p2pIn) bool {
			return in.msg.IsAck() && in.msg.AckSessionID == id || in.slp != nil && in.slp.CallID == inv.CallID
		})
		if err != nil {
			bye(ctx, sb, peer, inv)
			return err
		}
		if in.slp != nil {
			return answerError(*in.slp)
		}
	}
	bye(ctx, sb, peer, inv)
	return nil
}

// answerError reads the answer to an INVITE: nil for 200 OK.
func answerError(s p2p.SLP) error {
	switch {
	case s.Status == p2p.StatusOK:
		return nil
	case s.Status == p2p.StatusDecline:
		return &RejectedError{Code: CodeDeclined}
	case s.Method == p2p.Bye:
		return &RejectedError{Code: CodeBye}
	}
	return &RejectedError{Code: strconv.Itoa(s.Status)}
}

// NextP2POffer waits for a file INVITE over MSNSLP in sb (see
// P2PWatcher).
func NextP2POffer(ctx context.Context, sb *client.Switchboard) (P2POffer, error) {
	w := NewP2PWatcher(sb)
	for {
		m, err := nextMessage(ctx, sb)
		if err != nil {
			return P2POffer{}, err
		}
		if offer, ok := w.Offer(ctx, m); ok {
			return offer, nil
		}
	}
}

// P2PWatcher finds file offers among the messages of a switchboard whose
// events the caller reads itself.
type P2PWatcher struct {
	sb    *client.Switchboard
	peers map[string]*p2p.Peer
	// Picture, when set, serves requests for display pictures: it returns
	// the data of the MSN object asked for (its XML as the requester sent
	// it), or false to decline.
	Picture func(msnobj string) ([]byte, bool)
}

// NewP2PWatcher watches sb.
func NewP2PWatcher(sb *client.Switchboard) *P2PWatcher {
	return &P2PWatcher{sb: sb, peers: map[string]*p2p.Peer{}}
}

// Offer reads one message of the switchboard: it acknowledges the P2P
// messages, declines invitations to other kinds of session (display
// pictures, webcam) and returns a file INVITE as an offer.
func (w *P2PWatcher) Offer(ctx context.Context, m client.Message) (P2POffer, bool) {
	if m.ContentType != p2p.ContentType {
		return P2POffer{}, false
	}
	peer := w.peers[m.From]
	if peer == nil {
		peer = newPeer(w.sb, m.From)
		w.peers[m.From] = peer
	}
	in, ok := readP2P(ctx, w.sb, peer, m)
	if !ok || in.slp == nil || in.slp.Method != p2p.Invite || in.slp.ContentType != p2p.SessionRequest {
		return P2POffer{}, false
	}
	euf := in.slp.Body.Get("EUF-GUID")
	if strings.EqualFold(euf, p2p.EUFMSNObject) && w.Picture != nil {
		w.servePicture(ctx, peer, *in.slp)
		return P2POffer{}, false
	}
	if !strings.EqualFold(euf, p2p.EUFFileTransfer) {
		sendAll(ctx, w.sb, peer.SLPPayloads(in.slp.Answer(p2p.StatusDecline)))
		return P2POffer{}, false
	}
	fc, err := p2p.ParseFileContext(in.slp.Body.Get("Context"))
	if err != nil || fc.Size > 1<<62 {
		return P2POffer{}, false
	}
	return P2POffer{From: m.From, Name: fc.Name, Size: int64(fc.Size), invite: *in.slp, peer: peer}, true
}

// ReceiveP2P accepts an offer and writes the file to w. A file larger
// than offered, or a write that fails, ends the transfer with BYE.
func ReceiveP2P(ctx context.Context, sb *client.Switchboard, offer P2POffer, w io.Writer, o Options) (int64, error) {
	peer, inv := offer.peer, offer.invite
	session := inv.SessionID()
	if err := sendAll(ctx, sb, peer.SLPPayloads(inv.Answer(p2p.StatusOK))); err != nil {
		return 0, err
	}
	var got int64
	wait := o.answerTimeout()
	for {
		in, err := awaitP2P(ctx, sb, peer, wait, func(in p2pIn) bool {
			return in.slp != nil && in.slp.CallID == inv.CallID || in.slp == nil && in.msg.SessionID == session && !in.msg.IsAck()
		})
		if err != nil {
			bye(ctx, sb, peer, inv)
			return got, err
		}
		if in.slp != nil {
			return got, &RejectedError{Code: CodeBye}
		}
		wait = o.stepTimeout()
		m := in.msg
		if m.Offset != uint64(got) || m.TotalSize != uint64(offer.Size) {
			bye(ctx, sb, peer, inv)
			return got, errors.New("filetransfer: the sender's data does not match its offer")
		}
		if _, err := w.Write(m.Data); err != nil {
			bye(ctx, sb, peer, inv)
			return got, err
		}
		got += int64(len(m.Data))
		if o.Progress != nil {
			o.Progress(got)
		}
		if m.Complete() {
			_, err := sb.Send(ctx, peer.AckPayload(m.Header), 'D')
			return got, err
		}
	}
}

// DeclineP2P answers an offer with 603 Decline.
func DeclineP2P(ctx context.Context, sb *client.Switchboard, offer P2POffer) error {
	inv := offer.invite
	return sendAll(ctx, sb, offer.peer.SLPPayloads(inv.Answer(p2p.StatusDecline)))
}

// bye closes the session of inv (ours or the other side's).
func bye(ctx context.Context, sb *client.Switchboard, peer *p2p.Peer, inv p2p.SLP) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	sendAll(sctx, sb, peer.SLPPayloads(inv.Bye(sb.Email())))
}

func sendAll(ctx context.Context, sb *client.Switchboard, payloads [][]byte) error {
	for _, p := range payloads {
		if _, err := sb.Send(ctx, p, 'D'); err != nil {
			return err
		}
	}
	return nil
}

// p2pIn is one P2P message read: a whole MSNSLP message, or else a chunk
// of data or an acknowledgement.
type p2pIn struct {
	slp *p2p.SLP
	msg p2p.Message
}

// readP2P reads a switchboard message from the peer's remote side as
// P2P; complete messages other than acknowledgements are acknowledged,
// except data, which the receiver acknowledges once it has it all.
func readP2P(ctx context.Context, sb *client.Switchboard, peer *p2p.Peer, m client.Message) (p2pIn, bool) {
	if m.From != peer.Remote || m.ContentType != p2p.ContentType {
		return p2pIn{}, false
	}
	_, pm, err := p2p.ParsePayload(m.Payload)
	if err != nil {
		return p2pIn{}, false
	}
	if pm.SessionID != 0 || pm.IsAck() {
		return p2pIn{msg: pm}, true
	}
	text, complete, err := peer.ReceiveSLP(pm)
	if err != nil || !complete {
		return p2pIn{}, false
	}
	sb.Send(ctx, peer.AckPayload(pm.Header), 'D')
	s, err := p2p.ParseSLP(text)
	if err != nil {
		return p2pIn{}, false
	}
	return p2pIn{slp: &s, msg: pm}, true
}

// awaitP2P reads sb until a P2P message from the peer's remote side
// satisfies want, the remote side leaves, or timeout passes.
func awaitP2P(ctx context.Context, sb *client.Switchboard, peer *p2p.Peer, timeout time.Duration, want func(p2pIn) bool) (p2pIn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		m, err := nextMessage(ctx, sb)
		if err != nil {
			if errors.Is(err, errLeft) || ctx.Err() != nil {
				return p2pIn{}, fmt.Errorf("no answer from %s: %w", peer.Remote, err)
			}
			return p2pIn{}, err
		}
		if in, ok := readP2P(ctx, sb, peer, m); ok && want(in) {
			return in, nil
		}
	}
}

// drainP2P reads what sb already holds, without waiting, for a BYE of
// the call or the acknowledgement of message id.
func drainP2P(sb *client.Switchboard, peer *p2p.Peer, callID string, id uint32) (acked bool, err error) {
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return false, errors.New("switchboard closed")
			}
			m, isMsg := ev.(client.Message)
			if !isMsg {
				continue
			}
			in, ok := readP2P(context.Background(), sb, peer, m)
			switch {
			case !ok:
			case in.slp != nil && in.slp.CallID == callID:
				if err := answerError(*in.slp); err != nil {
					return false, err
				}
			case in.msg.IsAck() && in.msg.AckSessionID == id:
				acked = true
			}
		default:
			return acked, nil
		}
	}
}

var errLeft = errors.New("left the conversation")

// nextMessage returns the next switchboard message.
func nextMessage(ctx context.Context, sb *client.Switchboard) (client.Message, error) {
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return client.Message{}, errors.New("switchboard closed")
			}
			switch ev := ev.(type) {
			case client.Message:
				return ev, nil
			case client.Left:
				if len(sb.Roster()) == 0 {
					return client.Message{}, fmt.Errorf("%s %w", ev.Email, errLeft)
				}
			}
		case <-ctx.Done():
			return client.Message{}, ctx.Err()
		}
	}
}

// servePicture answers a display picture request: 200 OK, the 4-byte
// data preparation message, then the picture in chunks flagged as MSN
// object data.
func (w *P2PWatcher) servePicture(ctx context.Context, peer *p2p.Peer, inv p2p.SLP) {
	ctxt, _ := base64.StdEncoding.DecodeString(inv.Body.Get("Context"))
	data, ok := w.Picture(strings.TrimRight(string(ctxt), "\x00"))
	session := inv.SessionID()
	if !ok || session == 0 {
		sendAll(ctx, w.sb, peer.SLPPayloads(inv.Answer(p2p.StatusDecline)))
		return
	}
	if sendAll(ctx, w.sb, peer.SLPPayloads(inv.Answer(p2p.StatusOK))) != nil {
		return
	}
	prep := p2p.Message{Header: p2p.Header{SessionID: session, ID: peer.NextID(), TotalSize: 4}, Data: make([]byte, 4), AppID: p2p.AppMSNObject}
	if sendAll(ctx, w.sb, [][]byte{peer.Wrap(prep)}) != nil {
		return
	}
	p2p.Chunks(session, peer.NextID(), p2p.FlagMSNObjectData, p2p.AppMSNObject, data, func(m p2p.Message) error {
		_, err := w.sb.Send(ctx, peer.Wrap(m), 'D')
		return err
	})
}

// RequestPicture asks owner in sb for the display picture described by
// msnobj (the object's XML, as ParseMSNObject's input decoded) and returns
// its data once it is all in.
func RequestPicture(ctx context.Context, sb *client.Switchboard, owner, msnobj string, o Options) ([]byte, error) {
	peer := newPeer(sb, owner)
	session := p2p.NewSessionID()
	inv := p2p.NewInvite(sb.Email(), owner, p2p.EUFMSNObject, session, p2p.AppMSNObject, base64.StdEncoding.EncodeToString(append([]byte(msnobj), 0)))
	if err := sendAll(ctx, sb, peer.SLPPayloads(inv)); err != nil {
		return nil, err
	}
	answer, err := awaitP2P(ctx, sb, peer, o.answerTimeout(), func(in p2pIn) bool {
		return in.slp != nil && in.slp.CallID == inv.CallID
	})
	if err != nil {
		return nil, err
	}
	if err := answerError(*answer.slp); err != nil {
		return nil, err
	}
	var data []byte
	for {
		in, err := awaitP2P(ctx, sb, peer, o.stepTimeout(), func(in p2pIn) bool {
			return in.slp != nil && in.slp.CallID == inv.CallID || in.slp == nil && in.msg.SessionID == session && !in.msg.IsAck()
		})
		if err != nil {
			bye(ctx, sb, peer, inv)
			return nil, err
		}
		if in.slp != nil {
			return nil, &RejectedError{Code: CodeBye}
		}
		m := in.msg
		if m.Flags&p2p.FlagMSNObjectData == 0 {
			continue // the data preparation message
		}
		if m.Offset != uint64(len(data)) || m.TotalSize > maxPicture {
			bye(ctx, sb, peer, inv)
			return nil, errors.New("filetransfer: the picture's chunks are out of order")
		}
		data = append(data, m.Data...)
		if m.Complete() {
			sb.Send(ctx, peer.AckPayload(m.Header), 'D')
			bye(ctx, sb, peer, inv)
			return data, nil
		}
	}
}

// maxPicture bounds a display picture RequestPicture takes.
const maxPicture = 1 << 20
