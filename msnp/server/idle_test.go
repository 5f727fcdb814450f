package server

import (
	"testing"
	"time"
)

// connsOf returns the server's connections of one role.
func (s *Server) connsOf(r role) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []*conn
	for c := range s.conns {
		if c.role == r {
			cs = append(cs, c)
		}
	}
	return cs
}

// A notification connection's commands run under a context that never
// ends, so that nothing their calls derive from it stays with the idle
// session; a switchboard's ends with the connection, and with it the file
// transfers started there.
func TestCommandContexts(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	alice := dialRaw(t, env.nsAddr)
	alice.login("alice@example.com", "pa")
	sb := alice.switchboard("alice@example.com", "Alice")

	ns, sbs := env.srv.connsOf(roleNotification), env.srv.connsOf(roleSwitchboard)
	if len(ns) != 1 || len(sbs) != 1 {
		t.Fatalf("%d notification and %d switchboard connections, want one each", len(ns), len(sbs))
	}
	if ns[0].ctx.Done() != nil {
		t.Fatal("the notification connection's context can end")
	}
	sbCtx := sbs[0].ctx
	if sbCtx.Done() == nil || sbCtx.Err() != nil {
		t.Fatalf("the switchboard's context cannot end, or has ended already: %v", sbCtx.Err())
	}
	sb.nc.Close()
	select {
	case <-sbCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the switchboard's context outlived its connection")
	}
}

// A logged-in session keeps nothing of its login: the login name was a
// piece of the whole USR line, which it would have kept.
func TestSessionKeepsNoLoginName(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	dialRaw(t, env.nsAddr).login("alice@example.com", "pa")
	ns := env.srv.connsOf(roleNotification)
	if len(ns) != 1 {
		t.Fatalf("%d notification connections, want one", len(ns))
	}
	n := ns[0].ns
	n.mu.Lock()
	login := n.login
	n.mu.Unlock()
	if login != nil {
		t.Fatalf("the session keeps its login's state: %+v", *login)
	}
}
