package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	sipclient "github.com/crosstalk-im/crosstalk/sip/client"
	sipserver "github.com/crosstalk-im/crosstalk/sip/server"
	sipwire "github.com/crosstalk-im/crosstalk/sip/wire"
)

type sipCmd struct {
	Send     sipSendCmd     `cmd:"" help:"Sign in as Office Communicator does, send one message, sign out."`
	Listen   sipListenCmd   `cmd:"" help:"Sign in and print the messages that arrive."`
	SendFile sipSendFileCmd `cmd:"" help:"Send a file to a contact (invitation in SIP, then MSNFTP or its encrypted variant), with a progress bar."`
	RecvFile sipRecvFileCmd `cmd:"" help:"Wait for one file offer, accept it and save the file."`
}

type sipLogin struct {
	Server   string        `help:"SIP server host:port (SIP over TCP, or over TLS with --tls: port 5061)." default:"localhost:5060"`
	TLS      bool          `name:"tls" help:"Connect over TLS, checking the server's certificate against the system's authorities or --tls-ca."`
	TLSCA    string        `name:"tls-ca" help:"Certificate file (PEM) of the authorities to trust instead of the system's, with --tls." type:"existingfile"`
	Login    string        `help:"Account e-mail address (the SIP address without sip:)." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_SIP_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait at each step: the server, the contact's answer, each block of a file." default:"30s"`
}

// tlsConfig is the TLS of --tls, nil without it.
func (l sipLogin) tlsConfig() (*tls.Config, error) {
	if !l.TLS {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(l.Server)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{ServerName: host}
	if l.TLSCA != "" {
		pem, err := os.ReadFile(l.TLSCA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", l.TLSCA)
		}
	}
	return c, nil
}

// connect signs in (NTLM, then every message signed), within Timeout.
func (l sipLogin) connect(ctx context.Context, log *slog.Logger) (*sipclient.Client, error) {
	tc, err := l.tlsConfig()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	c, err := sipclient.Dial(ctx, l.Server, sipclient.Options{Logger: log, TLS: tc})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the SIP server at %s: %w", l.Server, err)
	}
	if err := c.SignIn(ctx, l.Login, l.Password); err != nil {
		c.Close()
		if errors.Is(err, sipclient.ErrAuthentication) {
			return nil, errors.New("login refused: wrong e-mail address or password")
		}
		return nil, err
	}
	return c, nil
}

// signOut ends the registration the way Communicator leaves.
func signOut(c *sipclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.SignOut(ctx)
}

type sipSendCmd struct {
	sipLogin
	To   string   `help:"Recipient's e-mail address." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *sipSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *sipSendCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer signOut(cl)
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	err = cl.SendMessage(sctx, c.To, strings.Join(c.Text, " "))
	var refused *sipclient.StatusError
	switch {
	case errors.As(err, &refused) && refused.Code == 404:
		return fmt.Errorf("%s: no such account", c.To)
	case errors.As(err, &refused) && refused.Code == 480:
		// OCS keeps no offline messages, and says 480 for a contact who is
		// offline, invisible or blocking alike.
		return fmt.Errorf("%s is offline or not accepting messages", c.To)
	case errors.As(err, &refused) && refused.Code == 403:
		return fmt.Errorf("%s does not accept your messages", c.To)
	case err != nil:
		return err
	}
	_ = cl.EndChat(sctx, c.To)
	con.printf("delivered to %s\n", c.To)
	return nil
}

type sipListenCmd struct {
	sipLogin
	listenOutput
}

func (c *sipListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *sipListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer signOut(cl)
	return listen(ctx, con, c.Login, cl.Events(), cl.Err, func(ev sipclient.Event) {
		switch ev := ev.(type) {
		case sipclient.Message:
			c.show(con, "sip", listenEvent{Event: eventMessage, From: sipwire.URIUser(ev.From), Text: ev.Text})
		case sipclient.Presence:
			c.show(con, "sip", listenEvent{Event: eventPresence, From: sipwire.URIUser(ev.URI), Name: ev.DisplayName,
				Status: sipserver.StatusFromAvailability(ev.Availability, ev.Activity).Visible(), Text: ev.Note})
		case sipclient.Typing:
			c.show(con, "sip", typingEvent(sipwire.URIUser(ev.From), ev.Active))
		}
	})
}
