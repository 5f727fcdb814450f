package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/crosstalk-im/crosstalk/store"
	"github.com/crosstalk-im/crosstalk/web"
)

// adminCmd calls a server's admin API (web/openapi.json) over HTTP.
type adminCmd struct {
	Signin        adminSigninCmd   `cmd:"" help:"Sign in and print a token for --token (CROSSTALK_TOKEN); it lasts --web-session-lifetime."`
	Signout       adminSignoutCmd  `cmd:"" help:"End the session of --token."`
	Accounts      adminAccountsCmd `cmd:"" help:"Search accounts by number, e-mail, nick or name (all without a query)."`
	Account       adminAccountCmd  `cmd:"" help:"Show one account."`
	Disable       adminDisableCmd  `cmd:"" help:"Disable an account: logins refused, sessions kicked."`
	Enable        adminEnableCmd   `cmd:"" help:"Enable a disabled account."`
	ResetPassword adminResetCmd    `cmd:"" help:"Set a new password (made up by the server unless --new-password), kicking the account's sessions."`
	Delete        adminDeleteCmd   `cmd:"" help:"Delete an account."`
	Sessions      adminListCmd     `cmd:"" help:"List the sessions online on every node, with protocol and address."`
	Kick          adminKickCmd     `cmd:"" help:"Kick one session (its id from 'sessions')."`
	Transfers     adminListCmd     `cmd:"" help:"List live file transfers."`
	Mailboxes     adminListCmd     `cmd:"" help:"List accounts with offline messages waiting."`
	Health        adminListCmd     `cmd:"" help:"Show the node's listeners and bus."`
	Metrics       adminListCmd     `cmd:"" help:"Show the node's main metrics."`
	Invite        adminInviteCmd   `cmd:"" help:"Make an invite code for sign-up by invite."`
}

// adminFlags say which server to call and as whom: a token from signin,
// or a login and password used for this one command.
type adminFlags struct {
	URL      string        `help:"The server's HTTP service (its --http-addr or --public-url)." default:"http://127.0.0.1:8080"`
	Token    string        `help:"A token from 'crosstalk admin signin'."`
	Login    string        `help:"E-mail address or number to sign in as for this command, instead of --token."`
	Password string        `help:"The password of --login."`
	Timeout  time.Duration `help:"Bound on each request." default:"30s"`
}

// apiClient is a session with the API.
type apiClient struct {
	base   string
	token  string
	http   *http.Client
	signed bool // signed in by this command: signs out at the end
}

func (f adminFlags) client(ctx context.Context) (*apiClient, error) {
	c := &apiClient{base: strings.TrimRight(f.URL, "/"), token: f.Token, http: &http.Client{Timeout: f.Timeout}}
	if c.token != "" {
		return c, nil
	}
	if f.Login == "" {
		return nil, errors.New("say who you are: --token (from 'crosstalk admin signin'), or --login and --password")
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/v1/session", map[string]string{"login": f.Login, "password": f.Password}, &answer); err != nil {
		return nil, err
	}
	c.token, c.signed = answer.Token, true
	return c, nil
}

// close ends a session the command began.
func (c *apiClient) close(ctx context.Context) {
	if c.signed {
		_ = c.call(ctx, http.MethodDelete, "/api/v1/session", nil, nil)
	}
}

// call sends body as JSON and decodes the answer into out (nil: dropped).
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (%s)", method, path, e.Error, resp.Status)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// run calls one route with a client made from f and prints its answer.
func (f adminFlags) run(method, path string, body any) error {
	ctx, stop := untilInterrupted()
	defer stop()
	c, err := f.client(ctx)
	if err != nil {
		return err
	}
	defer c.close(ctx)
	var answer json.RawMessage
	if err := c.call(ctx, method, path, body, &answer); err != nil {
		return err
	}
	if len(answer) > 0 {
		_, err = os.Stdout.Write(answer)
	}
	return err
}

type adminSigninCmd struct {
	adminFlags
}

func (c *adminSigninCmd) Run() error {
	if c.Login == "" {
		return errors.New("signin needs --login and --password")
	}
	c.Token = ""
	ctx, stop := untilInterrupted()
	defer stop()
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	fmt.Println(cl.token)
	return nil
}

type adminSignoutCmd struct {
	adminFlags
}

func (c *adminSignoutCmd) Run() error { return c.run(http.MethodDelete, "/api/v1/session", nil) }

type adminAccountsCmd struct {
	adminFlags
	Query string `arg:"" optional:"" help:"Number, or text in the e-mail address, nick or name."`
	Limit int    `help:"Most accounts to list." default:"1000"`
}

func (c *adminAccountsCmd) Run() error {
	q := url.Values{"q": {c.Query}, "limit": {fmt.Sprint(c.Limit)}}
	return c.run(http.MethodGet, "/api/admin/v1/accounts?"+q.Encode(), nil)
}

// adminTarget names the account a command acts on.
type adminTarget struct {
	adminFlags
	Number uint32 `arg:"" help:"Account number."`
}

func (t adminTarget) path(suffix string) string {
	return fmt.Sprintf("/api/admin/v1/accounts/%d%s", t.Number, suffix)
}

type adminAccountCmd struct{ adminTarget }

func (c *adminAccountCmd) Run() error { return c.run(http.MethodGet, c.path(""), nil) }

type adminDisableCmd struct{ adminTarget }

func (c *adminDisableCmd) Run() error { return c.run(http.MethodPost, c.path("/disable"), nil) }

type adminEnableCmd struct{ adminTarget }

func (c *adminEnableCmd) Run() error { return c.run(http.MethodPost, c.path("/enable"), nil) }

type adminDeleteCmd struct{ adminTarget }

func (c *adminDeleteCmd) Run() error { return c.run(http.MethodDelete, c.path(""), nil) }

type adminResetCmd struct {
	adminTarget
	NewPassword string `help:"The new password; empty: the server makes one and it is printed."`
}

func (c *adminResetCmd) Run() error {
	return c.run(http.MethodPost, c.path("/password"), map[string]string{"password": c.NewPassword})
}

type adminKickCmd struct {
	adminFlags
	ID string `arg:"" help:"Session id, from 'crosstalk admin sessions'."`
}

func (c *adminKickCmd) Run() error {
	return c.run(http.MethodDelete, "/api/admin/v1/sessions/"+url.PathEscape(c.ID), nil)
}

// adminListCmd is a read-only command whose route is its own name.
type adminListCmd struct {
	adminFlags
}

func (c *adminListCmd) Run(kctx *kong.Context) error {
	words := strings.Fields(kctx.Command())
	return c.run(http.MethodGet, "/api/admin/v1/"+words[len(words)-1], nil)
}

type adminInviteCmd struct {
	adminFlags
	Uses     int           `help:"How many sign-ups the code is good for." default:"1"`
	ValidFor time.Duration `help:"How long the code is good for." default:"7d"`
}

func (c *adminInviteCmd) Run() error {
	return c.run(http.MethodPost, "/api/admin/v1/invites", map[string]any{"uses": c.Uses, "valid_for": c.ValidFor.String()})
}

// inviteCmd makes invite codes on the server's data directory.
type inviteCmd struct {
	New inviteNewCmd `cmd:"" help:"Make an invite code for sign-up by invite (--web-registration invite)."`
}

type inviteNewCmd struct {
	storeFlags
	Uses     int           `help:"How many sign-ups the code is good for." default:"1"`
	ValidFor time.Duration `help:"How long the code is good for." default:"7d"`
}

func (c *inviteNewCmd) Run() error {
	return c.withExisting(func(ctx context.Context, st store.Store) error {
		inv, err := web.NewInvite(ctx, st, c.Uses, c.ValidFor)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n(good for %d sign-ups until %s)\n", inv.Code, inv.Uses, inv.Expires.Format(time.RFC3339))
		return nil
	})
}
