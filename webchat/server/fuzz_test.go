package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/webchat/client"
)

// FuzzSession sends random messages (the input's lines, one WebSocket
// message each) on a fresh connection and on a logged-in one. The server
// must not panic, must finish with the connection once the client closes
// it, and must keep serving a bystander.
func FuzzSession(f *testing.F) {
	seeds := []string{
		`{"type":"login","id":"1","email":"u1@example.com","password":"pw"}`,
		`{"type":"login","token":"t"}`,
		`{"type":"presence","id":"2","status":"busy","text":"x"}`,
		`{"type":"send","id":"3","to":{"number":2},"text":"hi"}` + "\n" + `{"type":"send","to":{"email":"u2@example.com"},"text":"again"}`,
		`{"type":"typing","to":{"number":2},"typing":true}`,
		`{"type":"add","id":"4","contact":{"number":2}}` + "\n" + `{"type":"block","contact":{"number":2}}` + "\n" + `{"type":"unblock","contact":{"nick":"x"}}`,
		`{"type":"accept","contact":{"number":2}}` + "\n" + `{"type":"remove","contact":{"number":2}}`,
		`{"type":"file_offer","id":"5","to":{"number":2},"name":"a","size":3}`,
		`{"type":"ping","id":"6"}` + "\n" + `{"type":"logout"}` + "\n" + `{"type":"ping"}`,
		`{"type":"nope"}`, `[]`, `{`, "\x00\xff",
	}
	for _, s := range seeds {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	e := newTestEnv(f, func(c *Config) {
		c.LoginTimeout = 2 * time.Second
		c.FramesPerSecond, c.FrameBurst = 1e6, 1e6
		c.Files = &fakeFiles{bridges: true}
	})
	e.account(f, 1, "Fuzz", "pw")
	other := e.account(f, 2, "Other", "pw")
	ctx := context.Background()
	bystander, err := client.Dial(ctx, e.socketURL(), client.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { bystander.Close() })
	if _, err := bystander.Login(ctx, other.Email, "pw"); err != nil {
		f.Fatal(err)
	}
	go func() { // its events are not the point
		for range bystander.Events() {
		}
	}()

	f.Fuzz(func(t *testing.T, loggedIn bool, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, e.socketURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if loggedIn {
			if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"login","email":"u1@example.com","password":"pw"}`)); err != nil {
				t.Fatal(err)
			}
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if ws.Write(ctx, websocket.MessageText, line) != nil {
				break // the server closed: logout, or a refused login
			}
		}
		// Our side closes; the server must answer the close in time
		// (Close waits for it, reading and dropping what comes first).
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		_ = ws.Close(websocket.StatusNormalClosure, "")
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("server did not finish with the connection")
		}
		if err := bystander.Ping(ctx); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	})
}
