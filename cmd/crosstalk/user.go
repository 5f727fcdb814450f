package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/crosstalk-im/crosstalk/hub"
)

type userCmd struct {
	Add    userAddCmd    `cmd:"" help:"Create an account."`
	List   userListCmd   `cmd:"" help:"List accounts."`
	Passwd userPasswdCmd `cmd:"" help:"Set an account's password."`
	Del    userDelCmd    `cmd:"" help:"Delete an account."`
}

// minPasswordLength is the fewest characters a password set from the
// command line may have.
const minPasswordLength = 6

func checkPassword(password string) error {
	if utf8.RuneCountInString(password) < minPasswordLength {
		return fmt.Errorf("the password is too short: it needs at least %d characters", minPasswordLength)
	}
	return nil
}

// firstNumber is the number user add gives the first account when none
// is asked for; later ones get the next after the highest in use.
const firstNumber = 1001

type userAddCmd struct {
	storeFlags
	Email    string `help:"E-mail address (MSN and MySpaceIM login)." required:""`
	Number   uint32 `help:"Account number (GG UIN, IMIP number, MySpaceIM id); default: the next free one."`
	Password string `help:"Password (at least ${min_password_length} characters)." required:""`
	Name     string `help:"Display name (defaults to the e-mail address)."`
	Nick     string `help:"Unique nick (MySpaceIM uniquenick)."`
}

func (c *userAddCmd) Run() error {
	if err := checkPassword(c.Password); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := createAccount(ctx, st, hub.Account{Number: c.Number, Email: c.Email, DisplayName: c.Name, Nick: c.Nick}, c.Password)
	if err != nil {
		return err
	}
	fmt.Printf("created account %d <%s> %q\n", a.Number, a.Email, a.DisplayName)
	return nil
}

// createAccount creates a, with the next free number when a has none.
func createAccount(ctx context.Context, st hub.Store, a hub.Account, password string) (hub.Account, error) {
	if a.Number == 0 {
		accounts, err := st.Accounts(ctx)
		if err != nil {
			return hub.Account{}, err
		}
		a.Number = firstNumber
		for _, other := range accounts {
			a.Number = max(a.Number, other.Number+1)
		}
	}
	return st.CreateAccount(ctx, a, password)
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

// accountRef names an account by number or e-mail.
type accountRef struct {
	Account string `arg:"" help:"Account number or e-mail address."`
}

func (r accountRef) resolve(ctx context.Context, st hub.Store) (hub.Account, error) {
	if n, err := strconv.ParseUint(r.Account, 10, 32); err == nil {
		return st.Account(ctx, uint32(n))
	}
	return st.AccountByEmail(ctx, r.Account)
}

type userPasswdCmd struct {
	storeFlags
	accountRef
	Password string `help:"New password (at least ${min_password_length} characters)." required:""`
}

func (c *userPasswdCmd) Run() error {
	if err := checkPassword(c.Password); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := c.resolve(ctx, st)
	if err != nil {
		return err
	}
	if err := st.SetPassword(ctx, a.Number, c.Password); err != nil {
		return err
	}
	fmt.Printf("password of %d <%s> changed\n", a.Number, a.Email)
	return nil
}

type userDelCmd struct {
	storeFlags
	accountRef
}

func (c *userDelCmd) Run() error {
	ctx := context.Background()
	st, err := c.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := c.resolve(ctx, st)
	if err != nil {
		return err
	}
	if err := st.DeleteAccount(ctx, a.Number); err != nil {
		return err
	}
	fmt.Printf("deleted account %d <%s>\n", a.Number, a.Email)
	return nil
}
