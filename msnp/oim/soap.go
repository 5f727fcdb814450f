package oim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/msnp/internal/soap"
)

// The retrieval service's operations.
const (
	OpGetMetadata    = "GetMetadata"
	OpGetMessage     = "GetMessage"
	OpDeleteMessages = "DeleteMessages"
)

// MaxDeleteIDs bounds the ids of one DeleteMessages; a mailbox holds a
// few hundred messages at most.
const MaxDeleteIDs = 1000

// ErrBadRequest is returned for a body that is not a request of the
// service: not XML, not a SOAP envelope, no or several operations, fields
// missing or out of range.
var ErrBadRequest = errors.New("oim: malformed request")

// RSIRequest is a call to the retrieval service.
type RSIRequest struct {
	Operation string
	// Ticket is the t half of the messenger.msn.com ticket
	// (PassportCookie), with p after it when the client sent one.
	Ticket     string
	MessageID  string   // GetMessage
	MarkAsRead bool     // GetMessage
	MessageIDs []string // DeleteMessages
}

type rsiEnvelope struct {
	XMLName xml.Name
	T       string `xml:"Header>PassportCookie>t"`
	P       string `xml:"Header>PassportCookie>p"`
	Body    struct {
		Ops []struct {
			XMLName    xml.Name
			MessageID  string   `xml:"messageId"`
			MarkAsRead string   `xml:"alsoMarkAsRead"`
			IDs        []string `xml:"messageIds>messageId"`
		} `xml:",any"`
	} `xml:"Body"`
}

// ParseRSIRequest decodes a retrieval request.
func ParseRSIRequest(body []byte) (RSIRequest, error) {
	var env rsiEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" || len(env.Body.Ops) != 1 {
		return RSIRequest{}, ErrBadRequest
	}
	op := env.Body.Ops[0]
	r := RSIRequest{Operation: op.XMLName.Local, Ticket: strings.TrimSpace(env.T)}
	if p := strings.TrimSpace(env.P); p != "" {
		r.Ticket = "t=" + r.Ticket + "&p=" + p
	}
	switch r.Operation {
	case OpGetMetadata:
	case OpGetMessage:
		r.MessageID = strings.TrimSpace(op.MessageID)
		r.MarkAsRead = strings.TrimSpace(op.MarkAsRead) == "true"
		if r.MessageID == "" {
			return RSIRequest{}, ErrBadRequest
		}
	case OpDeleteMessages:
		if len(op.IDs) == 0 || len(op.IDs) > MaxDeleteIDs {
			return RSIRequest{}, ErrBadRequest
		}
		for _, id := range op.IDs {
			r.MessageIDs = append(r.MessageIDs, strings.TrimSpace(id))
		}
	default:
		return RSIRequest{}, ErrBadRequest
	}
	return r, nil
}

// StoreRequest is a Store2 call: one offline message.
type StoreRequest struct {
	// Namespace is that of the request's header and body elements; the
	// answer is written in it.
	Namespace          string
	From, FriendlyName string // FriendlyName as sent (an RFC 2047 word)
	To                 string
	// Ticket is the messengersecure.live.com ticket; AppID the client's
	// product id, LockKey its answer to the lock-key challenge ("" before
	// it has one).
	Ticket, AppID, LockKey string
	// MessageNumber counts the client's messages (the Sequence header).
	MessageNumber int64
	MessageType   string
	Content       string
}

type storeEnvelope struct {
	XMLName xml.Name
	From    struct {
		XMLName      xml.Name
		MemberName   string `xml:"memberName,attr"`
		FriendlyName string `xml:"friendlyName,attr"`
	} `xml:"Header>From"`
	To struct {
		MemberName string `xml:"memberName,attr"`
	} `xml:"Header>To"`
	Ticket struct {
		Passport string `xml:"passport,attr"`
		AppID    string `xml:"appid,attr"`
		LockKey  string `xml:"lockkey,attr"`
	} `xml:"Header>Ticket"`
	MessageNumber string `xml:"Header>Sequence>MessageNumber"`
	MessageType   string `xml:"Body>MessageType"`
	Content       string `xml:"Body>Content"`
}

// ParseStoreRequest decodes a Store2 request.
func ParseStoreRequest(body []byte) (StoreRequest, error) {
	var env storeEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" {
		return StoreRequest{}, ErrBadRequest
	}
	n, err := strconv.ParseInt(strings.TrimSpace(env.MessageNumber), 10, 64)
	if err != nil || n < 0 || env.From.MemberName == "" || env.To.MemberName == "" {
		return StoreRequest{}, ErrBadRequest
	}
	ns := env.From.XMLName.Space
	if ns == "" {
		ns = NSStore
	}
	return StoreRequest{
		Namespace: ns, From: strings.TrimSpace(env.From.MemberName), FriendlyName: env.From.FriendlyName,
		To: strings.TrimSpace(env.To.MemberName), Ticket: env.Ticket.Passport, AppID: env.Ticket.AppID,
		LockKey: env.Ticket.LockKey, MessageNumber: n, MessageType: strings.TrimSpace(env.MessageType), Content: env.Content,
	}, nil
}

// Fault codes the clients tell apart (Pidgin shows a reason for each of
// the storing service's). Codes without a prefix are qualified by q0, bound
// to the service's namespace, as the real service wrote them.
const (
	FaultAuthenticationFailed = "AuthenticationFailed"
	FaultSystemUnavailable    = "SystemUnavailable" // recipient blocks the sender or does not exist
	FaultThrottled            = "SenderThrottleLimitExceeded"
	FaultInvalidContent       = "InvalidContent"
	FaultClient               = "soap:Client" // a request that makes no sense
	FaultServer               = "soap:Server" // the service failed
)

// Fault is a SOAP fault of either service.
type Fault struct {
	Code    string
	Message string
	// LockKeyChallenge, on a storing fault, asks the client for a lock
	// key: the MSNP11 challenge answer to it (spec §7, §8).
	LockKeyChallenge string
	// RequiredAuthPolicy, on an authentication fault, names the ticket
	// policy the service wants.
	RequiredAuthPolicy string
}

func (f *Fault) Error() string { return "oim: fault " + f.Code + ": " + f.Message }

// Client and service faults answer 500, as SOAP 1.1 has it.
const faultStatus = http.StatusInternalServerError

const envelopeStart = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + nsSOAP +
	`" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`

// WriteFault answers f; ns is the namespace q0 stands for.
func WriteFault(w http.ResponseWriter, ns string, f *Fault) {
	code := f.Code
	if !strings.Contains(code, ":") {
		code = "q0:" + code
	}
	b := []byte(envelopeStart + `<soap:Body><soap:Fault><faultcode xmlns:q0="`)
	b = appendEscaped(b, ns)
	b = append(b, `">`...)
	b = appendEscaped(b, code)
	b = append(b, `</faultcode><faultstring>`...)
	b = appendEscaped(b, f.Message)
	b = append(b, `</faultstring><detail>`...)
	if f.LockKeyChallenge != "" {
		b = append(b, `<TweenerChallenge xmlns="`+NSStore+`">ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1033,id=507</TweenerChallenge><LockKeyChallenge xmlns="`+NSStore+`">`...)
		b = appendEscaped(b, f.LockKeyChallenge)
		b = append(b, `</LockKeyChallenge>`...)
	}
	if f.RequiredAuthPolicy != "" {
		b = append(b, `<RequiredAuthPolicy xmlns="`...)
		b = appendEscaped(b, ns)
		b = append(b, `">`...)
		b = appendEscaped(b, f.RequiredAuthPolicy)
		b = append(b, `</RequiredAuthPolicy>`...)
	}
	b = append(b, `</detail></soap:Fault></soap:Body></soap:Envelope>`...)
	soap.Send(w, faultStatus, b)
}

// writeBody answers with one body element of the retrieval service.
func writeBody(w http.ResponseWriter, inner []byte) {
	b := append([]byte(envelopeStart+`<soap:Body>`), inner...)
	soap.Send(w, http.StatusOK, append(b, `</soap:Body></soap:Envelope>`...))
}

// WriteMetadata answers GetMetadata with every waiting message.
func WriteMetadata(w http.ResponseWriter, entries []Entry) {
	b := []byte(`<GetMetadataResponse xmlns="` + NSRSI + `">`)
	b = AppendMailData(b, entries)
	writeBody(w, append(b, `</GetMetadataResponse>`...))
}

// WriteMessage answers GetMessage with the message's text (AppendMessage).
func WriteMessage(w http.ResponseWriter, text []byte) {
	b := []byte(`<GetMessageResponse xmlns="` + NSRSI + `"><GetMessageResult>`)
	b = appendEscaped(b, string(text))
	writeBody(w, append(b, `</GetMessageResult></GetMessageResponse>`...))
}

// WriteDeleted answers DeleteMessages.
func WriteDeleted(w http.ResponseWriter) {
	writeBody(w, []byte(`<DeleteMessagesResponse xmlns="`+NSRSI+`" />`))
}

// WriteStored answers a Store2 that the mailbox took, acknowledging the
// request's message number, in the request's namespace.
func WriteStored(w http.ResponseWriter, r StoreRequest) {
	n := strconv.FormatInt(r.MessageNumber, 10)
	b := []byte(envelopeStart + `<soap:Header><SequenceAcknowledgment xmlns="` + nsRM + `"><Identifier xmlns="` + nsUtility +
		`">http://messenger.msn.com</Identifier><AcknowledgmentRange Upper="` + n + `" Lower="` + n +
		`" /></SequenceAcknowledgment></soap:Header><soap:Body><StoreResponse xmlns="`)
	b = appendEscaped(b, r.Namespace)
	b = append(b, `"><PointsConsumed>0</PointsConsumed></StoreResponse></soap:Body></soap:Envelope>`...)
	soap.Send(w, http.StatusOK, b)
}

// RSIRequestBody is a retrieval request as clients send it, for ticket
// ("t=…&p=…"): ids name the message of GetMessage or those of
// DeleteMessages.
func RSIRequestBody(op, ticket string, ids ...string) []byte {
	t, p := splitTicket(ticket)
	b := []byte(envelopeStart + `<soap:Header><PassportCookie xmlns="` + NSRSI + `"><t>`)
	b = appendEscaped(b, t)
	b = append(b, `</t><p>`...)
	b = appendEscaped(b, p)
	b = append(b, `</p></PassportCookie></soap:Header><soap:Body><`+op+` xmlns="`+NSRSI+`">`...)
	switch op {
	case OpGetMessage:
		for _, id := range ids {
			b = append(b, `<messageId>`...)
			b = appendEscaped(b, id)
			b = append(b, `</messageId><alsoMarkAsRead>false</alsoMarkAsRead>`...)
		}
	case OpDeleteMessages:
		b = append(b, `<messageIds>`...)
		for _, id := range ids {
			b = append(b, `<messageId>`...)
			b = appendEscaped(b, id)
			b = append(b, `</messageId>`...)
		}
		b = append(b, `</messageIds>`...)
	}
	return append(b, `</`+op+`></soap:Body></soap:Envelope>`...)
}

// splitTicket splits "t=…&p=…" into its halves, as clients fill
// PassportCookie.
func splitTicket(ticket string) (t, p string) {
	t, p, _ = strings.Cut(strings.TrimPrefix(ticket, "t="), "&p=")
	return t, p
}

// StoreRequestBody is a Store2 request as WLM 8.5 and Pidgin send it.
func StoreRequestBody(r StoreRequest) []byte {
	attr := func(b []byte, name, value string) []byte {
		b = append(b, " "+name+`="`...)
		b = appendEscaped(b, value)
		return append(b, '"')
	}
	b := []byte(envelopeStart + `<soap:Header><From`)
	b = attr(b, "memberName", r.From)
	b = attr(b, "friendlyName", r.FriendlyName)
	b = append(b, ` xml:lang="en-US" proxy="MSNMSGR" xmlns="`+NSStore+`" msnpVer="MSNP15" buildVer="8.5.1288"/><To`...)
	b = attr(b, "memberName", r.To)
	b = append(b, ` xmlns="`+NSStore+`"/><Ticket`...)
	b = attr(b, "passport", r.Ticket)
	b = attr(b, "appid", r.AppID)
	b = attr(b, "lockkey", r.LockKey)
	b = append(b, ` xmlns="`+NSStore+`"/><Sequence xmlns="`+nsRM+`"><Identifier xmlns="`+nsUtility+
		`">http://messenger.msn.com</Identifier><MessageNumber>`...)
	b = strconv.AppendInt(b, r.MessageNumber, 10)
	b = append(b, `</MessageNumber></Sequence></soap:Header><soap:Body><MessageType xmlns="`+NSStore+`">`...)
	b = appendEscaped(b, r.MessageType)
	b = append(b, `</MessageType><Content xmlns="`+NSStore+`">`...)
	b = appendEscaped(b, r.Content)
	return append(b, `</Content></soap:Body></soap:Envelope>`...)
}

// Response is what a client reads from either service's answer.
type Response struct {
	// MailData is GetMetadata's list, as an <MD> element.
	MailData []byte
	// Message is GetMessage's text.
	Message string
	// Acknowledged is the message number a Store2 answer acknowledged.
	Acknowledged int64
}

type responseEnvelope struct {
	XMLName xml.Name
	MD      struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body>GetMetadataResponse>MD"`
	Message string `xml:"Body>GetMessageResponse>GetMessageResult"`
	Ack     struct {
		Upper string `xml:"Upper,attr"`
	} `xml:"Header>SequenceAcknowledgment>AcknowledgmentRange"`
	Fault *struct {
		Code      string `xml:"faultcode"`
		String    string `xml:"faultstring"`
		Challenge string `xml:"detail>LockKeyChallenge"`
		Policy    string `xml:"detail>RequiredAuthPolicy"`
	} `xml:"Body>Fault"`
}

// ParseResponse reads an answer of either service; a fault is returned as
// a *Fault error, its code without the q0 prefix.
func ParseResponse(body []byte) (Response, error) {
	var env responseEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" {
		return Response{}, fmt.Errorf("oim: malformed answer")
	}
	if f := env.Fault; f != nil {
		return Response{}, &Fault{Code: strings.TrimPrefix(strings.TrimSpace(f.Code), "q0:"), Message: f.String,
			LockKeyChallenge: strings.TrimSpace(f.Challenge), RequiredAuthPolicy: strings.TrimSpace(f.Policy)}
	}
	r := Response{Message: env.Message}
	if env.MD.Inner != nil {
		r.MailData = append(append([]byte("<MD>"), env.MD.Inner...), "</MD>"...)
	}
	r.Acknowledged, _ = strconv.ParseInt(env.Ack.Upper, 10, 64)
	return r, nil
}
