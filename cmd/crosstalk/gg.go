package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	ggclient "github.com/crosstalk-im/crosstalk/gg/client"
	"github.com/crosstalk-im/crosstalk/gg/wire"
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
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
}

func (l ggLogin) connect(ctx context.Context, log *slog.Logger, contacts ...uint32) (*ggclient.Client, error) {
	c, err := ggclient.Dial(ctx, l.Server, ggclient.Options{Logger: log})
	if err != nil {
		return nil, err
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

func (c *ggSendCmd) Run(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer logout(cl)
	ack, err := cl.SendMessage(ctx, c.To, strings.Join(c.Text, " "))
	if err != nil {
		return err
	}
	fmt.Printf("sent to %d (message %d)\n", c.To, ack.MsgID)
	return nil
}

type ggListenCmd struct {
	ggLogin
}

func (c *ggListenCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	lctx, cancel := context.WithTimeout(ctx, c.Timeout)
	cl, err := c.connect(lctx, log)
	cancel()
	if err != nil {
		return err
	}
	defer logout(cl)
	fmt.Fprintf(os.Stderr, "listening as %d; Ctrl-C to stop\n", c.Number)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-cl.Events():
			if !ok {
				return cl.Err()
			}
			if m, ok := ev.(ggclient.Message); ok {
				fmt.Printf("%d: %s\n", m.From, m.Text)
			}
		}
	}
}
