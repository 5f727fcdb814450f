package client

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/crosstalk-im/crosstalk/internal/bufpool"
	"github.com/crosstalk-im/crosstalk/msnp/invite"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Switchboard is a connection to a switchboard server: one chat session.
// Create it with Client.StartChat (then Call people in) or Client.Answer
// (after a Ring event). Its TrIDs start at 1, independent of the Client's.
type Switchboard struct {
	conn  *conn
	ev    *events
	email string // own account
	// joinAs names us in USR and ANS: the account, and from MSNP16 the
	// endpoint (email;{guid}).
	joinAs string

	mu        sync.Mutex
	friendly  string
	sessionID string
	roster    []Participant
	endErr    error
}

// Participant is someone else in a switchboard session.
type Participant struct {
	Email    string
	Friendly string // decoded
}

// sbAsync are switchboard commands that never answer a request.
var sbAsync = map[string]bool{"JOI": true, "BYE": true, "MSG": true, "OUT": true}

func (c *Client) openSwitchboard(ctx context.Context, addr string) (*Switchboard, error) {
	nc, err := c.opts.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sb := c.newSwitchboard(nc, addr)
	sb.conn.start()
	return sb, nil
}

// newSwitchboard wraps nc; the caller starts the conn.
func (c *Client) newSwitchboard(nc net.Conn, addr string) *Switchboard {
	sb := &Switchboard{ev: newEvents(c.opts.EventBuffer), email: c.Email(), joinAs: c.Email()}
	if c.Dialect() >= 16 {
		sb.joinAs += ";" + c.MachineGUID() // MSNP16+ join as this endpoint
	}
	log := c.opts.Logger.With("conn", "sb", "addr", addr)
	sb.conn = newConn(nc, c.opts.Limits, log, 1, hooks{
		async:       sb.handle,
		alwaysAsync: sbAsync,
		closed:      sb.connClosed,
	})
	return sb
}

// StartChat asks the notification server for a switchboard (XFR SB),
// connects to it and authenticates with the cookie (USR). The session is
// empty until Call brings someone in.
func (c *Client) StartChat(ctx context.Context) (*Switchboard, error) {
	reply, err := c.single(ctx, "XFR", "SB") // XFR trid SB addr CKI cookie
	if err != nil {
		return nil, err
	}
	if reply.Arg(1) != "SB" || reply.Arg(3) != "CKI" || reply.Arg(4) == "" {
		return nil, unexpected("XFR", reply)
	}
	sb, err := c.openSwitchboard(ctx, reply.Arg(2))
	if err != nil {
		return nil, fmt.Errorf("msnp client: connecting to switchboard %s: %w", reply.Arg(2), err)
	}
	reply, err = sb.conn.request(ctx, nil, "USR", sb.joinAs, reply.Arg(4)) // USR trid OK email friendly
	if err == nil && (reply.Name != "USR" || reply.Arg(1) != "OK") {
		err = unexpected("USR", reply)
	}
	if err != nil {
		sb.Close()
		return nil, err
	}
	sb.mu.Lock()
	sb.friendly = wire.DecodeName(reply.Arg(3))
	sb.mu.Unlock()
	return sb, nil
}

// Answer joins the switchboard session a Ring invited us to (ANS). The
// participants already there (IRO lines) are in Roster when it returns.
func (c *Client) Answer(ctx context.Context, ring Ring) (*Switchboard, error) {
	sb, err := c.openSwitchboard(ctx, ring.Addr)
	if err != nil {
		return nil, fmt.Errorf("msnp client: connecting to switchboard %s: %w", ring.Addr, err)
	}
	sb.mu.Lock()
	sb.sessionID = ring.SessionID
	sb.mu.Unlock()
	accept := func(cmd wire.Command) (bool, error) {
		switch {
		case cmd.Name == "IRO": // IRO trid i n email friendly
			if !isEndpoint(cmd.Arg(3)) {
				sb.join(cmd.Arg(3), wire.DecodeName(cmd.Arg(4)))
			}
			return false, nil
		case cmd.Name == "ANS" && cmd.Arg(1) == "OK":
			return true, nil
		}
		return true, unexpected("ANS", cmd)
	}
	if _, err := sb.conn.request(ctx, accept, "ANS", sb.joinAs, ring.Cookie, ring.SessionID); err != nil {
		sb.Close()
		return nil, err
	}
	return sb, nil
}

func (sb *Switchboard) join(email, friendly string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for i, p := range sb.roster {
		if strings.EqualFold(p.Email, email) {
			sb.roster[i].Friendly = friendly
			return
		}
	}
	sb.roster = append(sb.roster, Participant{Email: email, Friendly: friendly})
}

// isEndpoint reports whether a switchboard participant is named as one of
// its endpoints (email;{guid}, MSNP16+).
func isEndpoint(name string) bool { return strings.Contains(name, ";") }

func (sb *Switchboard) leave(email string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for i, p := range sb.roster {
		if strings.EqualFold(p.Email, email) {
			sb.roster = append(sb.roster[:i], sb.roster[i+1:]...)
			return
		}
	}
}

func (sb *Switchboard) handle(cn *conn, cmd wire.Command) {
	var ev Event
	switch cmd.Name {
	case "JOI": // JOI email friendly
		if isEndpoint(cmd.Arg(0)) {
			break // MSNP16+ name each endpoint, then the participant
		}
		ev = Joined{Email: cmd.Arg(0), Friendly: wire.DecodeName(cmd.Arg(1))}
		sb.join(cmd.Arg(0), wire.DecodeName(cmd.Arg(1)))
	case "BYE": // BYE email [1]
		if isEndpoint(cmd.Arg(0)) {
			break
		}
		ev = Left{Email: cmd.Arg(0), Idle: cmd.Arg(1) == "1"}
		sb.leave(cmd.Arg(0))
	case "MSG": // MSG email friendly len
		ev = newMessage(cmd.Arg(0), wire.DecodeName(cmd.Arg(1)), cmd.Payload)
	case "NAK": // NAK trid, for a message sent in mode N
		if trid, err := strconv.Atoi(cmd.Arg(0)); err == nil {
			ev = Nak{TrID: trid}
		}
	case "OUT":
		cn.fail(ErrSignedOut)
	}
	if code, isErr := errorCode(cmd.Name); isErr && ev == nil {
		if trid, ok := cmd.TrID(); ok {
			if n, err := strconv.Atoi(trid); err == nil {
				ev = Refused{TrID: n, Code: code}
			}
		}
	}
	if ev == nil {
		if _, isErr := errorCode(cmd.Name); !isErr {
			cn.log.Debug("msnp: ignored", "cmd", cmd.String())
		}
		return
	}
	if !sb.ev.Emit(ev) {
		cn.fail(ErrEventOverflow)
	}
}

func (sb *Switchboard) connClosed(_ *conn, err error) {
	sb.mu.Lock()
	sb.endErr = err
	sb.mu.Unlock()
	sb.ev.Finish(Closed{Err: err})
}

// Email is the account this switchboard connection is signed in as.
func (sb *Switchboard) Email() string { return sb.email }

// Endpoint is the machine GUID this connection joined the session as
// (MSNP16+, email;{guid}), "" for earlier dialects.
func (sb *Switchboard) Endpoint() string {
	_, guid, _ := strings.Cut(sb.joinAs, ";")
	return guid
}

// LocalAddr is this end of the switchboard connection: the address the
// server (and so, usually, the other participants) can reach us at.
func (sb *Switchboard) LocalAddr() net.Addr { return sb.conn.nc.LocalAddr() }

// Events returns the channel of switchboard events. It is closed after the
// final Closed event.
func (sb *Switchboard) Events() <-chan Event { return sb.ev.C() }

// Err returns why the session ended, or nil while it is up.
func (sb *Switchboard) Err() error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.endErr
}

// SessionID returns the session id: from the Ring for answered sessions,
// from the first CAL reply for started ones ("" before that).
func (sb *Switchboard) SessionID() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.sessionID
}

// Friendly returns our own friendly name as the switchboard's USR OK gave
// it ("" for answered sessions).
func (sb *Switchboard) Friendly() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.friendly
}

// Roster returns the other participants: those listed by IRO when
// answering, plus JOI, minus BYE.
func (sb *Switchboard) Roster() []Participant {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Participant(nil), sb.roster...)
}

// Call invites email into the session (CAL) and returns the session id from
// "CAL trid RINGING sid". The invitee's arrival is a later Joined event.
// Errors such as 217 (not online) come back as *ServerError.
func (sb *Switchboard) Call(ctx context.Context, email string) (sessionID string, err error) {
	reply, err := sb.conn.request(ctx, nil, "CAL", email)
	if err != nil {
		return "", err
	}
	if reply.Name != "CAL" || reply.Arg(1) != "RINGING" {
		return "", unexpected("CAL", reply)
	}
	sb.mu.Lock()
	if sb.sessionID == "" {
		sb.sessionID = reply.Arg(2)
	}
	sb.mu.Unlock()
	return reply.Arg(2), nil
}

// Send sends a message payload (MSG trid mode len) and returns its TrID.
// Modes:
//   - 'U': unacknowledged; Send returns once the message is written.
//   - 'N': the server answers only on failure; Send returns at once and a
//     later NAK arrives as a Nak event with this TrID.
//   - 'A': Send waits for ACK (nil) or NAK (ErrNotDelivered).
//   - 'D': as 'A'; the mode MSNP9+ clients use for P2P messages.
//
// The payload is sent as is; the official switchboard refused payloads
// over 1664 bytes.
func (sb *Switchboard) Send(ctx context.Context, payload []byte, mode byte) (trid int, err error) {
	args := msgModeArgs(mode)
	switch mode {
	case 'U', 'N':
		return sb.conn.send(ctx, nil, "MSG", payload, true, args...)
	case 'A', 'D':
	default:
		return 0, fmt.Errorf("msnp client: invalid MSG mode %q", mode)
	}
	cl := ackCalls.Get().(*call)
	cl.awaitAck(nil)
	trid, err = sb.conn.send(ctx, cl, "MSG", payload, true, args...)
	if err != nil {
		return trid, err
	}
	_, err = sb.conn.wait(ctx, trid, cl)
	if cl.answered() {
		cl.reset()
		ackCalls.Put(cl)
	}
	return trid, err
}

// ackCalls are the calls Send waits on. One that was answered is no
// longer known to the conn, which completes a call last of all it does
// with it, so the next Send can take it: a call for each message was an
// allocation. One given up on when ctx ended may still be answered, and
// is not reused.
var ackCalls = sync.Pool{New: func() any { return new(call) }}

// The parameters of MSG in each mode, made once: a string and a slice for
// every message were two allocations. sendAll only reads them.
var (
	modeU, modeN = []string{"U"}, []string{"N"}
	modeA, modeD = []string{"A"}, []string{"D"}
)

// msgModeArgs is the parameters of MSG in mode: nil for no mode of MSG.
func msgModeArgs(mode byte) []string {
	switch mode {
	case 'U':
		return modeU
	case 'N':
		return modeN
	case 'A':
		return modeA
	case 'D':
		return modeD
	}
	return nil
}

// awaitAck sets cl up as the call of a message sent in mode A or D,
// which ends with ACK (nil) or NAK (ErrNotDelivered); onDone, when set,
// learns the answer instead of a waiter.
func (cl *call) awaitAck(onDone func(error)) {
	cl.name, cl.onDone, cl.accept = "MSG", onDone, acceptAck
}

func acceptAck(cmd wire.Command) (bool, error) {
	switch cmd.Name {
	case "ACK":
		return true, nil
	case "NAK":
		return true, ErrNotDelivered
	}
	return true, unexpected("MSG", cmd)
}

// SendTextAsync sends a plain text message in mode A like SendText, but
// returns once it is written, without waiting for the answer, so that a
// client with many messages in flight needs no goroutine for each. done
// learns the outcome exactly once: nil for ACK, ErrNotDelivered for NAK,
// a *ServerError, or why the connection ended first, on the reader
// goroutine; or the write's error, on the caller's. done must not block.
func (sb *Switchboard) SendTextAsync(ctx context.Context, text string, done func(error)) {
	cl := new(call)
	cl.awaitAck(done)
	payload := textPayloads.Get()
	*payload = AppendTextPayload(*payload, text)
	if _, err := sb.conn.send(ctx, cl, "MSG", *payload, true, modeA...); err != nil {
		cl.complete(wire.Command{}, err)
	}
	textPayloads.Put(payload)
}

// textPayloads are buffers for the payloads SendText and SendTextAsync
// frame, which sending copies: a payload of its own was an allocation for
// every message.
var textPayloads = bufpool.Pool{Max: 4 << 10}

// Delivery is a message sent in mode A or D whose ACK or NAK is still to
// be awaited (see Post).
type Delivery struct {
	conn *conn
	trid int
	call call
}

// TrID is the message's TrID (0 when it was never sent).
func (d *Delivery) TrID() int {
	if d == nil {
		return 0
	}
	return d.trid
}

// Wait waits for the switchboard's answer to the message: nil for ACK,
// ErrNotDelivered for NAK. It may be called once; when ctx ends first the
// answer is no longer awaited.
func (d *Delivery) Wait(ctx context.Context) error {
	_, err := d.conn.wait(ctx, d.trid, &d.call)
	return err
}

// Post sends a message in mode A or D and returns before the switchboard
// answers, so that a client with several messages to send need not wait
// for each ACK before sending the next (as real clients do with a paste);
// Delivery.Wait then waits for the answer. Messages are sent, delivered
// and answered in the order they were posted.
func (sb *Switchboard) Post(ctx context.Context, payload []byte, mode byte) (*Delivery, error) {
	ds, err := sb.PostAll(ctx, [][]byte{payload}, mode)
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// PostAll is Post for several messages, written at once (as a client
// sends a paste split in several messages); it returns their Deliveries
// in the same order.
func (sb *Switchboard) PostAll(ctx context.Context, payloads [][]byte, mode byte) ([]*Delivery, error) {
	if mode != 'A' && mode != 'D' {
		return nil, fmt.Errorf("msnp client: invalid MSG mode %q for Post", mode)
	}
	// One allocation for all the Deliveries: a paste is many messages.
	all := make([]Delivery, len(payloads))
	ds := make([]*Delivery, len(payloads))
	for i := range ds {
		all[i].conn = sb.conn
		all[i].call.awaitAck(nil)
		ds[i] = &all[i]
	}
	args := msgModeArgs(mode)
	err := sb.conn.sendAll(ctx, "MSG", len(payloads),
		func(i int) (*call, []byte, bool, []string) { return &ds[i].call, payloads[i], true, args },
		func(i, trid int) { ds[i].trid = trid })
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// SendText sends a plain text message (TextPayload) in mode A, so it
// returns after the switchboard confirmed delivery to everyone
// (ErrNotDelivered otherwise, e.g. when nobody else is in the session).
func (sb *Switchboard) SendText(ctx context.Context, text string) error {
	payload := textPayloads.Get()
	*payload = AppendTextPayload(*payload, text)
	_, err := sb.Send(ctx, *payload, 'A')
	textPayloads.Put(payload)
	return err
}

// SendTyping sends a typing notification for our own account in mode U,
// as the official client does.
func (sb *Switchboard) SendTyping(ctx context.Context) error {
	_, err := sb.Send(ctx, TypingPayload(sb.email), 'U')
	return err
}

// SendInvitation sends an invitation message (INVITE, ACCEPT or CANCEL) in
// mode N, as clients do; a failure arrives as a Nak event.
func (sb *Switchboard) SendInvitation(ctx context.Context, inv invite.Invitation) error {
	_, err := sb.Send(ctx, inv.Payload(), 'N')
	return err
}

// Do sends an arbitrary command with the next TrID and returns the first
// reply line carrying it (see Client.Do).
func (sb *Switchboard) Do(ctx context.Context, name string, args ...string) (wire.Command, error) {
	return sb.conn.request(ctx, nil, name, args...)
}

// Leave sends OUT, lets the switchboard close the connection (waiting a
// couple of seconds at most) and closes it. The others see BYE.
func (sb *Switchboard) Leave() error {
	sb.conn.quit()
	return nil
}

// Close closes the connection immediately and waits for the reader
// goroutine to finish.
func (sb *Switchboard) Close() error {
	sb.conn.close()
	return nil
}
