package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	webclient "github.com/crosstalk-im/crosstalk/webchat/client"
	webwire "github.com/crosstalk-im/crosstalk/webchat/wire"
)

type webCmd struct {
	Send   webSendCmd   `cmd:"" help:"Log in to the chat in the browser's service and send one message."`
	Listen webListenCmd `cmd:"" help:"Log in to the chat in the browser's service and print the messages that arrive."`
}

type webLogin struct {
	Server   string        `help:"The web chat's WebSocket address." default:"ws://localhost:8080/chat/ws"`
	Login    string        `help:"E-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_WEB_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait at each step." default:"30s"`
}

// connect logs in within Timeout.
func (l webLogin) connect(ctx context.Context) (*webclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	c, err := webclient.Dial(ctx, l.Server, webclient.Options{})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the web chat at %s: %w", l.Server, err)
	}
	if _, err := c.Login(ctx, l.Login, l.Password); err != nil {
		c.Close()
		var we *webclient.Error
		if errors.As(err, &we) && we.Code == webwire.CodeLoginFailed {
			return nil, errors.New("login refused: wrong e-mail address or password")
		}
		return nil, err
	}
	return c, nil
}

type webSendCmd struct {
	webLogin
	To   string   `help:"Recipient: a number, an e-mail address or a nick." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *webSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *webSendCmd) run(ctx context.Context, _ *slog.Logger, con *console) error {
	cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	result, err := cl.Send(sctx, webContact(c.To), strings.Join(c.Text, " "))
	var we *webclient.Error
	switch {
	case errors.As(err, &we) && we.Code == webwire.CodeUnknownContact:
		return fmt.Errorf("%s: no such account", c.To)
	case errors.As(err, &we) && we.Code == webwire.CodeRefused:
		return fmt.Errorf("%s does not accept your messages", c.To)
	case errors.As(err, &we) && we.Code == webwire.CodeMailboxFull:
		return fmt.Errorf("%s is offline and cannot be sent more messages now", c.To)
	case err != nil:
		return err
	case result == webwire.ResultStored:
		con.printf("%s is offline: stored for later\n", c.To)
	default:
		con.printf("delivered to %s\n", c.To)
	}
	_ = cl.Logout(sctx)
	return nil
}

// webContact reads a recipient as the page does: digits are a number, a
// word with @ an e-mail address, anything else a nick.
func webContact(s string) webwire.Contact {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil && n > 0 {
		return webwire.Contact{Number: uint32(n)}
	}
	if strings.Contains(s, "@") {
		return webwire.Contact{Email: s}
	}
	return webwire.Contact{Nick: s}
}

type webListenCmd struct {
	webLogin
	listenOutput
	Ping time.Duration `help:"How often to ping the server while listening (it drops silent sessions)." default:"1m"`
}

func (c *webListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *webListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, stop := context.WithCancel(ctx)
	var pinging sync.WaitGroup
	pinging.Go(func() { keepAlive(pctx, log, cl, c.Ping, c.Timeout) })
	defer pinging.Wait()
	defer stop()
	return listen(ctx, con, c.Login, cl.Events(), cl.Err, func(ev any) {
		switch ev := ev.(type) {
		case *webwire.Message:
			c.show(con, "webchat", listenEvent{Event: eventMessage, From: webName(ev.From), Name: ev.From.Name, Text: ev.Text})
		case *webwire.Contacts:
			for _, e := range ev.Contacts {
				if e.Status != webwire.StatusOffline {
					c.show(con, "webchat", webPresence(e.Account, e.Status, e.Text))
				}
			}
		case *webwire.Presence:
			c.show(con, "webchat", webPresence(ev.From, ev.Status, ev.Text))
		case *webwire.TypingNotice:
			c.show(con, "webchat", typingEvent(webName(ev.From), ev.Typing))
		}
	})
}

// keepAlive pings every interval until ctx ends: the service closes
// sessions that stay silent.
func keepAlive(ctx context.Context, log *slog.Logger, cl *webclient.Client, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, timeout)
			if err := cl.Ping(pctx); err != nil && ctx.Err() == nil {
				log.Warn("ping", "err", err)
			}
			cancel()
		}
	}
}

// webName is how the listen commands name a web chat contact: by e-mail
// address, by number when it has none.
func webName(a webwire.Account) string {
	if a.Email != "" {
		return a.Email
	}
	return strconv.FormatUint(uint64(a.Number), 10)
}

func webPresence(a webwire.Account, status, text string) listenEvent {
	return listenEvent{Event: eventPresence, From: webName(a), Name: a.Name, Status: hub.Status(status), Text: text}
}
