// Package abch is the SOAP encoding of MSN's address book and sharing
// services (ABCH, spec msnp8-18 §3c) that MSNP13+ clients load and edit
// their lists with: requests decoded into Request, answers written from a
// Book. What the operations do is the caller's (msnp/server).
package abch

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"time"
)

// Paths and host names of the services.
const (
	SharingPath     = "/abservice/SharingService.asmx"
	AddressBookPath = "/abservice/abservice.asmx"
	// Namespace of every request and answer body.
	Namespace = "http://www.msn.com/webservices/AddressBook"
)

// Host is the services' host; RedirectHost their redirector, which
// MSNPSharp calls first to learn where they are (answered with a redirect
// to Host).
const (
	Host         = "contacts.msn.com"
	RedirectHost = "byrdr.omega.contacts.msn.com"
)

// Hosts clients reach the services at: Pidgin uses local-bay, MSNPSharp
// the redirector first.
var Hosts = []string{Host, "local-bay.contacts.msn.com", RedirectHost}

// Operations of the sharing service; the others are the address book's.
var sharingOperations = []string{"FindMembership", "AddMember", "DeleteMember"}

var addressBookOperations = []string{"ABFindAll", "ABFindContactsPaged", "ABContactAdd", "ABContactDelete",
	"ABContactUpdate", "ABGroupAdd", "ABGroupDelete", "ABGroupUpdate", "ABGroupContactAdd", "ABGroupContactDelete", "ABAdd",
	"AddDynamicItem", "UpdateDynamicItem"}

// Serves reports whether the service at path has operation op.
func Serves(path, op string) bool {
	for _, o := range operationsAt(path) {
		if o == op {
			return true
		}
	}
	return false
}

// operationsAt lists the operations of the service at path. Pidgin asks
// for "//abservice/…": leading slashes count as one.
func operationsAt(path string) []string {
	switch strings.ToLower("/" + strings.TrimLeft(path, "/")) {
	case strings.ToLower(SharingPath):
		return sharingOperations
	case strings.ToLower(AddressBookPath):
		return addressBookOperations
	}
	return nil
}

// Handles reports whether path is one of the services'.
func Handles(path string) bool { return operationsAt(path) != nil }

// Request is one decoded SOAP call.
type Request struct {
	// Operation is the local name of the body's first element.
	Operation string
	// Ticket is ABAuthHeader/TicketToken: the contacts.msn.com ticket.
	Ticket string
	// DeltasOnly: the client asks only for what changed after LastChange,
	// the lastChange of the answer its copy came from (zero when it sent
	// none, or none that reads as a time).
	DeltasOnly bool
	LastChange time.Time
	Contacts   []Contact // contacts/Contact
	// GroupIDs are groupFilter/groupIds/guid.
	GroupIDs []string
	// Groups are groups/Group (ABGroupUpdate) or the one group of
	// ABGroupAdd's groupInfo (without an ID).
	Groups      []Group
	Memberships []Membership // memberships/Membership
}

// Contact is a contact in a request or a Book.
type Contact struct {
	ID          string // contactId
	Email       string // passportName
	DisplayName string
	// Type is contactType: Me for the owner, Regular/Live/LivePending
	// for others.
	Type        string
	CID         string
	GroupIDs    []string
	IsMessenger bool
	// Deleted marks, in an answer of deltas, a contact that left the
	// address book (fDeleted); Changed is when it last changed (zero:
	// the book's lastChange).
	Deleted bool
	Changed time.Time
}

// Group is a forward-list group.
type Group struct {
	ID, Name string
	// Deleted and Changed as a Contact's.
	Deleted bool
	Changed time.Time
}

// Membership is one role's members: Allow, Block, Reverse or Pending.
type Membership struct {
	Role    string
	Members []Member
}

// Member is a Passport member of a role. In requests either Email or
// MembershipID names it.
type Member struct {
	Email        string
	MembershipID string
	CID          string
	// Name is the member's display name, sent as an annotation.
	Name string
	// Deleted marks, in an answer of deltas, a member that left the role;
	// Changed is when it last changed (zero: the service's LastChange).
	Deleted bool
	Changed time.Time
}

// maxItems bounds the contacts, groups and members of one request; clients
// send one at a time.
const maxItems = 256

// MaxBody bounds a request body.
const MaxBody = 256 << 10

// ErrBadRequest is returned for a body that is not a SOAP envelope with an
// operation in its body.
var ErrBadRequest = errors.New("abch: malformed SOAP request")

type envelopeXML struct {
	XMLName xml.Name `xml:"Envelope"`
	Ticket  string   `xml:"Header>ABAuthHeader>TicketToken"`
	Body    struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

type contactXML struct {
	ID   string `xml:"contactId"`
	Info struct {
		PassportName    string   `xml:"passportName"`
		DisplayName     string   `xml:"displayName"`
		ContactType     string   `xml:"contactType"`
		IsMessengerUser string   `xml:"isMessengerUser"`
		GroupIDs        []string `xml:"groupIds>guid"`
	} `xml:"contactInfo"`
}

type operationXML struct {
	XMLName    xml.Name
	DeltasOnly string `xml:"deltasOnly"`
	LastChange string `xml:"lastChange"`
	// ABFindContactsPaged (WLM 2009) asks in its filterOptions.
	Filter struct {
		DeltasOnly string `xml:"DeltasOnly"`
		LastChange string `xml:"LastChanged"`
	} `xml:"filterOptions"`
	Contacts    []contactXML `xml:"contacts>Contact"`
	GroupIDs    []string     `xml:"groupFilter>groupIds>guid"`
	NewGroup    string       `xml:"groupInfo>GroupInfo>name"`
	Groups      []groupXML   `xml:"groups>Group"`
	Memberships []struct {
		Role    string `xml:"MemberRole"`
		Members []struct {
			PassportName string `xml:"PassportName"`
			MembershipID string `xml:"MembershipId"`
		} `xml:"Members>Member"`
	} `xml:"memberships>Membership"`
}

type groupXML struct {
	ID      string `xml:"groupId"`
	Name    string `xml:"groupInfo>name"`
	Deleted string `xml:"fDeleted"`   // answers only
	Changed string `xml:"lastChange"` // answers only
}

// ParseRequest decodes a request body.
func ParseRequest(body []byte) (Request, error) {
	var env envelopeXML
	if err := xml.Unmarshal(body, &env); err != nil {
		return Request{}, ErrBadRequest
	}
	var op operationXML
	d := xml.NewDecoder(bytes.NewReader(env.Body.Inner))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return Request{}, ErrBadRequest
		}
		if err != nil {
			return Request{}, ErrBadRequest
		}
		if start, ok := tok.(xml.StartElement); ok {
			if err := d.DecodeElement(&op, &start); err != nil {
				return Request{}, ErrBadRequest
			}
			break
		}
	}
	r := Request{
		Operation:  op.XMLName.Local,
		Ticket:     strings.TrimSpace(env.Ticket),
		DeltasOnly: strings.TrimSpace(op.DeltasOnly) == "true" || strings.TrimSpace(op.Filter.DeltasOnly) == "true",
		GroupIDs:   trimAll(op.GroupIDs),
	}
	if r.DeltasOnly {
		last := op.LastChange
		if last == "" {
			last = op.Filter.LastChange
		}
		r.LastChange = ParseTime(last)
	}
	for _, c := range op.Contacts {
		r.Contacts = append(r.Contacts, Contact{
			ID: strings.TrimSpace(c.ID), Email: strings.TrimSpace(c.Info.PassportName), DisplayName: c.Info.DisplayName,
			Type: strings.TrimSpace(c.Info.ContactType), GroupIDs: trimAll(c.Info.GroupIDs),
			IsMessenger: strings.TrimSpace(c.Info.IsMessengerUser) != "false",
		})
	}
	if name := op.NewGroup; name != "" {
		r.Groups = append(r.Groups, Group{Name: name})
	}
	for _, g := range op.Groups {
		r.Groups = append(r.Groups, Group{ID: strings.TrimSpace(g.ID), Name: g.Name})
	}
	members := 0
	for _, m := range op.Memberships {
		ms := Membership{Role: strings.TrimSpace(m.Role)}
		for _, x := range m.Members {
			ms.Members = append(ms.Members, Member{Email: strings.TrimSpace(x.PassportName), MembershipID: strings.TrimSpace(x.MembershipID)})
		}
		members += len(ms.Members)
		r.Memberships = append(r.Memberships, ms)
	}
	if r.Operation == "" || len(r.Contacts) > maxItems || len(r.Groups) > maxItems || len(r.GroupIDs) > maxItems || members > maxItems {
		return Request{}, ErrBadRequest
	}
	return r, nil
}

// ParseTime reads a time as the services write it (timeFormat) or as
// clients send it back: with or without a fraction of a second and a zone
// (none means UTC), in UTC. It is zero for anything else.
func ParseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func trimAll(s []string) []string {
	for i := range s {
		s[i] = strings.TrimSpace(s[i])
	}
	return s
}
