package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	ggserver "github.com/crosstalk-im/crosstalk/gg/server"
	"github.com/crosstalk-im/crosstalk/gg/wire"
	"github.com/crosstalk-im/crosstalk/hub"
)

type ggCmd struct {
	Send     ggSendCmd     `cmd:"" help:"Log in, send one message, log out."`
	Listen   ggListenCmd   `cmd:"" help:"Log in and print the messages that arrive."`
	SendFile ggSendFileCmd `cmd:"" help:"Offer a file through the GG drive and upload it once accepted."`
	RecvFile ggRecvFileCmd `cmd:"" help:"Accept the next file offered through the GG drive and download it."`
}

type ggLogin struct {
	Server   string        `help:"Gadu-Gadu server host:port." default:"localhost:8074"`
	Number   uint32        `help:"Account number (GG UIN)." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_GG_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait at each step: the server, the contact's answer, each part of a file." default:"30s"`
	Ping     time.Duration `help:"How often to ping the server while connected (servers drop silent clients)." default:"1m"`
}

// connect logs in and sends the contact list, within Timeout.
func (l ggLogin) connect(ctx context.Context, log *slog.Logger, contacts ...uint32) (*ggclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	c, err := ggclient.Dial(ctx, l.Server, ggclient.Options{Logger: log, PingInterval: l.Ping})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the GG server at %s: %w", l.Server, err)
	}
	if err := c.Login(ctx, l.Number, l.Password, wire.StatusAvail, ""); err != nil {
		c.Close()
		if errors.Is(err, ggclient.ErrLoginFailed) {
			return nil, errors.New("login refused: wrong number or password")
		}
		return nil, err
	}
	list := make([]wire.Contact, len(contacts))
	for i, n := range contacts {
		list[i] = wire.Contact{UIN: n, Type: wire.UserNormal}
	}
	if err := c.NotifyList(ctx, list); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// logout goes "not available" the way GG clients leave.
func logout(c *ggclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.SetStatus(ctx, wire.StatusNotAvail, "")
	c.Close()
}

type ggSendCmd struct {
	ggLogin
	To   uint32   `help:"Recipient's number." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *ggSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *ggSendCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer logout(cl)
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	ack, err := cl.SendMessage(sctx, c.To, strings.Join(c.Text, " "))
	var refused *ggclient.MessageRefused
	switch {
	case errors.As(err, &refused) && refused.Status == wire.AckNotDelivered:
		return fmt.Errorf("%d: no such account", c.To)
	case errors.As(err, &refused) && refused.Status == wire.AckBlocked:
		return fmt.Errorf("%d does not accept your messages", c.To)
	case errors.As(err, &refused) && refused.Status == wire.AckMailboxFull:
		return fmt.Errorf("%d is offline and cannot be sent more messages now", c.To)
	case err != nil:
		return err
	case ack.Status == wire.AckQueued:
		con.printf("%d is offline: stored for later\n", c.To)
	default:
		con.printf("delivered to %d\n", c.To)
	}
	return nil
}

type ggListenCmd struct {
	ggLogin
	listenOutput
	Contacts []uint32 `name:"contact" help:"Number of a contact whose presence to hear of (repeatable; GG servers tell only of those a client names)."`
}

func (c *ggListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *ggListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log, c.Contacts...)
	if err != nil {
		return err
	}
	defer logout(cl)
	return listen(ctx, con, fmt.Sprint(c.Number), cl.Events(), cl.Err, func(ev ggclient.Event) {
		switch ev := ev.(type) {
		case ggclient.Message:
			c.show(con, "gg", listenEvent{Event: eventMessage, From: fmt.Sprint(ev.From), Text: ev.Text})
		case ggclient.Status:
			c.show(con, "gg", listenEvent{Event: eventPresence, From: fmt.Sprint(ev.UIN), Status: ggStatus(ev.Status), Text: ev.Description})
		case ggclient.Typing:
			c.show(con, "gg", typingEvent(fmt.Sprint(ev.From), ev.Length > 0))
		}
	})
}

// ggStatus is a contact's GG status in the hub's words, as the GG front
// end reads it.
func ggStatus(code uint32) hub.Status {
	if st, _, ok := ggserver.StatusFromGG(code, ""); ok {
		return st.Visible()
	}
	return hub.StatusOffline
}
