package storage

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/internal/soap"
)

const envelopeStart = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
	`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`

// cacheKey is the AffinityCacheHeader every answer carries; clients echo
// it, and nothing here depends on it.
const cacheKey = "crosstalk"

type writer struct{ soap.Writer }

// User is who an answer's StorageUserHeader names: the account's cid and
// the ticket the request carried. Clients whose header is InOut (MSNPSharp)
// send the answer's header with their next request, so without the ticket
// in it they would call on with none.
type User struct{ CID, Ticket string }

// open starts an answer in namespace ns: the header and the body.
func open(ns string, u User) *writer {
	w := &writer{}
	w.WriteString(envelopeStart + `<soap:Header><AffinityCacheHeader xmlns="` + ns + `"><CacheKey>` + cacheKey +
		`</CacheKey></AffinityCacheHeader><StorageUserHeader xmlns="` + ns + `"><Puid>0</Puid>`)
	w.Elem("Cid", u.CID)
	w.Elem("TicketToken", u.Ticket)
	w.WriteString(`</StorageUserHeader></soap:Header><soap:Body>`)
	return w
}

func send(rw http.ResponseWriter, status int, w *writer) { soap.Send(rw, status, w.Bytes()) }

// dateTime is how the service writes times.
func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// Profile is what GetProfile answers.
type Profile struct {
	DisplayName    string
	PersonalStatus string
	Changed        time.Time
	// PictureURL is where the display picture is fetched, "" when there
	// is none; PictureType and PictureSize describe it.
	PictureURL  string
	PictureType string
	PictureSize int
}

// WriteProfile answers GetProfile in namespace ns.
func WriteProfile(rw http.ResponseWriter, ns string, u User, p Profile) {
	w := open(ns, u)
	changed := dateTime(p.Changed)
	w.WriteString(`<GetProfileResponse xmlns="` + ns + `"><GetProfileResult>`)
	w.Elem("ResourceID", ProfileID(u.CID))
	w.Elem("DateModified", changed)
	w.WriteString(`<ExpressionProfile>`)
	w.Elem("ResourceID", ExpressionID(u.CID))
	w.WriteString(`<Version>1</Version>`)
	w.Elem("DateModified", changed)
	if p.PictureURL != "" {
		w.WriteString(`<Photo>`)
		w.Elem("ResourceID", PhotoID(u.CID))
		w.Elem("Name", PhotoName)
		w.WriteString(`<DocumentStreams><DocumentStream>`)
		w.Elem("DocumentStreamName", StreamUserTile)
		w.Elem("MimeType", p.PictureType)
		w.Elem("DataSize", strconv.Itoa(p.PictureSize))
		w.Elem("PreAuthURL", p.PictureURL)
		w.WriteString(`<WriteMode>Overwrite</WriteMode><StreamVersion>1</StreamVersion><DocumentStreamType>` + StreamUserTile +
			`</DocumentStreamType><IsAliasForDefault>false</IsAliasForDefault></DocumentStream></DocumentStreams></Photo>`)
	}
	w.Elem("PersonalStatus", p.PersonalStatus)
	w.Elem("PersonalStatusLastModified", changed)
	w.Elem("DisplayName", p.DisplayName)
	w.Elem("DisplayNameLastModified", changed)
	if p.PictureURL != "" {
		w.Elem("StaticUserTilePublicURL", p.PictureURL)
	}
	w.WriteString(`</ExpressionProfile></GetProfileResult></GetProfileResponse></soap:Body></soap:Envelope>`)
	send(rw, http.StatusOK, w)
}

// WriteResult answers op in namespace ns with <opResult>result</opResult>,
// or with an empty <opResponse> when result is "".
func WriteResult(rw http.ResponseWriter, ns string, u User, op, result string) {
	w := open(ns, u)
	w.WriteString(`<` + op + `Response xmlns="` + ns + `">`)
	if result != "" {
		w.Elem(op+"Result", result)
	}
	w.WriteString(`</` + op + `Response></soap:Body></soap:Envelope>`)
	send(rw, http.StatusOK, w)
}

// DocumentInfo is one document FindDocuments lists.
type DocumentInfo struct{ ResourceID, Name string }

// WriteDocuments answers FindDocuments.
func WriteDocuments(rw http.ResponseWriter, ns string, u User, docs []DocumentInfo) {
	w := open(ns, u)
	w.WriteString(`<FindDocumentsResponse xmlns="` + ns + `"><FindDocumentsResult>`)
	for _, d := range docs {
		w.WriteString(`<Document xsi:type="Photo">`)
		w.Elem("ResourceID", d.ResourceID)
		w.Elem("Name", d.Name)
		w.WriteString(`</Document>`)
	}
	w.WriteString(`</FindDocumentsResult></FindDocumentsResponse></soap:Body></soap:Envelope>`)
	send(rw, http.StatusOK, w)
}

// Error codes of the faults, in detail/errorcode as the clients read them
// (aMSN tells ItemDoesNotExist, AccessDenied and ItemAlreadyExists apart).
const (
	FaultAuth           = "PassportAuthFail"
	FaultAccessDenied   = "AccessDenied"
	FaultItemNotFound   = "ItemDoesNotExist"
	FaultBadArgument    = "InvalidArgument"
	FaultQuotaExceeded  = "QuotaExceeded"
	FaultInternal       = "InternalError"
	faultCodeClient     = "soap:Client"
	faultCodeServer     = "soap:Server"
	faultActorNamespace = Namespace2008
)

// Fault is a decoded fault (see ParseResponse).
type Fault struct{ Code, Message string }

func (f *Fault) Error() string { return fmt.Sprintf("storage: fault %s: %s", f.Code, f.Message) }

// WriteFault answers a call that failed (HTTP 500, as SOAP 1.1 has it),
// in namespace ns ("" for a request too broken to have one).
func WriteFault(rw http.ResponseWriter, ns, op string, f *Fault) {
	if ns == "" {
		ns = faultActorNamespace
	}
	code := faultCodeClient
	if f.Code == FaultInternal {
		code = faultCodeServer
	}
	w := &writer{}
	w.WriteString(envelopeStart + `<soap:Body><soap:Fault>`)
	w.Elem("faultcode", code)
	w.Elem("faultstring", f.Message)
	w.Elem("faultactor", ns+"/"+op)
	w.WriteString(`<detail><errorcode xmlns="` + ns + `">`)
	w.Text(f.Code)
	w.WriteString(`</errorcode></detail></soap:Fault></soap:Body></soap:Envelope>`)
	send(rw, http.StatusInternalServerError, w)
}

// Response is what a client reads from an answer.
type Response struct {
	// Result is an operation's <…Result> text: the resource id
	// CreateProfile and CreateDocument made.
	Result string
	// Profile is GetProfile's answer (CID left empty).
	Profile   Profile
	ProfileID string
	Documents []DocumentInfo
}

type responseEnvelope struct {
	XMLName xml.Name
	Body    struct {
		Results []struct {
			XMLName xml.Name
			Inner   []struct {
				XMLName    xml.Name
				Text       string `xml:",chardata"`
				ResourceID string `xml:"ResourceID"`
				Expression struct {
					DisplayName    string `xml:"DisplayName"`
					PersonalStatus string `xml:"PersonalStatus"`
					Modified       string `xml:"DateModified"`
					Stream         struct {
						MimeType string `xml:"MimeType"`
						DataSize int    `xml:"DataSize"`
						URL      string `xml:"PreAuthURL"`
					} `xml:"Photo>DocumentStreams>DocumentStream"`
				} `xml:"ExpressionProfile"`
				Documents []DocumentInfo `xml:"Document"`
			} `xml:",any"`
		} `xml:",any"`
		Fault *struct {
			String string `xml:"faultstring"`
			Code   string `xml:"detail>errorcode"`
		} `xml:"Fault"`
	} `xml:"Body"`
}

// ParseResponse reads an answer; a fault is returned as a *Fault error.
func ParseResponse(body []byte) (Response, error) {
	var env responseEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" {
		return Response{}, fmt.Errorf("storage: malformed answer")
	}
	if f := env.Body.Fault; f != nil {
		return Response{}, &Fault{Code: strings.TrimSpace(f.Code), Message: f.String}
	}
	var r Response
	for _, res := range env.Body.Results {
		for _, in := range res.Inner {
			switch {
			case in.XMLName.Local == "GetProfileResult":
				e := in.Expression
				r.ProfileID = strings.TrimSpace(in.ResourceID)
				r.Profile = Profile{DisplayName: e.DisplayName, PersonalStatus: e.PersonalStatus,
					PictureURL: strings.TrimSpace(e.Stream.URL), PictureType: strings.TrimSpace(e.Stream.MimeType), PictureSize: e.Stream.DataSize}
				r.Profile.Changed, _ = time.Parse(time.RFC3339, strings.TrimSpace(e.Modified))
			case in.XMLName.Local == "FindDocumentsResult":
				r.Documents = in.Documents
			case strings.HasSuffix(in.XMLName.Local, "Result"):
				r.Result = strings.TrimSpace(in.Text)
			}
		}
	}
	return r, nil
}

// MaxAnswer bounds an answer a client reads; answers carry no pictures.
const MaxAnswer = 64 << 10

// Call posts r to url (the service's) and reads the answer.
func Call(ctx context.Context, hc *http.Client, url string, r Request) (Response, error) {
	ns := r.Namespace
	if ns == "" {
		ns = Namespace2008
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(RequestBody(r)))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", ns+"/"+r.Operation)
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return Response{}, err
	}
	return ParseResponse(body)
}
