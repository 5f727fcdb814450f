package abch

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The client's side: requests as MSNP13+ clients write them, and the
// answers read back.

// NewRequest writes a call of op with the ticket in ABAuthHeader; args
// are the operation's elements, built with the helpers below.
func NewRequest(op, ticket string, args ...string) []byte {
	var w writer
	w.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Header><ABApplicationHeader xmlns="` + Namespace + `">` +
		`<ApplicationId>CFE80F9D-180F-4399-82AB-413F33A1FA11</ApplicationId><IsMigration>false</IsMigration><PartnerScenario>Initial</PartnerScenario>` +
		`</ABApplicationHeader><ABAuthHeader xmlns="` + Namespace + `"><ManagedGroupRequest>false</ManagedGroupRequest>`)
	w.Elem("TicketToken", ticket)
	w.WriteString(`</ABAuthHeader></soap:Header><soap:Body><` + op + ` xmlns="` + Namespace + `">`)
	for _, a := range args {
		w.WriteString(a)
	}
	w.WriteString(`</` + op + `></soap:Body></soap:Envelope>`)
	return w.Bytes()
}

func escaped(s string) string {
	var w writer
	w.Text(s)
	return w.String()
}

// ContactArg names contacts by ID, or by e-mail when id is "".
func ContactArg(id, email string) string {
	if id != "" {
		return `<contacts><Contact><contactId>` + escaped(id) + `</contactId></Contact></contacts>`
	}
	return `<contacts><Contact><contactInfo><passportName>` + escaped(email) + `</passportName><isMessengerUser>true</isMessengerUser>` +
		`<contactType>LivePending</contactType></contactInfo></Contact></contacts>`
}

// MeDisplayNameArg renames the owner (ABContactUpdate of the Me contact).
func MeDisplayNameArg(name string) string {
	return `<contacts><Contact><contactInfo><contactType>Me</contactType><displayName>` + escaped(name) +
		`</displayName></contactInfo><propertiesChanged>DisplayName</propertiesChanged></Contact></contacts>`
}

// GroupFilterArg names groups by ID.
func GroupFilterArg(ids ...string) string {
	var b strings.Builder
	b.WriteString(`<groupFilter><groupIds>`)
	for _, id := range ids {
		b.WriteString(`<guid>` + escaped(id) + `</guid>`)
	}
	b.WriteString(`</groupIds></groupFilter>`)
	return b.String()
}

// NewGroupArg is ABGroupAdd's group.
func NewGroupArg(name string) string {
	return `<groupAddOptions><fRenameOnMsgrConflict>false</fRenameOnMsgrConflict></groupAddOptions><groupInfo><GroupInfo><name>` +
		escaped(name) + `</name><groupType>` + GroupType + `</groupType><fMessenger>false</fMessenger></GroupInfo></groupInfo>`
}

// GroupUpdateArg renames a group.
func GroupUpdateArg(id, name string) string {
	return `<groups><Group><groupId>` + escaped(id) + `</groupId><groupInfo><name>` + escaped(name) +
		`</name></groupInfo><propertiesChanged>GroupName</propertiesChanged></Group></groups>`
}

// MemberArg is AddMember's or DeleteMember's one member of role.
func MemberArg(role, email string) string {
	return `<serviceHandle><Id>0</Id><Type>Messenger</Type><ForeignId></ForeignId></serviceHandle><memberships><Membership><MemberRole>` +
		escaped(role) + `</MemberRole><Members><Member xsi:type="PassportMember"><Type>Passport</Type><State>Accepted</State><PassportName>` +
		escaped(email) + `</PassportName></Member></Members></Membership></memberships>`
}

// FullViewArg asks for everything, not deltas.
const FullViewArg = `<View>Full</View><deltasOnly>false</deltasOnly>`

type responseXML struct {
	Body struct {
		Fault *struct {
			String string `xml:"faultstring"`
			Code   string `xml:"detail>errorcode"`
		} `xml:"Fault"`
		Membership []struct {
			Role    string `xml:"MemberRole"`
			Members []struct {
				Type    string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				Email   string `xml:"PassportName"`
				Name    string `xml:"DisplayName"`
				CID     string `xml:"CID"`
				ID      string `xml:"MembershipId"`
				Deleted string `xml:"Deleted"`
				Changed string `xml:"LastChanged"`
			} `xml:"Members>Member"`
		} `xml:"FindMembershipResponse>FindMembershipResult>Services>Service>Memberships>Membership"`
		MembershipChange string `xml:"FindMembershipResponse>FindMembershipResult>Services>Service>LastChange"`
		Inner            []byte `xml:",innerxml"`
	} `xml:"Body"`
}

type bookXML struct {
	Groups   []groupXML   `xml:"groups>Group"`
	GroupsP  []groupXML   `xml:"Groups>Group"`
	Contacts []contactOut `xml:"contacts>Contact"`
	ContactP []contactOut `xml:"Contacts>Contact"`
	ABID     string       `xml:"ab>abId"`
	ABIDP    string       `xml:"Ab>abId"`
	Changed  string       `xml:"ab>lastChange"`
	ChangedP string       `xml:"Ab>lastChange"`
	Guid     string       `xml:"guid"`
}

type contactOut struct {
	ID   string `xml:"contactId"`
	Info struct {
		Type        string   `xml:"contactType"`
		Email       string   `xml:"passportName"`
		DisplayName string   `xml:"displayName"`
		CID         string   `xml:"CID"`
		Messenger   string   `xml:"isMessengerUser"`
		GroupIDs    []string `xml:"groupIds>guid"`
	} `xml:"contactInfo"`
	Deleted string `xml:"fDeleted"`
	Changed string `xml:"lastChange"`
}

// ErrBadResponse is returned for an answer that is not a SOAP envelope.
var ErrBadResponse = errors.New("abch: malformed SOAP response")

// ParseResponse reads an answer into b: memberships from FindMembership,
// groups, contacts (Me separately) and abId from the address book, and
// returns the guid of a change's result (ABAdd's result itself). A fault
// is returned as *Fault.
func ParseResponse(body []byte, b *Book) (guid string, err error) {
	var r responseXML
	if err := xml.Unmarshal(body, &r); err != nil {
		return "", ErrBadResponse
	}
	if f := r.Body.Fault; f != nil {
		return "", &Fault{Code: strings.TrimSpace(f.Code), Message: f.String}
	}
	for _, m := range r.Body.Membership {
		ms := Membership{Role: m.Role}
		for _, x := range m.Members {
			if x.Type != "PassportMember" {
				continue
			}
			ms.Members = append(ms.Members, Member{Email: x.Email, Name: x.Name, CID: x.CID, MembershipID: strings.TrimSpace(x.ID),
				Deleted: isTrue(x.Deleted), Changed: ParseTime(x.Changed)})
		}
		b.Memberships = append(b.Memberships, ms)
	}
	if r.Body.MembershipChange != "" {
		b.Changed = ParseTime(r.Body.MembershipChange)
	}
	// The result element is the response's only child.
	d := xml.NewDecoder(bytes.NewReader(r.Body.Inner))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", ErrBadResponse
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local == "ABAddResponse" {
			var v struct {
				Result string `xml:"ABAddResult"`
			}
			if err := d.DecodeElement(&v, &start); err != nil {
				return "", ErrBadResponse
			}
			return strings.TrimSpace(v.Result), nil
		}
		var v struct {
			Result bookXML `xml:",any"`
		}
		if err := d.DecodeElement(&v, &start); err != nil {
			return "", ErrBadResponse
		}
		x := v.Result
		for _, g := range append(x.Groups, x.GroupsP...) {
			b.Groups = append(b.Groups, Group{ID: strings.TrimSpace(g.ID), Name: g.Name, Deleted: isTrue(g.Deleted), Changed: ParseTime(g.Changed)})
		}
		for _, c := range append(x.Contacts, x.ContactP...) {
			contact := Contact{ID: strings.TrimSpace(c.ID), Email: c.Info.Email, DisplayName: c.Info.DisplayName, Type: c.Info.Type,
				CID: c.Info.CID, GroupIDs: trimAll(c.Info.GroupIDs), IsMessenger: c.Info.Messenger == "true",
				Deleted: isTrue(c.Deleted), Changed: ParseTime(c.Changed)}
			if contact.Type == "Me" {
				b.Me = contact
			} else {
				b.Contacts = append(b.Contacts, contact)
			}
		}
		if b.ABID = x.ABID; b.ABID == "" {
			b.ABID = x.ABIDP
		}
		if changed := x.Changed + x.ChangedP; changed != "" {
			b.Changed = ParseTime(changed)
		}
		return strings.TrimSpace(x.Guid), nil
	}
}

// Apply brings a client's copy up to date with answers of deltas: the
// memberships FindMembership gave and the book the address book gave.
// What they mark deleted goes, the rest replaces what the copy had under
// the same ID (contacts, groups) or address (members) or joins it.
func (b *Book) Apply(members, book Book) *Book {
	out := *b
	out.Me, out.ABID = book.Me, book.ABID
	out.Changed, out.MembershipsChanged = book.Changed, members.Changed
	out.Groups = applyItems(b.Groups, book.Groups, func(g Group) (string, bool) { return g.ID, g.Deleted })
	out.Contacts = applyItems(b.Contacts, book.Contacts, func(c Contact) (string, bool) { return c.ID, c.Deleted })
	out.Memberships = nil
	roles := map[string]int{}
	for _, m := range b.Memberships {
		roles[m.Role] = len(out.Memberships)
		out.Memberships = append(out.Memberships, m)
	}
	for _, m := range members.Memberships {
		i, ok := roles[m.Role]
		if !ok {
			i = len(out.Memberships)
			roles[m.Role] = i
			out.Memberships = append(out.Memberships, Membership{Role: m.Role})
		}
		out.Memberships[i].Members = applyItems(out.Memberships[i].Members, m.Members,
			func(x Member) (string, bool) { return strings.ToLower(x.Email), x.Deleted })
	}
	return &out
}

// applyItems applies changes to items, each named by key, which also
// says whether the change deletes it.
func applyItems[T any](items, changes []T, key func(T) (string, bool)) []T {
	out := slices.Clone(items)
	for _, ch := range changes {
		k, deleted := key(ch)
		i := slices.IndexFunc(out, func(x T) bool { id, _ := key(x); return id == k })
		switch {
		case deleted && i >= 0:
			out = slices.Delete(out, i, i+1)
		case deleted:
		case i >= 0:
			out[i] = ch
		default:
			out = append(out, ch)
		}
	}
	return out
}

func isTrue(s string) bool { return strings.TrimSpace(s) == "true" }

// DeltasArg asks FindMembership or ABFindAll (deltasOnly, lastChange) or
// ABFindContactsPaged (its filterOptions) for what changed after since,
// the lastChange of the answer the caller's copy came from.
func DeltasArg(op string, since time.Time) string {
	when := escaped(since.Format(timeFormat))
	if op == "ABFindContactsPaged" {
		return `<filterOptions><DeltasOnly>true</DeltasOnly><LastChanged>` + when + `</LastChanged><ContactFilter><IncludeHiddenContacts>true</IncludeHiddenContacts></ContactFilter></filterOptions>`
	}
	return `<View>Full</View><deltasOnly>true</deltasOnly><lastChange>` + when + `</lastChange>`
}

// Call posts a request to url (a service's) and reads the answer into b.
func Call(ctx context.Context, hc *http.Client, url, op string, request []byte, b *Book) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(request))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", "http://www.msn.com/webservices/AddressBook/"+op)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4*MaxBody))
	if err != nil {
		return "", err
	}
	return ParseResponse(body, b)
}
