package wire

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
)

// The membership lists of ADL, RML and FQY (MSNP13+): contacts grouped by
// domain, each with its lists as a bitmask and its network.
//
//	<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/></d></ml>

// List bits of ADL/RML (and of the MSNP8–12 LST bitmask).
const (
	ListForward = 1
	ListAllow   = 2
	ListBlock   = 4
	ListReverse = 8
	ListPending = 16
)

// NetworkMSN is the network id of Windows Live (MSN) contacts.
const NetworkMSN = 1

// MLContact is one c element.
type MLContact struct {
	Email   string
	Lists   int // bitmask; 0 when the element has none (FQY)
	Network int // 0 when the element has none
	// Friendly is the %-encoded name the server sends with a reverse-list
	// add (f attribute).
	Friendly string
}

// ML is an ADL/RML/FQY payload. Initial marks the dump a client sends once
// after loading its address book (ml l="1").
type ML struct {
	Initial  bool
	Contacts []MLContact
}

// ErrBadML is returned for a payload that is not a membership list of
// well-formed addresses.
var ErrBadML = errors.New("msnp: malformed membership list")

type mlXML struct {
	XMLName xml.Name `xml:"ml"`
	L       string   `xml:"l,attr"`
	Domains []struct {
		Name     string `xml:"n,attr"`
		Contacts []struct {
			Name     string `xml:"n,attr"`
			L        string `xml:"l,attr"`
			T        string `xml:"t,attr"`
			Friendly string `xml:"f,attr"`
		} `xml:"c"`
	} `xml:"d"`
}

// ParseML decodes a membership list.
func ParseML(payload []byte) (ML, error) {
	var x mlXML
	if err := xml.Unmarshal(payload, &x); err != nil {
		return ML{}, ErrBadML
	}
	ml := ML{Initial: x.L == "1"}
	for _, d := range x.Domains {
		for _, c := range d.Contacts {
			if d.Name == "" || c.Name == "" || strings.ContainsAny(d.Name+c.Name, "@ \t\r\n") {
				return ML{}, ErrBadML
			}
			l, err1 := optionalInt(c.L)
			t, err2 := optionalInt(c.T)
			if err1 != nil || err2 != nil || l > 0xff {
				return ML{}, ErrBadML
			}
			ml.Contacts = append(ml.Contacts, MLContact{Email: c.Name + "@" + d.Name, Lists: l, Network: t, Friendly: c.Friendly})
		}
	}
	return ml, nil
}

func optionalInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, ErrBadML
	}
	return n, nil
}

// AppendML writes ml, one d element per run of contacts of the same
// domain, leaving out zero lists, networks and empty names.
func AppendML(dst []byte, ml ML) []byte {
	dst = append(dst, "<ml"...)
	if ml.Initial {
		dst = append(dst, ` l="1"`...)
	}
	dst = append(dst, '>')
	domain := ""
	for i, c := range ml.Contacts {
		local, dom, _ := strings.Cut(c.Email, "@")
		if i == 0 || dom != domain {
			if i > 0 {
				dst = append(dst, "</d>"...)
			}
			dst = append(dst, `<d n="`...)
			dst = appendEscaped(dst, dom)
			dst = append(dst, `">`...)
			domain = dom
		}
		dst = append(dst, `<c n="`...)
		dst = appendEscaped(dst, local)
		dst = append(dst, '"')
		if c.Lists != 0 {
			dst = append(append(append(dst, ` l="`...), strconv.Itoa(c.Lists)...), '"')
		}
		if c.Network != 0 {
			dst = append(append(append(dst, ` t="`...), strconv.Itoa(c.Network)...), '"')
		}
		if c.Friendly != "" {
			dst = append(dst, ` f="`...)
			dst = appendEscaped(dst, c.Friendly)
			dst = append(dst, '"')
		}
		dst = append(dst, "/>"...)
	}
	if len(ml.Contacts) > 0 {
		dst = append(dst, "</d>"...)
	}
	return append(dst, "</ml>"...)
}
