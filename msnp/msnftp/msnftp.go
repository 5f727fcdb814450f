// Package msnftp implements MSNFTP, the peer-to-peer file transfer protocol
// of MSN Messenger 3.0–5.0, for both the file's sender and its receiver.
//
// The invitation that sets a transfer up (addresses, ports, AuthCookie,
// Sender-Connect) travels through a switchboard and is handled by package
// msnp/invite. This package starts once a TCP connection exists between the
// two peers. Which side dialled does not matter: normally the sender listens
// and the receiver connects, with Sender-Connect the roles of the TCP
// connection swap, but the receiver always speaks first:
//
//	receiver: VER MSNFTP
//	sender:   VER MSNFTP
//	receiver: USR <receiver passport> <AuthCookie>
//	sender:   FIL <size>
//	receiver: TFR
//	sender:   blocks: 00 <len lo> <len hi> + len (≤ 2045) bytes of data
//	receiver: BYE 16777989
//
// The receiver cancels with CCL at any time; the sender cancels with the
// block header 01 00 00. Lines end in CRLF; a bare LF is accepted.
//
// Send and Receive own the connection they are given and close it before
// they return. Every read and write has a deadline: the earlier of the
// context's deadline and a per-step timeout, so a silent peer cannot stall
// either side for longer than that.
package msnftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/secureftp"
)

// BYE codes, sent by the receiver at the end of a transfer.
const (
	ByeSuccess           uint32 = 16777987   // 0x01000303: success (rarely used)
	ByeOK                uint32 = 16777989   // 0x01000305: file received; what receivers send
	ByeOutOfDisk         uint32 = 2147942405 // 0x80070005: receiver is out of disk space
	ByeReceiverCancelled uint32 = 2164261682 // 0x81000332: receiver cancelled the transfer
	ByeSenderCancelled   uint32 = 2164261683 // 0x81000333: sender cancelled the transfer
	ByeTimeout           uint32 = 2164261694 // 0x8100033E: timeout / connection blocked
)

// MaxBlock is the largest number of data bytes in one block; with its 3-byte
// header a block is at most 2048 bytes on the wire.
const MaxBlock = 2045

// DefaultStepTimeout bounds each protocol step (one line, one block) when the
// options leave StepTimeout zero. The official client gave up after about
// 30 seconds.
const DefaultStepTimeout = 30 * time.Second

// MaxLine is the longest command line accepted, line ending included. The
// longest legitimate line is USR with a passport of at most 129 bytes.
const MaxLine = 512

// maxEmpty bounds consecutive blank lines, and consecutive empty data
// blocks, that are skipped.
const maxEmpty = 16

// lingerTimeout bounds the wait for the peer to close after the last
// message, and the write of a farewell (CCL, BYE, cancel block).
const lingerTimeout = 2 * time.Second

// Errors. Wrapped errors carry more detail; test them with errors.Is.
var (
	// ErrCancelled: the receiver cancelled with CCL (or with BYE
	// ByeReceiverCancelled, see ByeError.Is).
	ErrCancelled = errors.New("msnftp: receiver cancelled the transfer")
	// ErrSenderCancelled: the sender aborted with block header 01 00 00.
	ErrSenderCancelled = errors.New("msnftp: sender cancelled the transfer")
	// ErrBadCookie: USR carried the wrong AuthCookie.
	ErrBadCookie = errors.New("msnftp: wrong authentication cookie")
	// ErrBadUser: USR named another passport than SendOptions.ExpectUser.
	ErrBadUser = errors.New("msnftp: unexpected receiver passport")
	// ErrSizeMismatch: the file did not have the announced size (the
	// sender's reader ran short, or blocks went past FIL).
	ErrSizeMismatch = errors.New("msnftp: file size does not match the announced size")
	// ErrTooLarge: FIL announced more than ReceiveOptions.MaxSize.
	ErrTooLarge = errors.New("msnftp: file larger than allowed")
	// ErrProtocol: the peer sent something MSNFTP does not allow.
	ErrProtocol = errors.New("msnftp: protocol error")
	// ErrLineTooLong: a command line exceeded MaxLine.
	ErrLineTooLong = fmt.Errorf("%w: line too long", ErrProtocol)
)

// ByeError is a BYE with a code other than success.
type ByeError struct {
	Code uint32
}

func (e *ByeError) Error() string {
	var what string
	switch e.Code {
	case ByeOutOfDisk:
		what = "receiver is out of disk space"
	case ByeReceiverCancelled:
		what = "receiver cancelled"
	case ByeSenderCancelled:
		what = "sender cancelled"
	case ByeTimeout:
		what = "timeout"
	default:
		what = "failure"
	}
	return fmt.Sprintf("msnftp: BYE %d: %s", e.Code, what)
}

// Is makes BYE ByeReceiverCancelled match ErrCancelled and BYE
// ByeSenderCancelled match ErrSenderCancelled.
func (e *ByeError) Is(target error) bool {
	switch target {
	case ErrCancelled:
		return e.Code == ByeReceiverCancelled
	case ErrSenderCancelled:
		return e.Code == ByeSenderCancelled
	}
	return false
}

// byeResult maps a BYE code to the result of a transfer.
func byeResult(code uint32) error {
	if code == ByeOK || code == ByeSuccess {
		return nil
	}
	return &ByeError{Code: code}
}

// peer is one end of an MSNFTP connection with its deadlines.
type peer struct {
	ctx  context.Context
	conn net.Conn
	br   *bufio.Reader
	step time.Duration

	stop     func() bool   // stops the context watcher
	watchEnd chan struct{} // closed when the watcher has run
}

// newPeer makes a peer of conn, read through br.
func newPeer(ctx context.Context, conn net.Conn, step time.Duration, br *bufio.Reader) *peer {
	if step <= 0 {
		step = DefaultStepTimeout
	}
	p := &peer{ctx: ctx, conn: conn, br: br, step: step, watchEnd: make(chan struct{})}
	// When the context ends, unblock whatever read or write is under way.
	p.stop = context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(p.watchEnd)
	})
	return p
}

// close stops the watcher and closes the connection.
func (p *peer) close() {
	p.stopWatcher()
	p.conn.Close()
}

// stopWatcher makes sure the watcher will not run; watchEnd is closed
// whether it ran or not, so that any later wait on it returns.
func (p *peer) stopWatcher() {
	if p.stop() {
		close(p.watchEnd)
	}
}

// cancelled reports whether the context has ended; if so it waits for the
// watcher so that deadlines set afterwards stick.
func (p *peer) cancelled() bool {
	if p.ctx.Err() == nil {
		return false
	}
	p.stopWatcher()
	<-p.watchEnd
	return true
}

func (p *peer) deadline() time.Time {
	d := time.Now().Add(p.step)
	if cd, ok := p.ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// readStep and writeStep arm the deadline for one step. They fail when the
// context has already ended; a cancellation after the check makes the
// watcher move the deadline to the past.
func (p *peer) readStep() error {
	p.conn.SetReadDeadline(p.deadline())
	return p.ctx.Err()
}

func (p *peer) writeStep() error {
	p.conn.SetWriteDeadline(p.deadline())
	return p.ctx.Err()
}

// writeLine writes one CRLF-terminated line in a single Write.
func (p *peer) writeLine(line string) error {
	if err := p.writeStep(); err != nil {
		return err
	}
	_, err := p.conn.Write([]byte(line + "\r\n"))
	return err
}

// farewell writes a last line (CCL, BYE) or block with a fresh short
// deadline, ignoring errors: the connection is being given up anyway.
func (p *peer) farewell(b []byte) {
	p.cancelled() // settle the watcher before touching deadlines
	p.conn.SetWriteDeadline(time.Now().Add(min(p.step, lingerTimeout)))
	p.conn.Write(b)
}

// linger half-closes the connection and waits briefly for the peer to close
// its side, so that unread data does not turn our close into a reset that
// could destroy the last message before the peer reads it.
func (p *peer) linger() {
	if cw, ok := p.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	p.cancelled()
	p.conn.SetReadDeadline(time.Now().Add(min(p.step, lingerTimeout)))
	io.CopyN(io.Discard, p.br, 1<<20)
}

// readLine arms the read deadline and reads one command line.
func (p *peer) readLine() ([]string, error) {
	if err := p.readStep(); err != nil {
		return nil, err
	}
	return p.readFields()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ioErr wraps a read or write failure with what was being done; io.EOF
// becomes io.ErrUnexpectedEOF since the peer left mid-conversation.
func ioErr(doing string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, ErrProtocol) {
		return fmt.Errorf("%w (%s)", err, doing)
	}
	return fmt.Errorf("msnftp: %s: %w", doing, err)
}

func unexpected(doing string, fields []string) error {
	line := strings.Join(fields, " ")
	if len(line) > 64 {
		line = line[:64] + "…"
	}
	return fmt.Errorf("%w: %s: got %q", ErrProtocol, doing, line)
}

// IsVerMSNFTP reports whether the fields of a line are a VER command
// offering MSNFTP, the first line a receiver sends.
func IsVerMSNFTP(fields []string) bool { return isVer(fields, "MSNFTP") }

// isVer reports whether the fields of a line are a VER command offering
// version.
func isVer(fields []string, version string) bool {
	if len(fields) == 0 || fields[0] != "VER" {
		return false
	}
	for _, f := range fields[1:] {
		if f == version {
			return true
		}
	}
	return false
}

// SendOptions configure the sender's side.
type SendOptions struct {
	// AuthCookie is the cookie offered in the invitation; USR must carry it.
	AuthCookie uint32
	// ExpectUser is the receiver's passport, compared case-insensitively
	// with the one in USR. Empty accepts any.
	ExpectUser string
	// Size is the file size announced in FIL; exactly this many bytes are
	// read from the reader.
	Size int64
	// Progress, if set, is called after each write of blocks with the
	// bytes sent so far.
	Progress func(sent int64)
	// StepTimeout bounds each step; zero means DefaultStepTimeout.
	StepTimeout time.Duration
	// Secure, when set, makes the transfer MSN_SECURE_FTP with the
	// receiver's keys: the receiver must say VER MSN_SECURE_FTP, the data
	// goes encrypted, and the file's MAC follows the receiver's BYE.
	Secure *secureftp.Keys
}

// Send is the file sender's side of MSNFTP on conn, whichever side dialled.
// It reads exactly opts.Size bytes from r. It returns nil once the receiver
// confirmed with a successful BYE, ErrCancelled when the receiver sent CCL,
// a *ByeError for a failure BYE, ErrBadCookie or ErrBadUser when USR does
// not match, and ErrSizeMismatch when r ends early (the receiver is then
// told with a cancel block). When ctx ends mid-transfer Send sends the
// cancel block and returns an error wrapping ctx.Err(). Send closes conn.
func Send(ctx context.Context, conn net.Conn, opts SendOptions, r io.Reader) error {
	if opts.Size < 0 {
		conn.Close()
		return fmt.Errorf("msnftp: negative size %d", opts.Size)
	}
	p := newPeer(ctx, conn, opts.StepTimeout, bufio.NewReaderSize(conn, 1024))
	defer p.close()

	fail := func(doing string, err error) error {
		if p.cancelled() {
			return fmt.Errorf("msnftp: %s: %w", doing, context.Cause(ctx))
		}
		return ioErr(doing, err)
	}

	// VER MSNFTP
	version := versionOf(opts.Secure)
	fields, err := p.readLine()
	if err != nil {
		return fail("waiting for VER", err)
	}
	if !isVer(fields, version) {
		return unexpected("waiting for VER "+version, fields)
	}
	if err := p.writeLine("VER " + version); err != nil {
		return fail("sending VER", err)
	}

	// USR passport cookie
	fields, err = p.readLine()
	if err != nil {
		return fail("waiting for USR", err)
	}
	if fields[0] == "CCL" {
		return ErrCancelled
	}
	if fields[0] != "USR" || len(fields) != 3 {
		return unexpected("waiting for USR", fields)
	}
	if cookie, err := strconv.ParseUint(fields[2], 10, 32); err != nil || uint32(cookie) != opts.AuthCookie {
		return ErrBadCookie
	}
	if opts.ExpectUser != "" && !strings.EqualFold(fields[1], opts.ExpectUser) {
		return fmt.Errorf("%w: %q", ErrBadUser, fields[1])
	}
	if err := p.writeLine("FIL " + strconv.FormatInt(opts.Size, 10)); err != nil {
		return fail("sending FIL", err)
	}

	// TFR
	fields, err = p.readLine()
	if err != nil {
		return fail("waiting for TFR", err)
	}
	switch fields[0] {
	case "TFR":
	case "CCL":
		return ErrCancelled
	default:
		return unexpected("waiting for TFR", fields)
	}

	if opts.Secure == nil {
		return sendBlocks(p, opts, r, nil)
	}
	sealer := opts.Secure.Seal(r)
	return sendBlocks(p, opts, sealer, func() []byte { return secureftp.MACLine(sealer.Sum()) })
}

// versionOf is the protocol the VER lines name.
func versionOf(secure *secureftp.Keys) string {
	if secure != nil {
		return secureftp.Version
	}
	return "MSNFTP"
}

// sendBlocks streams the file while a goroutine watches for the receiver's
// CCL or BYE. After a successful BYE it sends the line trailer makes, if
// any (the MAC of MSN_SECURE_FTP).
func sendBlocks(p *peer, opts SendOptions, r io.Reader, trailer func() []byte) error {
	// Until the last block is out, only the context bounds the reader's
	// wait; afterwards, the step timeout does.
	cd, _ := p.ctx.Deadline()
	p.conn.SetReadDeadline(cd)
	if p.ctx.Err() != nil {
		return sendCancel(p, context.Cause(p.ctx))
	}
	final := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { final <- readFinal(p) })
	defer func() {
		p.conn.Close() // unblocks the watcher goroutine, if still reading
		wg.Wait()
	}()
	// early is called when the receiver spoke before the end of the file,
	// or when the watcher's read failed because the context ended (it moves
	// the deadline to the past): then the sender cancels.
	early := func(res error) error {
		if p.cancelled() {
			return sendCancel(p, context.Cause(p.ctx))
		}
		if res == nil {
			return fmt.Errorf("%w: BYE before the end of the file", ErrProtocol)
		}
		return res
	}

	buf := sendBuffers.Get().(*sendBuffer)
	defer sendBuffers.Put(buf)
	src := io.LimitReader(r, opts.Size)
	var sent int64
	have := 0 // bytes of the file in buf.data, the rest of a block from the last round first
	for sent < opts.Size {
		select {
		case res := <-final:
			return early(res)
		default:
		}
		// Whatever the reader has, as long as it makes a whole block: blocks
		// are full but for the last, and no data waits for a batch to fill.
		want := int(min(opts.Size-sent, int64(len(buf.data))))
		if need := min(want, MaxBlock); have < need {
			got, rerr := io.ReadAtLeast(src, buf.data[have:want], need-have)
			have += got
			if rerr != nil {
				if p.ctx.Err() != nil {
					return sendCancel(p, context.Cause(p.ctx))
				}
				if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
					rerr = fmt.Errorf("%w: reader ended after %d of %d bytes", ErrSizeMismatch, sent+int64(have), opts.Size)
				} else {
					rerr = fmt.Errorf("msnftp: reading the file: %w", rerr)
				}
				return sendCancel(p, rerr)
			}
		}
		n := have
		if sent+int64(have) < opts.Size {
			n -= have % MaxBlock
		}
		wire := buf.blocks(n)
		have = copy(buf.data[:], buf.data[n:have])
		if err := p.writeStep(); err != nil {
			return sendCancel(p, context.Cause(p.ctx))
		}
		if _, err := p.conn.Write(wire); err != nil {
			if p.cancelled() {
				return sendCancel(p, context.Cause(p.ctx))
			}
			// The receiver may have said why it went away.
			p.conn.SetReadDeadline(time.Now().Add(min(p.step, 500*time.Millisecond)))
			res := <-final
			if errors.Is(res, ErrCancelled) || errors.As(res, new(*ByeError)) {
				return res
			}
			return ioErr("sending data", err)
		}
		sent += int64(n)
		if opts.Progress != nil {
			opts.Progress(sent)
		}
	}

	// Everything is out: wait for BYE.
	if err := p.readStep(); err != nil {
		return fmt.Errorf("msnftp: waiting for BYE: %w", context.Cause(p.ctx))
	}
	res := <-final
	if res != nil && p.cancelled() {
		return fmt.Errorf("msnftp: waiting for BYE: %w", context.Cause(p.ctx))
	}
	if res == nil && trailer != nil {
		if err := p.writeStep(); err != nil {
			return fmt.Errorf("msnftp: sending the MAC: %w", context.Cause(p.ctx))
		}
		if _, err := p.conn.Write(trailer()); err != nil {
			return ioErr("sending the MAC", err)
		}
		p.linger()
	}
	return res
}

// sendBatch is how many blocks Send writes at once: one system call for
// many blocks, with the same blocks on the wire.
const sendBatch = 128

// sendBuffer holds a batch of the file, and the same bytes cut into blocks.
type sendBuffer struct {
	data [sendBatch * MaxBlock]byte
	wire [sendBatch * (3 + MaxBlock)]byte
}

// sendBuffers keeps sendBuffers between transfers.
var sendBuffers = sync.Pool{New: func() any { return new(sendBuffer) }}

// blocks cuts the first n bytes of data into blocks of at most MaxBlock
// bytes and returns them as they go on the wire.
func (b *sendBuffer) blocks(n int) []byte {
	w := 0
	for off := 0; off < n; off += MaxBlock {
		k := min(n-off, MaxBlock)
		b.wire[w], b.wire[w+1], b.wire[w+2] = 0, byte(k), byte(k>>8)
		w += 3 + copy(b.wire[w+3:], b.data[off:off+k])
	}
	return b.wire[:w]
}

// sendCancel tells the receiver the sender gives up, and returns cause.
func sendCancel(p *peer, cause error) error {
	p.farewell([]byte{1, 0, 0})
	return cause
}

// readFinal reads the receiver's last word: CCL or BYE.
func readFinal(p *peer) error {
	line, err := p.readFields()
	if err != nil {
		return ioErr("waiting for BYE", err)
	}
	switch line[0] {
	case "CCL":
		return ErrCancelled
	case "BYE":
		if len(line) < 2 {
			return unexpected("waiting for BYE", line)
		}
		code, err := strconv.ParseUint(line[1], 10, 32)
		if err != nil {
			return unexpected("waiting for BYE", line)
		}
		return byeResult(uint32(code))
	}
	return unexpected("waiting for BYE", line)
}

// readFields reads one command line, without the line ending, and splits
// it into fields. A few blank lines are skipped. It does not touch deadlines,
// so that the watcher goroutine of sendBlocks can use it.
func (p *peer) readFields() ([]string, error) {
	for range maxEmpty {
		var buf [MaxLine]byte
		n := 0
		for {
			c, err := p.br.ReadByte()
			if err != nil {
				if err == io.EOF && n > 0 {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			if c == '\n' {
				break
			}
			if n == len(buf)-1 {
				return nil, ErrLineTooLong
			}
			buf[n] = c
			n++
		}
		if fields := strings.Fields(string(buf[:n])); len(fields) > 0 {
			return fields, nil
		}
	}
	return nil, fmt.Errorf("%w: too many blank lines", ErrProtocol)
}

// ReceiveOptions configure the receiver's side.
type ReceiveOptions struct {
	// Passport is the receiver's own passport, sent in USR.
	Passport string
	// AuthCookie is the cookie from the invitation, sent in USR.
	AuthCookie uint32
	// MaxSize, if positive, is the largest file accepted; a larger FIL is
	// answered with CCL and ErrTooLarge.
	MaxSize int64
	// ExactSize makes MaxSize, zero included, the only size accepted, as
	// for a relay that promised its receiver the invitation's size: any
	// other FIL is answered with CCL and ErrSizeMismatch.
	ExactSize bool
	// Progress, if set, is called after each write to the file with the
	// bytes received so far.
	Progress func(received int64)
	// StepTimeout bounds each step; zero means DefaultStepTimeout. When the
	// sender stays silent longer, the receiver gives up with BYE
	// ByeTimeout.
	StepTimeout time.Duration
	// Commit, if set, is called once the whole file is written to w and
	// before BYE, which tells the sender the file is in: it makes the file
	// stay (stores it for good). An error is answered with BYE
	// ByeOutOfDisk and returned. With Secure, Commit runs after BYE, once
	// the sender's MAC has matched; an error is only returned.
	Commit func() error
	// Secure, when set, makes the transfer MSN_SECURE_FTP with these keys
	// (the ones the ACCEPT sent): VER MSN_SECURE_FTP, the data decrypted
	// before it reaches w, and after BYE the sender's MAC checked; a
	// mismatch gives secureftp.ErrBadMAC.
	Secure *secureftp.Keys
}

// Receive is the file receiver's side of MSNFTP on conn, whichever side
// dialled. It writes the file to w and returns the number of bytes written,
// never more than the size the sender announced. On success it sends BYE
// ByeOK, after opts.Commit if set. When ctx ends mid-transfer it sends CCL
// and returns an error wrapping ctx.Err(); when w or opts.Commit fails it
// sends BYE ByeOutOfDisk and returns an error wrapping that failure; when
// the sender aborts it returns ErrSenderCancelled. Receive closes conn.
func Receive(ctx context.Context, conn net.Conn, opts ReceiveOptions, w io.Writer) (int64, error) {
	if opts.Passport == "" || strings.ContainsAny(opts.Passport, " \t\r\n") {
		conn.Close()
		return 0, fmt.Errorf("msnftp: invalid passport %q", opts.Passport)
	}
	br := receiveReaders.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() {
		br.Reset(nil)
		receiveReaders.Put(br)
	}()
	p := newPeer(ctx, conn, opts.StepTimeout, br)
	defer p.close()

	fail := func(doing string, err error) error {
		if p.cancelled() {
			p.farewell([]byte("CCL\r\n"))
			return fmt.Errorf("msnftp: %s: %w", doing, context.Cause(ctx))
		}
		return ioErr(doing, err)
	}
	// abort cancels with CCL, then lets the sender close first.
	abort := func(err error) error {
		p.farewell([]byte("CCL\r\n"))
		p.linger()
		return err
	}

	version := versionOf(opts.Secure)
	if err := p.writeLine("VER " + version); err != nil {
		return 0, fail("sending VER", err)
	}
	fields, err := p.readLine()
	if err != nil {
		return 0, fail("waiting for VER", err)
	}
	if !isVer(fields, version) {
		return 0, unexpected("waiting for VER "+version, fields)
	}
	if err := p.writeLine(fmt.Sprintf("USR %s %d", opts.Passport, opts.AuthCookie)); err != nil {
		return 0, fail("sending USR", err)
	}
	fields, err = p.readLine()
	if err != nil {
		return 0, fail("waiting for FIL", err)
	}
	if fields[0] != "FIL" || len(fields) < 2 {
		return 0, abort(unexpected("waiting for FIL", fields))
	}
	size, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || size < 0 {
		return 0, abort(unexpected("bad FIL size", fields))
	}
	if opts.ExactSize && size != opts.MaxSize {
		return 0, abort(fmt.Errorf("%w: FIL %d, invited %d", ErrSizeMismatch, size, opts.MaxSize))
	}
	if opts.MaxSize > 0 && size > opts.MaxSize {
		return 0, abort(fmt.Errorf("%w: %d bytes, at most %d accepted", ErrTooLarge, size, opts.MaxSize))
	}
	if err := p.writeLine("TFR"); err != nil {
		return 0, fail("sending TFR", err)
	}

	if opts.Secure != nil {
		return receiveSecure(p, opts, size, w, abort)
	}
	got, err := receiveBlocks(p, opts, size, w, abort)
	if err != nil {
		return got, err
	}
	// Everything arrived: even if ctx ended meanwhile, the file is complete.
	if opts.Commit != nil {
		if err := opts.Commit(); err != nil {
			p.farewell([]byte("BYE " + strconv.FormatUint(uint64(ByeOutOfDisk), 10) + "\r\n"))
			p.linger()
			return got, fmt.Errorf("msnftp: keeping the file: %w", err)
		}
	}
	p.farewell([]byte("BYE " + strconv.FormatUint(uint64(ByeOK), 10) + "\r\n"))
	p.linger()
	return got, nil
}

// receiveSecure receives an MSN_SECURE_FTP file: the blocks decrypted,
// BYE, then the sender's MAC, which must match before Commit.
func receiveSecure(p *peer, opts ReceiveOptions, size int64, w io.Writer, abort func(error) error) (int64, error) {
	opener := opts.Secure.Open(w)
	got, err := receiveBlocks(p, opts, size, opener, abort)
	if err != nil {
		return got, err
	}
	if err := p.writeLine("BYE " + strconv.FormatUint(uint64(ByeOK), 10)); err != nil {
		return got, ioErr("sending BYE", err)
	}
	if err := p.readStep(); err != nil {
		return got, fmt.Errorf("msnftp: waiting for the MAC: %w", context.Cause(p.ctx))
	}
	line, err := p.br.ReadSlice('\n')
	if err == nil && len(line) > MaxLine {
		err = ErrLineTooLong
	}
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = ErrLineTooLong
		}
		return got, ioErr("waiting for the MAC", err)
	}
	if err := opener.Check(line); err != nil {
		return got, err
	}
	if opts.Commit != nil {
		if err := opts.Commit(); err != nil {
			return got, fmt.Errorf("msnftp: keeping the file: %w", err)
		}
	}
	p.linger()
	return got, nil
}

// receiveBuffer is the size of the receiver's reads from the network,
// and of its largest write to the file: blocks are small, so the data of
// many goes out in one write.
const receiveBuffer = 256 << 10

// receiveReaders and receiveBuffers keep the receiver's read and write
// buffers between transfers.
var (
	receiveReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, receiveBuffer) }}
	receiveBuffers = sync.Pool{New: func() any { return new([receiveBuffer]byte) }}
)

// receiveBlocks reads size bytes of blocks and writes their data to w,
// gathered: a write takes what has arrived, up to receiveBuffer bytes, so
// that no data waits while the receiver waits for more from the network.
// It returns the bytes written to w.
func receiveBlocks(p *peer, opts ReceiveOptions, size int64, w io.Writer, abort func(error) error) (int64, error) {
	buf := receiveBuffers.Get().(*[receiveBuffer]byte)
	defer receiveBuffers.Put(buf)
	var got int64 // written to w
	pending := 0  // gathered in buf, not written yet
	flush := func() error {
		if pending == 0 {
			return nil
		}
		wn, err := w.Write(buf[:pending])
		got += int64(wn)
		if err == nil && wn < pending {
			err = io.ErrShortWrite
		}
		pending = 0
		if err != nil {
			p.farewell([]byte("BYE " + strconv.FormatUint(uint64(ByeOutOfDisk), 10) + "\r\n"))
			p.linger()
			return fmt.Errorf("msnftp: writing the file: %w", err)
		}
		if opts.Progress != nil {
			opts.Progress(got)
		}
		return nil
	}
	// need makes sure n more bytes can be read: when fewer are buffered,
	// what was gathered is written and the read deadline armed, since the
	// read will wait on the network.
	need := func(n int) error {
		if p.br.Buffered() >= n {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if err := p.readStep(); err != nil {
			return receiveFailed(p, err, got, size)
		}
		return nil
	}
	var hdr [3]byte
	empty := 0
	for got+int64(pending) < size {
		if err := need(len(hdr)); err != nil {
			return got, err
		}
		if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
			return got, receiveFailed(p, err, got, size)
		}
		n, err := blockSize(hdr, got+int64(pending), size)
		if err == nil && n == 0 {
			if empty++; empty > maxEmpty {
				err = fmt.Errorf("%w: too many empty blocks", ErrProtocol)
			}
		}
		if err != nil {
			// The data before the end is written, as it came first.
			if ferr := flush(); ferr != nil {
				return got, ferr
			}
			if err == ErrSenderCancelled {
				return got, err
			}
			return got, abort(err)
		}
		if n == 0 {
			continue
		}
		empty = 0
		if pending+n > len(buf) {
			if err := flush(); err != nil {
				return got, err
			}
		}
		if err := need(n); err != nil {
			return got, err
		}
		if _, err := io.ReadFull(p.br, buf[pending:pending+n]); err != nil {
			return got, receiveFailed(p, err, got, size)
		}
		pending += n
	}
	return got, flush()
}

// blockSize checks a block header, which comes after taken of size bytes,
// and returns its data's size.
func blockSize(hdr [3]byte, taken, size int64) (int, error) {
	n := int(hdr[1]) | int(hdr[2])<<8
	switch {
	case hdr[0] == 1:
		return 0, ErrSenderCancelled
	case hdr[0] != 0:
		return 0, fmt.Errorf("%w: bad block header % x", ErrProtocol, hdr)
	case n > MaxBlock:
		return 0, fmt.Errorf("%w: block of %d bytes", ErrProtocol, n)
	case int64(n) > size-taken:
		return 0, fmt.Errorf("%w: block of %d bytes after %d of %d", ErrSizeMismatch, n, taken, size)
	}
	return n, nil
}

// receiveFailed handles a failed read mid-transfer.
func receiveFailed(p *peer, err error, got, size int64) error {
	switch {
	case p.cancelled():
		p.farewell([]byte("CCL\r\n"))
		p.linger()
		return fmt.Errorf("msnftp: transfer cancelled after %d of %d bytes: %w", got, size, context.Cause(p.ctx))
	case isTimeout(err):
		p.farewell([]byte("BYE " + strconv.FormatUint(uint64(ByeTimeout), 10) + "\r\n"))
		return fmt.Errorf("msnftp: sender silent after %d of %d bytes: %w", got, size, err)
	}
	return ioErr(fmt.Sprintf("receiving data after %d of %d bytes", got, size), err)
}
