package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

type msnCmd struct {
	Send     msnSendCmd     `cmd:"" help:"Log in, send one message to a contact, log out."`
	Listen   msnListenCmd   `cmd:"" help:"Log in, answer every chat and print the messages that arrive."`
	SendFile msnSendFileCmd `cmd:"" help:"Send a file to a contact (invitation and MSNFTP; MSNSLP in the switchboard from MSNP9), with a progress bar."`
	RecvFile msnRecvFileCmd `cmd:"" help:"Wait for one file offer, accept it and save the file."`
	Oim      msnOIMCmd      `cmd:"" help:"Offline messages at the offline-IM service (MSNP11+ read them, MSNP13+ also send them): list, get, delete, send."`
}

type msnLogin struct {
	Server   string        `help:"MSN server host:port." default:"localhost:1863"`
	Login    string        `help:"Account e-mail address." required:""`
	Password string        `help:"Password." required:"" env:"CROSSTALK_MSN_PASSWORD"`
	Timeout  time.Duration `help:"How long to wait at each step: the server, the contact's answer, each block of a file." default:"30s"`
	Protocol string        `help:"The one MSNP dialect to speak (MSNP2 to MSNP18); empty: MSNP7 down to MSNP2. MSNP8 and later sign in at Passport over HTTPS (MSNP15 and later with single sign-on), MSNP13 and later load their lists from the address book over HTTPS."`
	Nexus    string        `help:"Where the Passport sign-in of MSNP8+ starts." default:"${passport_nexus}"`
	CaCert   string        `help:"CA certificate (PEM) the Passport sign-in trusts besides the system's, such as the one 'crosstalk tls ca' made." type:"existingfile"`
	HttpsAt  string        `help:"host:port to reach every Passport and address book host name at, instead of looking the names up (what a hosts file line does)."`
}

// msnc4Caps is the capabilities number of MSN 7.0 (MSNC4 in the top
// nibble), which MSNP9+ logins send: the server then offers files over
// MSNSLP, as MSN 6 and later take them.
const msnc4Caps = 0x40000000

// p2p tells whether files go over MSNSLP: for MSNP9 and later.
func (l msnLogin) p2p() bool {
	d, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(l.Protocol), "MSNP"))
	return err == nil && d >= 9
}

// options are the client library's options for these flags.
func (l msnLogin) options(log *slog.Logger) (client.Options, error) {
	o := client.Options{Logger: log, Nexus: l.Nexus}
	if l.Protocol != "" {
		o.Versions = []string{strings.ToUpper(l.Protocol)}
	}
	if l.p2p() {
		o.Capabilities = msnc4Caps
	}
	hc, err := httpsClient(l.CaCert, l.HttpsAt, l.Timeout)
	o.Passport = hc
	return o, err
}

// httpsClient is the HTTP client of the MSN commands' sign-in and SOAP
// calls: trusting caCert besides the system's CAs, reaching every host
// name at httpsAt when it is set.
func httpsClient(caCert, httpsAt string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caCert != "" {
		pem, err := os.ReadFile(caCert)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caCert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	if httpsAt != "" {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAt)
		}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// connect logs in and goes online, within Timeout.
func (l msnLogin) connect(ctx context.Context, log *slog.Logger) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	opts, err := l.options(log)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, l.Server, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the MSN server at %s: %w", l.Server, err)
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

// chat opens a chat with a contact and waits until they have joined, each
// step within Timeout.
func (l msnLogin) chat(ctx context.Context, cl *client.Client, to string) (*client.Switchboard, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	sb, err := cl.StartChat(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := sb.Call(ctx, to); err != nil {
		sb.Leave()
		return nil, callError(to, err)
	}
	if err := waitJoined(ctx, sb, to); err != nil {
		sb.Leave()
		return nil, err
	}
	return sb, nil
}

// callError says in words why a contact could not be called.
func callError(to string, err error) error {
	var se *client.ServerError
	if errors.As(err, &se) {
		switch se.Code {
		case 205:
			return fmt.Errorf("%s: no such account", to)
		case 208:
			return fmt.Errorf("%s is not a valid address", to)
		case 217:
			return fmt.Errorf("%s is offline or not accepting messages", to)
		}
	}
	return fmt.Errorf("calling %s: %w", to, err)
}

type msnSendCmd struct {
	msnLogin
	To   string   `help:"Recipient's e-mail address." required:""`
	Text []string `arg:"" help:"Message text."`
}

func (c *msnSendCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnSendCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	sb, err := c.chat(ctx, cl, c.To)
	if err != nil {
		return err
	}
	defer sb.Leave()
	sctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := sb.SendText(sctx, strings.Join(c.Text, " ")); err != nil {
		return err
	}
	con.printf("delivered to %s\n", c.To)
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
	listenOutput
}

func (c *msnListenCmd) Run(log *slog.Logger) error { return runUntilInterrupted(log, c.run) }

func (c *msnListenCmd) run(ctx context.Context, log *slog.Logger, con *console) error {
	cl, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer cl.Logout()
	return listen(ctx, con, c.Login, cl.Events(), cl.Err, func(ev client.Event) {
		switch ev := ev.(type) {
		case client.Ring:
			actx, cancel := context.WithTimeout(ctx, c.Timeout)
			sb, err := cl.Answer(actx, ev)
			cancel()
			if err != nil {
				log.Warn("answering", "from", ev.Caller, "err", err)
				return
			}
			go c.printMessages(con, sb)
		case client.Presence:
			c.show(con, "msn", listenEvent{Event: eventPresence, From: ev.Email, Name: ev.Friendly, Status: msnStatuses[ev.Status]})
		case client.Offline:
			c.show(con, "msn", listenEvent{Event: eventPresence, From: ev.Email, Status: hub.StatusOffline})
		}
	})
}

func (c *msnListenCmd) printMessages(con *console, sb *client.Switchboard) {
	defer sb.Close()
	for ev := range sb.Events() {
		m, ok := ev.(client.Message)
		switch {
		case !ok:
		case m.ContentType == "text/plain":
			c.show(con, "msn", listenEvent{Event: eventMessage, From: m.From, Name: m.Friendly, Text: m.Text})
		case m.TypingUser != "":
			c.show(con, "msn", typingEvent(m.TypingUser, true))
		}
	}
}

// msnStatuses are the hub's words for MSN's status codes.
var msnStatuses = map[string]hub.Status{
	client.StatusOnline:  hub.StatusOnline,
	client.StatusBusy:    hub.StatusBusy,
	client.StatusIdle:    hub.StatusIdle,
	client.StatusBeRight: hub.StatusBeRightBack,
	client.StatusAway:    hub.StatusAway,
	client.StatusPhone:   hub.StatusOnThePhone,
	client.StatusLunch:   hub.StatusOutToLunch,
}

func wireLimits(maxLine int) wire.Limits {
	l := wire.DefaultLimits
	if maxLine > 0 {
		l.MaxLine = maxLine
	}
	return l
}
