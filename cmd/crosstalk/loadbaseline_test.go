package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The baseline's server answers the baseline's client, logins after
// logins, and a reply that is not the exchange's fails the client.
func TestLoginBaselineServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go answerLogin(nc)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := bareLogin(ctx, l.Addr().String(), &net.Dialer{}); err != nil {
			t.Fatal(err)
		}
	}

	wrong, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	go func() {
		nc, err := wrong.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = io.WriteString(nc, "VER 0 MSNP8 CVR0\r\n")
		_, _ = io.Copy(io.Discard, nc)
	}()
	if err := bareLogin(ctx, wrong.Addr().String(), &net.Dialer{}); err == nil || !strings.Contains(err.Error(), "MSNP8") {
		t.Errorf("a wrong reply: %v", err)
	}
}

// The baseline's exchange is the one Crosstalk carries out: each of its
// commands, sent to a real server (with the password's real hash), gets a
// reply of the same command and transaction ID and of about the canned
// reply's length (the salt, the time and the client's port vary).
func TestLoginBaselineIsTheRealExchange(t *testing.T) {
	n, data := loadNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := createLoadAccounts(ctx, data, 1); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", n.MSNPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	var salt string
	for _, step := range md5LoginExchange {
		command := step.command
		if strings.HasPrefix(command, "USR 4 MD5 S ") {
			sum := md5.Sum([]byte(salt + loadtestPassword))
			command = "USR 4 MD5 S " + hex.EncodeToString(sum[:]) + "\r\n"
		}
		if _, err := io.WriteString(nc, command); err != nil {
			t.Fatal(err)
		}
		reply, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v", command, err)
		}
		fields := strings.Fields(reply)
		if len(fields) > 4 && fields[0] == "USR" && fields[3] == "S" {
			salt = fields[4]
		}
		if msg, ok := strings.CutPrefix(reply, "USR 4 OK "); ok {
			header, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			size, err := strconv.Atoi(strings.TrimSpace(header[strings.LastIndexByte(strings.TrimSpace(header), ' ')+1:]))
			if err != nil {
				t.Fatalf("profile header %q", header)
			}
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				t.Fatal(err)
			}
			reply = "USR 4 OK " + msg + header + string(body)
		}
		if head(reply) != head(step.reply) {
			t.Errorf("%q: the server answered %q, the baseline %q", command, reply, step.reply)
		}
		if d := len(reply) - len(step.reply); d < -8 || d > 8 {
			t.Errorf("%q: the server's reply is %d bytes, the baseline's %d:\n%q\n%q", command, len(reply), len(step.reply), reply, step.reply)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("the server did not close after OUT: %v", err)
	}
}

// head is the first three words of a reply: its command, transaction ID
// and first argument.
func head(reply string) string {
	fields := strings.Fields(reply)
	return strings.Join(fields[:min(3, len(fields))], " ")
}
