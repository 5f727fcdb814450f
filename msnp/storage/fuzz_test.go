package storage

import (
	"net/http/httptest"
	"testing"
)

// FuzzRequest decodes arbitrary bodies: no panic, and what decodes names
// a known operation in a known namespace, within the stream bound.
func FuzzRequest(f *testing.F) {
	f.Add(RequestBody(Request{Operation: OpUpdateProfile, Ticket: "t=x&p=", ResourceID: "1!106", DisplayName: ptr("n")}))
	f.Add(RequestBody(Request{Operation: OpCreateDocument, Alias: "1", Document: &Document{Name: "n",
		Streams: []Stream{{Type: StreamUserTile, MimeType: "image/png", Data: []byte{1, 2}}}}}))
	f.Add([]byte(`<Envelope><Body><GetProfile xmlns="` + NamespaceW10 + `"/></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		if (r.Namespace != Namespace2008 && r.Namespace != NamespaceW10) || r.Operation == "" ||
			r.Document != nil && len(r.Document.Streams) > maxStreams {
			t.Fatalf("%q: %+v", body, r)
		}
	})
}

// FuzzResponse decodes arbitrary answers as the client library does.
func FuzzResponse(f *testing.F) {
	rec := httptest.NewRecorder()
	WriteProfile(rec, Namespace2008, User{CID: "1"}, Profile{DisplayName: "n", PictureURL: "u"})
	f.Add(rec.Body.Bytes())
	rec = httptest.NewRecorder()
	WriteDocuments(rec, Namespace2008, User{CID: "1"}, []DocumentInfo{{ResourceID: "1!205", Name: "n"}})
	f.Add(rec.Body.Bytes())
	rec = httptest.NewRecorder()
	WriteFault(rec, Namespace2008, OpGetProfile, &Fault{Code: FaultAuth, Message: "no"})
	f.Add(rec.Body.Bytes())
	f.Fuzz(func(t *testing.T, body []byte) { _, _ = ParseResponse(body) })
}
