package storage

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestRequestRoundTrip(t *testing.T) {
	picture := []byte("\x89PNG\r\n\x1a\nrest")
	for _, want := range []Request{
		{Operation: OpGetProfile, Ticket: "t=a&p=b", Alias: "17"},
		{Operation: OpUpdateProfile, Ticket: "t", ResourceID: "17!106", DisplayName: ptr("Al <&> ice"), PersonalStatus: ptr("")},
		{Operation: OpUpdateProfile, Ticket: "t", ResourceID: "17!106", PersonalStatus: ptr("only this")},
		{Operation: OpFindDocuments, Ticket: "t", Alias: "17"},
		{Operation: OpCreateDocument, Ticket: "t", Alias: "17", Document: &Document{Name: "tile",
			Streams: []Stream{{Type: StreamUserTile, MimeType: "image/png", Data: picture}}}},
		{Operation: OpUpdateDocument, Namespace: NamespaceW10, Ticket: "t", ResourceID: "17!205", Document: &Document{Name: "tile",
			Streams: []Stream{{Type: StreamUserTile, MimeType: "png", Data: picture}}}},
		{Operation: OpShareItem, Ticket: "t", ResourceID: "17!118"},
		{Operation: OpCreateProfile, Ticket: "t"},
	} {
		got, err := ParseRequest(RequestBody(want))
		if err != nil {
			t.Fatalf("%s: %v", want.Operation, err)
		}
		if want.Namespace == "" {
			want.Namespace = Namespace2008
		}
		if got.Namespace != want.Namespace || got.Operation != want.Operation || got.Ticket != want.Ticket ||
			got.Alias != want.Alias || got.ResourceID != want.ResourceID ||
			!sameString(got.DisplayName, want.DisplayName) || !sameString(got.PersonalStatus, want.PersonalStatus) {
			t.Errorf("%s: got %+v, want %+v", want.Operation, got, want)
		}
		if want.Document != nil {
			p := got.Document.Picture()
			if p == nil || !bytes.Equal(p.Data, picture) || p.MimeType != want.Document.Streams[0].MimeType || got.Document.Name != "tile" {
				t.Errorf("%s: document %+v", want.Operation, got.Document)
			}
		}
	}
}

func sameString(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func TestBadRequests(t *testing.T) {
	for name, body := range map[string]string{
		"not xml":     "hello",
		"no envelope": `<Body><GetProfile xmlns="` + Namespace2008 + `"/></Body>`,
		"unknown op":  `<Envelope><Body><DropTables xmlns="` + Namespace2008 + `"/></Body></Envelope>`,
		"other ns":    `<Envelope><Body><GetProfile xmlns="urn:x"/></Body></Envelope>`,
		"two ops":     `<Envelope><Body><GetProfile xmlns="` + Namespace2008 + `"/><GetProfile xmlns="` + Namespace2008 + `"/></Body></Envelope>`,
		"no document": `<Envelope><Body><CreateDocument xmlns="` + Namespace2008 + `"/></Body></Envelope>`,
		"bad base64": `<Envelope><Body><UpdateDocument xmlns="` + Namespace2008 + `"><document><DocumentStreams><DocumentStream><Data>!!</Data>` +
			`</DocumentStream></DocumentStreams></document></UpdateDocument></Body></Envelope>`,
		"too many streams": `<Envelope><Body><UpdateDocument xmlns="` + Namespace2008 + `"><document><DocumentStreams>` +
			strings.Repeat("<DocumentStream/>", maxStreams+1) + `</DocumentStreams></document></UpdateDocument></Body></Envelope>`,
	} {
		if _, err := ParseRequest([]byte(body)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAnswers(t *testing.T) {
	changed := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	rec := httptest.NewRecorder()
	WriteProfile(rec, NamespaceW10, User{CID: "17"}, Profile{DisplayName: "Al & ice", PersonalStatus: "hi <there>", Changed: changed,
		PictureURL: "https://storage.msn.com/x", PictureType: "image/png", PictureSize: 12})
	if !strings.Contains(rec.Body.String(), `<GetProfileResponse xmlns="`+NamespaceW10+`">`) ||
		rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("namespace or length: %s", rec.Body)
	}
	r, err := ParseResponse(rec.Body.Bytes())
	want := Profile{DisplayName: "Al & ice", PersonalStatus: "hi <there>", Changed: changed,
		PictureURL: "https://storage.msn.com/x", PictureType: "image/png", PictureSize: 12}
	if err != nil || r.Profile != want || r.ProfileID != ProfileID("17") {
		t.Fatalf("profile: %+v %v", r, err)
	}
	rec = httptest.NewRecorder()
	WriteProfile(rec, Namespace2008, User{CID: "17"}, Profile{DisplayName: "A"})
	if r, err := ParseResponse(rec.Body.Bytes()); err != nil || r.Profile.PictureURL != "" || strings.Contains(rec.Body.String(), "<Photo>") {
		t.Fatalf("no picture: %+v %v %s", r, err, rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteResult(rec, Namespace2008, User{CID: "17"}, OpCreateDocument, PhotoID("17"))
	if r, err := ParseResponse(rec.Body.Bytes()); err != nil || r.Result != PhotoID("17") {
		t.Fatalf("result: %+v %v", r, err)
	}
	rec = httptest.NewRecorder()
	WriteDocuments(rec, Namespace2008, User{CID: "17"}, []DocumentInfo{{ResourceID: PhotoID("17"), Name: "tile"}})
	if r, err := ParseResponse(rec.Body.Bytes()); err != nil || len(r.Documents) != 1 || r.Documents[0].Name != "tile" {
		t.Fatalf("documents: %+v %v", r, err)
	}
	rec = httptest.NewRecorder()
	WriteFault(rec, Namespace2008, OpGetProfile, &Fault{Code: FaultAuth, Message: "bad ticket"})
	var f *Fault
	if _, err := ParseResponse(rec.Body.Bytes()); rec.Code != 500 || !errors.As(err, &f) || f.Code != FaultAuth {
		t.Fatalf("fault: %d %v", rec.Code, err)
	}
}

func TestTilePath(t *testing.T) {
	p := TilePath("17", "3-abc")
	if !Handles(p) || IsService(p) {
		t.Fatalf("%s not a tile path", p)
	}
	if cid, key, ok := ParseTilePath(p); !ok || cid != "17" || key != "3-abc" {
		t.Fatalf("%s: %s %s %v", p, cid, key, ok)
	}
	for _, bad := range []string{TilePrefix, TilePrefix + "17/k", TilePrefix + "17//static", TilePrefix + "17/k/static/x", "/other"} {
		if _, _, ok := ParseTilePath(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
	if !IsService("//storageservice/schematizedstore.asmx") || !Handles(Path) {
		t.Error("service path")
	}
}
