package node

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/client"
)

// groupNames lists a synced list's groups, and the GUIDs of the groups
// email's contact is in.
func groupNames(l *client.List, email string) (names, of []string) {
	for _, g := range l.Groups {
		names = append(names, g.Name)
	}
	for _, c := range l.Forward {
		if c.Email == email {
			of = c.GroupGUIDs
		}
	}
	return names, of
}

// TestMSNPAddressBookAcrossNodes: Alice signs in with WLM 2009's dialect
// at two machines on two nodes of one bus. What one endpoint changes at
// the address book services (groups, a contact in a group) reaches the
// other as the address book's NOT, after which it asks, as WLM does, only
// for what changed since its copy, which then shows the change; Bob
// adding Alice reaches both as ADL 0 with the reverse list and NOT, and
// Alice's lists then show him pending. The copies kept up to date so end
// as the lists a new sign-in reads whole.
func TestMSNPAddressBookAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	n1, n2, hc := httpsNodePair(t)
	addAccount(t, n1, 1003, "carol@example.com", "Carol", "pc")
	login := func(n *Node, email, password, guid string) *client.Client {
		return loginMSNP18(t, ctx, n, hc, email, password, guid)
	}
	home := login(n1, "alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000001A}")
	work := login(n2, "alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000002B}")
	// deltas brings an endpoint's copy of the lists up to date.
	deltas := func(c *client.Client) *client.List {
		t.Helper()
		l, err := c.SyncChanges(ctx)
		if err != nil || !l.Deltas {
			t.Fatalf("%+v %v", l, err)
		}
		return l
	}
	// changed waits for work's notification, then brings its lists up to
	// date.
	changed := func() *client.List {
		t.Helper()
		next[client.AddressBookChanged](t, ctx, work.Events())
		return deltas(work)
	}

	friends, err := home.AddGroupGUID(ctx, "Friends")
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := groupNames(changed(), ""); !slices.Equal(names, []string{"Friends"}) {
		t.Fatalf("work sees groups %q", names)
	}
	if _, err := home.Add(ctx, client.ListForward, "carol@example.com", "", -1); err != nil {
		t.Fatal(err)
	}
	l := changed()
	if len(l.Forward) != 1 || l.Forward[0].Email != "carol@example.com" || l.Forward[0].GUID == "" {
		t.Fatalf("work's FL %+v", l.Forward)
	}
	carol := l.Forward[0].GUID
	if err := home.AddToGroup(ctx, carol, friends); err != nil {
		t.Fatal(err)
	}
	if _, of := groupNames(changed(), "carol@example.com"); !slices.Equal(of, []string{friends}) {
		t.Fatalf("carol is in %q", of)
	}
	if err := home.RenameGroupGUID(ctx, friends, "Pals"); err != nil {
		t.Fatal(err)
	}
	if names, _ := groupNames(changed(), ""); !slices.Equal(names, []string{"Pals"}) {
		t.Fatalf("after rename, work sees groups %q", names)
	}
	if err := home.RemoveFromGroup(ctx, carol, friends); err != nil {
		t.Fatal(err)
	}
	if names, of := groupNames(changed(), "carol@example.com"); len(of) != 0 || len(names) != 1 {
		t.Fatalf("after taking carol out: groups %q, hers %q", names, of)
	}
	if err := home.RemoveGroupGUID(ctx, friends); err != nil {
		t.Fatal(err)
	}
	if names, _ := groupNames(changed(), ""); len(names) != 0 {
		t.Fatalf("after delete, work sees groups %q", names)
	}
	// A group the book does not have is the service's GroupDoesNotExist.
	var f *abch.Fault
	if err := home.RemoveGroupGUID(ctx, friends); !errors.As(err, &f) || f.Code != abch.FaultGroupDoesNotExist {
		t.Errorf("deleting a deleted group: %v", err)
	}
	if err := home.RenameGroupGUID(ctx, "not-a-guid", "x"); !errors.As(err, &f) || f.Code != abch.FaultGroupDoesNotExist {
		t.Errorf("renaming an unknown group: %v", err)
	}

	// Bob, on the first node, adds Alice: both her endpoints hear it.
	bob := login(n1, "bob@example.com", "pb", "{B0B00000-0000-0000-0000-000000000001}")
	if _, err := bob.Add(ctx, client.ListForward, "alice@example.com", "", -1); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"home": home, "work": work} {
		if ra := next[client.ReverseAdded](t, ctx, c.Events()); ra.Email != "bob@example.com" || ra.Friendly != "Bob" {
			t.Fatalf("%s: %+v", name, ra)
		}
		next[client.AddressBookChanged](t, ctx, c.Events())
		l := deltas(c)
		if len(l.Pending) != 1 || l.Pending[0].Email != "bob@example.com" || len(l.Reverse) != 1 {
			t.Fatalf("%s: pending %+v, reverse %+v", name, l.Pending, l.Reverse)
		}
	}

	// Bob takes Alice off his list again, and she drops Carol: gone from
	// both copies, which end as a new sign-in reads the lists.
	if _, err := bob.Remove(ctx, client.ListForward, "alice@example.com", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Remove(ctx, client.ListForward, "carol@example.com", -1); err != nil {
		t.Fatal(err)
	}
	fresh, err := login(n2, "alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000003C}").SyncChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*client.Client{"home": home, "work": work} {
		l := deltas(c)
		if len(l.Pending)+len(l.Reverse)+len(l.Forward) != 0 || !reflect.DeepEqual(listsOf(l), listsOf(fresh)) {
			t.Errorf("%s: %+v, a new sign-in's %+v", name, listsOf(l), listsOf(fresh))
		}
	}
}

// listsOf is what a List holds of the lists, without how it came.
func listsOf(l *client.List) [6]any {
	return [6]any{l.Groups, l.Forward, l.Allow, l.Block, l.Reverse, l.Pending}
}

// TestMSNPGroupsByGUID: the same group operations from MSNP10 to MSNP18,
// over ADG, RMG, REG, ADC and REM up to MSNP12 and the address book
// services from MSNP13; the groups persist for the account's next login.
func TestMSNPGroupsByGUID(t *testing.T) {
	for _, d := range []int{10, 12, 13, 15, 18} {
		t.Run(fmt.Sprintf("MSNP%d", d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, hc := aliceBobNode(t)
			alice := loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			if _, err := alice.Add(ctx, client.ListForward, "bob@example.com", "Bob", -1); err != nil {
				t.Fatal(err)
			}
			l, err := alice.Sync(ctx, 0)
			if err != nil || len(l.Forward) != 1 {
				t.Fatalf("%+v %v", l, err)
			}
			bob := l.Forward[0].GUID
			work, err := alice.AddGroupGUID(ctx, "Work")
			if err != nil {
				t.Fatal(err)
			}
			gone, err := alice.AddGroupGUID(ctx, "Gone")
			if err != nil {
				t.Fatal(err)
			}
			if err := alice.AddToGroup(ctx, bob, work); err != nil {
				t.Fatal(err)
			}
			if err := alice.AddToGroup(ctx, bob, gone); err != nil {
				t.Fatal(err)
			}
			if err := alice.RenameGroupGUID(ctx, work, "Work mates"); err != nil {
				t.Fatal(err)
			}
			if err := alice.RemoveFromGroup(ctx, bob, gone); err != nil {
				t.Fatal(err)
			}
			if err := alice.RemoveGroupGUID(ctx, gone); err != nil {
				t.Fatal(err)
			}
			alice.Close()

			again := loginDialect(t, ctx, n, hc, d, "alice@example.com", "pa")
			l, err = again.Sync(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			names, of := groupNames(l, "bob@example.com")
			if !slices.Equal(names, []string{"Work mates"}) || !slices.Equal(of, []string{work}) || l.Groups[0].GUID != work {
				t.Fatalf("groups %+v, bob's %q", l.Groups, of)
			}
			if err := again.RemoveGroupGUID(ctx, gone); err == nil {
				t.Error("deleted a group twice")
			}
		})
	}
}

// TestMSNPAddressBookHearsOtherProtocols: Alice, signed in with WLM 2009's
// dialect, also uses her account over Gadu-Gadu; what she changes there
// reaches WLM as the address book's NOT, after which its deltas show it.
func TestMSNPAddressBookHearsOtherProtocols(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, hc := aliceBobNode(t)
	wlm := loginMSNP18(t, ctx, n, hc, "alice@example.com", "pa", "{A11CE000-0000-0000-0000-00000000001A}")
	if _, err := wlm.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	gg := loginGG(t, ctx, n.GGAddr, 1001, "pa", ggwire.StatusAvail, "")
	if err := gg.AddNotify(ctx, ggwire.Contact{UIN: 1002, Type: ggwire.UserNormal}); err != nil {
		t.Fatal(err)
	}
	next[client.AddressBookChanged](t, ctx, wlm.Events())
	l, err := wlm.SyncChanges(ctx)
	if err != nil || !l.Deltas {
		t.Fatalf("%+v %v", l, err)
	}
	if len(l.Forward) != 1 || l.Forward[0].Email != "bob@example.com" {
		t.Fatalf("WLM's forward list after the GG add: %+v", l.Forward)
	}
}
