package invite

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// crlf turns a readable multi-line literal into wire text: leading tabs are
// removed and every line ends in CRLF.
func crlf(s string) string {
	s = strings.TrimPrefix(s, "\n")
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimLeft(l, "\t"))
		b.WriteString("\r\n")
	}
	return strings.TrimSuffix(b.String(), "\r\n")
}

const hdr = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"

// The payloads below are the examples of seed 001 (hypothetic.org's
// invitation page), each with the byte count its MSG line gave where one was
// shown.
var seedExamples = []struct {
	name  string
	body  string
	count int // MSG byte count from the seed; 0 when not given
	want  Invitation
	exact bool // Payload reproduces the seed bytes exactly
}{
	{
		name: "file INVITE with Connectivity",
		body: crlf(`
			Application-Name: File Transfer
			Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}
			Invitation-Command: INVITE
			Invitation-Cookie: 85366
			Application-File: Autoexec.bat
			Application-FileSize: 187
			Connectivity: N
			`),
		count: 294,
		exact: true,
		want: Invitation{Command: Invite, Cookie: 85366, AppName: "File Transfer", AppGUID: FileTransferGUID,
			File: "Autoexec.bat", FileSize: 187, Connectivity: "N"},
	},
	{
		name: "ACCEPT with Sender-Connect",
		body: crlf(`
			IP-Address: 81.99.77.64
			IP-Address-Internal: 10.5.1.3
			Port: 6891
			PortX: 11178
			AuthCookie: 544120
			Sender-Connect: TRUE
			Invitation-Command: ACCEPT
			Invitation-Cookie: 227948
			Launch-Application: FALSE
			Request-Data: IP-Address:
			`),
		want: Invitation{Command: Accept, Cookie: 227948, IPAddress: "81.99.77.64", IPAddressInternal: "10.5.1.3",
			Port: 6891, PortX: 11178, AuthCookie: 544120, SenderConnect: "TRUE", LaunchApplication: "FALSE",
			RequestData: "IP-Address:"},
	},
	{
		name: "old-style file INVITE",
		body: crlf(`
			Application-Name: File Transfer
			Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}
			Invitation-Command: INVITE
			Invitation-Cookie: 33267
			Application-File: readme.txt
			Application-FileSize: 60904
			`),
		exact: true,
		want: Invitation{Command: Invite, Cookie: 33267, AppName: "File Transfer", AppGUID: FileTransferGUID,
			File: "readme.txt", FileSize: 60904},
	},
	{
		name: "receiver ACCEPT",
		body: crlf(`
			Invitation-Command: ACCEPT
			Invitation-Cookie: 33267
			Launch-Application: FALSE
			Request-Data: IP-Address:
			`),
		exact: true,
		want:  Invitation{Command: Accept, Cookie: 33267, LaunchApplication: "FALSE", RequestData: "IP-Address:"},
	},
	{
		name: "sender ACCEPT with address",
		body: crlf(`
			Invitation-Command: ACCEPT
			Invitation-Cookie: 33267
			IP-Address: 10.44.102.65
			Port: 6891
			AuthCookie: 93301
			Launch-Application: FALSE
			Request-Data: IP-Address:
			`),
		exact: true,
		want: Invitation{Command: Accept, Cookie: 33267, IPAddress: "10.44.102.65", Port: 6891, AuthCookie: 93301,
			LaunchApplication: "FALSE", RequestData: "IP-Address:"},
	},
	{
		name: "CANCEL FTTIMEOUT",
		body: crlf(`
			Invitation-Command: CANCEL
			Invitation-Cookie: 85366
			Cancel-Code: FTTIMEOUT
			`),
		count: 151,
		exact: true,
		want:  Invitation{Command: Cancel, Cookie: 85366, CancelCode: CancelFTTimeout},
	},
	{
		name: "voice INVITE",
		body: crlf(`
			Application-Name: voice conversation
			Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}
			Session-Protocol: SM1
			Context-Data: Requested:SIP_A,;Capabilities:SIP_A,;
			Invitation-Command: INVITE
			Invitation-Cookie: 1578608
			Session-ID: {CD482FDC-AE24-3574-C2A5-493813AD94D1}
			`),
		count: 353,
		exact: true,
		want: Invitation{Command: Invite, Cookie: 1578608, AppName: "voice conversation",
			AppGUID: "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}", SessionProtocol: "SM1",
			ContextData: "Requested:SIP_A,;Capabilities:SIP_A,;", SessionID: "{CD482FDC-AE24-3574-C2A5-493813AD94D1}"},
	},
	{
		name: "voice ACCEPT",
		body: crlf(`
			Invitation-Command: ACCEPT
			Context-Data: Requested:SIP_A,;
			Invitation-Cookie: 1578608
			Session-ID: {A8B34C0E-2EEF-932F-F120-F7492E39CDA9}
			Session-Protocol: SM1
			Launch-Application: TRUE
			Request-Data: IP-Address:
			IP-Address: 203.122.147.102
			`),
		want: Invitation{Command: Accept, Cookie: 1578608, ContextData: "Requested:SIP_A,;",
			SessionID: "{A8B34C0E-2EEF-932F-F120-F7492E39CDA9}", SessionProtocol: "SM1",
			LaunchApplication: "TRUE", RequestData: "IP-Address:", IPAddress: "203.122.147.102"},
	},
	{
		name: "voice second ACCEPT with ip:port",
		body: crlf(`
			Invitation-Command: ACCEPT
			Invitation-Cookie: 1578608
			Session-ID: {CD482FDC-AE24-3574-C2A5-493813AD94D1}
			Launch-Application: TRUE
			IP-Address: 203.122.147.102:13455
			`),
		want: Invitation{Command: Accept, Cookie: 1578608, SessionID: "{CD482FDC-AE24-3574-C2A5-493813AD94D1}",
			LaunchApplication: "TRUE", IPAddress: "203.122.147.102:13455"},
	},
	{
		name: "Remote Assistance INVITE with Application-URL",
		body: crlf(`
			Application-Name: Remote Assistance
			Application-GUID: {56b994a7-380f-410b-9985-c809d78c1bdc}
			Session-Protocol: SM1
			Application-URL: http://www.microsoft.com
			Invitation-Command: INVITE
			Invitation-Cookie: 3863032
			Session-ID: {DF93A302-30D2-DF92-C392-F391049DB9EA}
			`),
		want: Invitation{Command: Invite, Cookie: 3863032, AppName: "Remote Assistance",
			AppGUID: "{56b994a7-380f-410b-9985-c809d78c1bdc}", SessionProtocol: "SM1",
			AppURL: "http://www.microsoft.com", SessionID: "{DF93A302-30D2-DF92-C392-F391049DB9EA}"},
	},
	{
		name: "CANCEL REJECT_NOT_INSTALLED",
		body: crlf(`
			Invitation-Command: CANCEL
			Invitation-Cookie: 3863032
			Cancel-Code: REJECT_NOT_INSTALLED
			`),
		exact: true,
		want:  Invitation{Command: Cancel, Cookie: 3863032, CancelCode: CancelRejectNotInstalled},
	},
	{
		name: "OCS INVITE asking for encryption",
		body: crlf(`
			Application-Name: File Transfer
			Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}
			Invitation-Command: INVITE
			Invitation-Cookie: 4711
			Application-File: report.doc
			Application-FileSize: 0
			Connectivity: N
			Encryption: S
			`),
		exact: true,
		want: Invitation{Command: Invite, Cookie: 4711, AppName: "File Transfer", AppGUID: FileTransferGUID,
			File: "report.doc", FileSize: 0, Connectivity: "N", Encryption: "S"},
	},
}

func TestParseSeedExamples(t *testing.T) {
	for _, tt := range seedExamples {
		t.Run(tt.name, func(t *testing.T) {
			payload := hdr + tt.body + "\r\n"
			if tt.count != 0 && len(payload) != tt.count {
				t.Fatalf("test payload is %d bytes, seed says %d", len(payload), tt.count)
			}
			got, err := Parse([]byte(payload))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
			enc := got.Payload()
			if tt.exact && string(enc) != payload {
				t.Fatalf("Payload =\n%q\nwant\n%q", enc, payload)
			}
			again, err := Parse(enc)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-parse = %+v, %v", again, err)
			}
			// The same text with bare LF line ends parses the same.
			lf := strings.ReplaceAll(payload, "\r\n", "\n")
			if got, err := Parse([]byte(lf)); err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("LF variant = %+v, %v", got, err)
			}
		})
	}
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Invitation
	}{
		{"no trailing blank line, no MIME-Version",
			"Content-Type: text/x-msmsgsinvite\r\n\r\nInvitation-Command: CANCEL\r\nInvitation-Cookie: 7\r\nCancel-Code: REJECT",
			Invitation{Command: Cancel, Cookie: 7, CancelCode: "REJECT"}},
		{"junk lines, odd spacing and case",
			"\r\nmime-version: 1.0\r\ncontent-type:TEXT/X-MSMSGSINVITE;charset=utf-8\r\nX-Junk\r\n\r\n" +
				"garbage without colon\r\n invitation-command :  accept \r\nINVITATION-COOKIE:12\r\n: no name\r\n\r\nPort: 6891\r\n",
			Invitation{Command: Accept, Cookie: 12, Port: 6891}},
		{"lone CR line ends",
			"Content-Type: text/x-msmsgsinvite\r\rInvitation-Command: INVITE\rInvitation-Cookie: 3\r",
			Invitation{Command: Invite, Cookie: 3}},
		{"empty number fields are absent",
			hdr + "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 9\r\nPort:\r\nAuthCookie: \r\nApplication-FileSize:\r\n",
			Invitation{Command: Accept, Cookie: 9}},
		{"last duplicate wins, unknown fields keep order",
			hdr + "B: 2\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 1\r\nInvitation-Cookie: 2\r\nA: 1\r\nB: 3\r\n",
			Invitation{Command: Invite, Cookie: 2, Extra: []Field{{"B", "2"}, {"A", "1"}, {"B", "3"}}}},
		{"unknown cancel code is kept",
			hdr + "Invitation-Command: CANCEL\r\nInvitation-Cookie: 4294967295\r\nCancel-Code: SOMETHING_ELSE\r\n",
			Invitation{Command: Cancel, Cookie: 4294967295, CancelCode: "SOMETHING_ELSE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.payload))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	body := "Invitation-Command: INVITE\r\nInvitation-Cookie: 5\r\n"
	tests := []struct {
		name    string
		payload string
		want    error
		field   string // for *FieldError
	}{
		{"empty", "", ErrContentType, ""},
		{"text/plain", "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + body, ErrContentType, ""},
		{"no content type", "MIME-Version: 1.0\r\n\r\n" + body, ErrContentType, ""},
		{"content type only in body", "MIME-Version: 1.0\r\n\r\nContent-Type: text/x-msmsgsinvite\r\n" + body, ErrContentType, ""},
		{"no command", hdr + "Invitation-Cookie: 5\r\n", ErrNoCommand, ""},
		{"unknown command", hdr + "Invitation-Command: DECLINE\r\nInvitation-Cookie: 5\r\n", ErrNoCommand, ""},
		{"no cookie", hdr + "Invitation-Command: INVITE\r\n", ErrNoCookie, ""},
		{"zero cookie", hdr + "Invitation-Command: INVITE\r\nInvitation-Cookie: 0\r\n", ErrNoCookie, ""},
		{"cookie not a number", hdr + "Invitation-Command: INVITE\r\nInvitation-Cookie: abc\r\n", nil, "Invitation-Cookie"},
		{"cookie too large", hdr + "Invitation-Command: INVITE\r\nInvitation-Cookie: 4294967296\r\n", nil, "Invitation-Cookie"},
		{"negative file size", hdr + body + "Application-FileSize: -1\r\n", nil, "Application-FileSize"},
		{"port out of range", hdr + body + "Port: 65536\r\n", nil, "Port"},
		{"bad PortX", hdr + body + "PortX: 11178x\r\n", nil, "PortX"},
		{"bad AuthCookie", hdr + body + "AuthCookie: -3\r\n", nil, "AuthCookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.payload))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Name != tt.field {
				t.Fatalf("err = %v, want FieldError for %s", err, tt.field)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	full := Invitation{
		Command: Accept, Cookie: NewCookie(),
		AppName: "Dateiübertragung", AppGUID: FileTransferGUID, AppURL: "http://example.com/app",
		File: "Zażółć gęślą jaźń.txt", FileSize: 1 << 40,
		Connectivity: "N", LaunchApplication: "FALSE", RequestData: "IP-Address:",
		IPAddress: "192.0.2.1", IPAddressInternal: "10.0.0.2", Port: 6891, PortX: 11178, PortXInternal: 11178,
		AuthCookie: NewCookie(), SenderConnect: "TRUE",
		SessionID: "{00000000-0000-0000-0000-000000000001}", SessionProtocol: "SM1",
		ContextData: "Requested:SIP_A,;", CancelCode: CancelUserCancel,
		Encryption: "S", EncryptionKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX", HashKey: "GBkaGxwdHh8gISIjJCUmJygpKissLS4v",
		Extra: []Field{{"X-Thing", "a: b"}},
	}
	for _, inv := range []Invitation{
		full,
		{Command: Invite, Cookie: 1, AppGUID: FileTransferGUID, AppName: FileTransferName, File: "empty", FileSize: 0},
		{Command: Cancel, Cookie: 1<<32 - 1, CancelCode: CancelReject},
	} {
		p := inv.Payload()
		if !bytes.HasPrefix(p, []byte(hdr)) || !bytes.HasSuffix(p, []byte("\r\n\r\n")) {
			t.Fatalf("Payload framing: %q", p)
		}
		got, err := Parse(p)
		if err != nil {
			t.Fatalf("Parse(Payload()): %v\n%s", err, p)
		}
		if !reflect.DeepEqual(got, inv) {
			t.Fatalf("round trip =\n%+v\nwant\n%+v", got, inv)
		}
		// SIP carries the fields alone.
		body := inv.Body()
		if !bytes.Equal(p, append([]byte(hdr), body...)) {
			t.Fatalf("Body is not Payload without its header: %q", body)
		}
		if got, err := ParseBody(body); err != nil || !reflect.DeepEqual(got, inv) {
			t.Fatalf("ParseBody(Body()) = %+v, %v", got, err)
		}
	}
	// pidgin-sipe's ACCEPT, as it writes it.
	got, err := ParseBody([]byte("Invitation-Command: ACCEPT\r\nRequest-Data: IP-Address:\r\nInvitation-Cookie: 123\r\n" +
		"Encryption-Key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYX\r\nHash-Key: GBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n"))
	if err != nil || got.Command != Accept || got.Cookie != 123 || got.EncryptionKey == "" || got.HashKey == "" || got.RequestData != "IP-Address:" {
		t.Fatalf("pidgin-sipe ACCEPT: %+v %v", got, err)
	}
	if _, err := ParseBody([]byte("Invitation-Command: ACCEPT\r\n")); !errors.Is(err, ErrNoCookie) {
		t.Fatalf("no cookie: %v", err)
	}
	// An empty file still carries its size.
	p := Invitation{Command: Invite, Cookie: 1, File: "empty"}.Payload()
	if !bytes.Contains(p, []byte("\r\nApplication-FileSize: 0\r\n")) {
		t.Fatalf("empty file size missing: %q", p)
	}
}

func TestPayloadKeepsFraming(t *testing.T) {
	inv := Invitation{Command: Invite, Cookie: 1, AppName: "evil\r\nInvitation-Cookie: 2",
		Extra: []Field{{"", "dropped"}, {"A\nB", "c\rd"}}}
	got, err := Parse(inv.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if got.Cookie != 1 || got.AppName != "evil  Invitation-Cookie: 2" ||
		!reflect.DeepEqual(got.Extra, []Field{{"A B", "c d"}}) {
		t.Fatalf("got %+v", got)
	}
}

func TestNewCookie(t *testing.T) {
	for range 1000 {
		if NewCookie() == 0 {
			t.Fatal("NewCookie returned 0")
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range seedExamples {
		f.Add([]byte(hdr + tt.body + "\r\n"))
	}
	f.Add([]byte("Content-Type: text/x-msmsgsinvite\n\nInvitation-Command: cancel\nInvitation-Cookie: 01\nPort:\n"))
	f.Add([]byte("Content-Type: text/x-msmsgsinvite\r\rInvitation-Command: INVITE\rInvitation-Cookie: " +
		strconv.Itoa(1<<31) + "\r\x00: \xff\r\n"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		inv, err := Parse(payload)
		if err != nil {
			return
		}
		enc := inv.Payload()
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v (encoded %q)", payload, err, enc)
		}
		if !reflect.DeepEqual(again, inv) {
			t.Fatalf("re-parse differs:\n%#v\n%#v\n(encoded %q)", inv, again, enc)
		}
		if enc2 := again.Payload(); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding not stable:\n%q\n%q", enc, enc2)
		}
	})
}
