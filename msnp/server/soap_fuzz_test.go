package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/abch"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
)

// FuzzAddressBookService: whatever is posted to the ABCH services, the
// answer is an envelope the client library reads, a fault exactly when
// the status is not 200. Calls that succeed change Alice's lists, which
// the next input sees; any lists must do.
func FuzzAddressBookService(f *testing.F) {
	e := newTestEnv(f, nil)
	alice := e.addAccount(f, 1001, "alice@example.com", "Alice", "pa")
	e.addAccount(f, 1002, "bob@example.com", "Bob", "pb")
	ticket := e.srv.cfg.Passport.Issue(alice.Number, time.Now())
	f.Add(true, abch.NewRequest("FindMembership", ticket, abch.FullViewArg))
	f.Add(false, abch.NewRequest("ABFindAll", ticket, abch.FullViewArg))
	f.Add(false, abch.NewRequest("ABContactAdd", ticket, abch.ContactArg("", "bob@example.com")))
	f.Add(false, abch.NewRequest("ABGroupAdd", ticket, abch.NewGroupArg("Friends")))
	f.Add(false, abch.NewRequest("ABGroupContactAdd", ticket, abch.GroupFilterArg("g"), abch.ContactArg(contactGUID(1002), "")))
	f.Add(false, abch.NewRequest("ABContactUpdate", ticket, abch.MeDisplayNameArg("Alice B")))
	f.Add(true, abch.NewRequest("AddMember", ticket, abch.MemberArg("Block", "bob@example.com")))
	f.Add(true, abch.NewRequest("DeleteMember", ticket, abch.MemberArg("Block", "bob@example.com")))
	handler := e.srv.AddressBookHandler()
	f.Fuzz(func(t *testing.T, sharing bool, body []byte) {
		path := abch.AddressBookPath
		if sharing {
			path = abch.SharingPath
		}
		rec := postTo(handler, path, body)
		_, err := abch.ParseResponse(rec.Body.Bytes(), &abch.Book{})
		answerOrFault[*abch.Fault](t, rec, err)
	})
}

// FuzzStorageService: whatever is posted to the storage service, the
// answer is an envelope the client library reads, a fault exactly when
// the status is not 200; a GET of any other path is a picture or 404.
// tile empty posts body to the service, otherwise GETs tile as the path.
func FuzzStorageService(f *testing.F) {
	e := newTestEnv(f, func(c *Config) { c.MaxProfilePicture = 1 << 10 })
	alice := e.addAccount(f, 1001, "alice@example.com", "Alice", "pa")
	ticket := e.srv.cfg.Passport.Issue(alice.Number, time.Now())
	name := "Alice B"
	png := &storage.Document{Streams: []storage.Stream{{Type: storage.StreamUserTile, MimeType: "image/png", Data: []byte("\x89PNG\r\n\x1a\n")}}}
	for _, r := range []storage.Request{
		{Operation: storage.OpGetProfile, Ticket: ticket},
		{Operation: storage.OpGetProfile, Ticket: ticket, Alias: "00000000000003E9"},
		{Operation: storage.OpUpdateProfile, Ticket: ticket, DisplayName: &name},
		{Operation: storage.OpFindDocuments, Ticket: ticket},
		{Operation: storage.OpCreateDocument, Ticket: ticket, Document: png},
		{Operation: storage.OpUpdateDocument, Ticket: ticket, ResourceID: storage.PhotoID(cid(alice.Number)), Document: png},
		{Operation: storage.OpShareItem, Ticket: ticket, ResourceID: storage.ProfileID(cid(alice.Number))},
	} {
		f.Add("", storage.RequestBody(r))
	}
	f.Add(storage.TilePath(cid(alice.Number), "1-00ff"), []byte(nil))
	f.Add(storage.TilePrefix+"/x/static", []byte(nil))
	handler := e.srv.StorageHandler()
	f.Fuzz(func(t *testing.T, tile string, body []byte) {
		if tile == "" {
			rec := postTo(handler, storage.Path, body)
			_, err := storage.ParseResponse(rec.Body.Bytes())
			answerOrFault[*storage.Fault](t, rec, err)
			return
		}
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL = &url.URL{Path: tile}
		handler.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound &&
			!(storage.IsService(r.URL.EscapedPath()) && rec.Code == http.StatusMethodNotAllowed) {
			t.Fatalf("GET %q: %d", tile, rec.Code)
		}
	})
}

// postTo has handler serve a POST of body to path.
func postTo(handler http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	return rec
}

// answerOrFault fails t unless rec is an answer with status 200 (err nil,
// as the client library read it) or a fault F with another status.
func answerOrFault[F error](t *testing.T, rec *httptest.ResponseRecorder, err error) {
	t.Helper()
	var fault F
	if err != nil && !errors.As(err, &fault) || (err == nil) != (rec.Code == http.StatusOK) {
		t.Fatalf("answer %d (%v) is neither an answer nor a fault:\n%s", rec.Code, err, rec.Body)
	}
}
