package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/storage"
)

// TestStorageServiceRefusesBadInput: what is not a call of the service
// gets a SOAP fault (a request past the size bound too, unread), a GET of
// the service 405, and a disabled account's ticket the authentication
// fault; the display name is checked as PRP MFN checks it.
func TestStorageServiceRefusesBadInput(t *testing.T) {
	const limit = 1 << 10
	env := newTestEnv(t, func(c *Config) { c.MaxProfilePicture = limit })
	alice := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	srv := httptest.NewServer(env.srv.StorageHandler())
	t.Cleanup(srv.Close)
	url := srv.URL + storage.Path
	post := func(body []byte) (int, error) {
		t.Helper()
		resp, err := srv.Client().Post(url, "text/xml", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		_, err = storage.ParseResponse(b.Bytes())
		return resp.StatusCode, err
	}
	fault := func(what string, code int, err error, want string) {
		t.Helper()
		var f *storage.Fault
		if code != http.StatusInternalServerError || !errors.As(err, &f) || f.Code != want {
			t.Errorf("%s: %d %v, want fault %s", what, code, err, want)
		}
	}
	code, err := post([]byte("not xml"))
	fault("not xml", code, err, storage.FaultBadArgument)
	code, err = post([]byte(`<Envelope><Body><Unknown xmlns="` + storage.Namespace2008 + `"/></Body></Envelope>`))
	fault("unknown operation", code, err, storage.FaultBadArgument)
	code, err = post(bytes.Repeat([]byte("x"), storage.MaxBody(limit)+1))
	fault("too large", code, err, storage.FaultQuotaExceeded)

	ticket := env.srv.cfg.Passport.Issue(alice.Number, time.Now())
	long := strings.Repeat("n", maxEncodedName+1)
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpUpdateProfile, Ticket: ticket, DisplayName: &long}))
	fault("long name", code, err, storage.FaultBadArgument)
	blank := " "
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpUpdateProfile, Ticket: ticket, DisplayName: &blank}))
	fault("blank name", code, err, storage.FaultBadArgument)
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpUpdateDocument, Ticket: ticket, ResourceID: "1002!205",
		Document: &storage.Document{Streams: []storage.Stream{{Type: storage.StreamUserTile, Data: []byte("\x89PNG\r\n\x1a\n")}}}}))
	fault("another's document", code, err, storage.FaultItemNotFound)
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpCreateDocument, Ticket: ticket,
		Document: &storage.Document{Streams: []storage.Stream{{Type: "UserTileSmall", Data: []byte("\x89PNG\r\n\x1a\n")}}}}))
	fault("no user tile stream", code, err, storage.FaultBadArgument)

	if code, err := post(storage.RequestBody(storage.Request{Operation: storage.OpGetProfile, Ticket: ticket, Alias: "00000000000003E9"})); err != nil || code != http.StatusOK {
		t.Errorf("own cid in hexadecimal: %d %v", code, err)
	}
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpGetProfile, Ticket: ticket, Alias: "00000000000003EA"}))
	fault("another cid in hexadecimal", code, err, storage.FaultAccessDenied)

	if err := env.store.SetDisabled(context.Background(), alice.Number, true); err != nil {
		t.Fatal(err)
	}
	code, err = post(storage.RequestBody(storage.Request{Operation: storage.OpGetProfile, Ticket: ticket}))
	fault("disabled account", code, err, storage.FaultAuth)

	resp, err := srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of the service: %s", resp.Status)
	}
}

// TestStorageAnswerCarriesTicket: an answer's StorageUserHeader carries
// the ticket the request came with. MSNPSharp (MSNP18) keeps the header as
// InOut: it sends each answer's header back with its next call, which with
// no ticket in it failed with PassportAuthFail from the second call on.
func TestStorageAnswerCarriesTicket(t *testing.T) {
	env := newTestEnv(t, nil)
	alice := env.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	srv := httptest.NewServer(env.srv.StorageHandler())
	t.Cleanup(srv.Close)
	// call posts body and returns the answer's StorageUserHeader.
	call := func(body []byte) string {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+storage.Path, "text/xml", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if _, err := storage.ParseResponse(b.Bytes()); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
		}
		_, header, _ := strings.Cut(b.String(), "<StorageUserHeader")
		header, _, _ = strings.Cut(header, "</StorageUserHeader>")
		return header
	}
	ticket := env.srv.cfg.Passport.Issue(alice.Number, time.Now())
	header := call(storage.RequestBody(storage.Request{Operation: storage.OpGetProfile, Ticket: ticket}))
	_, echoed, _ := strings.Cut(header, "<TicketToken>")
	echoed, _, _ = strings.Cut(echoed, "</TicketToken>")
	echoed = strings.ReplaceAll(echoed, "&amp;", "&")
	if echoed != ticket || !strings.Contains(header, "<Cid>1001</Cid>") {
		t.Fatalf("answer's StorageUserHeader%s, want the cid and ticket %s", header, ticket)
	}
	// The next call made with that header, as MSNPSharp makes it.
	name := "Alice B"
	call(storage.RequestBody(storage.Request{Operation: storage.OpUpdateProfile, Ticket: echoed, DisplayName: &name}))
}
