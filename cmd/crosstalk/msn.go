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

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

type msnCmd struct {
	Send     msnSendCmd     `cmd:"" help:"Log in, send one message to a contact, log out."`
	Listen   msnListenCmd   `cmd:"" help:"Log in, answer every chat and print the messages that arrive."`
	SendFile msnSendFileCmd `cmd:"" help:"Send a file to a contact (invitation and MSNFTP), with a progress bar."`
	RecvFile msnRecvFileCmd `cmd:"" help:"Wait for one file offer, accept it and save the file."`
}

type msnLogin struct {
	Server   string        `help:"MSN server host:port." default:"localhost:1863"`
	Login    string        `help:"Account e-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_MSN_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait for the server at each step." default:"30s"`
}

func (l msnLogin) connect(ctx context.Context, log *slog.Logger) (*client.Client, error) {
	c, err := client.Dial(ctx, l.Server, client.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, l.Login, l.Password); err != nil {
		c.Close()
		var se *client.ServerError
		if errors.As(err, &se) && se.Code == 911 {
			return nil, errors.New("login refused: wrong e-mail address or password")
		}
		return nil, err
	}
	if _, err := c.Sync(ctx, 0); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetStatus(ctx, client.StatusOnline); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type msnSendCmd struct {
	msnLogin
	To   string   `help:"Recipient's e-mail address." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *msnSendCmd) Run(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	sb, err := cl.StartChat(ctx)
	if err != nil {
		return err
	}
	defer sb.Leave()
	if _, err := sb.Call(ctx, c.To); err != nil {
		var se *client.ServerError
		if errors.As(err, &se) && se.Code == 217 {
			return fmt.Errorf("%s is offline or not accepting messages", c.To)
		}
		return err
	}
	if err := waitJoined(ctx, sb, c.To); err != nil {
		return err
	}
	if err := sb.SendText(ctx, strings.Join(c.Text, " ")); err != nil {
		return err
	}
	fmt.Printf("delivered to %s\n", c.To)
	return nil
}

func waitJoined(ctx context.Context, sb *client.Switchboard, email string) error {
	for {
		select {
		case ev, ok := <-sb.Events():
			if !ok {
				return errors.New("switchboard closed before the contact answered")
			}
			if j, ok := ev.(client.Joined); ok && strings.EqualFold(j.Email, email) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer: %w", email, ctx.Err())
		}
	}
}

type msnListenCmd struct {
	msnLogin
}

func (c *msnListenCmd) Run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	lctx, cancel := context.WithTimeout(ctx, c.Timeout)
	cl, err := c.connect(lctx, log)
	cancel()
	if err != nil {
		return err
	}
	defer cl.Logout()
	fmt.Fprintf(os.Stderr, "listening as %s; Ctrl-C to stop\n", c.Login)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-cl.Events():
			if !ok {
				return cl.Err()
			}
			if r, ok := ev.(client.Ring); ok {
				actx, cancel := context.WithTimeout(ctx, c.Timeout)
				sb, err := cl.Answer(actx, r)
				cancel()
				if err != nil {
					log.Warn("answering", "from", r.Caller, "err", err)
					continue
				}
				go printMessages(sb)
			}
		}
	}
}

func printMessages(sb *client.Switchboard) {
	defer sb.Close()
	for ev := range sb.Events() {
		if m, ok := ev.(client.Message); ok && m.ContentType == "text/plain" {
			fmt.Printf("%s <%s>: %s\n", m.Friendly, m.From, m.Text)
		}
	}
}

func wireLimits(maxLine int) wire.Limits {
	l := wire.DefaultLimits
	if maxLine > 0 {
		l.MaxLine = maxLine
	}
	return l
}
