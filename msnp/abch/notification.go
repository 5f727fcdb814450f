package abch

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The change notification: when an account's address book or memberships
// changed, the service had the notification server send each of the
// account's MSNP13+ clients NOT with this document, and the clients
// fetched their lists again (WLM and MSNPSharp check the site id, the
// addressee, the messenger agent, Service ABCHInternal and their own
// CID; Pidgin 2.10 reads ADL instead and ignores NOT's payload):
//
//	<NOTIFICATION id="0" siteid="45705" siteurl="http://contacts.msn.com">
//	<TO pid="0x<low>:0x<high>" name="alice@example.com"><VIA agent="messenger"/></TO>
//	<MSG id="0"><SUBSCR url="s.htm"/><ACTION url="a.htm"/><BODY>…</BODY></MSG>
//	</NOTIFICATION>
//
// BODY holds, as escaped text, <NotificationData> with Service, CID,
// LastModifiedDate and HasNewItem.

// notificationSite is the id the address book's notifications carry.
const notificationSite = "45705"

// ServiceInternal is the Service of an address book change.
const ServiceInternal = "ABCHInternal"

// Notification is an address book change notification.
type Notification struct {
	// Email is the addressee, the account whose lists changed.
	Email string
	// CID is the account's CID (its number, as the services write it).
	CID string
	// Service is ServiceInternal for an address book change.
	Service string
	// Changed is LastModifiedDate.
	Changed time.Time
	// HasNewItem: the change added someone (the real service set it for
	// circles; plain list changes carried false).
	HasNewItem bool
}

// AppendNotification writes n's NOT payload. The pid is the account's
// number as low and high halves, as Passport PUIDs were written.
func AppendNotification(dst []byte, n Notification) []byte {
	var data writer
	data.WriteString(`<NotificationData xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	data.Elem("Service", n.Service)
	data.Elem("CID", n.CID)
	data.Elem("LastModifiedDate", n.Changed.Format(timeFormat))
	data.Elem("HasNewItem", boolText(n.HasNewItem))
	data.WriteString(`</NotificationData>`)

	number, _ := strconv.ParseUint(n.CID, 10, 64)
	var w writer
	w.WriteString(`<NOTIFICATION id="0" siteid="` + notificationSite + `" siteurl="http://contacts.msn.com">`)
	w.WriteString(fmt.Sprintf(`<TO pid="0x%08x:0x%08x" name="`, uint32(number), uint32(number>>32)))
	_ = xml.EscapeText(&w, []byte(n.Email))
	w.WriteString(`"><VIA agent="messenger"/></TO><MSG id="0"><SUBSCR url="s.htm"/><ACTION url="a.htm"/><BODY>`)
	// The service escaped only what text must; the quotes of the
	// document's attributes stayed as they were.
	w.WriteString(bodyEscaper.Replace(data.String()))
	w.WriteString(`</BODY></MSG></NOTIFICATION>`)
	return append(dst, w.Bytes()...)
}

var bodyEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// ErrNotAddressBook is returned for a NOT payload that is not an address
// book change notification (an alert, a circle's, or malformed).
var ErrNotAddressBook = errors.New("abch: not an address book notification")

type notificationXML struct {
	XMLName xml.Name `xml:"NOTIFICATION"`
	Site    string   `xml:"siteid,attr"`
	To      struct {
		Name string `xml:"name,attr"`
		Via  struct {
			Agent string `xml:"agent,attr"`
		} `xml:"VIA"`
	} `xml:"TO"`
	Body string `xml:"MSG>BODY"`
}

type notificationDataXML struct {
	XMLName    xml.Name `xml:"NotificationData"`
	Service    string   `xml:"Service"`
	CID        string   `xml:"CID"`
	Changed    string   `xml:"LastModifiedDate"`
	HasNewItem string   `xml:"HasNewItem"`
}

// ParseNotification reads a NOT payload as clients did: only the address
// book's site, for the messenger agent, with Service ABCHInternal.
func ParseNotification(payload []byte) (Notification, error) {
	var x notificationXML
	if err := xml.Unmarshal(payload, &x); err != nil || x.Site != notificationSite || x.To.Via.Agent != "messenger" {
		return Notification{}, ErrNotAddressBook
	}
	var d notificationDataXML
	if err := xml.Unmarshal([]byte(x.Body), &d); err != nil || strings.TrimSpace(d.Service) != ServiceInternal {
		return Notification{}, ErrNotAddressBook
	}
	n := Notification{Email: x.To.Name, CID: strings.TrimSpace(d.CID), Service: ServiceInternal,
		HasNewItem: strings.TrimSpace(d.HasNewItem) == "true"}
	if t, err := time.Parse(timeFormat, strings.TrimSpace(d.Changed)); err == nil {
		n.Changed = t
	}
	return n, nil
}
