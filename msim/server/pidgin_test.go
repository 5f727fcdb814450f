package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msim/client"
	"github.com/crosstalk-im/crosstalk/msim/wire"
)

// What Pidgin 2.10.12's MySpaceIM plugin ran into.

// pidginProfileFields are the profile keys the plugin reads; it logs
// anything else as unrecognised.
var pidginProfileFields = map[string]bool{
	"UserID": true, "ContactID": true, "Age": true, "Gender": true, "Location": true, "TotalFriends": true,
	"DisplayName": true, "BandName": true, "SongName": true, "UserName": true, "IMName": true, "NickName": true,
	"ImageURL": true, "AvatarURL": true, "LastImageUpdated": true, "Headline": true,
}

// TestProfileCarriesStatusText: Pidgin asks for the profile of a contact
// whose bm 100 said it is online, by screen name (5/7) or id (4/3), and
// the reply's Headline replaces the one the bm 100 carried. It must be
// the status text, and the profile must hold no empty picture URL.
func TestProfileCarriesStatusText(t *testing.T) {
	env := newTestEnv(t, nil)
	env.account(t, hub.Account{Number: 1001, Email: "tom@example.com", Nick: "tom", DisplayName: "Tom"}, "pt")
	env.account(t, hub.Account{Number: 1002, Email: "ann@example.com", Nick: "ann", DisplayName: "Ann"}, "pa")
	tom, _ := login(t, env.addr, "tom@example.com", "pt", client.Options{StatusText: "my own words"})
	ann, _ := login(t, env.addr, "ann@example.com", "pa", client.Options{StatusText: "at lunch / back at 2"})
	ctx := ctxFor(t)
	if err := tom.AddBuddy(ctx, 1002, ""); err != nil {
		t.Fatal(err)
	}
	if st := nextStatus(t, tom, 1002, wire.StatusOnline); st.Text != "at lunch / back at 2" {
		t.Fatalf("bm 100 headline %q", st.Text)
	}
	byID, err := tom.Profile(ctx, 1002)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := tom.LookupUserName(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	own, err := tom.OwnProfile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]client.Profile{"4/3": byID, "5/7": byName} {
		if p.Headline != "at lunch / back at 2" {
			t.Errorf("%s Headline %q", what, p.Headline)
		}
	}
	if own.Headline != "my own words" {
		t.Errorf("own profile Headline %q", own.Headline)
	}
	for what, p := range map[string]client.Profile{"4/3": byID, "5/7": byName, "4/5": own} {
		for _, f := range p.Fields {
			if !pidginProfileFields[f.Key] {
				t.Errorf("%s has %s, which Pidgin does not know", what, f.Key)
			}
		}
		if p.Fields.Has("ImageURL") || p.Fields.Has("AvatarURL") {
			t.Errorf("%s names a picture: %v", what, p.Fields)
		}
	}

	// Hidden, the headline is as gone as the presence.
	if err := ann.SetStatus(ctx, wire.StatusInvisible, "secret plans"); err != nil {
		t.Fatal(err)
	}
	nextStatus(t, tom, 1002, wire.StatusOffline)
	if p, err := tom.Profile(ctx, 1002); err != nil || p.Headline != "" {
		t.Fatalf("profile of a hidden contact: %q %v", p.Headline, err)
	}
}

// traceLog collects a server's trace from several goroutines.
type traceLog struct{ testenv.LogBuffer }

func (l *traceLog) config(c *Config) {
	c.Trace = true
	c.Logger = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: LevelTrace}))
}

// messages returns the traced messages, in and out.
func (l *traceLog) messages(t *testing.T) []wire.Message {
	var out []wire.Message
	for line := range strings.Lines(l.String()) {
		var rec struct{ Message string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Message == "" {
			continue
		}
		m, err := wire.NewReader(strings.NewReader(rec.Message)).ReadMessage()
		if err != nil {
			t.Fatalf("traced %q: %v", rec.Message, err)
		}
		out = append(out, m)
	}
	return out
}

// tracedLogin logs ann in, over a connection of its own, to a server
// that traces.
func tracedLogin(t *testing.T) (*testEnv, *traceLog, net.Conn) {
	logs := new(traceLog)
	env := newTestEnv(t, logs.config)
	env.account(t, hub.Account{Number: 1002, Email: "ann@example.com", Nick: "ann"}, "pa")
	nc, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rawLogin(t, nc, "ann@example.com", "pa")
	return env, logs, nc
}

// TestKickedSessionHearsWhy: a session taken over by a second login gets
// error 6, and it shows in the trace. A client that writes after the
// server is done with it, before it reads (Pidgin's timers do), still
// reads the error and then the end of the stream: a connection closed
// with unread input answers with a reset instead, and Pidgin takes a
// failed write for a lost connection and reconnects.
func TestKickedSessionHearsWhy(t *testing.T) {
	env, logs, nc := tracedLogin(t) // online

	ctx := ctxFor(t)
	_, _ = login(t, env.addr, "ann@example.com", "pa", client.Options{InitialStatus: wire.StatusAway})
	// The first session is gone from the hub once only the away one is left.
	for {
		if s, err := env.hub.Sessions(ctx, 1002); err == nil && s["msim"] == hub.StatusAway {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("first session still attached")
		case <-time.After(10 * time.Millisecond):
		}
	}
	status := wire.Append(nil, wire.Message{wire.Int(wire.TypeStatus, wire.StatusOnline), wire.Str("statstring", ""), wire.Str("locstring", "")})
	for range 2 {
		if _, err := nc.Write(status); err != nil {
			t.Fatalf("write after the takeover: %v", err)
		}
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("reading after the takeover: %v", err)
	}
	m, err := wire.NewReader(bytes.NewReader(rest)).ReadMessage()
	if err != nil || m.Type() != wire.TypeError || m.Get("err") != "6" || !m.Has("fatal") {
		t.Fatalf("kicked with %q (%v)", rest, err)
	}
	traced := false
	for _, m := range logs.messages(t) {
		traced = traced || m.Type() == wire.TypeError && m.Get("err") == "6"
	}
	if !traced {
		t.Error("trace lacks error 6")
	}
}

// TestTraceHidesLoginResponse: the login2 response is made from the
// password and stays out of the trace.
func TestTraceHidesLoginResponse(t *testing.T) {
	_, logs, _ := tracedLogin(t)
	logins := 0
	for _, m := range logs.messages(t) {
		if m.Type() == wire.TypeLogin2 {
			logins++
			if r := m.Raw("response"); !strings.HasPrefix(r, "(") || !strings.HasSuffix(r, " bytes)") {
				t.Errorf("trace shows the response as %q", r)
			}
		}
	}
	if logins != 1 {
		t.Fatalf("%d logins traced", logins)
	}
}
