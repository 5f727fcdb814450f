package store

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestSignUpNumbersAndLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		first, err := s.SignUp(ctx, hub.Account{Email: "a@example.com"}, "secret1", SignUpRules{})
		if err != nil || first.Number != FirstNumber {
			t.Fatalf("first sign-up: %+v, %v; want number %d", first, err, FirstNumber)
		}
		if _, err := s.CreateAccount(ctx, hub.Account{Number: 5000, Email: "b@example.com"}, "pw"); err != nil {
			t.Fatal(err)
		}
		rules := SignUpRules{Addr: "192.0.2.1", MaxPerAddr: 2, Window: time.Hour}
		next, err := s.SignUp(ctx, hub.Account{Email: "c@example.com"}, "secret1", rules)
		if err != nil || next.Number != 5001 {
			t.Fatalf("sign-up after 5000: %+v, %v", next, err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "c@example.com"}, "secret1", rules); !errors.Is(err, hub.ErrAccountExists) {
			t.Fatalf("taken e-mail: %v", err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "d@example.com"}, "secret1", rules); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "e@example.com"}, "secret1", rules); !errors.Is(err, ErrSignUpLimit) {
			t.Fatalf("third sign-up from one address: %v", err)
		}
		other := rules
		other.Addr = "192.0.2.2"
		if _, err := s.SignUp(ctx, hub.Account{Email: "e@example.com"}, "secret1", other); err != nil {
			t.Fatalf("another address: %v", err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "bad"}, "secret1", SignUpRules{}); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("bad e-mail: %v", err)
		}
	})
}

func TestSignUpInvites(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		if err := s.CreateInvite(ctx, hashOf("code"), 1, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateInvite(ctx, hashOf("old"), 5, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "a@example.com"}, "secret1", SignUpRules{Invite: hashOf("wrong")}); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("unknown code: %v", err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "a@example.com"}, "secret1", SignUpRules{Invite: hashOf("old")}); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("expired code: %v", err)
		}
		// A sign-up that fails spends no use.
		if _, err := s.SignUp(ctx, hub.Account{Email: "bad"}, "secret1", SignUpRules{Invite: hashOf("code")}); !errors.Is(err, hub.ErrInvalid) {
			t.Fatal(err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "a@example.com"}, "secret1", SignUpRules{Invite: hashOf("code")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignUp(ctx, hub.Account{Email: "b@example.com"}, "secret1", SignUpRules{Invite: hashOf("code")}); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("used-up code: %v", err)
		}
		if err := s.CreateInvite(ctx, hashOf("none"), 0, time.Now().Add(time.Hour)); !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("invite of no uses: %v", err)
		}
	})
}

func TestPasswordPolicy(t *testing.T) {
	a := hub.Account{Email: "alice.smith@example.com", Nick: "ally", DisplayName: "Alice Smith"}
	for _, tt := range []struct {
		password string
		ok       bool
	}{
		{"short", false}, {"long enough", true}, {"ALICE.SMITH", false}, {"alice.smith@example.com", false},
		{"Alice Smith", false}, {"żółwiątko", true}, {"żółw", false},
	} {
		if err := CheckPasswordPolicy(tt.password, 6, a); (err == nil) != tt.ok {
			t.Errorf("password of %d characters: %v, want ok %v", len(tt.password), err, tt.ok)
		}
	}
	if err := CheckPasswordPolicy("ally12", 6, hub.Account{Email: "x@example.com", Nick: "ALLY12"}); err == nil {
		t.Error("the nick was taken as a password")
	}
}

func TestWebSessionsAdminAndDisabled(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		withAccounts(t, s, 2)
		if err := s.CreateWebSession(ctx, 1, hashOf("t1"), time.Now().Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebSession(ctx, 1, hashOf("t2"), time.Now().Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebSession(ctx, 2, hashOf("gone"), time.Now().Add(-time.Second), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WebSession(ctx, hashOf("gone")); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}
		ai, err := s.WebSession(ctx, hashOf("t1"))
		if err != nil || ai.Number != 1 || ai.Admin {
			t.Fatalf("session: %+v, %v", ai, err)
		}
		if err := s.SetAdmin(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		if ai, _ := s.WebSession(ctx, hashOf("t1")); !ai.Admin {
			t.Fatal("admin right not seen through the session")
		}
		if ok, err := s.IsAdmin(ctx, 1); !ok || err != nil {
			t.Fatalf("IsAdmin: %v, %v", ok, err)
		}
		if err := s.SetAdmin(ctx, 99, true); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("admin of no account: %v", err)
		}
		if err := s.DeleteWebSessions(ctx, 1, hashOf("t1")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WebSession(ctx, hashOf("t2")); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("other session kept: %v", err)
		}
		if _, err := s.WebSession(ctx, hashOf("t1")); err != nil {
			t.Fatalf("kept session: %v", err)
		}
		if err := s.SetDisabled(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Account(ctx, 1); !a.Disabled {
			t.Fatal("account not disabled")
		}
		if _, err := s.WebSession(ctx, hashOf("t1")); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("session of a disabled account: %v", err)
		}
		if err := s.SetDisabled(ctx, 1, false); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Account(ctx, 1); a.Disabled {
			t.Fatal("account still disabled")
		}
		if err := s.CreateWebSession(ctx, 2, hashOf("t3"), time.Now().Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebSession(ctx, hashOf("t3")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WebSession(ctx, hashOf("t3")); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("signed-out session: %v", err)
		}
	})
}

// An account keeps its newest sign-ins up to the cap.
func TestWebSessionsCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		withAccounts(t, s, 2)
		if err := s.CreateWebSession(ctx, 2, hashOf("other"), time.Now().Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		// Sessions made within one second are told apart by expiry.
		for i, name := range []string{"s1", "s2", "s3"} {
			if err := s.CreateWebSession(ctx, 1, hashOf(name), time.Now().Add(time.Duration(i+1)*time.Hour), 2); err != nil {
				t.Fatal(err)
			}
		}
		for name, live := range map[string]bool{"s1": false, "s2": true, "s3": true, "other": true} {
			if _, err := s.WebSession(ctx, hashOf(name)); (err == nil) != live {
				t.Errorf("session %s: %v, want live %v", name, err, live)
			}
		}
	})
}

func TestSearchAccountsAndMailboxes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		for _, a := range []hub.Account{
			{Number: 10, Email: "alice@example.com", DisplayName: "Alice 100%"},
			{Number: 11, Email: "bob@example.org", Nick: "Bobby"},
			{Number: 100, Email: "carol@example.net", DisplayName: "Carol_C"},
		} {
			if _, err := s.CreateAccount(ctx, a, "pw"); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			query string
			want  []uint32
		}{
			{"", []uint32{10, 11, 100}}, {"ALICE", []uint32{10}}, {"bobb", []uint32{11}}, {"example.org", []uint32{11}},
			{"100", []uint32{10, 100}}, {"%", []uint32{10}}, {"_", []uint32{100}}, {"nobody", nil},
		} {
			got, err := s.SearchAccounts(ctx, tt.query, 10)
			if err != nil {
				t.Fatal(err)
			}
			var numbers []uint32
			for _, ai := range got {
				numbers = append(numbers, ai.Number)
			}
			if len(numbers) != len(tt.want) || (len(numbers) > 0 && numbers[0] != tt.want[0]) || (len(numbers) > 1 && numbers[len(numbers)-1] != tt.want[len(tt.want)-1]) {
				t.Errorf("search %q: %v, want %v", tt.query, numbers, tt.want)
			}
		}
		if got, _ := s.SearchAccounts(ctx, "", 2); len(got) != 2 {
			t.Errorf("limit 2: %d accounts", len(got))
		}
		for i := range 3 {
			if _, err := s.QueueOffline(ctx, 11, 10, hub.Message{Text: "hi"}, hub.MailboxLimits{Total: 10}); err != nil {
				t.Fatal(err, i)
			}
		}
		if _, err := s.QueueOffline(ctx, 100, 10, hub.Message{Text: "hi"}, hub.MailboxLimits{Total: 10}); err != nil {
			t.Fatal(err)
		}
		boxes, err := s.Mailboxes(ctx, 10)
		if err != nil || len(boxes) != 2 || boxes[0].Number != 11 || boxes[0].Mailbox != 3 || boxes[1].Mailbox != 1 {
			t.Fatalf("mailboxes: %+v, %v", boxes, err)
		}
		got, _ := s.SearchAccounts(ctx, "bob", 10)
		if len(got) != 1 || got[0].Mailbox != 3 {
			t.Fatalf("search shows mailbox %+v", got)
		}
		if ai, err := s.AccountInfo(ctx, 11); err != nil || ai.Mailbox != 3 || ai.Nick != "Bobby" || ai.Admin {
			t.Fatalf("AccountInfo: %+v, %v", ai, err)
		}
		if _, err := s.AccountInfo(ctx, 99); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("AccountInfo of no account: %v", err)
		}
	})
}

func TestLiveTickets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		withAccounts(t, s, 2)
		now := time.Now()
		for _, tk := range []struct {
			id      string
			expires time.Time
		}{{"live", now.Add(time.Hour)}, {"dead", now.Add(-time.Hour)}} {
			if err := s.CreateTicket(ctx, ticket(tk.id, 1, 2, 10, tk.expires), 0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Tickets(ctx, 10)
		if err != nil || len(got) != 1 || got[0].ID != "live" {
			t.Fatalf("tickets: %+v, %v", got, err)
		}
	})
}

// A chat token signs in once, before it expires, while its web session
// lives and its account is enabled; signing out ends the session's tokens.
func TestChatTokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		ctx := t.Context()
		withAccounts(t, s, 2)
		hour := time.Now().Add(time.Hour)
		for _, session := range []string{"s1", "s2"} {
			if err := s.CreateWebSession(ctx, 1, hashOf(session), hour, 10); err != nil {
				t.Fatal(err)
			}
		}
		mint := func(token, session string, expires time.Time) {
			t.Helper()
			if err := s.CreateChatToken(ctx, hashOf(token), hashOf(session), expires); err != nil {
				t.Fatal(err)
			}
		}
		take := func(token string, want uint32) {
			t.Helper()
			ai, err := s.TakeChatToken(ctx, hashOf(token))
			if want == 0 && !errors.Is(err, hub.ErrNotFound) || want != 0 && (err != nil || ai.Number != want) {
				t.Fatalf("chat token %s: %+v, %v; want account %d", token, ai.Number, err, want)
			}
		}
		mint("c1", "s1", hour)
		mint("c2", "s1", hour)
		mint("old", "s1", time.Now().Add(-time.Second))
		mint("c3", "s2", hour)
		mint("c4", "s2", hour)
		if err := s.CreateChatToken(ctx, hashOf("orphan"), hashOf("no session"), hour); err == nil {
			t.Fatal("a chat token of no web session was taken")
		}
		take("c1", 1)
		take("c1", 0) // single use
		take("old", 0)
		take("unknown", 0)
		if err := s.DeleteWebSession(ctx, hashOf("s1")); err != nil {
			t.Fatal(err)
		}
		take("c2", 0)
		take("c3", 1)
		if err := s.SetDisabled(ctx, 1, true); err != nil {
			t.Fatal(err)
		}
		take("c4", 0)
	})
}
