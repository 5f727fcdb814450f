package wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
)

// PersonalStatus is the payload of UUX (client → server) and UBX (server →
// client) from MSNP11 on: the personal message and what the client is
// playing.
type PersonalStatus struct {
	PSM          string
	CurrentMedia string
	// MachineGUID names the client's installation (MSNP11+ sends it).
	MachineGUID string
}

// ErrBadPersonalStatus is returned for a UUX payload that is not one XML
// element.
var ErrBadPersonalStatus = errors.New("msnp: malformed personal status")

type personalXML struct {
	XMLName      xml.Name
	PSM          string `xml:"PSM"`
	CurrentMedia string `xml:"CurrentMedia"`
	MachineGUID  string `xml:"MachineGuid"`
	Capabilities string `xml:"Capabilities"`
	EpName       string `xml:"EpName"`
}

// Endpoint is one place an MSNP16+ account is signed in at, as UUX sets
// and UBX shows it.
type Endpoint struct {
	GUID         string // machine GUID, braces included
	Capabilities string // caps:extcaps
	Name         string // EpName, the computer's name (owner only)
}

// ParseUUX decodes a UUX payload. root is the element's name: "Data" for
// the personal status; MSNP16+ also send EndpointData (Capabilities) and
// PrivateEndpointData (EpName), returned in ep with an empty status.
func ParseUUX(payload []byte) (root string, st PersonalStatus, ep Endpoint, err error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		// WLM sends an empty UUX to clear everything.
		return "Data", PersonalStatus{}, Endpoint{}, nil
	}
	var x personalXML
	if err := xml.Unmarshal(payload, &x); err != nil {
		return "", PersonalStatus{}, Endpoint{}, ErrBadPersonalStatus
	}
	if x.XMLName.Local != "Data" {
		return x.XMLName.Local, PersonalStatus{}, Endpoint{Capabilities: x.Capabilities, Name: x.EpName}, nil
	}
	return "Data", PersonalStatus{PSM: x.PSM, CurrentMedia: x.CurrentMedia, MachineGUID: x.MachineGUID}, Endpoint{}, nil
}

// AppendEndpoint appends the UBX elements of an MSNP16+ endpoint: its
// EndpointData, and with private (the owner's own UBX) its
// PrivateEndpointData.
func AppendEndpoint(dst []byte, ep Endpoint, private bool) []byte {
	dst = append(dst, `<EndpointData id="`...)
	dst = appendEscaped(dst, ep.GUID)
	dst = append(dst, `"><Capabilities>`...)
	dst = appendEscaped(dst, ep.Capabilities)
	dst = append(dst, "</Capabilities></EndpointData>"...)
	if private {
		dst = append(dst, `<PrivateEndpointData id="`...)
		dst = appendEscaped(dst, ep.GUID)
		dst = append(dst, `"><EpName>`...)
		dst = appendEscaped(dst, ep.Name)
		dst = append(dst, "</EpName><Idle>false</Idle><ClientType>1</ClientType><State>NLN</State></PrivateEndpointData>"...)
	}
	return dst
}

// AppendUBX appends the UBX payload for st.
func AppendUBX(dst []byte, st PersonalStatus) []byte {
	dst = append(dst, "<Data><PSM>"...)
	dst = appendEscaped(dst, st.PSM)
	dst = append(dst, "</PSM><CurrentMedia>"...)
	dst = appendEscaped(dst, st.CurrentMedia)
	dst = append(dst, "</CurrentMedia>"...)
	if st.MachineGUID != "" {
		dst = append(dst, "<MachineGuid>"...)
		dst = appendEscaped(dst, st.MachineGUID)
		dst = append(dst, "</MachineGuid>"...)
	}
	return append(dst, "</Data>"...)
}

func appendEscaped(dst []byte, s string) []byte {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return append(dst, b.Bytes()...)
}

// MediaText renders a CurrentMedia value as a line of text for people on
// other protocols, "Artist - Title" for `\0Music\01\0{0} - {1}\0Artist\0Title\0…`
// (the separators are a backslash and a zero, as the clients write them).
// It is "" when nothing is playing or the value is not understood.
func MediaText(cm string) string {
	f := strings.Split(cm, `\0`)
	// f[0] is the player (often empty), f[1] the kind, f[2] "1" when on,
	// f[3] the format, then the values it names {0}, {1}, ….
	if len(f) < 4 || f[2] != "1" {
		return ""
	}
	format, args := f[3], f[4:]
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] == '{' && i+2 < len(format) && format[i+2] == '}' && '0' <= format[i+1] && format[i+1] <= '9' {
			if n := int(format[i+1] - '0'); n < len(args) {
				b.WriteString(args[n])
			}
			i += 2
			continue
		}
		b.WriteByte(format[i])
	}
	return strings.TrimSpace(b.String())
}
