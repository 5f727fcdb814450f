package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// msn oim send leaves an offline message as WLM does; the recipient lists
// it, reads it and deletes it as MSN 7.0 (MSNP11, Passport 1.4 tickets)
// or WLM would, and it is gone; dialects that cannot do a thing say so.
func TestMSNOfflineMessages(t *testing.T) {
	ctx := testContext(t)
	n, ca := startTLSNode(t, nil)
	addAccount(t, n, 1001, "alice@example.com", "pw-a")
	addAccount(t, n, 1002, "bob@example.com", "pw-b")
	as := func(email, password, protocol string) msnOIMLogin {
		return msnOIMLogin{Login: email, Password: password, Timeout: 10 * time.Second, Protocol: protocol, Nexus: "https://nexus.passport.com/rdr/pprdr.asp",
			CaCert: ca, HttpsAt: n.HTTPSAddr}
	}

	send := func(l msnOIMLogin, text string) ran {
		return command((&msnOIMSendCmd{msnOIMLogin: l, To: "bob@example.com", Text: strings.Fields(text)}).run).run(t, ctx)
	}
	if r := send(as("alice@example.com", "pw-a", "MSNP15"), "see you tomorrow"); r.err != nil || r.out.String() != "stored for bob@example.com\n" {
		t.Fatalf("send: %q %v", r.out, r.err)
	}
	if r := send(as("alice@example.com", "pw-a", "MSNP11"), "x"); r.err == nil || !strings.Contains(r.err.Error(), "only read offline messages") {
		t.Errorf("send as MSNP11: %v", r.err)
	}
	if r := send(as("alice@example.com", "wrong", "MSNP18"), "x"); r.err == nil || r.err.Error() != "sign-in refused: wrong e-mail address or password" {
		t.Errorf("wrong password: %v", r.err)
	}

	bob := as("bob@example.com", "pw-b", "MSNP11")
	list := func() ran { return command((&msnOIMListCmd{msnOIMLogin: bob}).run).run(t, ctx) }
	r := list()
	line := regexp.MustCompile(`^([0-9A-F-]{36}) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ alice@example.com <alice@example.com>\n$`).FindStringSubmatch(r.out.String())
	if r.err != nil || line == nil || r.errOut.String() != "1 offline messages\n" {
		t.Fatalf("list: %q %q %v", r.out, r.errOut, r.err)
	}
	got := command((&msnOIMGetCmd{msnOIMLogin: as("bob@example.com", "pw-b", "MSNP18")}).run).run(t, ctx)
	if got.err != nil || !regexp.MustCompile(`^alice@example.com <alice@example.com> at \S+: see you tomorrow\n$`).MatchString(got.out.String()) {
		t.Fatalf("get: %q %v", got.out, got.err)
	}
	if r := list(); r.out.String() != line[0] {
		t.Fatalf("get without --delete deleted: %q", r.out)
	}
	if r := command((&msnOIMDeleteCmd{msnOIMLogin: bob, IDs: []string{line[1]}}).run).run(t, ctx); r.err != nil || r.out.String() != "deleted 1\n" {
		t.Fatalf("delete: %q %v", r.out, r.err)
	}
	if r := list(); r.err != nil || r.out.String() != "" || r.errOut.String() != "0 offline messages\n" {
		t.Fatalf("after delete: %q %q %v", r.out, r.errOut, r.err)
	}
	if r := command((&msnOIMListCmd{msnOIMLogin: as("bob@example.com", "pw-b", "MSNP8")}).run).run(t, ctx); r.err == nil || !strings.Contains(r.err.Error(), "arrive as chats") {
		t.Errorf("list as MSNP8: %v", r.err)
	}

	// get --delete deletes what it printed.
	if r := send(as("alice@example.com", "pw-a", "MSNP13"), "one more"); r.err != nil {
		t.Fatal(r.err)
	}
	got = command((&msnOIMGetCmd{msnOIMLogin: bob, Delete: true}).run).run(t, ctx)
	if got.err != nil || !strings.HasSuffix(got.out.String(), ": one more\n") {
		t.Fatalf("get --delete: %q %v", got.out, got.err)
	}
	if r := list(); r.out.String() != "" {
		t.Fatalf("after get --delete: %q", r.out)
	}
}

// The oim commands parse as the other msn commands do.
func TestMSNOIMFlags(t *testing.T) {
	c, _, err := parse(t, "msn", "oim", "get", "--login", "a@b.c", "--password", "p", "--delete", "--https-at", "127.0.0.1:443", "id1", "id2")
	g := c.Msn.Oim.Get
	if err != nil || !g.Delete || len(g.IDs) != 2 || g.Protocol != "MSNP15" || g.HttpsAt != "127.0.0.1:443" || g.Nexus == "" || g.Timeout != 30*time.Second {
		t.Fatalf("%+v %v", g, err)
	}
	if _, _, err := parse(t, "msn", "oim", "delete", "--login", "a@b.c", "--password", "p"); err == nil {
		t.Fatal("delete without an id parsed")
	}
}
