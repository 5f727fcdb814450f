// Package loginprobe makes one login through any protocol's client library
// and tells a login the server refused from one that broke: for the attack
// command and for tests of password guessing.
package loginprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggwire "github.com/crosstalk-im/crosstalk/gg/wire"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	msimwire "github.com/crosstalk-im/crosstalk/msim/wire"
	msnpclient "github.com/crosstalk-im/crosstalk/msnp/client"
	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	webchatclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webchatwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

// Protocols are the protocols Login speaks, named as the metrics name them.
var Protocols = []string{"msnp", "gg", "msim", "imip", "sip", "webchat"}

// ErrRefused: the server answered the login with its protocol's failure
// (MSNP 911, GG_LOGIN80_FAILED, MySpaceIM error 260, IMIP ACK 810 or 811,
// SIP 401, 403 or 404 to REGISTER, the web chat's login_failed or
// login_locked).
var ErrRefused = errors.New("login refused")

// Login logs in to server over protocol as account (an e-mail address for
// msnp, msim, sip and webchat, a number for gg and imip; the web chat's
// server is the HTTP service's host:port) from the local address from (nil:
// any), and leaves at once. It returns nil when the server took the password,
// an error wrapping ErrRefused when it refused it, and another error when
// the exchange itself failed.
func Login(ctx context.Context, protocol, server string, from net.IP, account, password string) error {
	d := &net.Dialer{}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	switch protocol {
	case "msnp":
		return loginMSNP(ctx, server, d, account, password)
	case "gg":
		return loginGG(ctx, server, d, account, password)
	case "msim":
		return loginMSIM(ctx, server, d, account, password)
	case "imip":
		return loginIMIP(ctx, server, d, account, password)
	case "sip":
		return loginSIP(ctx, server, d, account, password)
	case "webchat":
		return loginWebchat(ctx, server, d, account, password)
	}
	return fmt.Errorf("loginprobe: unknown protocol %q", protocol)
}

// refused wraps err in ErrRefused when isRefusal says it is one.
func refused(err error, isRefusal bool) error {
	if err != nil && isRefusal {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}

func loginMSNP(ctx context.Context, server string, d *net.Dialer, email, password string) error {
	c, err := msnpclient.Dial(ctx, server, msnpclient.Options{Dialer: d})
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Login(ctx, email, password)
	var se *msnpclient.ServerError
	return refused(err, errors.As(err, &se) && se.Code == 911)
}

func loginGG(ctx context.Context, server string, d *net.Dialer, account, password string) error {
	uin, err := strconv.ParseUint(account, 10, 32)
	if err != nil {
		return fmt.Errorf("GG account %q is not a number", account)
	}
	c, err := ggclient.Dial(ctx, server, ggclient.Options{Dialer: d})
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Login(ctx, uint32(uin), password, ggwire.StatusAvail, "")
	return refused(err, errors.Is(err, ggclient.ErrLoginFailed))
}

func loginMSIM(ctx context.Context, server string, d *net.Dialer, email, password string) error {
	c, err := msimclient.Dial(ctx, server, msimclient.Options{Dialer: d, NoSignOn: true})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Login(ctx, email, password)
	var se *msimclient.ServerError
	return refused(err, errors.As(err, &se) && se.Code == msimwire.ErrCodeBadPassword)
}

func loginIMIP(ctx context.Context, server string, d *net.Dialer, user, password string) error {
	c, err := imipclient.Dial(ctx, server, imipclient.Options{Dialer: d})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Login(ctx, user, password)
	return refused(err, errors.Is(err, imipclient.ErrBadPassword) || errors.Is(err, imipclient.ErrUnknownUser))
}

func loginSIP(ctx context.Context, server string, d *net.Dialer, email, password string) error {
	c, err := sipclient.Dial(ctx, server, sipclient.Options{Dialer: d})
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.SignIn(ctx, email, password)
	return refused(err, errors.Is(err, sipclient.ErrAuthentication))
}

func loginWebchat(ctx context.Context, server string, d *net.Dialer, email, password string) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer hc.CloseIdleConnections()
	c, err := webchatclient.Dial(ctx, "ws://"+server+"/chat/ws", webchatclient.Options{HTTPClient: hc})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Login(ctx, email, password)
	var se *webchatclient.Error
	return refused(err, errors.As(err, &se) && (se.Code == webchatwire.CodeLoginFailed || se.Code == webchatwire.CodeLoginLocked))
}
