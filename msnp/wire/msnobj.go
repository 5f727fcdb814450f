package wire

import (
	"encoding/xml"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// MSNObject is the description of a display picture or other object that
// MSNP9+ clients put, %-encoded, at the end of CHG, ILN and NLN. The server
// passes it on as the client sent it; the object itself moves between
// clients over MSNSLP.
type MSNObject struct {
	Creator  string `xml:"Creator,attr"`
	Size     string `xml:"Size,attr"`
	Type     string `xml:"Type,attr"`
	Location string `xml:"Location,attr"`
	Friendly string `xml:"Friendly,attr"`
	SHA1D    string `xml:"SHA1D,attr"`
	SHA1C    string `xml:"SHA1C,attr"`
}

// ErrBadMSNObject is returned for a parameter that is not an msnobj element
// with a creator and a numeric type and size.
var ErrBadMSNObject = errors.New("msnp: malformed MSN object")

// MSN object types (Type attribute).
const (
	MSNObjectDisplayPicture = "3"
)

// ParseMSNObject decodes the %-encoded msnobj parameter. "0" (no object)
// is not an object: callers check for it first.
func ParseMSNObject(param string) (MSNObject, error) {
	text, err := url.PathUnescape(param)
	if err != nil {
		return MSNObject{}, ErrBadMSNObject
	}
	var o MSNObject
	d := xml.NewDecoder(strings.NewReader(text))
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return MSNObject{}, ErrBadMSNObject
		}
		if s, ok := tok.(xml.StartElement); ok {
			start = s
			break
		}
	}
	if start.Name.Local != "msnobj" || d.DecodeElement(&o, &start) != nil {
		return MSNObject{}, ErrBadMSNObject
	}
	if o.Creator == "" || !isUint(o.Type) || !isUint(o.Size) {
		return MSNObject{}, ErrBadMSNObject
	}
	return o, nil
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}
