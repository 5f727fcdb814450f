package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipserver "github.com/crosstalk-im/crosstalk/imip/server"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
	msimwire "github.com/crosstalk-im/crosstalk/msim/wire"
)

type msimCmd struct {
	Send   msimSendCmd   `cmd:"" help:"Log in to MySpaceIM, send one IM, log out."`
	Listen msimListenCmd `cmd:"" help:"Log in to MySpaceIM and print the IMs that arrive."`
}

type msimLogin struct {
	Server   string        `help:"MySpaceIM server host:port." default:"localhost:1863"`
	Login    string        `help:"Account e-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_MSIM_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
}

// connect logs in and signs on as pidgin does, within Timeout.
func (l msimLogin) connect(ctx context.Context, log *slog.Logger) (*msimclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	cl, err := msimclient.Dial(ctx, l.Server, msimclient.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the MySpaceIM server at %s: %w", l.Server, err)
	}
	if _, err := cl.Login(ctx, l.Login, l.Password); err != nil {
		cl.Close()
		if errors.Is(err, msimclient.ErrLoginFailed) {
			return nil, errors.New("login refused: wrong e-mail address or password")
		}
		return nil, err
	}
	return cl, nil
}

// msimLogout says \logout\ and closes.
func msimLogout(cl *msimclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Logout(ctx)
}

type msimSendCmd struct {
	msimLogin
	To   uint32   `help:"Recipient's user id (account number)." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *msimSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msimSendCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer msimLogout(cl)
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := cl.SendIM(sctx, c.To, strings.Join(c.Text, " ")); err != nil {
		return err
	}
	con.printf("sent to %d\n", c.To)
	return nil
}

type msimListenCmd struct {
	msimLogin
	listenOutput
}

func (c *msimListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msimListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer msimLogout(cl)
	return listen(ctx, con, c.Login, cl.Events(), cl.Err, func(ev msimclient.Event) {
		switch ev := ev.(type) {
		case msimclient.Message:
			c.show(con, "msim", listenEvent{Event: eventMessage, From: fmt.Sprint(ev.From), Text: ev.Text})
		case msimclient.Status:
			c.show(con, "msim", listenEvent{Event: eventPresence, From: fmt.Sprint(ev.UserID), Status: msimStatus(ev.Status), Text: ev.Text})
		case msimclient.Typing:
			c.show(con, "msim", typingEvent(fmt.Sprint(ev.From), ev.Typing))
		}
	})
}

// msimStatus reads a MySpaceIM presence code; codes it does not know
// pidgin shows as online.
func msimStatus(code int) hub.Status {
	switch code {
	case msimwire.StatusOffline:
		return hub.StatusOffline
	case msimwire.StatusIdle:
		return hub.StatusIdle
	case msimwire.StatusAway:
		return hub.StatusAway
	default:
		return hub.StatusOnline
	}
}

type imipCmd struct {
	Send   imipSendCmd   `cmd:"" help:"Log in to IMIP, send one message, log out."`
	Listen imipListenCmd `cmd:"" help:"Log in to IMIP and print the messages that arrive."`
}

type imipLogin struct {
	Server   string        `help:"IMIP server host:port." default:"localhost:11319"`
	Number   uint32        `help:"Account number." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_IMIP_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
}

// connect logs in and goes online, within Timeout.
func (l imipLogin) connect(ctx context.Context, log *slog.Logger) (*imipclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	cl, err := imipclient.Dial(ctx, l.Server, imipclient.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the IMIP server at %s: %w", l.Server, err)
	}
	if _, err := cl.Login(ctx, fmt.Sprint(l.Number), l.Password); err != nil {
		cl.Close()
		if errors.Is(err, imipclient.ErrLoginFailed) {
			return nil, errors.New("login refused: wrong number or password")
		}
		return nil, err
	}
	if err := cl.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// imipDisconnect says DISC and closes.
func imipDisconnect(cl *imipclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Disconnect(ctx)
	cl.Close()
}

type imipSendCmd struct {
	imipLogin
	To   uint32   `help:"Recipient's number." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *imipSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *imipSendCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer imipDisconnect(cl)
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	// Acknowledged sending, so that a refusal is reported here.
	if err := cl.SendMessageAcked(sctx, fmt.Sprint(c.To), strings.Join(c.Text, " ")); err != nil {
		return err
	}
	con.printf("sent to %d\n", c.To)
	return nil
}

type imipListenCmd struct {
	imipLogin
	listenOutput
}

func (c *imipListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *imipListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer imipDisconnect(cl)
	return listen(ctx, con, fmt.Sprint(c.Number), cl.Events(), cl.Err, func(ev imipclient.Event) {
		switch ev := ev.(type) {
		case imipclient.Message:
			c.show(con, "imip", listenEvent{Event: eventMessage, From: ev.From, Name: ev.Nick, Text: ev.Text})
		case imipclient.Status:
			c.show(con, "imip", listenEvent{Event: eventPresence, From: ev.Number, Name: ev.Nick, Status: imipserver.StatusFromIMIP(ev.Status).Visible(), Text: ev.Text})
		}
	})
}
