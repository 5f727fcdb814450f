package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	imipclient "github.com/crosstalk-im/crosstalk/imip/client"
	imipwire "github.com/crosstalk-im/crosstalk/imip/wire"
	msimclient "github.com/crosstalk-im/crosstalk/msim/client"
)

type msimCmd struct {
	Send msimSendCmd `cmd:"" help:"Log in to MySpaceIM, send one IM, log out."`
}

type msimSendCmd struct {
	Server   string        `help:"MySpaceIM server host:port." default:"localhost:1863"`
	Login    string        `help:"Account e-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_MSIM_PASSWORD"`
	To       uint32        `help:"Recipient's user id (account number)." required:""`
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
	Text     []string      `arg:"" help:"Message text."`
}

func (c *msimSendCmd) Run(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := msimclient.Dial(ctx, c.Server, msimclient.Options{Logger: log})
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, c.Login, c.Password); err != nil {
		if errors.Is(err, msimclient.ErrLoginFailed) {
			return errors.New("login refused: wrong e-mail address or password")
		}
		return err
	}
	if err := cl.SendIM(ctx, c.To, strings.Join(c.Text, " ")); err != nil {
		return err
	}
	_ = cl.Logout(ctx)
	fmt.Printf("sent to %d\n", c.To)
	return nil
}

type imipCmd struct {
	Send imipSendCmd `cmd:"" help:"Log in to IMIP, send one message, log out."`
}

type imipSendCmd struct {
	Server   string        `help:"IMIP server host:port." default:"localhost:11319"`
	Number   uint32        `help:"Account number." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_IMIP_PASSWORD"`
	To       uint32        `help:"Recipient's number." required:""`
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
	Text     []string      `arg:"" help:"Message text."`
}

func (c *imipSendCmd) Run(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := imipclient.Dial(ctx, c.Server, imipclient.Options{Logger: log})
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, fmt.Sprint(c.Number), c.Password); err != nil {
		if errors.Is(err, imipclient.ErrLoginFailed) {
			return errors.New("login refused: wrong number or password")
		}
		return err
	}
	if err := cl.SetStatus(ctx, imipwire.StatusOnline, ""); err != nil {
		return err
	}
	// Acknowledged sending, so that a refusal is reported here.
	if err := cl.SendMessageAcked(ctx, fmt.Sprint(c.To), strings.Join(c.Text, " ")); err != nil {
		return err
	}
	_ = cl.Disconnect(ctx)
	fmt.Printf("sent to %d\n", c.To)
	return nil
}
