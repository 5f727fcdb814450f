package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

func openAt(t testing.TB, dir string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func account(number uint32) hub.Account {
	return hub.Account{Number: number, Email: fmt.Sprintf("user%d@example.com", number)}
}

// withAccounts creates accounts 1..n.
func withAccounts(t testing.TB, s *core, n uint32) {
	t.Helper()
	for i := uint32(1); i <= n; i++ {
		if _, err := s.CreateAccount(t.Context(), account(i), "pw"); err != nil {
			t.Fatal(err)
		}
	}
}

func roster(t testing.TB, s *core, owner uint32) *hub.Roster {
	t.Helper()
	r, err := s.Roster(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func serialOf(t testing.TB, s *core, owner uint32) uint32 {
	t.Helper()
	return roster(t, s, owner).Settings.Serial
}

func numbers(es []hub.Entry) []uint32 {
	var ns []uint32
	for _, e := range es {
		ns = append(ns, e.Contact.Number)
	}
	return ns
}

func TestOpenCreatesDirKeyAndDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "sub")
	s := openAt(t, dir)

	if want := filepath.Join(dir, "crosstalk.db"); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {filepath.Join(dir, "secret.key"), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if key, _ := os.ReadFile(filepath.Join(dir, "secret.key")); len(key) != 32 {
		t.Errorf("key has %d bytes, want 32", len(key))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// OpenExistingSQLite creates nothing where there is no database, and opens
// one that is there.
func TestOpenExistingSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	if s, err := OpenExistingSQLite(context.Background(), dir); !errors.Is(err, ErrNoDatabase) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("no database: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the directory was created: %v", err)
	}
	openAt(t, dir).Close()
	s, err := OpenExistingSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Opening an existing store refuses a database that holds none, and opens
// one that does.
func TestOpenExisting(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		p := e.place(t)
		cfg := p.config()
		cfg.Existing = true
		if s, err := Open(t.Context(), cfg); !errors.Is(err, ErrNoDatabase) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("no store yet: %v", err)
		}
		p.open(t).Close()
		s, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
}

func TestOpenRejectsBadKey(t *testing.T) {
	for _, n := range []int{0, 16, 33} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "secret.key"), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := OpenSQLite(t.Context(), dir); err == nil {
			s.Close()
			t.Errorf("opened with a %d-byte key", n)
		}
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		s := at.open(t)
		if _, err := s.CreateAccount(t.Context(), account(1), "secret"); err != nil {
			t.Fatal(err)
		}
		s.Close()

		s = at.open(t)
		if p, err := s.Password(t.Context(), 1); err != nil || p != "secret" {
			t.Fatalf("Password after reopen = %q, %v", p, err)
		}
		versions := sqlInt(t, s, `SELECT COUNT(*) FROM schema_version`)
		if ms, _ := loadMigrations(migrationFiles, e.name); versions != len(ms) || versions == 0 {
			t.Errorf("schema_version has %d rows, want %d", versions, len(ms))
		}

		// A database migrated by a newer program must not be opened.
		sqlExec(t, s, `INSERT INTO schema_version VALUES (?, ?)`, 999, 0)
		s.Close()
		if s, err := at.tryOpen(t.Context(), KeyConfig{}); err == nil {
			s.Close()
			t.Error("opened a database with a newer schema")
		}
	})
}

// Both engines have every migration number, under the same names.
func TestMigrationsMatch(t *testing.T) {
	var names [2][]string
	for i, engine := range []string{sqliteMigrations, postgresMigrations} {
		ms, err := loadMigrations(migrationFiles, engine)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			names[i] = append(names[i], m.name)
		}
	}
	if !slices.Equal(names[0], names[1]) || len(names[0]) == 0 {
		t.Errorf("SQLite's migrations %v, PostgreSQL's %v", names[0], names[1])
	}
}

func TestCreateAccountValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		long := func(n int) string { return strings.Repeat("a", n) }
		tests := []struct {
			name     string
			change   func(*hub.Account)
			password string
			ok       bool
		}{
			{"valid", func(a *hub.Account) {}, "pw", true},
			{"number 0", func(a *hub.Account) { a.Number = 0 }, "pw", false},
			{"empty e-mail", func(a *hub.Account) { a.Email = "" }, "pw", false},
			{"e-mail without @", func(a *hub.Account) { a.Email = "nobody" }, "pw", false},
			{"e-mail without local part", func(a *hub.Account) { a.Email = "@b" }, "pw", false},
			{"e-mail without domain", func(a *hub.Account) { a.Email = "a@" }, "pw", false},
			{"e-mail with two @", func(a *hub.Account) { a.Email = "a@b@c" }, "pw", false},
			{"e-mail with space", func(a *hub.Account) { a.Email = "a b@c" }, "pw", false},
			{"e-mail of 129 bytes", func(a *hub.Account) { a.Email = long(127) + "@b" }, "pw", true},
			{"e-mail of 130 bytes", func(a *hub.Account) { a.Email = long(128) + "@b" }, "pw", false},
			{"nick", func(a *hub.Account) { a.Nick = "a.b_c-D9" }, "pw", true},
			{"nick of 32", func(a *hub.Account) { a.Nick = long(32) }, "pw", true},
			{"nick of 33", func(a *hub.Account) { a.Nick = long(33) }, "pw", false},
			{"nick all digits", func(a *hub.Account) { a.Nick = "12345" }, "pw", false},
			{"nick with space", func(a *hub.Account) { a.Nick = "a b" }, "pw", false},
			{"nick not ASCII", func(a *hub.Account) { a.Nick = "zoë" }, "pw", false},
			{"display name of 387", func(a *hub.Account) { a.DisplayName = long(387) }, "pw", true},
			{"display name of 388", func(a *hub.Account) { a.DisplayName = long(388) }, "pw", false},
			{"display name with newline", func(a *hub.Account) { a.DisplayName = "a\r\nOUT" }, "pw", false},
			{"display name invalid UTF-8", func(a *hub.Account) { a.DisplayName = "a\xff" }, "pw", false},
			{"empty password", func(a *hub.Account) {}, "", false},
			{"password of 128", func(a *hub.Account) {}, long(128), true},
			{"password of 129", func(a *hub.Account) {}, long(129), false},
		}
		s := e.newStore(t)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := hub.Account{Number: uint32(100 + i), Email: fmt.Sprintf("v%d@example.com", i)}
				tt.change(&a)
				_, err := s.CreateAccount(t.Context(), a, tt.password)
				if tt.ok && err != nil {
					t.Fatalf("CreateAccount: %v", err)
				}
				if !tt.ok && !errors.Is(err, hub.ErrInvalid) {
					t.Fatalf("CreateAccount error = %v, want ErrInvalid", err)
				}
				if err != nil && tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("error %q shows the password", err)
				}
			})
		}
	})
}

func TestCreateAccountDefaults(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		before := time.Now().Add(-time.Second)
		a, err := s.CreateAccount(t.Context(), hub.Account{Number: 7, Email: "Bob@Example.COM", Nick: "Bobby"}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != "bob@example.com" || a.DisplayName != "bob@example.com" || a.Nick != "Bobby" {
			t.Errorf("created %+v", a)
		}
		if a.CreatedAt.Before(before) || a.CreatedAt.After(time.Now()) {
			t.Errorf("CreatedAt = %v", a.CreatedAt)
		}
		got, err := s.Account(t.Context(), 7)
		if err != nil || got != a {
			t.Errorf("Account(7) = %+v, %v; want %+v", got, err, a)
		}
		r := roster(t, s, 7)
		want := hub.Settings{Privacy: hub.AllowUnlisted, PromptOnAdd: true}
		if r.Settings.Privacy != want.Privacy || r.Settings.PromptOnAdd != want.PromptOnAdd || r.Settings.Serial != 0 {
			t.Errorf("settings %+v, want %+v", r.Settings, want)
		}
		if !slices.Equal(r.Groups, []hub.Group{{ID: 0, Name: hub.DefaultGroupName}}) || len(r.Entries) != 0 {
			t.Errorf("new roster %+v", r)
		}
	})
}

func TestCreateAccountDuplicates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tests := []struct {
			name string
			a    hub.Account
			err  error
		}{
			{"number", hub.Account{Number: 1, Email: "other@example.com"}, hub.ErrAccountExists},
			{"e-mail in other case", hub.Account{Number: 2, Email: "ALICE@example.com"}, hub.ErrAccountExists},
			{"nick in other case", hub.Account{Number: 2, Email: "other@example.com", Nick: "aLiCe"}, hub.ErrAccountExists},
			{"no nick twice", hub.Account{Number: 2, Email: "other@example.com"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := e.newStore(t)
				if _, err := s.CreateAccount(t.Context(), hub.Account{Number: 1, Email: "alice@example.com", Nick: "Alice"}, "pw"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.CreateAccount(t.Context(), hub.Account{Number: 3, Email: "carol@example.com"}, "pw"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.CreateAccount(t.Context(), tt.a, "pw"); !errors.Is(err, tt.err) {
					t.Errorf("CreateAccount error = %v, want %v", err, tt.err)
				}
			})
		}
	})
}

func TestLookups(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		alice, err := s.CreateAccount(t.Context(), hub.Account{Number: 5, Email: "alice@example.com", Nick: "Alice"}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		withAccounts(t, s, 3)
		tests := []struct {
			name   string
			lookup func() (hub.Account, error)
			err    error
		}{
			{"number", func() (hub.Account, error) { return s.Account(t.Context(), 5) }, nil},
			{"e-mail", func() (hub.Account, error) { return s.AccountByEmail(t.Context(), "ALICE@Example.com") }, nil},
			{"nick", func() (hub.Account, error) { return s.AccountByNick(t.Context(), "aLICE") }, nil},
			{"unknown number", func() (hub.Account, error) { return s.Account(t.Context(), 99) }, hub.ErrNotFound},
			{"unknown e-mail", func() (hub.Account, error) { return s.AccountByEmail(t.Context(), "bob@example.com") }, hub.ErrNotFound},
			{"unknown nick", func() (hub.Account, error) { return s.AccountByNick(t.Context(), "bob") }, hub.ErrNotFound},
			{"empty nick", func() (hub.Account, error) { return s.AccountByNick(t.Context(), "") }, hub.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a, err := tt.lookup()
				if !errors.Is(err, tt.err) {
					t.Fatalf("error = %v, want %v", err, tt.err)
				}
				if err == nil && a != alice {
					t.Errorf("got %+v, want %+v", a, alice)
				}
			})
		}

		all, err := s.Accounts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, a := range all {
			got = append(got, a.Number)
		}
		if !slices.Equal(got, []uint32{1, 2, 3, 5}) || all[3] != alice {
			t.Errorf("Accounts = %v, want ordered by number", got)
		}
	})
}

func TestPasswords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) { testPasswords(t, e) })
}

func testPasswords(t *testing.T, e testEngine) {
	const secret = "correct-horse-battery-staple-7781"
	at := e.place(t)
	s := at.open(t)
	withAccounts(t, s, 2)
	if err := s.SetPassword(t.Context(), 1, secret); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Password(t.Context(), 1); err != nil || p != secret {
		t.Errorf("Password(1) = %q, %v", p, err)
	}
	if p, err := s.Password(t.Context(), 2); err != nil || p != "pw" {
		t.Errorf("Password(2) = %q, %v", p, err)
	}
	for _, tt := range []struct {
		name     string
		number   uint32
		password string
		err      error
	}{
		{"unknown account", 99, "x", hub.ErrNotFound},
		{"empty", 1, "", hub.ErrInvalid},
		{"too long", 1, strings.Repeat("x", 129), hub.ErrInvalid},
	} {
		if err := s.SetPassword(t.Context(), tt.number, tt.password); !errors.Is(err, tt.err) {
			t.Errorf("SetPassword %s: %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := s.Password(t.Context(), 99); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Password(99): %v", err)
	}
	// A login's one query: the account as AccountByEmail reads it, with
	// its password.
	for n, want := range map[uint32]string{1: secret, 2: "pw"} {
		a, p, err := s.AccountWithPassword(t.Context(), strings.ToUpper(account(n).Email))
		if byEmail, _ := s.AccountByEmail(t.Context(), account(n).Email); err != nil || p != want || a != byEmail || a.Number != n {
			t.Errorf("AccountWithPassword(%d) = %+v, %q, %v; want %+v, %q", n, a, p, err, byEmail, want)
		}
	}
	if _, _, err := s.AccountWithPassword(t.Context(), "nobody@example.com"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("AccountWithPassword(nobody): %v", err)
	}

	// Another account's ciphertext does not decrypt as this account's.
	// The copy is made behind the store's back, which its login cache
	// is told of, as another node would be.
	sqlExec(t, s, `UPDATE accounts SET password_enc = (SELECT password_enc FROM accounts WHERE number = 1) WHERE number = 2`)
	s.ForgetLogin(2)
	if _, err := s.Password(t.Context(), 2); err == nil {
		t.Error("copied ciphertext decrypted")
	}
	if _, p, err := s.AccountWithPassword(t.Context(), account(2).Email); err == nil {
		t.Errorf("copied ciphertext decrypted by AccountWithPassword: %q", p)
	}

	var stored []byte
	if err := s.db.read(t.Context(), func(tx tx) error {
		return tx.scan(`SELECT password_enc FROM accounts WHERE number = ?`, []any{1}, &stored)
	}); err != nil || len(stored) == 0 || bytes.Contains(stored, []byte(secret)) {
		t.Errorf("stored password %q, %v", stored, err)
	}
	if at.url == "" {
		assertNotOnDisk(t, at.dir, secret)
		s.Close()
		assertNotOnDisk(t, at.dir, secret)
	}
}

func assertNotOnDisk(t *testing.T, dir, secret string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "crosstalk.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the plaintext password", f)
		}
	}
}

func TestSetDisplayName(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 2)
		if _, err := s.AddToList(t.Context(), 2, 1, hub.Forward, 0, 0); err != nil {
			t.Fatal(err)
		}
		serial, err := s.SetDisplayName(t.Context(), 1, "Alice ♥")
		if err != nil || serial != 2 {
			t.Fatalf("SetDisplayName = %d, %v; want 2", serial, err)
		}
		if fl := roster(t, s, 2).Of(hub.Forward); fl[0].Contact.DisplayName != "Alice ♥" {
			t.Errorf("2's FL shows %q", fl[0].Contact.DisplayName)
		}
		for _, tt := range []struct {
			number uint32
			name   string
			err    error
		}{
			{99, "x", hub.ErrNotFound},
			{1, "", hub.ErrInvalid},
			{1, strings.Repeat("x", 388), hub.ErrInvalid},
			{1, "tab\there", hub.ErrInvalid},
		} {
			if _, err := s.SetDisplayName(t.Context(), tt.number, tt.name); !errors.Is(err, tt.err) {
				t.Errorf("SetDisplayName(%d, %q): %v, want %v", tt.number, tt.name, err, tt.err)
			}
		}
		if got := serialOf(t, s, 1); got != 2 {
			t.Errorf("serial after failures = %d, want 2", got)
		}
	})
}

// listOp is one AddToList or RemoveFromList call.
type listOp struct {
	remove         bool
	owner, contact uint32
	list           hub.List
	group, max     int
}

func add(owner, contact uint32, l hub.List, group int) listOp {
	return listOp{owner: owner, contact: contact, list: l, group: group}
}

func rm(owner, contact uint32, l hub.List, group int) listOp {
	return listOp{remove: true, owner: owner, contact: contact, list: l, group: group}
}

func (o listOp) limit(n int) listOp { o.max = n; return o }

func (o listOp) run(t testing.TB, s *core) (hub.ListChange, error) {
	if o.remove {
		return s.RemoveFromList(t.Context(), o.owner, o.contact, o.list, o.group)
	}
	return s.AddToList(t.Context(), o.owner, o.contact, o.list, o.group, o.max)
}

type listCase struct {
	name string
	prep []listOp
	do   listOp
	err  error
	// contactMoves says the contact's serial changes (its RL did).
	contactMoves bool
	check        func(t *testing.T, r *hub.Roster)
}

// runListCases runs each case on accounts 1..4, where account 1 has groups
// 1 "Friends" and 2 "Work", and checks errors, serials and the roster.
func runListCases(t *testing.T, e testEngine, tests []listCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.newStore(t)
			withAccounts(t, s, 4)
			for _, name := range []string{"Friends", "Work"} {
				if _, _, err := s.AddGroup(t.Context(), 1, name); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range tt.prep {
				if _, err := o.run(t, s); err != nil {
					t.Fatalf("prep %+v: %v", o, err)
				}
			}
			ownerBefore, contactBefore := serialOf(t, s, 1), uint32(0)
			if tt.do.contact <= 4 && tt.do.contact != 0 {
				contactBefore = serialOf(t, s, tt.do.contact)
			}

			ch, err := tt.do.run(t, s)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			checkSerials(t, s, tt, ch, err, ownerBefore, contactBefore)
			if tt.check != nil {
				tt.check(t, roster(t, s, 1))
			}
		})
	}
}

func checkSerials(t *testing.T, s *core, tt listCase, ch hub.ListChange, err error, ownerBefore, contactBefore uint32) {
	t.Helper()
	wantOwner, wantContact := ownerBefore, contactBefore
	var wantChange hub.ListChange
	if err == nil {
		wantOwner++
		wantChange.OwnerSerial = wantOwner
		switch {
		case tt.contactMoves && tt.do.contact == tt.do.owner:
			wantContact = wantOwner
			wantChange.ContactSerial = wantOwner
		case tt.contactMoves:
			wantContact++
			wantChange.ContactSerial = wantContact
		case tt.do.contact == tt.do.owner:
			wantContact = wantOwner
		}
	}
	if ch != wantChange {
		t.Errorf("ListChange = %+v, want %+v", ch, wantChange)
	}
	if got := serialOf(t, s, 1); got != wantOwner {
		t.Errorf("owner serial = %d, want %d", got, wantOwner)
	}
	if tt.do.contact != 0 && tt.do.contact <= 4 {
		if got := serialOf(t, s, tt.do.contact); got != wantContact {
			t.Errorf("contact serial = %d, want %d", got, wantContact)
		}
	}
}

// inGroups checks that contact is on owner 1's FL in exactly groups.
func inGroups(contact uint32, groups ...int) func(*testing.T, *hub.Roster) {
	return func(t *testing.T, r *hub.Roster) {
		t.Helper()
		for _, e := range r.Of(hub.Forward) {
			if e.Contact.Number == contact {
				if !slices.Equal(e.Groups, groups) {
					t.Errorf("%d is in groups %v, want %v", contact, e.Groups, groups)
				}
				return
			}
		}
		if len(groups) > 0 {
			t.Errorf("%d is not on FL, want groups %v", contact, groups)
		}
	}
}

func TestAddToList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		runListCases(t, e, []listCase{
			{name: "FL", do: add(1, 2, hub.Forward, 0), contactMoves: true, check: inGroups(2, 0)},
			{name: "FL in a group", do: add(1, 2, hub.Forward, 2), contactMoves: true, check: inGroups(2, 2)},
			{name: "FL self", do: add(1, 1, hub.Forward, 0), contactMoves: true, check: inGroups(1, 0)},
			{name: "FL further group", prep: []listOp{add(1, 2, hub.Forward, 2)}, do: add(1, 2, hub.Forward, 0),
				check: inGroups(2, 0, 2)},
			{name: "FL same group", prep: []listOp{add(1, 2, hub.Forward, 1)}, do: add(1, 2, hub.Forward, 1),
				err: hub.ErrAlreadyOnList},
			{name: "FL no such group", do: add(1, 2, hub.Forward, 7), err: hub.ErrNoSuchGroup},
			{name: "FL negative group", do: add(1, 2, hub.Forward, -1), err: hub.ErrNoSuchGroup},
			{name: "FL full", prep: []listOp{add(1, 2, hub.Forward, 0)}, do: add(1, 3, hub.Forward, 0).limit(1),
				err: hub.ErrListFull},
			{name: "FL below limit", prep: []listOp{add(1, 2, hub.Forward, 0)}, do: add(1, 3, hub.Forward, 0).limit(2),
				contactMoves: true},
			{name: "FL further group when full", prep: []listOp{add(1, 2, hub.Forward, 0)},
				do: add(1, 2, hub.Forward, 1).limit(1), check: inGroups(2, 0, 1)},
			{name: "AL", do: add(1, 2, hub.Allow, 0)},
			{name: "BL", do: add(1, 2, hub.Block, 0)},
			{name: "BL self", do: add(1, 1, hub.Block, 0)},
			{name: "AL twice", prep: []listOp{add(1, 2, hub.Allow, 0)}, do: add(1, 2, hub.Allow, 0), err: hub.ErrAlreadyOnList},
			{name: "AL while on BL", prep: []listOp{add(1, 2, hub.Block, 0)}, do: add(1, 2, hub.Allow, 0),
				err: hub.ErrInOppositeList},
			{name: "BL while on AL", prep: []listOp{add(1, 2, hub.Allow, 0)}, do: add(1, 2, hub.Block, 0),
				err: hub.ErrInOppositeList},
			{name: "BL full", prep: []listOp{add(1, 2, hub.Block, 0), add(1, 3, hub.Forward, 0)},
				do: add(1, 4, hub.Block, 0).limit(1), err: hub.ErrListFull},
			{name: "AL and FL are independent", prep: []listOp{add(1, 2, hub.Forward, 0)}, do: add(1, 2, hub.Allow, 0).limit(1)},
			{name: "RL", do: add(1, 2, hub.Reverse, 0), err: hub.ErrInvalid},
			{name: "unknown list", do: add(1, 2, "XL", 0), err: hub.ErrInvalid},
			{name: "unknown contact", do: add(1, 99, hub.Forward, 0), err: hub.ErrNotFound},
		})

		s := e.newStore(t)
		withAccounts(t, s, 1)
		if _, err := s.AddToList(t.Context(), 99, 1, hub.Allow, 0, 0); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("unknown owner: %v", err)
		}
	})
}

func TestRemoveFromList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		twoGroups := []listOp{add(1, 2, hub.Forward, 1), add(1, 2, hub.Forward, 2)}
		runListCases(t, e, []listCase{
			{name: "FL one of two groups", prep: twoGroups, do: rm(1, 2, hub.Forward, 1), check: inGroups(2, 2)},
			{name: "FL last group", prep: []listOp{add(1, 2, hub.Forward, 1)}, do: rm(1, 2, hub.Forward, 1),
				contactMoves: true, check: inGroups(2)},
			{name: "FL entirely", prep: twoGroups, do: rm(1, 2, hub.Forward, -1), contactMoves: true, check: inGroups(2)},
			{name: "FL self", prep: []listOp{add(1, 1, hub.Forward, 0)}, do: rm(1, 1, hub.Forward, -1), contactMoves: true},
			{name: "FL not in that group", prep: []listOp{add(1, 2, hub.Forward, 0)}, do: rm(1, 2, hub.Forward, 1),
				err: hub.ErrNotOnList},
			{name: "FL no such group", prep: []listOp{add(1, 2, hub.Forward, 0)}, do: rm(1, 2, hub.Forward, 7),
				err: hub.ErrNoSuchGroup},
			{name: "FL not on it", do: rm(1, 2, hub.Forward, -1), err: hub.ErrNotOnList},
			{name: "FL not on it, group 0", do: rm(1, 2, hub.Forward, 0), err: hub.ErrNotOnList},
			{name: "AL", prep: []listOp{add(1, 2, hub.Allow, 0)}, do: rm(1, 2, hub.Allow, 0)},
			{name: "BL", prep: []listOp{add(1, 2, hub.Block, 0)}, do: rm(1, 2, hub.Block, 0)},
			{name: "AL when on BL", prep: []listOp{add(1, 2, hub.Block, 0)}, do: rm(1, 2, hub.Allow, 0), err: hub.ErrNotOnList},
			{name: "unknown contact", do: rm(1, 99, hub.Block, 0), err: hub.ErrNotOnList},
			{name: "RL", prep: []listOp{add(2, 1, hub.Forward, 0)}, do: rm(1, 2, hub.Reverse, 0), err: hub.ErrInvalid},
		})

		s := e.newStore(t)
		withAccounts(t, s, 1)
		if _, err := s.RemoveFromList(t.Context(), 99, 1, hub.Allow, 0); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("unknown owner: %v", err)
		}
	})
}

func TestReverseList(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 3)
		for _, o := range []listOp{add(2, 1, hub.Forward, 0), add(3, 1, hub.Forward, 0), add(1, 2, hub.Forward, 0), add(3, 1, hub.Block, 0)} {
			if _, err := o.run(t, s); err != nil {
				t.Fatal(err)
			}
		}
		if rl := numbers(roster(t, s, 1).Of(hub.Reverse)); !slices.Equal(rl, []uint32{2, 3}) {
			t.Errorf("1's RL = %v, want [2 3]", rl)
		}
		if rl := numbers(roster(t, s, 2).Of(hub.Reverse)); !slices.Equal(rl, []uint32{1}) {
			t.Errorf("2's RL = %v, want [1]", rl)
		}
		if _, err := s.RemoveFromList(t.Context(), 2, 1, hub.Forward, -1); err != nil {
			t.Fatal(err)
		}
		r := roster(t, s, 1)
		if rl := numbers(r.Of(hub.Reverse)); !slices.Equal(rl, []uint32{3}) {
			t.Errorf("1's RL after 2 removed it = %v, want [3]", rl)
		}
		// 1's serial: +1 (2 added), +1 (3 added), +1 (own FL), +1 (2 removed);
		// 3 blocking 1 changes only 3's lists.
		if r.Settings.Serial != 4 {
			t.Errorf("1's serial = %d, want 4", r.Settings.Serial)
		}
		if rl := r.Of(hub.Reverse); rl[0].Contact != mustAccount(t, s, 3) || rl[0].Groups != nil {
			t.Errorf("RL entry %+v", rl[0])
		}
	})
}

func mustAccount(t *testing.T, s *core, number uint32) hub.Account {
	t.Helper()
	a, err := s.Account(t.Context(), number)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRosterOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 5)
		if _, _, err := s.AddGroup(t.Context(), 1, "Friends"); err != nil {
			t.Fatal(err)
		}
		for _, o := range []listOp{
			add(5, 1, hub.Forward, 0), add(1, 3, hub.Forward, 1), add(1, 2, hub.Forward, 0), add(1, 3, hub.Forward, 0),
			add(1, 4, hub.Block, 0), add(1, 2, hub.Allow, 0), add(1, 3, hub.Allow, 0), add(2, 1, hub.Forward, 0),
		} {
			if _, err := o.run(t, s); err != nil {
				t.Fatal(err)
			}
		}
		type entry struct {
			list   hub.List
			number uint32
			groups string
		}
		var got []entry
		for _, e := range roster(t, s, 1).Entries {
			got = append(got, entry{e.List, e.Contact.Number, fmt.Sprint(e.Groups)})
		}
		want := []entry{
			{hub.Forward, 3, "[0 1]"}, {hub.Forward, 2, "[0]"},
			{hub.Allow, 2, "[]"}, {hub.Allow, 3, "[]"},
			{hub.Block, 4, "[]"},
			{hub.Reverse, 5, "[]"}, {hub.Reverse, 2, "[]"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("entries\n got %v\nwant %v", got, want)
		}
		if _, err := s.Roster(t.Context(), 99); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("Roster(99): %v", err)
		}
	})
}

func TestGroupErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tests := []struct {
			name string
			do   func(*testing.T, *core) error
			err  error
		}{
			{"add", addGroup(1, "Family"), nil},
			{"add same name other case", addGroup(1, "friends"), nil},
			{"add of 61 bytes", addGroup(1, strings.Repeat("g", 61)), nil},
			{"add of 62 bytes", addGroup(1, strings.Repeat("g", 62)), hub.ErrGroupNameTooLong},
			{"add empty", addGroup(1, ""), hub.ErrInvalid},
			{"add with newline", addGroup(1, "a\nb"), hub.ErrInvalid},
			{"add duplicate", addGroup(1, "Friends"), hub.ErrGroupExists},
			{"add name of group 0", addGroup(1, hub.DefaultGroupName), hub.ErrGroupExists},
			{"add for unknown owner", addGroup(99, "x"), hub.ErrNotFound},
			{"remove", removeGroup(1, 2), nil},
			{"remove 0", removeGroup(1, 0), hub.ErrDefaultGroup},
			{"remove unknown", removeGroup(1, 3), hub.ErrNoSuchGroup},
			{"remove other owner's", removeGroup(2, 1), hub.ErrNoSuchGroup},
			{"remove for unknown owner", removeGroup(99, 1), hub.ErrNotFound},
			{"rename", renameGroup(1, 1, "Pals"), nil},
			{"rename to own name", renameGroup(1, 1, "Friends"), nil},
			{"rename 0", renameGroup(1, 0, "Others"), nil},
			{"rename to taken name", renameGroup(1, 1, "Work"), hub.ErrGroupExists},
			{"rename unknown", renameGroup(1, 5, "x"), hub.ErrNoSuchGroup},
			{"rename too long", renameGroup(1, 1, strings.Repeat("g", 62)), hub.ErrGroupNameTooLong},
			{"rename empty", renameGroup(1, 1, ""), hub.ErrInvalid},
			{"rename for unknown owner", renameGroup(99, 1, "x"), hub.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := e.newStore(t)
				withAccounts(t, s, 2)
				for _, name := range []string{"Friends", "Work"} {
					if _, _, err := s.AddGroup(t.Context(), 1, name); err != nil {
						t.Fatal(err)
					}
				}
				err := tt.do(t, s)
				if !errors.Is(err, tt.err) {
					t.Fatalf("error = %v, want %v", err, tt.err)
				}
				want := uint32(2)
				if err == nil {
					want++
				}
				if got := serialOf(t, s, 1); got != want {
					t.Errorf("serial = %d, want %d", got, want)
				}
			})
		}
	})
}

func addGroup(owner uint32, name string) func(*testing.T, *core) error {
	return func(t *testing.T, s *core) error {
		_, _, err := s.AddGroup(t.Context(), owner, name)
		return err
	}
}

func removeGroup(owner uint32, id int) func(*testing.T, *core) error {
	return func(t *testing.T, s *core) error {
		_, err := s.RemoveGroup(t.Context(), owner, id)
		return err
	}
}

func renameGroup(owner uint32, id int, name string) func(*testing.T, *core) error {
	return func(t *testing.T, s *core) error {
		_, err := s.RenameGroup(t.Context(), owner, id, name)
		return err
	}
}

func TestGroupIDsAndLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 1)
		add := func(name string) hub.Group {
			t.Helper()
			g, serial, err := s.AddGroup(t.Context(), 1, name)
			if err != nil {
				t.Fatal(err)
			}
			if serial != serialOf(t, s, 1) {
				t.Errorf("AddGroup returned serial %d, roster has %d", serial, serialOf(t, s, 1))
			}
			return g
		}
		for i, name := range []string{"A", "B", "C"} {
			// Group i+1 is the account's change number i+1.
			if g := add(name); g != (hub.Group{ID: i + 1, Name: name, Changed: uint32(i + 1)}) {
				t.Errorf("AddGroup(%s) = %+v", name, g)
			}
		}
		if _, err := s.RemoveGroup(t.Context(), 1, 2); err != nil {
			t.Fatal(err)
		}
		if g := add("D"); g.ID != 2 {
			t.Errorf("D got id %d, want the freed 2", g.ID)
		}
		if g := add("E"); g.ID != 4 {
			t.Errorf("E got id %d, want 4", g.ID)
		}
		for i := len(roster(t, s, 1).Groups); i < hub.MaxGroups; i++ {
			add(fmt.Sprint("G", i))
		}
		if _, _, err := s.AddGroup(t.Context(), 1, "one too many"); !errors.Is(err, hub.ErrTooManyGroups) {
			t.Errorf("group %d: %v, want ErrTooManyGroups", hub.MaxGroups+1, err)
		}
		gs := roster(t, s, 1).Groups
		if len(gs) != hub.MaxGroups || !slices.IsSortedFunc(gs, func(a, b hub.Group) int { return a.ID - b.ID }) {
			t.Errorf("groups %v: want %d sorted by id", gs, hub.MaxGroups)
		}
	})
}

func TestRemoveGroupMovesContacts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 4)
		for _, name := range []string{"Friends", "Work"} {
			if _, _, err := s.AddGroup(t.Context(), 1, name); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range []listOp{add(1, 2, hub.Forward, 1), add(1, 3, hub.Forward, 1), add(1, 3, hub.Forward, 2), add(1, 4, hub.Forward, 0)} {
			if _, err := o.run(t, s); err != nil {
				t.Fatal(err)
			}
		}
		before := serialOf(t, s, 2)
		serial, err := s.RemoveGroup(t.Context(), 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := roster(t, s, 1)
		if serial != r.Settings.Serial {
			t.Errorf("RemoveGroup returned %d, roster has %d", serial, r.Settings.Serial)
		}
		inGroups(2, 0)(t, r)
		inGroups(3, 2)(t, r)
		inGroups(4, 0)(t, r)
		if want := []hub.Group{{ID: 0, Name: hub.DefaultGroupName}, {ID: 2, Name: "Work", Changed: 2}}; !slices.Equal(r.Groups, want) {
			t.Errorf("groups %v, want %v", r.Groups, want)
		}
		if serialOf(t, s, 2) != before {
			t.Error("contact's serial moved though its RL did not change")
		}
	})
}

func TestSettings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 1)
		tests := []struct {
			name   string
			do     func() (uint32, error)
			err    error
			serial uint32
		}{
			{"privacy AL again", func() (uint32, error) { return s.SetPrivacy(t.Context(), 1, hub.AllowUnlisted) }, hub.ErrUnchanged, 0},
			{"privacy BL", func() (uint32, error) { return s.SetPrivacy(t.Context(), 1, hub.BlockUnlisted) }, nil, 1},
			{"privacy BL again", func() (uint32, error) { return s.SetPrivacy(t.Context(), 1, hub.BlockUnlisted) }, hub.ErrUnchanged, 1},
			{"privacy bad", func() (uint32, error) { return s.SetPrivacy(t.Context(), 1, "XX") }, hub.ErrInvalid, 1},
			{"privacy unknown owner", func() (uint32, error) { return s.SetPrivacy(t.Context(), 9, hub.BlockUnlisted) }, hub.ErrNotFound, 1},
			{"prompt on again", func() (uint32, error) { return s.SetPromptOnAdd(t.Context(), 1, true) }, hub.ErrUnchanged, 1},
			{"prompt off", func() (uint32, error) { return s.SetPromptOnAdd(t.Context(), 1, false) }, nil, 2},
			{"prompt off again", func() (uint32, error) { return s.SetPromptOnAdd(t.Context(), 1, false) }, hub.ErrUnchanged, 2},
			{"prompt on", func() (uint32, error) { return s.SetPromptOnAdd(t.Context(), 1, true) }, nil, 3},
			{"prompt unknown owner", func() (uint32, error) { return s.SetPromptOnAdd(t.Context(), 9, true) }, hub.ErrNotFound, 3},
		}
		for _, tt := range tests { // in order: each step builds on the last
			serial, err := tt.do()
			if !errors.Is(err, tt.err) {
				t.Fatalf("%s: error = %v, want %v", tt.name, err, tt.err)
			}
			if err == nil && serial != tt.serial {
				t.Errorf("%s: serial = %d, want %d", tt.name, serial, tt.serial)
			}
			if got := serialOf(t, s, 1); got != tt.serial {
				t.Errorf("%s: stored serial = %d, want %d", tt.name, got, tt.serial)
			}
		}
		if st := roster(t, s, 1).Settings; st.Privacy != hub.BlockUnlisted || !st.PromptOnAdd {
			t.Errorf("settings %+v", st)
		}
	})
}

func TestDeleteAccount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 4)
		if _, _, err := s.AddGroup(t.Context(), 1, "Friends"); err != nil {
			t.Fatal(err)
		}
		for _, o := range []listOp{add(2, 1, hub.Forward, 0), add(3, 1, hub.Block, 0), add(1, 4, hub.Forward, 1), add(1, 2, hub.Allow, 0)} {
			if _, err := o.run(t, s); err != nil {
				t.Fatal(err)
			}
		}
		before := map[uint32]uint32{2: serialOf(t, s, 2), 3: serialOf(t, s, 3), 4: serialOf(t, s, 4)}

		if err := s.DeleteAccount(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		for n, serial := range before {
			r := roster(t, s, n)
			if r.Settings.Serial != serial+1 {
				t.Errorf("%d's serial = %d, want %d", n, r.Settings.Serial, serial+1)
			}
			if len(r.Entries) != 0 {
				t.Errorf("%d still lists %+v", n, r.Entries)
			}
		}
		for _, table := range []string{"groups WHERE owner = 1", "list_entries WHERE owner = 1 OR contact = 1",
			"fl_groups WHERE owner = 1 OR contact = 1"} {
			if n := sqlInt(t, s, "SELECT COUNT(*) FROM "+table); n != 0 {
				t.Errorf("%s: %d rows left", table, n)
			}
		}
		if _, err := s.Account(t.Context(), 1); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("Account(1) after delete: %v", err)
		}
		if err := s.DeleteAccount(t.Context(), 1); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		// The number and e-mail are free again, with nothing left over.
		if _, err := s.CreateAccount(t.Context(), account(1), "pw"); err != nil {
			t.Fatal(err)
		}
		if r := roster(t, s, 1); len(r.Groups) != 1 || len(r.Entries) != 0 || r.Settings.Serial != 0 {
			t.Errorf("recreated account's roster %+v", r)
		}
	})
}

// TestConcurrentFirstOpen opens new databases from two stores at once: both
// create the key and convert the file to WAL, and must end up agreeing.
func TestConcurrentFirstOpen(t *testing.T) {
	for i := range 20 {
		dir := t.TempDir()
		stores := make([]*SQLite, 2)
		var wg sync.WaitGroup
		for j := range stores {
			wg.Go(func() {
				s, err := OpenSQLite(t.Context(), dir)
				if err != nil {
					t.Errorf("round %d: %v", i, err)
					return
				}
				stores[j] = s
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if _, err := stores[0].CreateAccount(t.Context(), account(1), "pw"); err != nil {
			t.Fatal(err)
		}
		if p, err := stores[1].Password(t.Context(), 1); err != nil || p != "pw" {
			t.Errorf("round %d: other store reads password %q, %v", i, p, err)
		}
		for _, s := range stores {
			s.Close()
		}
	}
}

// Writers racing for one e-mail address: one account is made, and every
// other writer hears that it exists, as a single writer would tell them.
func TestConcurrentCreateSameAccount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		const writers = 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = s.CreateAccount(t.Context(), hub.Account{Number: uint32(i + 1), Email: "same@example.com"}, "pw")
			})
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			switch {
			case err == nil:
				made++
			case !errors.Is(err, hub.ErrAccountExists):
				t.Errorf("a losing writer: %v", err)
			}
		}
		if all, err := s.Accounts(t.Context()); made != 1 || err != nil || len(all) != 1 {
			t.Errorf("%d writers made the account; %d accounts, %v", made, len(all), err)
		}
	})
}

// Nodes starting together on a new PostgreSQL database migrate it once
// between them.
func TestConcurrentMigrations(t *testing.T) {
	at := engines[1].place(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := at.tryOpen(t.Context(), KeyConfig{})
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := at.open(t)
	ms, _ := loadMigrations(migrationFiles, postgresMigrations)
	if n := sqlInt(t, s, `SELECT COUNT(*) FROM schema_version`); n != len(ms) {
		t.Errorf("schema_version has %d rows, want %d", n, len(ms))
	}
}

// TestTwoProcesses opens one store twice at once, as `crosstalk serve`
// and `crosstalk user add` do (or two nodes on one PostgreSQL), and writes
// through both concurrently.
func TestTwoProcesses(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		stores := make([]*core, 2)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				s, err := at.tryOpen(t.Context(), KeyConfig{})
				if err != nil {
					t.Error(err)
					return
				}
				stores[i] = s
			})
		}
		wg.Wait()
		for _, s := range stores {
			if s == nil {
				t.FailNow()
			}
			t.Cleanup(func() { s.Close() })
		}

		// Every new account adds the hub account to its FL, so the hub's RL and
		// serial are written from both stores at once.
		const hubNumber, workers, perWorker = 1000, 4, 10
		if _, err := stores[0].CreateAccount(t.Context(), account(hubNumber), "pw"); err != nil {
			t.Fatal(err)
		}
		for w := range workers {
			s := stores[w%2]
			wg.Go(func() {
				for i := range perWorker {
					n := uint32(w*perWorker + i + 1)
					if _, err := s.CreateAccount(t.Context(), account(n), "pw"); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.AddToList(t.Context(), n, hubNumber, hub.Forward, 0, 0); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Roster(t.Context(), hubNumber); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()

		for i, s := range stores {
			all, err := s.Accounts(t.Context())
			if err != nil || len(all) != workers*perWorker+1 {
				t.Errorf("store %d sees %d accounts, %v", i, len(all), err)
			}
			if p, err := s.Password(t.Context(), workers*perWorker); err != nil || p != "pw" {
				t.Errorf("store %d: Password = %q, %v", i, p, err)
			}
			r := roster(t, s, hubNumber)
			if len(r.Of(hub.Reverse)) != workers*perWorker || r.Settings.Serial != workers*perWorker {
				t.Errorf("store %d: hub has %d on its RL, serial %d; want %d and %d",
					i, len(r.Of(hub.Reverse)), r.Settings.Serial, workers*perWorker, workers*perWorker)
			}
		}
	})
}

// TestPopularAccount: everyone adds one account at once, so every write
// bumps that account's serial. On PostgreSQL all but one of the writers
// lose each round; none may give up while the others make progress.
func TestPopularAccount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		const popular, followers = 1, 48
		withAccounts(t, s, followers+1)
		var wg sync.WaitGroup
		for n := uint32(2); n <= followers+1; n++ {
			wg.Go(func() {
				if _, err := s.AddToList(t.Context(), n, popular, hub.Forward, 0, 0); err != nil {
					t.Errorf("account %d adds the popular one: %v", n, err)
				}
			})
		}
		wg.Wait()
		r := roster(t, s, popular)
		if len(r.Of(hub.Reverse)) != followers || r.Settings.Serial != followers {
			t.Errorf("popular account has %d on its RL, serial %d; want %d and %d",
				len(r.Of(hub.Reverse)), r.Settings.Serial, followers, followers)
		}
	})
}

func BenchmarkRoster(b *testing.B) {
	benchEachEngine(b, func(b *testing.B, e testEngine) {
		s := e.newStore(b)
		withAccounts(b, s, 101)
		for _, name := range []string{"Friends", "Work", "Family"} {
			if _, _, err := s.AddGroup(b.Context(), 1, name); err != nil {
				b.Fatal(err)
			}
		}
		for n := uint32(2); n <= 101; n++ {
			if _, err := s.AddToList(b.Context(), 1, n, hub.Forward, int(n%4), 0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.AddToList(b.Context(), 1, n, hub.Allow, 0, 0); err != nil {
				b.Fatal(err)
			}
			if n%2 == 0 {
				if _, err := s.AddToList(b.Context(), n, 1, hub.Forward, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		}
		for b.Loop() {
			r, err := s.Roster(b.Context(), 1)
			if err != nil || len(r.Entries) != 250 {
				b.Fatalf("roster of %d entries, %v", len(r.Entries), err)
			}
		}
	})
}

func TestDeriveKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		at := e.place(t)
		var keys [2][]byte
		for i := range keys {
			s := at.open(t)
			keys[i] = s.DeriveKey("drive")
			if bytes.Equal(keys[i], s.DeriveKey("gg imtoken")) {
				t.Fatal("two purposes, one key")
			}
			s.Close()
		}
		if len(keys[0]) != 32 || !bytes.Equal(keys[0], keys[1]) {
			t.Fatalf("keys of one store differ: %x %x", keys[0], keys[1])
		}
		if bytes.Equal(e.newStore(t).DeriveKey("drive"), keys[0]) {
			t.Fatal("another store derives the same key")
		}
	})
}

// The statements of a login and a message are prepared once, when the
// SQLite store opens, and used from transactions and single queries alike:
// more callers than the read pool has connections, each inside a read
// transaction, must not wait for a connection to prepare on. PostgreSQL
// prepares them on each connection of its pool as it connects.
func TestPreparedStatements(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		switch db := s.db.(type) {
		case *SQLite:
			for _, p := range []struct {
				name    string
				pool    *pool
				queries []string
			}{{"read", &db.r, hotReads}, {"write", &db.w, hotWrites}} {
				for _, q := range p.queries {
					if p.pool.prepared[q] == nil {
						t.Errorf("%s pool has not prepared %q", p.name, q)
					}
				}
			}
		case *Postgres:
			conn, err := db.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(t.Context(), `SELECT statement FROM pg_prepared_statements`)
			if err != nil {
				t.Fatal(err)
			}
			var prepared []string
			for rows.Next() {
				var q string
				if err := rows.Scan(&q); err != nil {
					t.Fatal(err)
				}
				prepared = append(prepared, q)
			}
			conn.Release()
			for _, q := range hotStatements() {
				if !slices.Contains(prepared, rebind(q)) {
					t.Errorf("a connection has not prepared %q", rebind(q))
				}
			}
		}
		withAccounts(t, s, 3)
		if _, err := s.AddToList(t.Context(), 1, 2, hub.Forward, 0, 0); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for range 4 * readConns {
			wg.Go(func() {
				for range 50 {
					var (
						own []hub.Entry
						a   hub.Account
						rel hub.Relation
					)
					err := s.db.read(ctx, func(t tx) error {
						var err error
						own, err = ownEntries(t, 1)
						return err
					})
					if err == nil {
						a, err = s.AccountByEmail(ctx, "USER2@example.com")
					}
					if err == nil {
						rel, err = s.Relation(ctx, 1, 2)
					}
					if err != nil || len(own) != 1 || a.Number != 2 || !rel.OnForward {
						t.Errorf("entries %+v, account %+v, relation %+v: %v", own, a, rel, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AccountByEmail(t.Context(), "user1@example.com"); err == nil {
			t.Fatal("a prepared statement answered after Close")
		}
	})
}

// A read called with a context that has ended fails rather than runs.
func TestReadsAfterContextEnds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := e.newStore(t)
		withAccounts(t, s, 2)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.AccountByEmail(ctx, "user1@example.com"); !errors.Is(err, context.Canceled) {
			t.Errorf("account: %v", err)
		}
		if _, err := s.Password(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("password: %v", err)
		}
		if _, err := s.Relation(ctx, 1, 2); !errors.Is(err, context.Canceled) {
			t.Errorf("relation: %v", err)
		}
		if _, err := s.ReleaseOffline(ctx, 1, "session"); !errors.Is(err, context.Canceled) {
			t.Errorf("release: %v", err)
		}
	})
}

// TestSQLitePageCache: every connection of both pools keeps at most the
// page cache Config names, and SQLite's default without one.
func TestSQLitePageCache(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		bytes   int
		wantKiB int
	}{{64 << 10, 64}, {0, 2000}} {
		st, err := Open(ctx, Config{DataDir: t.TempDir(), SQLitePageCache: c.bytes})
		if err != nil {
			t.Fatal(err)
		}
		s := st.(*SQLite)
		for name, db := range map[string]*sql.DB{"writer": s.w.db, "reader": s.r.db} {
			var size int
			if err := db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&size); err != nil {
				t.Fatal(err)
			}
			if size != -c.wantKiB {
				t.Errorf("Config.SQLitePageCache %d: the %s's cache_size is %d, want -%d (KiB)", c.bytes, name, size, c.wantKiB)
			}
		}
		st.Close()
	}
}

// TestReleaseMemory: the pages a read left in the connections' caches go
// back to the system (the process's resident memory falls by most of what
// they took), and the store reads on as before.
func TestReleaseMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("resident memory is read from /proc")
	}
	ctx := t.Context()
	const data = 16 << 20
	st, err := Open(ctx, Config{DataDir: t.TempDir(), SQLitePageCache: 2 * data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*SQLite)
	if _, err := s.w.db.ExecContext(ctx, `CREATE TABLE filler (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO filler SELECT randomblob(4000) FROM n`, data/4000); err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		var total int64
		if err := s.r.db.QueryRowContext(ctx, `SELECT sum(length(b)) FROM filler`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if total != data/4000*4000 {
			t.Fatalf("read %d bytes, want %d", total, data/4000*4000)
		}
	}
	read() // the writer's cache holds what it wrote, a reader's what it read
	before := residentBytes(t)
	if err := s.ReleaseMemory(ctx); err != nil {
		t.Fatal(err)
	}
	after := residentBytes(t)
	if before-after < data {
		t.Errorf("resident memory %d → %d bytes: fell by %d, want at least %d of the %d the two caches held", before, after, before-after, data, 2*data)
	}
	read()
}

// residentBytes is this process's resident memory, after a collection
// that gives Go's free memory back, which is then not counted.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}
