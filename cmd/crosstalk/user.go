package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/store"
)

type userCmd struct {
	Add    userAddCmd    `cmd:"" help:"Create an account."`
	List   userListCmd   `cmd:"" help:"List accounts."`
	Passwd userPasswdCmd `cmd:"" help:"Set an account's password."`
	Del    userDelCmd    `cmd:"" help:"Delete an account."`
	Admin  userAdminCmd  `cmd:"" help:"Give an account admin rights (the admin pages and API), or take them with --revoke."`
}

// minPasswordLength is the fewest characters a password set from the
// command line may have: the store's policy, which the web's sign-up
// shares.
const minPasswordLength = store.DefaultMinPasswordLength

// checkPassword applies the password policy to a's new password.
func checkPassword(password string, a hub.Account) error {
	err := store.CheckPasswordPolicy(password, minPasswordLength, a)
	if errors.Is(err, hub.ErrInvalid) {
		return errors.New(strings.TrimPrefix(err.Error(), hub.ErrInvalid.Error()+": "))
	}
	return err
}

type userAddCmd struct {
	storeFlags
	Email    string `help:"E-mail address (MSN and MySpaceIM login)." required:""`
	Number   uint32 `help:"Account number (GG UIN, IMIP number, MySpaceIM id); default: the next free one."`
	Password string `help:"Password (at least ${min_password_length} characters)." required:""`
	Name     string `help:"Display name (defaults to the e-mail address)."`
	Nick     string `help:"Unique nick (MySpaceIM uniquenick)."`
	Admin    bool   `help:"Give the account admin rights (the admin pages and API)."`
}

func (c *userAddCmd) Run() error {
	a := hub.Account{Number: c.Number, Email: c.Email, DisplayName: c.Name, Nick: c.Nick}
	if err := checkPassword(c.Password, a); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	// The web's sign-up creates accounts the same way, with its limits.
	a, err = st.SignUp(ctx, a, c.Password, store.SignUpRules{})
	if err != nil {
		return err
	}
	rights := ""
	if c.Admin {
		if err := st.SetAdmin(ctx, a.Number, true); err != nil {
			return err
		}
		rights = " with admin rights"
	}
	fmt.Printf("created account %d <%s> %q%s\n", a.Number, a.Email, a.DisplayName, rights)
	return nil
}

type userListCmd struct {
	storeFlags
}

func (c *userListCmd) Run() error {
	ctx := context.Background()
	st, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NUMBER\tEMAIL\tNICK\tNAME")
	for _, a := range accounts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", strconv.FormatUint(uint64(a.Number), 10), a.Email, a.Nick, a.DisplayName)
	}
	return w.Flush()
}

// accountRef names an account by number or e-mail, in a store.
type accountRef struct {
	storeFlags
	Account string `arg:"" help:"Account number or e-mail address."`
}

// withAccount runs fn on the existing store and the account r names.
func (r accountRef) withAccount(fn func(ctx context.Context, st store.Store, a hub.Account) error) error {
	return r.withExisting(func(ctx context.Context, st store.Store) error {
		var (
			a   hub.Account
			err error
		)
		if n, perr := strconv.ParseUint(r.Account, 10, 32); perr == nil {
			a, err = st.Account(ctx, uint32(n))
		} else {
			a, err = st.AccountByEmail(ctx, r.Account)
		}
		if err != nil {
			return err
		}
		return fn(ctx, st, a)
	})
}

type userPasswdCmd struct {
	accountRef
	Password string `help:"New password (at least ${min_password_length} characters)." required:""`
}

func (c *userPasswdCmd) Run() error {
	return c.withAccount(func(ctx context.Context, st store.Store, a hub.Account) error {
		if err := checkPassword(c.Password, a); err != nil {
			return err
		}
		if err := st.SetPassword(ctx, a.Number, c.Password); err != nil {
			return err
		}
		fmt.Printf("password of %d <%s> changed\n", a.Number, a.Email)
		return nil
	})
}

type userDelCmd struct {
	accountRef
}

func (c *userDelCmd) Run() error {
	return c.withAccount(func(ctx context.Context, st store.Store, a hub.Account) error {
		if err := st.DeleteAccount(ctx, a.Number); err != nil {
			return err
		}
		fmt.Printf("deleted account %d <%s>\n", a.Number, a.Email)
		return nil
	})
}

type userAdminCmd struct {
	accountRef
	Revoke bool `help:"Take the rights away instead."`
}

func (c *userAdminCmd) Run() error {
	return c.withAccount(func(ctx context.Context, st store.Store, a hub.Account) error {
		if err := st.SetAdmin(ctx, a.Number, !c.Revoke); err != nil {
			return err
		}
		if c.Revoke {
			fmt.Printf("%d <%s> no longer has admin rights\n", a.Number, a.Email)
		} else {
			fmt.Printf("%d <%s> has admin rights\n", a.Number, a.Email)
		}
		return nil
	})
}
