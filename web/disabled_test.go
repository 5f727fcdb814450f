package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	msnpclient "github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/node"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	webchatclient "github.com/crosstalk-im/crosstalk/webchat/client"
)

// loginAs logs carol in over one protocol with her right password and
// returns the login's error.
type loginAs func(ctx context.Context, e *env) error

var protocolLogins = map[string]loginAs{
	"gg": func(ctx context.Context, e *env) error { return ggLoginErr(e, 1002, "carol-secret") },
	"msnp": func(ctx context.Context, e *env) error {
		c, err := msnpclient.Dial(ctx, e.n.MSNPAddr, msnpclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Login(ctx, "carol@example.com", "carol-secret")
	},
	"msim": func(ctx context.Context, e *env) error {
		c, err := msimclient.Dial(ctx, e.n.MSIMAddr, msimclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Login(ctx, "carol@example.com", "carol-secret")
		return err
	},
	"imip": func(ctx context.Context, e *env) error {
		c, err := imipclient.Dial(ctx, e.n.IMIPAddr, imipclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Login(ctx, "1002", "carol-secret")
		return err
	},
	"webchat": func(ctx context.Context, e *env) error {
		c, err := webchatclient.Dial(ctx, e.chatSocket(), webchatclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Login(ctx, "carol@example.com", "carol-secret")
		return err
	},
	"sip": func(ctx context.Context, e *env) error {
		c, err := sipclient.Dial(ctx, e.n.SIPAddr, sipclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		return c.SignIn(ctx, "carol@example.com", "carol-secret")
	},
}

// A disabled account is refused by every protocol, in its own terms after
// the password check (counted as result "disabled" in the login metric),
// and let in again once enabled.
func TestDisabledAccountRefusedEverywhere(t *testing.T) {
	e := start(t, node.Options{IMIPAddr: "127.0.0.1:0", SIPAddr: "127.0.0.1:0"})
	e.account(1001, "admin@example.com", "Admin", "admin-secret", true)
	e.account(1002, "carol@example.com", "Carol", "carol-secret", false)
	token := e.apiToken("admin@example.com", "admin-secret")
	b := e.browser()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, disabled := range []bool{false, true, false} {
		path := "/api/admin/v1/accounts/1002/enable"
		if disabled {
			path = "/api/admin/v1/accounts/1002/disable"
		}
		apiJSON[accountJSON](t, b, "POST", path, token, nil, http.StatusOK)
		for protocol, login := range protocolLogins {
			if err := login(ctx, e); (err != nil) != disabled {
				t.Errorf("%s login while disabled=%v: %v", protocol, disabled, err)
			}
		}
	}
	refused := map[string]float64{}
	for _, m := range apiJSON[[]metricJSON](t, b, "GET", "/api/admin/v1/metrics", token, nil, http.StatusOK) {
		for _, s := range m.Series {
			if m.Name == "crosstalk_logins_total" && s.Labels["result"] == "disabled" {
				refused[s.Labels["protocol"]] = s.Value
			}
		}
	}
	for protocol := range protocolLogins {
		if refused[protocol] < 1 {
			t.Errorf("%s: no login refused as disabled in the metrics %v", protocol, refused)
		}
	}
}
