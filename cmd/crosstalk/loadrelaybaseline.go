package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The relay baseline: the MSN message phase at a rate (--rate) against a
// server that relays and does nothing else. At a rate each message is a
// wake-up of its own on both sides of the socket: the server reads it and
// makes two writes (the message to its receiver, the ACK to its sender),
// the load generator makes one write and two reads, and the two processes
// share this machine's cores. What latency that leaves on this machine,
// with the same clients and schedule, is the floor Crosstalk's figures
// read against.

// loadtestRelayBaselineServerCmd is the relay baseline's server: the
// message phase starts it from this binary, so that its CPU is read apart
// from the load generator's. It prints the address of its notification
// server, and ends when its standard input does.
type loadtestRelayBaselineServerCmd struct{}

func (loadtestRelayBaselineServerCmd) Run() error {
	ls, err := baselineListeners(2)
	if err != nil {
		return err
	}
	r := newBareRelay(ls[1].Addr().String())
	go acceptEach(ls[1], r.switchboard)
	acceptEach(ls[0], r.notification)
	return nil
}

// bareRelay is an MSNP7 notification server and switchboard that know
// only what the load test's clients send: the MD5 login (any password),
// SYN, CHG, XFR SB, and in the switchboard USR, CAL, ANS, MSG and OUT,
// each answered as Crosstalk answers it. Anything else ends the
// connection.
type bareRelay struct {
	sbAddr string

	mu       sync.Mutex
	online   map[string]*baselineConn    // email → its notification connection
	sessions map[string]*baselineSession // session ID, which is also its cookie
	lastID   int
}

// newBareRelay is a bare relay whose switchboard listens at sbAddr.
func newBareRelay(sbAddr string) *bareRelay {
	return &bareRelay{sbAddr: sbAddr, online: map[string]*baselineConn{}, sessions: map[string]*baselineSession{}}
}

// baselineConn is a client's connection; others write to it too (RNG,
// JOI, a message), under wmu.
type baselineConn struct {
	nc    net.Conn
	email string
	wmu   sync.Mutex
}

func (c *baselineConn) write(b []byte) {
	c.wmu.Lock()
	_, _ = c.nc.Write(b)
	c.wmu.Unlock()
}

func (c *baselineConn) writeLine(fields ...string) {
	c.write([]byte(strings.Join(fields, " ") + "\r\n"))
}

// baselineSession is a switchboard session and who is in it.
type baselineSession struct {
	id      string
	mu      sync.Mutex
	members []*baselineConn
}

func (r *bareRelay) notification(nc net.Conn) {
	c := &baselineConn{nc: nc}
	defer func() {
		r.mu.Lock()
		if r.online[c.email] == c {
			delete(r.online, c.email)
		}
		r.mu.Unlock()
		nc.Close()
	}()
	br := bufio.NewReader(nc)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		f := fieldsOf(line)
		if f == nil {
			return
		}
		if f[0] == "OUT" {
			c.writeLine("OUT")
			return
		}
		trid := f[1]
		switch {
		case f[0] == "VER":
			c.writeLine("VER", trid, "MSNP7", "CVR0")
		case f[0] == "INF":
			c.writeLine("INF", trid, "MD5")
		case f[0] == "CVR":
			c.writeLine("CVR", trid, "4.7.0105", "4.7.0105", "4.7.0105", "http://download.crosstalk.invalid/msn", "http://crosstalk.invalid/msn")
		case f[0] == "USR" && len(f) == 5 && f[2] == "MD5" && f[3] == "I":
			c.email = f[4]
			c.writeLine("USR", trid, "MD5", "S", "1796684078.697890258")
		case f[0] == "USR" && len(f) == 5 && f[2] == "MD5" && f[3] == "S" && c.email != "":
			r.mu.Lock()
			r.online[c.email] = c
			r.mu.Unlock()
			c.write([]byte("USR " + trid + " OK " + c.email + " " + c.email + " 1\r\nMSG Hotmail Hotmail " + strconv.Itoa(len(profileBody)) + "\r\n" + profileBody))
		case f[0] == "SYN" && len(f) == 3:
			c.writeLine("SYN", trid, f[2])
		case f[0] == "CHG" && len(f) >= 3:
			c.writeLine("CHG", trid, f[2])
		case f[0] == "XFR" && len(f) == 3 && f[2] == "SB":
			c.writeLine("XFR", trid, "SB", r.sbAddr, "CKI", r.newSession().id)
		default:
			return
		}
	}
}

func (r *bareRelay) newSession() *baselineSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastID++
	s := &baselineSession{id: strconv.Itoa(r.lastID)}
	r.sessions[s.id] = s
	return s
}

// maxBaselinePayload bounds a message's payload, as a switchboard does.
const maxBaselinePayload = 8192

func (r *bareRelay) switchboard(nc net.Conn) {
	c := &baselineConn{nc: nc}
	var s *baselineSession
	defer func() {
		if s != nil {
			r.leave(s, c)
		}
		nc.Close()
	}()
	br := bufio.NewReader(nc)
	var relayed, ack []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if rest, ok := bytes.CutPrefix(line, []byte("MSG ")); ok && s != nil {
			// MSG trid mode length, then the payload: on the path every
			// message takes, without an allocation.
			trid, rest, _ := bytes.Cut(rest, []byte(" "))
			mode, rest, _ := bytes.Cut(rest, []byte(" "))
			n, err := strconv.Atoi(string(bytes.TrimRight(rest, "\r\n")))
			if err != nil || n < 0 || n > maxBaselinePayload || len(mode) != 1 {
				return
			}
			ack = append(append(append(ack[:0], "ACK "...), trid...), "\r\n"...)
			// The payload is read in after the relayed header.
			relayed = append(append(append(append(relayed[:0], "MSG "...), c.email...), ' '), c.email...)
			relayed = append(strconv.AppendInt(append(relayed, ' '), int64(n), 10), "\r\n"...)
			header := len(relayed)
			relayed = slices.Grow(relayed, n)[:header+n]
			if _, err := io.ReadFull(br, relayed[header:]); err != nil {
				return
			}
			s.mu.Lock()
			for _, m := range s.members {
				if m != c {
					m.write(relayed)
				}
			}
			s.mu.Unlock()
			if mode[0] == 'A' {
				c.write(ack)
			}
			continue
		}
		f := fieldsOf(line)
		if f == nil {
			return
		}
		switch {
		case f[0] == "USR" && len(f) == 4 && s == nil: // USR trid email cookie
			if s = r.session(f[3]); s == nil {
				return
			}
			c.email = f[2]
			r.join(s, c)
			c.writeLine("USR", f[1], "OK", c.email, c.email)
		case f[0] == "CAL" && len(f) == 3 && s != nil: // CAL trid email
			r.mu.Lock()
			callee := r.online[f[2]]
			r.mu.Unlock()
			if callee == nil {
				c.writeLine("217", f[1])
				continue
			}
			c.writeLine("CAL", f[1], "RINGING", s.id)
			callee.writeLine("RNG", s.id, r.sbAddr, "CKI", s.id, c.email, c.email)
		case f[0] == "ANS" && len(f) == 5 && s == nil: // ANS trid email cookie session
			if s = r.session(f[4]); s == nil {
				return
			}
			c.email = f[2]
			present := r.join(s, c)
			for i, m := range present {
				c.writeLine("IRO", f[1], strconv.Itoa(i+1), strconv.Itoa(len(present)), m.email, m.email)
			}
			c.writeLine("ANS", f[1], "OK")
			for _, m := range present {
				m.writeLine("JOI", c.email, c.email)
			}
		case f[0] == "OUT":
			return
		default:
			return
		}
	}
}

func (r *bareRelay) session(id string) *baselineSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// join adds c to s and returns who was there before.
func (r *bareRelay) join(s *baselineSession, c *baselineConn) []*baselineConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	present := append([]*baselineConn(nil), s.members...)
	s.members = append(s.members, c)
	return present
}

// leave takes c out of s, tells the others, and forgets s once it is
// empty.
func (r *bareRelay) leave(s *baselineSession, c *baselineConn) {
	s.mu.Lock()
	for i, m := range s.members {
		if m == c {
			s.members = append(s.members[:i], s.members[i+1:]...)
			break
		}
	}
	for _, m := range s.members {
		m.writeLine("BYE", c.email)
	}
	empty := len(s.members) == 0
	s.mu.Unlock()
	if empty {
		r.mu.Lock()
		delete(r.sessions, s.id)
		r.mu.Unlock()
	}
}

// fieldsOf splits a command line; nil unless it has at least a name and
// a transaction ID, or is OUT, which has none.
func fieldsOf(line []byte) []string {
	f := strings.Fields(string(line))
	if len(f) < 2 && (len(f) == 0 || f[0] != "OUT") {
		return nil
	}
	return f
}

// relayBaseline runs the message phase's open loop again, as many
// conversations at the same rate for as long, against the relay
// baseline's server, and prints its figures and the message phase's
// against them: res is the message phase's.
func (lt *loadtest) relayBaseline(ctx context.Context, res messageResult) error {
	pid, addr, stop, err := startBaselineServer(ctx, "relay-baseline-server")
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(lt.out, "relay baseline: the same open loop against a process that logs anyone in with canned replies and relays each message with two writes, its own and its ACK, and does nothing else")
	base := *lt
	base.srv = &loadServer{addrs: map[string]string{"msn": addr}, pid: pid}
	msn := loadProtocolNamed("msn")
	baseRes, err := base.messagePhase(ctx, "baseline", msn, msn)
	if err != nil {
		return err
	}
	p99, baseP99 := percentile(res.latencies, 99), percentile(baseRes.latencies, 99)
	fmt.Fprintf(lt.out, "  the message phase against it: %.2f× the p99 latency", float64(p99)/float64(baseP99))
	if res.cpuPerMessage > 0 && baseRes.cpuPerMessage > 0 {
		fmt.Fprintf(lt.out, ", %.2f× the server CPU per message", float64(res.cpuPerMessage)/float64(baseRes.cpuPerMessage))
	}
	fmt.Fprintln(lt.out)
	return nil
}
