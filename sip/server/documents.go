package server

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
)

// Content types of the documents exchanged after sign-in.
const (
	typeRoamingContacts = "application/vnd-microsoft-roaming-contacts+xml"
	typeRoamingSelf     = "application/vnd-microsoft-roaming-self+xml"
	typeCategories      = "application/msrtc-event-categories+xml"
	typePublish         = "application/msrtc-category-publish+xml"
	typeSOAP            = "application/soap+xml"
	typeSDP             = "application/sdp"
	typeText            = "text/plain; charset=UTF-8"
	typeInvitation      = "text/x-msmsgsinvite; charset=UTF-8"
	typeKeyboard        = "application/xml"
	typeRegistration    = "text/registration-event"
)

// Availability values of [MS-PRES] state, as pidgin-sipe publishes them.
const (
	availOnline  = 3500
	availIdle    = 5000
	availBusy    = 6500
	availDND     = 9500
	availBRB     = 12500
	availAway    = 15500
	availOffline = 18500
)

// StatusFromAvailability maps a published availability to the hub's
// statuses with pidgin-sipe's thresholds; the activity token tells a phone
// call from other busy states.
func StatusFromAvailability(avail int, activity string) hub.Status {
	switch {
	case avail < 3000:
		return hub.StatusInvisible
	case avail < 4500:
		return hub.StatusOnline
	case avail < 6000:
		return hub.StatusIdle
	case avail < 9000 && (activity == "on-the-phone" || activity == "in-a-conference"):
		return hub.StatusOnThePhone
	case avail < 12000:
		return hub.StatusBusy
	case avail < 15000:
		return hub.StatusBeRightBack
	case avail < 18000:
		if activity == "out-to-lunch" {
			return hub.StatusOutToLunch
		}
		return hub.StatusAway
	}
	return hub.StatusInvisible // "appear offline"
}

// availabilityOf is the availability and activity token a contact's
// status is shown with.
func availabilityOf(st hub.Status) (int, string) {
	switch st.Visible() {
	case hub.StatusOnline:
		return availOnline, ""
	case hub.StatusIdle:
		return availIdle, ""
	case hub.StatusBusy:
		return availBusy, ""
	case hub.StatusOnThePhone:
		return availBusy, "on-the-phone"
	case hub.StatusBeRightBack:
		return availBRB, ""
	case hub.StatusAway:
		return availAway, ""
	case hub.StatusOutToLunch:
		return availAway, "out-to-lunch"
	}
	return availOffline, ""
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// groupID is a hub group's id on the wire: pidgin-sipe takes 0 for "no
// group", so hub group n is n+1.
func groupID(hubGroup int) int { return hubGroup + 1 }

// contactList is the roaming contact list: the forward list with its
// groups (group 0 is "~", Other Contacts).
func contactList(r *hub.Roster, address func(hub.Account) string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<contactList deltaNum="%d" xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-contacts">`, max(r.Settings.Serial, 1))
	for _, g := range r.Groups {
		name := g.Name
		if g.ID == 0 {
			name = "~"
		}
		fmt.Fprintf(&b, `<group id="%d" name="%s" externalURI=""/>`, groupID(g.ID), xmlText(name))
	}
	for _, e := range r.Of(hub.Forward) {
		groups := make([]string, 0, len(e.Groups))
		for _, g := range e.Groups {
			groups = append(groups, strconv.Itoa(groupID(g)))
		}
		if len(groups) == 0 {
			groups = append(groups, strconv.Itoa(groupID(0)))
		}
		fmt.Fprintf(&b, `<contact uri="%s" name="%s" groups="%s" subscribed="true" externalURI=""/>`,
			xmlText(address(e.Contact)), xmlText(e.Contact.DisplayName), strings.Join(groups, " "))
	}
	b.WriteString(`</contactList>`)
	return b.Bytes()
}

// roamingSelf is the account's own data: no published categories, no
// containers (the client then sets its container members once), and the
// people who added the account without an answer yet, whom pidgin-sipe
// asks the user about.
func roamingSelf(self string, pending []string) []byte {
	var b bytes.Buffer
	b.WriteString(`<roamingData xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self">`)
	fmt.Fprintf(&b, `<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="%s"/>`, xmlText(self))
	b.WriteString(`<containers xmlns="http://schemas.microsoft.com/2006/09/sip/container-management"/>`)
	b.WriteString(`<subscribers xmlns="http://schemas.microsoft.com/2006/09/sip/presence-subscribers">`)
	for _, p := range pending {
		fmt.Fprintf(&b, `<subscriber user="%s" displayName="" acknowledged="false" type="sameEnterprise"/>`, xmlText(p))
	}
	b.WriteString(`</subscribers></roamingData>`)
	return b.Bytes()
}

// categories is a contact's presence: state, note and contact card.
func categories(uri string, st hub.Status, text, displayName string, at time.Time) []byte {
	avail, activity := availabilityOf(st)
	when := at.UTC().Format("2006-01-02T15:04:05Z")
	var b bytes.Buffer
	fmt.Fprintf(&b, `<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="%s">`, xmlText(uri))
	fmt.Fprintf(&b, `<category name="state" instance="0" publishTime="%s" container="2" version="1" expireType="user">`, when)
	b.WriteString(`<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState">`)
	fmt.Fprintf(&b, `<availability>%d</availability>`, avail)
	if activity != "" {
		fmt.Fprintf(&b, `<activity token="%s"/>`, activity)
	}
	b.WriteString(`</state></category>`)
	fmt.Fprintf(&b, `<category name="note" instance="0" publishTime="%s" container="2" version="1" expireType="static">`, when)
	fmt.Fprintf(&b, `<note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">%s</body></note></category>`, xmlText(text))
	fmt.Fprintf(&b, `<category name="contactCard" instance="0" publishTime="%s" container="2" version="1" expireType="static">`, when)
	fmt.Fprintf(&b, `<contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard"><identity><name><displayName>%s</displayName></name></identity></contactCard></category>`, xmlText(displayName))
	b.WriteString(`</categories>`)
	return b.Bytes()
}

// elements walks an XML document by local names, ignoring namespaces
// (clients spell prefixes differently). visit gets each start element with
// the path of its ancestors' local names and the element's text content
// when it is a leaf.
func elements(doc []byte, visit func(path []string, el xml.StartElement, text string)) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	var path []string
	var open []xml.StartElement
	var text strings.Builder
	leaf := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if leaf {
				visit(path[:len(path)-1], open[len(open)-1], "")
			}
			path = append(path, t.Name.Local)
			open = append(open, t.Copy())
			text.Reset()
			leaf = true
		case xml.CharData:
			if leaf {
				text.Write(t)
			}
		case xml.EndElement:
			if len(open) == 0 {
				return fmt.Errorf("unbalanced %s", t.Name.Local)
			}
			if leaf {
				visit(path[:len(path)-1], open[len(open)-1], text.String())
				leaf = false
			}
			path, open = path[:len(path)-1], open[:len(open)-1]
		}
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// published is what a publish request says about the account's own
// presence; nil fields were not published.
type published struct {
	userAvail, machineAvail *int // 0 means the publication was withdrawn
	activity                string
	note                    *string
}

// parsePublish reads the state and note publications of a publish
// request. elements visits in document order, so each publication comes
// before what it holds.
func parsePublish(doc []byte) (published, error) {
	var p published
	var pub xml.StartElement // the publication being read
	var stateType string     // its state's xsi:type
	err := elements(doc, func(path []string, el xml.StartElement, text string) {
		category := attr(pub, "categoryName")
		switch el.Name.Local {
		case "publication":
			pub, stateType = el, ""
			if attr(el, "expires") != "0" {
				return
			}
			zero, empty := 0, ""
			switch attr(el, "categoryName") {
			case "state":
				if p.userAvail == nil {
					p.userAvail = &zero
				}
			case "note":
				p.note = &empty
			}
		case "state":
			stateType = attr(el, "type")
		case "availability":
			n, err := strconv.Atoi(strings.TrimSpace(text))
			if err != nil || category != "state" || attr(pub, "expires") == "0" {
				return
			}
			if stateType == "machineState" {
				p.machineAvail = &n
			} else {
				p.userAvail = &n
			}
		case "activity":
			if category == "state" {
				p.activity = attr(el, "token")
			}
		case "body":
			if category == "note" && attr(pub, "expires") != "0" {
				t := strings.TrimSpace(text)
				p.note = &t
			}
		}
	})
	return p, err
}
