package abch

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestNotification writes the change notification and reads it back, and
// reads one laid out as the service sent it: indented, the data escaped
// inside BODY.
func TestNotification(t *testing.T) {
	at := time.Date(2009, 6, 1, 12, 30, 0, 0, time.UTC)
	n := Notification{Email: `a"l&ice@example.com`, CID: "4294967298", Service: ServiceInternal, Changed: at}
	payload := AppendNotification(nil, n)
	for _, want := range []string{`siteid="45705"`, `<TO pid="0x00000002:0x00000001" name="a&#34;l&amp;ice@example.com"><VIA agent="messenger"/></TO>`,
		`&lt;Service&gt;ABCHInternal&lt;/Service&gt;&lt;CID&gt;4294967298&lt;/CID&gt;`, `&lt;HasNewItem&gt;false&lt;/HasNewItem&gt;`} {
		if !strings.Contains(string(payload), want) {
			t.Errorf("no %s in %s", want, payload)
		}
	}
	got, err := ParseNotification(payload)
	if err != nil || got.Email != n.Email || got.CID != n.CID || got.Service != n.Service || !got.Changed.Equal(at) || got.HasNewItem {
		t.Fatalf("read back %+v %v, want %+v", got, err, n)
	}

	served := "<NOTIFICATION id=\"0\" siteid=\"45705\" siteurl=\"http://contacts.msn.com\">\r\n\t<TO pid=\"0x00000001:0x00000000\" name=\"bob@example.com\">\r\n" +
		"\t\t<VIA agent=\"messenger\" />\r\n\t</TO>\r\n\t<MSG id=\"0\">\r\n\t\t<SUBSCR url=\"s.htm\" />\r\n\t\t<ACTION url=\"a.htm\" />\r\n\t\t<BODY>\r\n" +
		"\t\t\t&lt;NotificationData xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"&gt;\r\n\t\t\t\t&lt;Service&gt;ABCHInternal&lt;/Service&gt;\r\n" +
		"\t\t\t\t&lt;CID&gt;1&lt;/CID&gt;\r\n\t\t\t\t&lt;LastModifiedDate&gt;2009-06-01T12:30:00.0000000-00:00&lt;/LastModifiedDate&gt;\r\n" +
		"\t\t\t\t&lt;HasNewItem&gt;true&lt;/HasNewItem&gt;\r\n\t\t\t&lt;/NotificationData&gt;\r\n\t\t</BODY>\r\n\t</MSG>\r\n</NOTIFICATION>"
	got, err = ParseNotification([]byte(served))
	if err != nil || got.Email != "bob@example.com" || got.CID != "1" || !got.HasNewItem || !got.Changed.Equal(at) {
		t.Fatalf("served notification: %+v %v", got, err)
	}

	// Alerts and other sites' notifications are not the address book's.
	for _, other := range []string{
		`<NOTIFICATION ver="1" id="2" siteid="0" siteurl="http://example.com/"><TO pid="0x1:0x2" name="a@b"/><MSG id="0"><BODY><TEXT>hi</TEXT></BODY></MSG></NOTIFICATION>`,
		strings.Replace(served, "ABCHInternal", "Circles", 1),
		strings.Replace(served, `agent="messenger"`, `agent="mobile"`, 1),
		"NOT XML",
	} {
		if _, err := ParseNotification([]byte(other)); !errors.Is(err, ErrNotAddressBook) {
			t.Errorf("%s: %v", other, err)
		}
	}
}
