package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
)

type msnOIMCmd struct {
	List   msnOIMListCmd   `cmd:"" help:"List the offline messages waiting for you."`
	Get    msnOIMGetCmd    `cmd:"" help:"Print offline messages by id, or every waiting one when none is named."`
	Delete msnOIMDeleteCmd `cmd:"" help:"Delete offline messages by id (once read: they are gone for good)."`
	Send   msnOIMSendCmd   `cmd:"" help:"Leave an offline message for a contact (MSNP13+)."`
}

// msnOIMLogin signs in at Passport as the dialect's client does for the
// offline-IM service, and calls it; it needs no notification server.
type msnOIMLogin struct {
	Login    string        `help:"Account e-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_MSN_PASSWORD"`
	Timeout  time.Duration `help:"How long the sign-in may take, and then the calls to the service." default:"30s"`
	Protocol string        `help:"The dialect whose client to act as: MSNP11 (MSN 7.0) signs in at the Passport 1.4 nexus and only reads, MSNP12 and later ask the token service (RST.srf) for their tickets, MSNP13 and later also send." default:"MSNP15"`
	Nexus    string        `help:"Where the Passport 1.4 sign-in of MSNP11 starts." default:"${passport_nexus}"`
	CaCert   string        `help:"CA certificate (PEM) the HTTPS calls trust besides the system's, such as the one 'crosstalk tls ca' made." type:"existingfile"`
	HttpsAt  string        `help:"host:port to reach every Passport and offline-IM host name at, instead of looking the names up (what a hosts file line does)."`
}

// Dialects of the offline-IM service: MSN 7.0 (MSNP11) and 7.5 read
// offline messages; only WLM 8 (MSNP13) and later send them.
const (
	oimReadDialect = 11
	oimSendDialect = 13
)

// service signs in and returns the offline-IM services with the tickets
// for what the dialect does.
func (l msnOIMLogin) service(ctx context.Context, send bool) (*client.OIMService, error) {
	d, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(l.Protocol), "MSNP"))
	switch {
	case err != nil || d < 2 || d > 18:
		return nil, fmt.Errorf("%q is not an MSNP dialect (MSNP11 to MSNP18 for offline messages)", l.Protocol)
	case d < oimReadDialect:
		return nil, fmt.Errorf("MSNP%d clients have no offline-IM service: their offline messages arrive as chats at login", d)
	case send && d < oimSendDialect:
		return nil, fmt.Errorf("MSNP%d clients (MSN 7.0 and 7.5) only read offline messages; sending needs MSNP13 or later", d)
	}
	hc, err := httpsClient(l.CaCert, l.HttpsAt, l.Timeout)
	if err != nil {
		return nil, err
	}
	// The sign-in's connection is not kept when it fails; the caller
	// closes the others.
	defer func() {
		if err != nil {
			hc.CloseIdleConnections()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	s := &client.OIMService{HTTP: hc, From: l.Login, FriendlyName: l.Login}
	if d < 12 {
		s.Ticket, err = passport.SignIn(ctx, hc, l.Nexus, l.Login, l.Password, "lc=1033,id=507")
		err = signInError(err)
		return s, err
	}
	var tokens passport.TokenResponse
	tokens, err = passport.RequestTokens(ctx, hc, passport.DefaultRST, l.Login, l.Password, []passport.RequestedToken{
		{Address: "messenger.msn.com", Policy: "?id=507"}, {Address: "messengersecure.live.com", Policy: "MBI_SSL"}})
	s.Ticket, s.StoreTicket = tokens.Tickets["messenger.msn.com"], tokens.Tickets["messengersecure.live.com"]
	err = signInError(err)
	return s, err
}

func signInError(err error) error {
	if errors.Is(err, passport.ErrRefused) {
		return errors.New("sign-in refused: wrong e-mail address or password")
	}
	return err
}

// with signs in and runs do with the services, within Timeout.
func (l msnOIMLogin) with(ctx context.Context, send bool, do func(context.Context, *client.OIMService) error) error {
	s, err := l.service(ctx, send)
	if err != nil {
		return err
	}
	defer s.HTTP.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	return do(ctx, s)
}

type msnOIMListCmd struct {
	msnOIMLogin
}

func (c *msnOIMListCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnOIMListCmd) run(ctx context.Context, _ *slog.Logger, con *console) error {
	return c.with(ctx, false, func(ctx context.Context, s *client.OIMService) error {
		waiting, err := s.List(ctx)
		if err != nil {
			return err
		}
		for _, e := range waiting {
			con.printf("%s %s %s <%s>\n", e.ID, e.Sent.UTC().Format(time.RFC3339), e.FromName, e.From)
		}
		con.notef("%d offline messages\n", len(waiting))
		return nil
	})
}

type msnOIMGetCmd struct {
	msnOIMLogin
	Delete bool     `help:"Delete the messages once printed."`
	IDs    []string `arg:"" optional:"" name:"id" help:"Message ids, as list prints them."`
}

func (c *msnOIMGetCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnOIMGetCmd) run(ctx context.Context, _ *slog.Logger, con *console) error {
	return c.with(ctx, false, func(ctx context.Context, s *client.OIMService) error {
		ids := c.IDs
		if len(ids) == 0 {
			waiting, err := s.List(ctx)
			if err != nil {
				return err
			}
			for _, e := range waiting {
				ids = append(ids, e.ID)
			}
		}
		for _, id := range ids {
			m, err := s.Get(ctx, id)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			con.printf("%s <%s> at %s: %s\n", m.FromName, m.From, m.Sent.UTC().Format(time.RFC3339), m.Text)
			// One at a time: a message is deleted only once it was printed.
			if c.Delete {
				if err := s.Delete(ctx, id); err != nil {
					return fmt.Errorf("deleting %s: %w", id, err)
				}
			}
		}
		return nil
	})
}

type msnOIMDeleteCmd struct {
	msnOIMLogin
	IDs []string `arg:"" name:"id" help:"Message ids, as list prints them."`
}

func (c *msnOIMDeleteCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnOIMDeleteCmd) run(ctx context.Context, _ *slog.Logger, con *console) error {
	return c.with(ctx, false, func(ctx context.Context, s *client.OIMService) error {
		if err := s.Delete(ctx, c.IDs...); err != nil {
			return err
		}
		con.printf("deleted %d\n", len(c.IDs))
		return nil
	})
}

type msnOIMSendCmd struct {
	msnOIMLogin
	To   string   `help:"Recipient's e-mail address." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *msnOIMSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnOIMSendCmd) run(ctx context.Context, _ *slog.Logger, con *console) error {
	return c.with(ctx, true, func(ctx context.Context, s *client.OIMService) error {
		err := s.Send(ctx, c.To, strings.Join(c.Text, " "))
		var f *oim.Fault
		if errors.As(err, &f) {
			return fmt.Errorf("not stored for %s: %s (%s)", c.To, f.Message, f.Code)
		}
		if err != nil {
			return err
		}
		con.printf("stored for %s\n", c.To)
		return nil
	})
}
