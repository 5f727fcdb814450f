package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The login baseline: the MSN login phase's round trips against a server
// that answers them with canned replies and does nothing else. Most of a
// login's cost is the socket work its six round trips take (accepting,
// a read and a write each, closing), which every MSN server does, and
// which costs what the machine makes it cost; the baseline measures that
// in the same command, so that the login figures read as a ratio.

// profileBody is the profile message Crosstalk sends an MSNP7 client on
// login, as it sends it to the load test's first account.
const profileBody = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\nLoginTime: 1796684078\r\n" +
	"EmailEnabled: 0\r\nMemberIdHigh: 0\r\nMemberIdLow: 3000000000\r\nlang_preference: 1033\r\n" +
	"preferredEmail: load0@loadtest.invalid\r\ncountry: \r\nPostalCode: \r\nGender: \r\nKid: 0\r\nAge: \r\nBDayPre: \r\n" +
	"Birthday: \r\nWallet: \r\nFlags: 1027\r\nsid: 507\r\nMSPAuth: 0\r\nClientIP: 127.0.0.1\r\nClientPort: 46958\r\n\r\n"

// md5LoginExchange is an MSNP7 MD5 login and logout as the load test's
// client and Crosstalk carry it out, line for line.
var md5LoginExchange = []struct{ command, reply string }{
	{"VER 0 MSNP7 MSNP6 MSNP5 MSNP4 MSNP3 MSNP2 CVR0\r\n", "VER 0 MSNP7 CVR0\r\n"},
	{"INF 1\r\n", "INF 1 MD5\r\n"},
	{"CVR 2 0x0409 winnt 5.1 i386 MSMSGS 4.7.0105 MSMSGS load0@loadtest.invalid\r\n",
		"CVR 2 4.7.0105 4.7.0105 4.7.0105 http://download.crosstalk.invalid/msn http://crosstalk.invalid/msn\r\n"},
	{"USR 3 MD5 I load0@loadtest.invalid\r\n", "USR 3 MD5 S 1796684078.697890258\r\n"},
	{"USR 4 MD5 S 4320b4fb240e78f2971dfa662b7d033a\r\n",
		"USR 4 OK load0@loadtest.invalid load0@loadtest.invalid 1\r\nMSG Hotmail Hotmail " + strconv.Itoa(len(profileBody)) + "\r\n" + profileBody},
	{"OUT\r\n", "OUT\r\n"},
}

// loadtestBaselineServerCmd is the baseline's server: the login phase
// starts it from this binary, so that its CPU is read apart from the load
// generator's. It prints the address it listens on, and ends when its
// standard input does.
type loadtestBaselineServerCmd struct{}

func (loadtestBaselineServerCmd) Run() error {
	ls, err := baselineListeners(1)
	if err != nil {
		return err
	}
	acceptEach(ls[0], answerLogin)
	return nil
}

// baselineListeners listens on n loopback ports for a baseline's server,
// prints the first one's address for the load test that started it, and
// closes them all when its standard input ends, as the load test has it.
func baselineListeners(n int) ([]net.Listener, error) {
	ls := make([]net.Listener, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls[i] = l
	}
	fmt.Println(ls[0].Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		for _, l := range ls {
			l.Close()
		}
	}()
	return ls, nil
}

// acceptEach runs handle on a goroutine of its own for every connection l
// accepts, until l is closed.
func acceptEach(l net.Listener, handle func(net.Conn)) {
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		go handle(nc)
	}
}

// answerLogin answers each line it reads with the exchange's next reply,
// and closes after the last.
func answerLogin(nc net.Conn) {
	defer nc.Close()
	var buf [512]byte
	for next := 0; next < len(md5LoginExchange); {
		n, err := nc.Read(buf[:])
		if err != nil {
			return
		}
		for range bytes.Count(buf[:n], []byte("\n")) {
			if next == len(md5LoginExchange) {
				return
			}
			if _, err := io.WriteString(nc, md5LoginExchange[next].reply); err != nil {
				return
			}
			next++
		}
	}
}

// loginBaseline runs the login phase's workers for as long against the
// baseline's server and prints its logins/s and CPU per login, and the
// login phase's against them: rate and serverCPU are the login phase's
// logins/s and server CPU per login (-1 when unknown).
func (lt *loadtest) loginBaseline(ctx context.Context, rate float64, serverCPU time.Duration) error {
	pid, addr, stop, err := startBaselineServer(ctx, "login-baseline-server")
	if err != nil {
		return err
	}
	defer stop()
	serverBefore, serverErr := processCPU(pid)
	selfBefore, selfErr := processCPU(os.Getpid())
	var count atomic.Int64
	elapsed, err := repeat(ctx, lt.Workers, lt.Duration, func(ctx context.Context, _, _ int) error {
		if err := bareLogin(ctx, addr, lt.dialing().dialer); err != nil {
			return err
		}
		count.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	n := count.Load()
	baseRate := float64(n) / elapsed.Seconds()
	fmt.Fprintf(lt.out, "baseline: %d in %s = %.0f logins/s (the same commands, answered with canned replies by a process that does nothing else)\n", n, elapsed.Round(time.Millisecond), baseRate)
	serverAfter, err := processCPU(pid)
	if serverErr != nil || err != nil || n == 0 {
		return nil
	}
	basePer := (serverAfter - serverBefore) / time.Duration(n)
	fmt.Fprintf(lt.out, "  its CPU: %.1f µs per login", microseconds(basePer))
	if selfAfter, err := processCPU(os.Getpid()); err == nil && selfErr == nil {
		fmt.Fprintf(lt.out, "; load generator CPU: %.1f µs per login (this process)", microseconds((selfAfter-selfBefore)/time.Duration(n)))
	}
	fmt.Fprintln(lt.out)
	fmt.Fprintf(lt.out, "  the login phase against it: %.2f× the logins/s", rate/baseRate)
	if serverCPU > 0 && basePer > 0 {
		fmt.Fprintf(lt.out, ", %.2f× the server CPU per login", float64(serverCPU)/float64(basePer))
	}
	fmt.Fprintln(lt.out)
	return nil
}

// startBaselineServer starts the hidden loadtest subcommand name, a
// baseline's server, from this binary, and returns its process id and the
// address it printed; stop ends it.
func startBaselineServer(ctx context.Context, name string) (pid int, addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, "", nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "loadtest", name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, "", nil, err
	}
	stop = func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return 0, "", nil, fmt.Errorf("the baseline's server did not start: %w", err)
	}
	return cmd.Process.Pid, strings.TrimSpace(line), stop, nil
}

// bareLogin carries out md5LoginExchange at addr as a client, checking each
// reply, and then that the server closes.
func bareLogin(ctx context.Context, addr string, dialer *net.Dialer) error {
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(stepTimeout)); err != nil {
		return err
	}
	var buf [1024]byte
	for _, step := range md5LoginExchange {
		if _, err := io.WriteString(nc, step.command); err != nil {
			return err
		}
		reply := buf[:len(step.reply)]
		if _, err := io.ReadFull(nc, reply); err != nil {
			return err
		}
		if string(reply) != step.reply {
			return fmt.Errorf("baseline: %q answered with %q", step.command, reply)
		}
	}
	if _, err := nc.Read(buf[:1]); err != io.EOF {
		return errors.New("baseline: the server did not close after OUT")
	}
	return nil
}
