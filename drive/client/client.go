// Package client speaks the GG drive's HTTP API the way a GG11 client
// does, for bots and tests: sign in with the GG session's IMToken, offer a
// file, answer an offer, upload and download.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
)

// Ticket is a file offer as the drive reports it.
type Ticket struct {
	ID        string
	Sender    uint32
	Recipient uint32
	FileName  string
	FileSize  int64
	Ack       string // unknown, allowed or rejected
	Status    string // in_progress or completed
}

// Error is a refusal from the drive: the HTTP status and the appStatus of
// its JSON body (206 recipient not logged in, 207 not on their list, …).
type Error struct {
	HTTPStatus int
	AppStatus  int
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("drive: %d (appStatus %d): %s", e.HTTPStatus, e.AppStatus, e.Message)
}

// Client is one signed-in drive session.
type Client struct {
	base  string
	http  *http.Client
	token string // X-gged-security-token
}

// SignIn opens a drive session for uin with the IMToken its GG session
// received. base is the drive's URL, e.g. "https://drive.example".
func SignIn(ctx context.Context, base string, uin uint32, imtoken string, hc *http.Client) (*Client, error) {
	if hc == nil {
		hc = &http.Client{}
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	withJar := *hc
	withJar.Jar = jar
	c := &Client{base: strings.TrimSuffix(base, "/"), http: &withJar}
	resp, err := c.do(ctx, http.MethodPut, "/signin", nil, map[string]string{
		"Authorization": "IMToken " + imtoken,
		"X-gged-user":   "gg/pl:" + strconv.FormatUint(uint64(uin), 10),
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := check(resp); err != nil {
		return nil, err
	}
	c.token = resp.Header.Get("X-gged-security-token")
	if c.token == "" {
		return nil, errors.New("drive: signin gave no security token")
	}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, headers map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-gged-api-version", "6")
	if c.token != "" {
		req.Header.Set("X-gged-security-token", c.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return c.http.Do(req)
}

// check turns a non-2xx reply into an *Error.
func check(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var body struct {
		Result struct {
			AppStatus int    `json:"appStatus"`
			ErrorMsg  string `json:"errorMsg"`
		} `json:"result"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	return &Error{HTTPStatus: resp.StatusCode, AppStatus: body.Result.AppStatus, Message: body.Result.ErrorMsg}
}

type ticketJSON struct {
	ID        string `json:"id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	FileName  string `json:"file_name"`
	FileSize  string `json:"file_size"`
	Ack       string `json:"ack_status"`
	Status    string `json:"send_status"`
}

func (t ticketJSON) ticket() Ticket {
	sender, _ := strconv.ParseUint(t.Sender, 10, 32)
	recipient, _ := strconv.ParseUint(t.Recipient, 10, 32)
	size, _ := strconv.ParseInt(t.FileSize, 10, 64)
	return Ticket{ID: t.ID, Sender: uint32(sender), Recipient: uint32(recipient), FileName: t.FileName,
		FileSize: size, Ack: t.Ack, Status: t.Status}
}

func (c *Client) ticketCall(ctx context.Context, method, path string, body io.Reader, headers map[string]string) (Ticket, error) {
	resp, err := c.do(ctx, method, path, body, headers)
	if err != nil {
		return Ticket{}, err
	}
	defer resp.Body.Close()
	if err := check(resp); err != nil {
		return Ticket{}, err
	}
	var out struct {
		Result struct {
			SendTicket ticketJSON `json:"send_ticket"`
		} `json:"result"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return Ticket{}, fmt.Errorf("drive: reply: %w", err)
	}
	return out.Result.SendTicket.ticket(), nil
}

// Offer creates a ticket offering a file to recipient. The drive may
// change the name to what it accepts; the ticket says which.
func (c *Client) Offer(ctx context.Context, recipient uint32, name string, size int64) (Ticket, error) {
	body, err := json.Marshal(map[string]any{"send_ticket": map[string]string{
		"recipient": strconv.FormatUint(uint64(recipient), 10),
		"file_name": name,
		"file_size": strconv.FormatInt(size, 10),
	}})
	if err != nil {
		return Ticket{}, err
	}
	return c.ticketCall(ctx, http.MethodPut, "/send_ticket", strings.NewReader(string(body)), nil)
}

// Ticket reads a ticket.
func (c *Client) Ticket(ctx context.Context, id string) (Ticket, error) {
	return c.ticketCall(ctx, http.MethodGet, "/send_ticket/"+url.PathEscape(id), nil, nil)
}

// Answer accepts or rejects an offer made to this account.
func (c *Client) Answer(ctx context.Context, id string, accept bool) error {
	status := "reject"
	if accept {
		status = "allow"
	}
	resp, err := c.do(ctx, http.MethodPut, "/send_ticket/"+url.PathEscape(id), nil, map[string]string{"X-gged-ack-status": status})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return check(resp)
}

// Upload sends the file of an accepted offer.
func (c *Client) Upload(ctx context.Context, t Ticket, r io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+"/me/file/outbox/"+url.PathEscape(t.ID)+"%2C"+url.PathEscape(t.FileName), r)
	if err != nil {
		return err
	}
	req.ContentLength = t.FileSize
	req.Header.Set("X-gged-api-version", "6")
	req.Header.Set("X-gged-security-token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return check(resp)
}

// Download writes the file of a completed offer to w.
func (c *Client) Download(ctx context.Context, t Ticket, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, "/me/file/inbox/"+url.PathEscape(t.ID)+","+url.PathEscape(t.FileName), nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := check(resp); err != nil {
		return 0, err
	}
	return io.Copy(w, resp.Body)
}

// CloseIdleConnections releases the client's kept-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
