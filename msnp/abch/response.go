package abch

import (
	"fmt"
	"net/http"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/internal/soap"
)

// Book is what an address book holds for the answers to FindMembership,
// ABFindAll and ABFindContactsPaged.
type Book struct {
	// Me is the owner, answered as the contact of type Me.
	Me Contact
	// ABID names the address book (abId).
	ABID     string
	Groups   []Group
	Contacts []Contact
	// Memberships are the sharing service's roles (Allow, Block,
	// Reverse, Pending).
	Memberships []Membership
	// Changed is when the lists last changed, written as lastChange.
	Changed time.Time
	// MembershipsChanged is the memberships' LastChange where a client
	// keeps both answers in one Book (see Apply); the services write
	// Changed.
	MembershipsChanged time.Time
}

// GroupType is the groupType of ordinary contact groups.
const GroupType = "c8529ce2-6ead-434d-881f-341e17db3ff8"

// timeFormat is how the services write times, lastChange among them.
const timeFormat = "2006-01-02T15:04:05.0000000-07:00"

// changedText is an item's time of change, or the answer's own.
func changedText(item time.Time, answer string) string {
	if item.IsZero() {
		return answer
	}
	return item.Format(timeFormat)
}

type writer struct{ soap.Writer }

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// open starts the envelope with the ServiceHeader clients keep.
func (w *writer) open(cacheKey string) {
	w.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		`<soap:Header><ServiceHeader xmlns="` + Namespace + `"><Version>15.01.1408.0000</Version><CacheKey>`)
	w.Text(cacheKey)
	w.WriteString(`</CacheKey><CacheKeyChanged>true</CacheKeyChanged><PreferredHostName>local-bay.contacts.msn.com</PreferredHostName>` +
		`<SessionId>`)
	w.Text(cacheKey)
	w.WriteString(`</SessionId></ServiceHeader></soap:Header><soap:Body>`)
}

func (w *writer) close() { w.WriteString(`</soap:Body></soap:Envelope>`) }

func send(rw http.ResponseWriter, status int, w *writer) { soap.Send(rw, status, w.Bytes()) }

// WriteFindMembership answers FindMembership with the Messenger service's
// roles. Every member carries xsi:type="PassportMember" (Pidgin reads it
// without checking).
func WriteFindMembership(rw http.ResponseWriter, cacheKey string, b Book) {
	var w writer
	w.open(cacheKey)
	changed := b.Changed.Format(timeFormat)
	w.WriteString(`<FindMembershipResponse xmlns="` + Namespace + `"><FindMembershipResult><Services><Service><Memberships>`)
	for _, m := range b.Memberships {
		w.WriteString(`<Membership>`)
		w.Elem("MemberRole", m.Role)
		w.WriteString(`<Members>`)
		for _, x := range m.Members {
			w.WriteString(`<Member xsi:type="PassportMember">`)
			// A number, as the service's were: MSNPSharp parses it as one
			// (and could not accept a pending contact while it read
			// "Pending/<cid>"); Pidgin reads it with atoi.
			w.Elem("MembershipId", x.CID)
			w.WriteString(`<Type>Passport</Type>`)
			if x.Name != "" {
				w.Elem("DisplayName", x.Name)
			}
			w.WriteString(`<State>Accepted</State>`)
			w.Elem("Deleted", boolText(x.Deleted))
			when := changedText(x.Changed, changed)
			w.Elem("LastChanged", when)
			w.Elem("JoinedDate", when)
			w.WriteString(`<ExpirationDate>0001-01-01T00:00:00</ExpirationDate><Changes />`)
			w.Elem("PassportName", x.Email)
			w.WriteString(`<IsPassportNameHidden>false</IsPassportNameHidden><PassportId>0</PassportId>`)
			w.Elem("CID", x.CID)
			w.WriteString(`<PassportChanges /></Member>`)
		}
		w.WriteString(`</Members><MembershipIsComplete>true</MembershipIsComplete></Membership>`)
	}
	w.WriteString(`</Memberships><Info><Handle><Id>1</Id><Type>Messenger</Type><ForeignId /></Handle><InverseRequired>false</InverseRequired>` +
		`<AuthorizationCriteria>Everyone</AuthorizationCriteria><IsBot>false</IsBot></Info><Changes />`)
	w.Elem("LastChange", changed)
	w.WriteString(`<Deleted>false</Deleted></Service></Services></FindMembershipResult></FindMembershipResponse>`)
	w.close()
	send(rw, http.StatusOK, &w)
}

// WriteAddressBook answers ABFindAll (lower-case groups, contacts, ab, as
// WLM 8.x reads them) or ABFindContactsPaged (Groups, Contacts, Ab).
func WriteAddressBook(rw http.ResponseWriter, cacheKey, op string, b Book) {
	groups, contacts, ab := "Groups", "Contacts", "Ab"
	if op == "ABFindAll" {
		groups, contacts, ab = "groups", "contacts", "ab"
	}
	var w writer
	w.open(cacheKey)
	changed := b.Changed.Format(timeFormat)
	w.WriteString("<" + op + `Response xmlns="` + Namespace + `"><` + op + "Result><" + groups + ">")
	for _, g := range b.Groups {
		w.WriteString(`<Group>`)
		w.Elem("groupId", g.ID)
		w.WriteString(`<groupInfo><groupType>` + GroupType + `</groupType>`)
		w.Elem("name", g.Name)
		w.WriteString(`<IsNotMobileVisible>false</IsNotMobileVisible><IsPrivate>false</IsPrivate><IsFavorite>false</IsFavorite></groupInfo><propertiesChanged />`)
		w.Elem("fDeleted", boolText(g.Deleted))
		w.Elem("lastChange", changedText(g.Changed, changed))
		w.WriteString(`</Group>`)
	}
	w.WriteString("</" + groups + "><" + contacts + ">")
	w.contact(b.Me, changed)
	for _, c := range b.Contacts {
		w.contact(c, changed)
	}
	w.WriteString("</" + contacts + "><" + ab + ">")
	w.Elem("abId", b.ABID)
	w.WriteString(`<abInfo><ownerPuid>0</ownerPuid>`)
	w.Elem("OwnerCID", b.Me.CID)
	w.Elem("ownerEmail", b.Me.Email)
	w.WriteString(`<fDefault>true</fDefault><joinedNamespace>false</joinedNamespace><IsBot>false</IsBot><IsParentManaged>false</IsParentManaged>` +
		`<SubscribeExternalPartner>false</SubscribeExternalPartner><NotifyExternalPartner>false</NotifyExternalPartner><AddressBookType>Individual</AddressBookType></abInfo>`)
	w.Elem("lastChange", changed)
	w.Elem("DynamicItemLastChanged", changed)
	w.Elem("createDate", changed)
	w.WriteString("<propertiesChanged /></" + ab + "></" + op + "Result></" + op + "Response>")
	w.close()
	send(rw, http.StatusOK, &w)
}

func (w *writer) contact(c Contact, changed string) {
	w.WriteString(`<Contact>`)
	w.Elem("contactId", c.ID)
	w.WriteString(`<contactInfo>`)
	if c.Type == "Me" {
		// Clients read from the Me contact that the account may be
		// signed in at several places.
		w.WriteString(`<annotations><Annotation><Name>MSN.IM.MPOP</Name><Value>1</Value></Annotation></annotations>`)
	}
	if len(c.GroupIDs) > 0 {
		w.WriteString(`<groupIds>`)
		for _, g := range c.GroupIDs {
			w.Elem("guid", g)
		}
		w.WriteString(`</groupIds>`)
	}
	w.Elem("contactType", c.Type)
	w.Elem("quickName", c.DisplayName)
	w.Elem("passportName", c.Email)
	w.WriteString(`<IsPassportNameHidden>false</IsPassportNameHidden>`)
	w.Elem("displayName", c.DisplayName)
	w.WriteString(`<puid>0</puid>`)
	w.Elem("CID", c.CID)
	w.WriteString(`<IsNotMobileVisible>false</IsNotMobileVisible><isMobileIMEnabled>false</isMobileIMEnabled>`)
	w.Elem("isMessengerUser", boolText(c.IsMessenger))
	w.WriteString(`<isFavorite>false</isFavorite><isSmtp>false</isSmtp><hasSpace>false</hasSpace><spotWatchState>NoDevice</spotWatchState>` +
		`<birthdate>0001-01-01T00:00:00</birthdate><primaryEmailType>ContactEmailPersonal</primaryEmailType><PrimaryLocation>ContactLocationPersonal</PrimaryLocation>` +
		`<PrimaryPhone>ContactPhonePersonal</PrimaryPhone><IsPrivate>false</IsPrivate><Gender>Unspecified</Gender><TimeZone>None</TimeZone></contactInfo><propertiesChanged />`)
	w.Elem("fDeleted", boolText(c.Deleted))
	w.Elem("lastChange", changedText(c.Changed, changed))
	w.WriteString(`</Contact>`)
}

// WriteResult answers a change: <op>Response, with <op>Result holding a
// guid when the operation made or named one (ABContactAdd, ABGroupAdd,
// ABGroupContactAdd; ABAdd's result is the guid itself).
func WriteResult(rw http.ResponseWriter, cacheKey, op, guid string) {
	var w writer
	w.open(cacheKey)
	w.WriteString("<" + op + `Response xmlns="` + Namespace + `">`)
	switch {
	case op == "ABAdd":
		w.Elem("ABAddResult", guid)
	case guid != "":
		w.WriteString("<" + op + "Result>")
		w.Elem("guid", guid)
		w.WriteString("</" + op + "Result>")
	}
	w.WriteString("</" + op + "Response>")
	w.close()
	send(rw, http.StatusOK, &w)
}

// Fault error codes clients act on.
const (
	FaultAuth                 = "PassportAuthFail"
	FaultFullSyncRequired     = "FullSyncRequired"
	FaultBadArgument          = "BadArgument"
	FaultContactDoesNotExist  = "ContactDoesNotExist"
	FaultContactAlreadyExists = "ContactAlreadyExists"
	FaultInvalidPassportUser  = "InvalidPassportUser"
	FaultGroupDoesNotExist    = "GroupDoesNotExist"
	FaultGroupAlreadyExists   = "GroupAlreadyExists"
	FaultMemberDoesNotExist   = "MemberDoesNotExist"
	FaultInternal             = "InternalError"
)

// BadContextToken is the faultcode of a refused ticket, as clients match
// it: Pidgin and KMess renew their contacts ticket and try again on
// exactly "q0:BadContextToken" (an expired ticket, in their terms), and
// treat any other fault as the operation's failure. The prefix's
// namespace, WS-SecureConversation's, where the BadContextToken fault is
// defined, is our choice: clients compare the text.
const BadContextToken = "q0:BadContextToken"

// WriteFault answers a call that failed with a SOAP fault (HTTP 500), its
// ABCH error code in detail/errorcode.
func WriteFault(rw http.ResponseWriter, op, code, message string) {
	var w writer
	w.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>`)
	switch code {
	case FaultAuth:
		w.WriteString(`<faultcode xmlns:q0="http://schemas.xmlsoap.org/ws/2005/02/sc">` + BadContextToken + `</faultcode>`)
	case FaultInternal:
		w.Elem("faultcode", "soap:Server")
	default:
		w.Elem("faultcode", "soap:Client")
	}
	w.Elem("faultstring", message)
	w.Elem("faultactor", "http://www.msn.com/webservices/AddressBook/"+op)
	w.WriteString(`<detail><errorcode xmlns="` + Namespace + `">`)
	w.Text(code)
	w.WriteString(`</errorcode><errorstring xmlns="` + Namespace + `">`)
	w.Text(message)
	w.WriteString(`</errorstring></detail></soap:Fault></soap:Body></soap:Envelope>`)
	send(rw, http.StatusInternalServerError, &w)
}

// Fault is a decoded SOAP fault (see ParseResponse).
type Fault struct{ Code, Message string }

func (f *Fault) Error() string { return fmt.Sprintf("abch: fault %s: %s", f.Code, f.Message) }
