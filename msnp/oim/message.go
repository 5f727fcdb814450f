package oim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one offline message in the mail-like form both services
// carry: what GetMessage answers, and (headers without From and To) the
// Content of a Store2 request.
type Message struct {
	From, FromName string // sender's e-mail and display name
	To             string
	Sent           time.Time
	// RunID and Sequence order a sender's messages: a client names one
	// run per sign-in ("{GUID}") and counts its messages in it.
	RunID    string
	Sequence int64
	Text     string
}

// dateLayout is the Date header as the real service wrote it and Pidgin
// parses it ("5 Sep 2007 21:42:12 -0700").
const dateLayout = "2 Jan 2006 15:04:05 -0700"

// lineLength is where the base64 text wraps, as mail does.
const lineLength = 76

// AppendMessage writes m as GetMessage returns it: headers, a blank line
// and the text in base64. Lines end in LF alone, which is what a CRLF
// becomes in XML text anyway.
func AppendMessage(b []byte, m Message) []byte {
	if m.From != "" {
		b = append(b, "From: "+EncodeWord(m.FromName)+" <"+m.From+">\n"...)
	}
	if m.To != "" {
		b = append(b, "To: "+m.To+"\n"...)
	}
	b = append(b, "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n"+
		"X-OIM-Message-Type: OfflineMessage\nX-OIM-Run-Id: "...)
	b = append(b, m.RunID...)
	b = append(b, "\nX-OIM-Sequence-Num: "...)
	b = strconv.AppendInt(b, m.Sequence, 10)
	if !m.Sent.IsZero() {
		b = append(b, "\nDate: "...)
		b = m.Sent.AppendFormat(b, dateLayout)
	}
	b = append(b, "\n\n"...)
	text := base64.StdEncoding.EncodeToString([]byte(m.Text))
	for len(text) > lineLength {
		b = append(b, text[:lineLength]+"\n"...)
		text = text[lineLength:]
	}
	return append(b, text...)
}

// ErrBadMessage is returned for text that is not an offline message:
// no blank line after the headers, a body that is not base64, text that
// is not UTF-8, a content type other than plain text.
var ErrBadMessage = errors.New("oim: malformed message")

// maxHeaders bounds the header lines of a message; real ones have ten.
const maxHeaders = 32

// ParseMessage reads a message GetMessage returned or a Store2 request
// carried. Missing headers stay empty; a body without
// Content-Transfer-Encoding base64 is plain text.
func ParseMessage(s string) (Message, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	head, body, ok := strings.Cut(strings.TrimLeft(s, "\n"), "\n\n")
	if !ok {
		return Message{}, ErrBadMessage
	}
	var m Message
	encoding := ""
	for i, line := range strings.Split(head, "\n") {
		if i >= maxHeaders {
			return Message{}, ErrBadMessage
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return Message{}, ErrBadMessage
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "from":
			if a, err := mail.ParseAddress(value); err == nil {
				m.From, m.FromName = a.Address, a.Name
			} else {
				m.From = strings.Trim(value, "<>")
			}
		case "to":
			m.To = strings.Trim(value, "<> ")
		case "date":
			m.Sent, _ = time.Parse(dateLayout, value)
		case "x-oim-run-id":
			m.RunID = value
		case "x-oim-sequence-num":
			m.Sequence, _ = strconv.ParseInt(value, 10, 64)
		case "content-transfer-encoding":
			encoding = strings.ToLower(value)
		case "content-type":
			media, _, _ := strings.Cut(value, ";")
			if t := strings.ToLower(strings.TrimSpace(media)); t != "text/plain" {
				return Message{}, ErrBadMessage
			}
		}
	}
	text := []byte(body)
	if encoding == "base64" {
		compact := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		var err error
		if text, err = base64.StdEncoding.DecodeString(compact); err != nil {
			return Message{}, ErrBadMessage
		}
	}
	if !utf8.Valid(text) {
		return Message{}, ErrBadMessage
	}
	m.Text = string(text)
	return m, nil
}

// RunID names the run of messages from one account to another, for
// messages whose sender named none (those of other protocols): the same
// for every message of the pair, so that the mailbox's ids, used as
// sequence numbers, order them.
func RunID(from, to uint32) string {
	var in [8]byte
	binary.BigEndian.PutUint32(in[:], from)
	binary.BigEndian.PutUint32(in[4:], to)
	h := sha256.Sum256(append([]byte("msn oim run\x00"), in[:]...))
	return formatGUID(h[:16])
}

// NewRunID names a client's run of messages, as clients do once per
// sign-in.
func NewRunID() string {
	var b [16]byte
	rand.Read(b[:])
	return formatGUID(b[:])
}

func formatGUID(b []byte) string {
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
