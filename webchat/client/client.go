// Package client is a web chat client library for bots and for the
// server's tests: it speaks package wire's messages over a WebSocket as
// the browser page does.
//
// Dial connects and starts one reader goroutine. Login, LoginToken, Send,
// SetPresence, the list calls, Ping and SendFile wait for the server's
// answer to their request (matched by id): "ack" (or "welcome") is
// success, "error" an *Error. Typing does not wait. Everything else the
// server sends arrives on Events as the wire's types (*wire.Message,
// *wire.Presence, *wire.Contacts, ...), buffered (Options.EventBuffer);
// when the buffer is full the connection is dropped with
// ErrEventOverflow. The last event is Disconnected, after which the
// channel is closed. Close ends the connection and waits for the reader.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/crosstalk-im/crosstalk/webchat/wire"
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// HTTPClient makes the WebSocket handshake, uploads and downloads.
	HTTPClient *http.Client
	// Header goes with the handshake (an Origin, a cookie).
	Header http.Header
	// EventBuffer is the capacity of Events. Default 1024.
	EventBuffer int
}

// ErrEventOverflow: the events buffer was full; the connection was dropped.
var ErrEventOverflow = errors.New("webchat client: events not read in time")

// Error is an "error" answer from the server.
type Error struct {
	Code, Text string
}

func (e *Error) Error() string { return "webchat: " + e.Code + ": " + e.Text }

// Disconnected is the last event: why the connection ended.
type Disconnected struct{ Err error }

// Client is one web chat connection. Its methods may be called from
// several goroutines.
type Client struct {
	ws     *websocket.Conn
	base   *url.URL // the socket's address as http(s), for uploads
	http   *http.Client
	ids    atomic.Uint64
	events chan any
	done   chan struct{}

	mu      sync.Mutex
	waiting map[string]chan any
	err     error
	cancel  context.CancelFunc
}

// Dial opens a WebSocket to addr, such as "ws://host:8080/chat/ws".
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 1024
	}
	base, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	switch base.Scheme {
	case "ws":
		base.Scheme = "http"
	case "wss":
		base.Scheme = "https"
	default:
		return nil, fmt.Errorf("webchat client: %q is not a ws:// or wss:// address", addr)
	}
	ws, _, err := websocket.Dial(ctx, addr, &websocket.DialOptions{HTTPClient: opts.HTTPClient, HTTPHeader: opts.Header})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(-1) // the server is trusted to bound its own messages
	c := &Client{
		ws: ws, base: base, http: opts.HTTPClient,
		events: make(chan any, opts.EventBuffer), done: make(chan struct{}),
		waiting: make(map[string]chan any),
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.readLoop(rctx)
	return c, nil
}

// Events delivers what the server sends on its own; see the package doc.
func (c *Client) Events() <-chan any { return c.events }

// Close ends the connection and waits for the reader goroutine.
func (c *Client) Close() error {
	_ = c.ws.CloseNow()
	c.cancel()
	<-c.done
	return nil
}

// Err is why the connection ended, once it has.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) readLoop(ctx context.Context) {
	var err error
	defer func() {
		c.mu.Lock()
		c.err = err
		for id, ch := range c.waiting {
			close(ch)
			delete(c.waiting, id)
		}
		c.mu.Unlock()
		select {
		case c.events <- Disconnected{Err: err}:
		default:
		}
		close(c.events)
		close(c.done)
	}()
	for {
		var data []byte
		_, data, err = c.ws.Read(ctx)
		if err != nil {
			return
		}
		msg, derr := wire.DecodeServer(data)
		if derr != nil {
			continue // a later server's message; malformed ones are ignored too
		}
		if id := replyID(msg); id != "" && c.answer(id, msg) {
			continue
		}
		select {
		case c.events <- msg:
		default:
			err = ErrEventOverflow
			_ = c.ws.CloseNow()
			return
		}
	}
}

// replyID is the request id a server message answers, if any.
func replyID(msg any) string {
	switch m := msg.(type) {
	case *wire.Welcome:
		return m.ID
	case *wire.Ack:
		return m.ID
	case *wire.Error:
		return m.ID
	case *wire.FileUpload:
		return m.ID
	case *wire.FileStatus:
		return m.ID
	}
	return ""
}

// answer hands msg to the request waiting for id.
func (c *Client) answer(id string, msg any) bool {
	c.mu.Lock()
	ch := c.waiting[id]
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- msg:
	default: // a waiter gets at most cap(ch) answers
	}
	return true
}

// register waits for answers to a new request id.
func (c *Client) register(answers int) (string, chan any) {
	id := strconv.FormatUint(c.ids.Add(1), 10)
	ch := make(chan any, answers)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	return id, ch
}

func (c *Client) unregister(id string) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// write sends one client message.
func (c *Client) write(ctx context.Context, v any) error {
	data, err := wire.Encode(v)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// next waits for the next answer on ch; an "error" becomes *Error.
func (c *Client) next(ctx context.Context, ch chan any) (any, error) {
	select {
	case msg, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("webchat client: connection ended: %w", c.Err())
		}
		if e, ok := msg.(*wire.Error); ok {
			return nil, &Error{Code: e.Code, Text: e.Text}
		}
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// request sends a message built for a fresh id and waits for its answer.
func (c *Client) request(ctx context.Context, build func(id string) any) (any, error) {
	id, ch := c.register(1)
	defer c.unregister(id)
	if err := c.write(ctx, build(id)); err != nil {
		return nil, err
	}
	return c.next(ctx, ch)
}

// Login signs in with an e-mail address and password.
func (c *Client) Login(ctx context.Context, email, password string) (*wire.Welcome, error) {
	return c.login(ctx, wire.Login{Type: wire.TypeLogin, Email: email, Password: password})
}

// LoginToken signs in with a chat token (PROTOCOL.md).
func (c *Client) LoginToken(ctx context.Context, token string) (*wire.Welcome, error) {
	return c.login(ctx, wire.Login{Type: wire.TypeLogin, Token: token})
}

func (c *Client) login(ctx context.Context, l wire.Login) (*wire.Welcome, error) {
	msg, err := c.request(ctx, func(id string) any { l.ID = id; return l })
	if err != nil {
		return nil, err
	}
	w, ok := msg.(*wire.Welcome)
	if !ok {
		return nil, fmt.Errorf("webchat client: login answered with %T", msg)
	}
	return w, nil
}

// ack sends a request whose answer is an "ack" and returns its result.
func (c *Client) ack(ctx context.Context, build func(id string) any) (string, error) {
	msg, err := c.request(ctx, build)
	if err != nil {
		return "", err
	}
	a, ok := msg.(*wire.Ack)
	if !ok {
		return "", fmt.Errorf("webchat client: answered with %T", msg)
	}
	return a.Result, nil
}

// Send sends a message and returns wire.ResultDelivered or
// wire.ResultStored.
func (c *Client) Send(ctx context.Context, to wire.Contact, text string) (string, error) {
	return c.ack(ctx, func(id string) any { return wire.Send{Type: wire.TypeSend, ID: id, To: to, Text: text} })
}

// SetPresence sets this session's status.
func (c *Client) SetPresence(ctx context.Context, status, text string) error {
	_, err := c.ack(ctx, func(id string) any {
		return wire.SetPresence{Type: wire.TypePresence, ID: id, Status: status, Text: text}
	})
	return err
}

// Typing tells a contact whether we are typing; no answer comes.
func (c *Client) Typing(ctx context.Context, to wire.Contact, typing bool) error {
	return c.write(ctx, wire.Typing{Type: wire.TypeTyping, To: to, Typing: typing})
}

// List runs wire.TypeAdd, TypeAccept, TypeRemove, TypeBlock or
// TypeUnblock on a contact. The contact's new entry follows as a
// *wire.ContactChanged event.
func (c *Client) List(ctx context.Context, op string, who wire.Contact) error {
	_, err := c.ack(ctx, func(id string) any { return wire.ListOp{Type: op, ID: id, Contact: who} })
	return err
}

// Ping asks the server for an answer (and keeps the session alive).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.ack(ctx, func(id string) any { return wire.Ping{Type: wire.TypePing, ID: id} })
	return err
}

// SendFile offers a file of size bytes, uploads it from r once the
// server says where, and returns what became of it (wire.FileSent with
// its drive ticket, wire.FileDeclined, ...).
func (c *Client) SendFile(ctx context.Context, to wire.Contact, name string, size int64, r io.Reader) (*wire.FileStatus, error) {
	answer, err := c.OfferFile(ctx, to, name, size)
	if err != nil {
		return nil, err
	}
	if up, ok := answer.(*wire.FileUpload); ok {
		return c.Upload(ctx, up.URL, size, r)
	}
	return answer.(*wire.FileStatus), nil
}

// OfferFile offers a file and returns the server's answer: where to
// upload it (a *wire.FileUpload, for Upload), or what became of the offer
// before any upload (a *wire.FileStatus: declined, cancelled).
func (c *Client) OfferFile(ctx context.Context, to wire.Contact, name string, size int64) (any, error) {
	id, ch := c.register(1)
	defer c.unregister(id)
	if err := c.write(ctx, wire.FileOffer{Type: wire.TypeFileOffer, ID: id, To: to, Name: name, Size: size}); err != nil {
		return nil, err
	}
	msg, err := c.next(ctx, ch)
	if err != nil {
		return nil, err
	}
	switch msg.(type) {
	case *wire.FileStatus, *wire.FileUpload:
		return msg, nil
	}
	return nil, fmt.Errorf("webchat client: file offer answered with %T", msg)
}

// Upload PUTs size bytes from r to an offer's upload URL (relative to the
// socket's address) and returns the offer's status from the answer.
func (c *Client) Upload(ctx context.Context, ref string, size int64, r io.Reader) (*wire.FileStatus, error) {
	u, err := c.base.Parse(ref)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), io.LimitReader(r, size))
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st wire.FileStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&st); err != nil || st.Type != wire.TypeFileStatus {
		return nil, fmt.Errorf("webchat client: upload: %s", resp.Status)
	}
	return &st, nil
}

// Download fetches a file's bytes from its link (wire.File.URL).
func (c *Client) Download(ctx context.Context, link string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("webchat client: download: %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, max))
}

// Logout ends the session; the server says "bye" and closes.
func (c *Client) Logout(ctx context.Context) error {
	return c.write(ctx, wire.Logout{Type: wire.TypeLogout})
}
