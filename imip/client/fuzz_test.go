package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/imip/wire"
	"github.com/crosstalk-im/crosstalk/internal/fakeserver"
)

// FuzzServerInput feeds arbitrary server output to a client that logs in,
// sets a status, adds, accepts and removes contacts, sends messages, pings
// and disconnects: nothing may panic, every call must return, and Close
// must finish.
func FuzzServerInput(f *testing.F) {
	login := serverHELO + serverLOGN
	f.Add(login)
	f.Add(login + ack(600, 2, 1003) + ack(600, 3, 1004) + ack(600, 4, 1005) + ack(811, 5, 1006) + ack(600, 6, 1008) +
		ack(600, 7, 1009) + ack(600, 8, 1010))
	f.Add(login + block("STAT ONLINE", []string{"From: 3456789", "ID: 9"}, "") +
		block("LIST ADD", []string{`From: 2345678 "Odigo Support"`, "ID: 10", "List: Buddy"}, "Want to add you!") +
		block("MESG", []string{"From: 7654321 \"M\"", "ID: 11", "Time: 2002-07-14T18:32:05Z"}, "hi") +
		block("PING", []string{"ID: 12"}, "") + block("LIST REMOVE 1", []string{"ID: 13"}, "") +
		block("DISC", []string{"ID: 14"}, "bye"))
	f.Add(serverHELO + ack(810, 2, 1002))
	f.Add("LOGN 1234567\r\n55\r\nBuddy: 7654321 \"Matthias\"\r\nID: 19194\r\nReference: 1002\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		defer fakeserver.Watchdog(10 * time.Second)()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a, fed := fakeserver.Feed([]byte(data))
		var wg sync.WaitGroup
		c, err := New(ctx, a, Options{EventBuffer: 8, MaxBlock: 4096, KeepAlive: time.Millisecond})
		if err == nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range c.Events() {
				}
			}()
			if _, err := c.Login(ctx, us, password); err == nil {
				c.SetStatus(ctx, wire.StatusOnline, "")
				c.ListAdd(ctx, "3456789", "please")
				c.ListAccept(ctx, "2345678", "Odigo \"Support\"")
				c.SendMessage(ctx, "7654321", "Hello Matthias!")
				c.SendMessageAcked(ctx, "7654321", "x")
				c.ListReject(ctx, "4567890")
				c.ListRemove(ctx, "7654321")
				c.Ping(ctx)
				c.Buddies()
				c.Disconnect(ctx)
			}
			c.Close()
		}
		a.Close()
		wg.Wait()
		fed()
	})
}
