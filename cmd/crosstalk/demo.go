package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"text/tabwriter"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/node"
)

// demoAccount is one of the accounts serve --demo makes; password is ""
// when the account was there already and kept its own.
type demoAccount struct {
	hub.Account
	password string
	taken    bool // its number belongs to another account
}

// createDemoAccounts makes alice and bob for a first try with two clients.
func createDemoAccounts(ctx context.Context, st hub.Store) ([]demoAccount, error) {
	var demos []demoAccount
	for _, a := range []hub.Account{
		{Number: 1001, Email: "alice@crosstalk.test", DisplayName: "Alice"},
		{Number: 1002, Email: "bob@crosstalk.test", DisplayName: "Bob"},
	} {
		if existing, err := st.AccountByEmail(ctx, a.Email); err == nil {
			demos = append(demos, demoAccount{Account: existing})
			continue
		}
		password := rand.Text()[:10]
		_, err := st.CreateAccount(ctx, a, password)
		if errors.Is(err, hub.ErrAccountExists) {
			demos = append(demos, demoAccount{Account: a, taken: true})
			continue
		}
		if err != nil {
			return demos, err
		}
		demos = append(demos, demoAccount{Account: a, password: password})
	}
	return demos, nil
}

// printNextSteps tells a new user, after serve --demo, how to reach the
// server n with clients and with the bot commands, as the demo accounts.
func printNextSteps(w io.Writer, n *node.Node, demos []demoAccount) {
	var usable []demoAccount
	fmt.Fprintln(w, "Demo accounts:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range demos {
		switch {
		case d.taken:
			fmt.Fprintf(tw, "  %s\tnot created: number %d is taken\n", d.Email, d.Number)
		case d.password == "":
			fmt.Fprintf(tw, "  %s\tnumber %d\t(existed already; its password is unchanged)\n", d.Email, d.Number)
			usable = append(usable, d)
		default:
			fmt.Fprintf(tw, "  %s\tnumber %d\tpassword %s\n", d.Email, d.Number, d.password)
			usable = append(usable, d)
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\nClient settings (127.0.0.1 on this machine; from another, this machine's address):")
	for _, c := range n.ClientSettings() {
		host, port := dialAddr(c.Addr)
		fmt.Fprintf(tw, "  %s:\tserver %s, port %s; log in with the %s\n", c.Client, host, port, c.Login)
	}
	tw.Flush()

	if len(usable) < 2 || n.MSNPAddr == "" || n.GGAddr == "" {
		return
	}
	alice, bob := usable[0], usable[1]
	msn := net.JoinHostPort(dialAddr(n.MSNPAddr))
	gg := net.JoinHostPort(dialAddr(n.GGAddr))
	fmt.Fprintln(w, "\nOr try the bot commands. MSN to Gadu-Gadu, each in a terminal of its own:")
	fmt.Fprintf(w, "  crosstalk gg listen --server %s --number %d --password %s\n", gg, bob.Number, passwordOf(bob))
	fmt.Fprintf(w, "  crosstalk msn send --server %s --login %s --password %s --to %s \"hello from MSN\"\n", msn, alice.Email, passwordOf(alice), bob.Email)
	fmt.Fprintln(w, "Gadu-Gadu to MSN, once the listener above is stopped (an account has one login at a time):")
	fmt.Fprintf(w, "  crosstalk msn listen --server %s --login %s --password %s\n", msn, alice.Email, passwordOf(alice))
	fmt.Fprintf(w, "  crosstalk gg send --server %s --number %d --password %s --to %d \"hello from GG\"\n", gg, bob.Number, passwordOf(bob), alice.Number)
}

// passwordOf is a demo account's password, or a placeholder for one that
// kept its own.
func passwordOf(d demoAccount) string {
	if d.password == "" {
		return "PASSWORD"
	}
	return d.password
}

// dialAddr is the host and port a client on this machine dials to reach
// a listener bound to addr: loopback for a listener on every address.
func dialAddr(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return host, port
}
