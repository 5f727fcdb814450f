package passport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultNexus is where MSN Messenger 5–7 start a Passport 1.4 sign-in.
const DefaultNexus = "https://nexus.passport.com" + NexusPath

// SignIn does a client's Passport 1.4 sign-in: ask the nexus for the login
// server, then send it the credentials with the policy the notification
// server gave in USR TWN S. It returns the ticket for USR TWN S; a refused
// password is ErrRefused.
func SignIn(ctx context.Context, hc *http.Client, nexus, signIn, password, policy string) (string, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := get(ctx, hc, nexus, "")
	if err != nil {
		return "", err
	}
	login, ok := DALogin(resp.Header.Get("PassportURLs"))
	if !ok {
		return "", fmt.Errorf("passport: nexus %s named no login server", nexus)
	}
	if !strings.Contains(login, "://") {
		login = "https://" + login
	}
	auth := "Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,sign-in=" +
		escape(signIn) + ",pwd=" + escape(password) + "," + policy
	resp, err = get(ctx, hc, login, auth)
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		ticket, ok := TicketFromAuthenticationInfo(resp.Header.Get("Authentication-Info"))
		if !ok {
			return "", fmt.Errorf("passport: login server answered no ticket")
		}
		return ticket, nil
	case http.StatusUnauthorized:
		return "", ErrRefused
	}
	return "", fmt.Errorf("passport: login server answered %s", resp.Status)
}

func get(ctx context.Context, hc *http.Client, target, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, nil
}

// escape %-encodes a header field value; spaces become %20, which the
// login server decodes, not '+', which it keeps.
func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
