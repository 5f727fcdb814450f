package storage

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
)

// ErrBadRequest is returned for a body that is not a call of the service:
// not XML, not a SOAP envelope, no or several operations, an unknown one,
// or a field it needs missing or malformed.
var ErrBadRequest = errors.New("storage: malformed request")

// Request is one decoded call.
type Request struct {
	// Namespace is that of the operation's element; the answer uses it.
	Namespace string
	// Operation is the local name of the body's element.
	Operation string
	// Ticket is StorageUserHeader/TicketToken: the storage ticket.
	Ticket string
	// Alias is the cid the call's handle names (GetProfile's profile,
	// FindDocuments' and CreateDocument's parent); "" when it names none.
	Alias string
	// ResourceID is the item UpdateProfile or ShareItem names, or
	// UpdateDocument's document.
	ResourceID string
	// DisplayName and PersonalStatus are UpdateProfile's changes; nil
	// leaves the field as it is.
	DisplayName, PersonalStatus *string
	// Document is what CreateDocument and UpdateDocument write.
	Document *Document
}

// Document is a document of CreateDocument and UpdateDocument.
type Document struct {
	Name    string
	Streams []Stream
}

// Stream is one of a document's streams: for a display picture the
// UserTileStatic stream holds the image.
type Stream struct {
	Type     string // DocumentStreamType
	MimeType string // as the client wrote it: image/png, or png (aMSN)
	Data     []byte
}

// StreamUserTile is the stream type of a display picture's image.
const StreamUserTile = "UserTileStatic"

// maxStreams bounds a document's streams; clients send one or two.
const maxStreams = 8

type handle struct {
	Alias string `xml:"Alias>Name"`
}

type envelope struct {
	XMLName xml.Name
	Ticket  string `xml:"Header>StorageUserHeader>TicketToken"`
	Body    struct {
		Ops []struct {
			XMLName       xml.Name
			ProfileHandle handle `xml:"profileHandle"`
			ObjectHandle  handle `xml:"objectHandle"`
			ParentHandle  handle `xml:"parentHandle"`
			ResourceIDLow string `xml:"resourceID"`
			Profile       struct {
				ResourceID string `xml:"ResourceID"`
				Expression *struct {
					DisplayName    *string `xml:"DisplayName"`
					PersonalStatus *string `xml:"PersonalStatus"`
				} `xml:"ExpressionProfile"`
			} `xml:"profile"`
			Document *struct {
				ResourceID string `xml:"ResourceID"`
				Name       string `xml:"Name"`
				Streams    []struct {
					Type     string `xml:"DocumentStreamType"`
					MimeType string `xml:"MimeType"`
					Data     string `xml:"Data"`
				} `xml:"DocumentStreams>DocumentStream"`
			} `xml:"document"`
		} `xml:",any"`
	} `xml:"Body"`
}

// ParseRequest decodes a call.
func ParseRequest(body []byte) (Request, error) {
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" || len(env.Body.Ops) != 1 {
		return Request{}, ErrBadRequest
	}
	op := env.Body.Ops[0]
	r := Request{Namespace: op.XMLName.Space, Operation: op.XMLName.Local, Ticket: strings.TrimSpace(env.Ticket)}
	if !slices.Contains(operations, r.Operation) || (r.Namespace != Namespace2008 && r.Namespace != NamespaceW10) {
		return Request{}, ErrBadRequest
	}
	for _, a := range []string{op.ProfileHandle.Alias, op.ObjectHandle.Alias, op.ParentHandle.Alias} {
		if a = strings.TrimSpace(a); a != "" && r.Alias == "" {
			r.Alias = a
		}
	}
	switch r.Operation {
	case OpUpdateProfile:
		r.ResourceID = strings.TrimSpace(op.Profile.ResourceID)
		if e := op.Profile.Expression; e != nil {
			r.DisplayName, r.PersonalStatus = e.DisplayName, e.PersonalStatus
		}
	case OpShareItem:
		r.ResourceID = strings.TrimSpace(op.ResourceIDLow)
	case OpCreateDocument, OpUpdateDocument:
		d := op.Document
		if d == nil || len(d.Streams) == 0 || len(d.Streams) > maxStreams {
			return Request{}, ErrBadRequest
		}
		r.ResourceID = strings.TrimSpace(d.ResourceID)
		r.Document = &Document{Name: strings.TrimSpace(d.Name)}
		for _, s := range d.Streams {
			data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s.Data), ""))
			if err != nil {
				return Request{}, ErrBadRequest
			}
			r.Document.Streams = append(r.Document.Streams, Stream{Type: strings.TrimSpace(s.Type),
				MimeType: strings.TrimSpace(s.MimeType), Data: data})
		}
	}
	return r, nil
}

// Picture is the image of a document's UserTileStatic stream, or nil.
func (d *Document) Picture() *Stream {
	if d == nil {
		return nil
	}
	for i := range d.Streams {
		if d.Streams[i].Type == StreamUserTile {
			return &d.Streams[i]
		}
	}
	return nil
}

// RequestBody is a call as WLM 2009 sends it, in the 2008 namespace
// unless r names another; r.Ticket goes in the header.
func RequestBody(r Request) []byte {
	ns := r.Namespace
	if ns == "" {
		ns = Namespace2008
	}
	var w writer
	w.WriteString(envelopeStart + `<soap:Header><StorageApplicationHeader xmlns="` + ns + `"><ApplicationID>Messenger Client 9.0</ApplicationID>` +
		`<Scenario>Initial</Scenario></StorageApplicationHeader><StorageUserHeader xmlns="` + ns + `"><Puid>0</Puid>`)
	w.Elem("TicketToken", r.Ticket)
	w.WriteString(`</StorageUserHeader></soap:Header><soap:Body><` + r.Operation + ` xmlns="` + ns + `">`)
	alias := func(tag, relationship string) {
		w.WriteString("<" + tag + ">")
		if relationship != "" {
			w.Elem("RelationshipName", relationship)
		}
		w.WriteString(`<Alias>`)
		w.Elem("Name", r.Alias)
		w.WriteString(`<NameSpace>MyCidStuff</NameSpace></Alias></` + tag + ">")
	}
	switch r.Operation {
	case OpGetProfile:
		alias("profileHandle", "")
		w.WriteString(`<profileAttributes><ResourceID>true</ResourceID><DateModified>true</DateModified><ExpressionProfileAttributes>` +
			`<ResourceID>true</ResourceID><DateModified>true</DateModified><DisplayName>true</DisplayName><DisplayNameLastModified>true</DisplayNameLastModified>` +
			`<PersonalStatus>true</PersonalStatus><PersonalStatusLastModified>true</PersonalStatusLastModified><StaticUserTilePublicURL>true</StaticUserTilePublicURL>` +
			`<Photo>true</Photo><Flags>true</Flags></ExpressionProfileAttributes></profileAttributes>`)
	case OpUpdateProfile:
		w.WriteString(`<profile>`)
		w.Elem("ResourceID", r.ResourceID)
		w.WriteString(`<ExpressionProfile><FreeText>Update</FreeText>`)
		if r.DisplayName != nil {
			w.Elem("DisplayName", *r.DisplayName)
		}
		if r.PersonalStatus != nil {
			w.Elem("PersonalStatus", *r.PersonalStatus)
		}
		w.WriteString(`<Flags>0</Flags></ExpressionProfile></profile>`)
	case OpFindDocuments:
		alias("objectHandle", "/UserTiles")
		w.WriteString(`<documentAttributes><ResourceID>true</ResourceID><Name>true</Name></documentAttributes>` +
			`<documentFilter><FilterAttributes>None</FilterAttributes></documentFilter><documentSort><SortBy>DateModified</SortBy></documentSort>` +
			`<findContext><FindMethod>Default</FindMethod><ChunkSize>25</ChunkSize></findContext>`)
	case OpCreateDocument, OpUpdateDocument:
		if r.Operation == OpCreateDocument {
			alias("parentHandle", "/UserTiles")
		}
		w.WriteString(`<document xsi:type="Photo">`)
		if r.ResourceID != "" {
			w.Elem("ResourceID", r.ResourceID)
		}
		if r.Document != nil {
			w.Elem("Name", r.Document.Name)
			w.WriteString(`<DocumentStreams>`)
			for _, s := range r.Document.Streams {
				w.WriteString(`<DocumentStream xsi:type="PhotoStream">`)
				w.Elem("DocumentStreamType", s.Type)
				w.Elem("MimeType", s.MimeType)
				w.Elem("Data", base64.StdEncoding.EncodeToString(s.Data))
				w.WriteString(`<DataSize>0</DataSize></DocumentStream>`)
			}
			w.WriteString(`</DocumentStreams>`)
		}
		w.WriteString(`</document>`)
		if r.Operation == OpCreateDocument {
			w.WriteString(`<relationshipName>Messenger User Tile</relationshipName>`)
		}
	case OpShareItem:
		w.Elem("resourceID", r.ResourceID)
		w.WriteString(`<displayName>Messenger Roaming Identity</displayName>`)
	case OpCreateProfile:
		w.WriteString(`<profile><ExpressionProfile><PersonalStatus/><RoleDefinitionName>ExpressionProfileDefault</RoleDefinitionName></ExpressionProfile></profile>`)
	}
	w.WriteString(`</` + r.Operation + `></soap:Body></soap:Envelope>`)
	return w.Bytes()
}
