package passport

import (
	"context"
	"encoding/xml"
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

// TokenHost is the security token service's host name; DefaultRST is
// where clients from MSN Messenger 7.5 on ask it for tokens.
const (
	TokenHost  = "login.live.com"
	DefaultRST = "https://" + TokenHost + "/RST.srf"
)

// RequestTokens asks a security token service (RST.srf) for tokens, as
// MSN Messenger 7.5 and later do; RST0, the Passport.NET/tb ticket, goes
// first as theirs does. A refused password is ErrRefused.
func RequestTokens(ctx context.Context, hc *http.Client, rstURL, signIn, password string, tokens []RequestedToken) (TokenResponse, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext" xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy" ` +
		`xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing" xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust" ` +
		`xmlns:ps="http://schemas.microsoft.com/Passport/SoapServices/PPCRL"><Header><wsse:Security><wsse:UsernameToken Id="user"><wsse:Username>`)
	_ = xml.EscapeText(&b, []byte(signIn))
	b.WriteString(`</wsse:Username><wsse:Password>`)
	_ = xml.EscapeText(&b, []byte(password))
	b.WriteString(`</wsse:Password></wsse:UsernameToken></wsse:Security></Header><Body><ps:RequestMultipleSecurityTokens Id="RSTS">`)
	all := append([]RequestedToken{{Address: "http://Passport.NET/tb"}}, tokens...)
	for i, t := range all {
		fmt.Fprintf(&b, `<wst:RequestSecurityToken Id="RST%d"><wst:RequestType>http://schemas.xmlsoap.org/ws/2004/04/security/trust/Issue</wst:RequestType>`+
			`<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>`, i)
		_ = xml.EscapeText(&b, []byte(t.Address))
		b.WriteString(`</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`)
		if t.Policy != "" {
			b.WriteString(`<wsse:PolicyReference URI="`)
			_ = xml.EscapeText(&b, []byte(t.Policy))
			b.WriteString(`"></wsse:PolicyReference>`)
		}
		b.WriteString(`</wst:RequestSecurityToken>`)
	}
	b.WriteString(`</ps:RequestMultipleSecurityTokens></Body></Envelope>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rstURL, strings.NewReader(b.String()))
	if err != nil {
		return TokenResponse{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "")
	resp, err := hc.Do(req)
	if err != nil {
		return TokenResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return TokenResponse{}, err
	}
	return ParseTokenResponse(body)
}
