package oim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"mime"
	"strconv"
	"time"
)

// Entry is one offline message as Mail-Data lists it.
type Entry struct {
	ID       string // MessageID
	From     string // the sender's e-mail
	FromName string // the sender's display name
	Sent     time.Time
	Size     int // bytes of the message GetMessage returns
}

// TooLarge is what Mail-Data says instead of a list when the list is
// longer than the notification may carry; the client then calls
// GetMetadata.
const TooLarge = "too-large"

// DefaultMaxMailData is how many entries a notification lists before it
// says TooLarge, as the real service did (spec §7).
const DefaultMaxMailData = 25

// The quota the lists report; clients show nothing of it.
const quota = `<Q><QTM>409600</QTM><QNM>204800</QNM></Q>`

// AppendMailData writes the <MD> element listing entries: no mail counts,
// the quota, one <M> per offline message.
func AppendMailData(b []byte, entries []Entry) []byte {
	b = append(b, `<MD><E><I>0</I><IU>0</IU><O>0</O><OU>0</OU></E>`+quota...)
	for _, e := range entries {
		b = append(b, "<M><T>11</T><S>6</S><RT>"...)
		b = append(b, e.Sent.UTC().Format("2006-01-02T15:04:05.000Z")...)
		b = append(b, "</RT><RS>0</RS><SZ>"...)
		b = strconv.AppendInt(b, int64(e.Size), 10)
		b = append(b, "</SZ><E>"...)
		b = appendEscaped(b, e.From)
		b = append(b, "</E><I>"...)
		b = appendEscaped(b, e.ID)
		b = append(b, "</I><F>00000000-0000-0000-0000-000000000009</F><N>"...)
		b = append(b, EncodeWord(e.FromName)...)
		b = append(b, "</N></M>"...)
	}
	return append(b, "</MD>"...)
}

// MailData is the value of a notification's Mail-Data header: the list,
// or TooLarge when it has more than max entries.
func MailData(entries []Entry, max int) string {
	if len(entries) > max {
		return TooLarge
	}
	return string(AppendMailData(nil, entries))
}

// EncodeWord writes s as one RFC 2047 encoded word, always, as the real
// service did; clients decode it.
func EncodeWord(s string) string {
	return "=?utf-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// decodeWords decodes RFC 2047 words, keeping text that is not one.
func decodeWords(s string) string {
	var d mime.WordDecoder
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

func appendEscaped(b []byte, s string) []byte {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s))
	return append(b, buf.Bytes()...)
}

type mdElement struct {
	Messages []struct {
		Sent string `xml:"RT"`
		Size int    `xml:"SZ"`
		From string `xml:"E"`
		ID   string `xml:"I"`
		Name string `xml:"N"`
	} `xml:"M"`
}

// ErrBadMailData is returned for Mail-Data that is neither a list nor
// TooLarge.
var ErrBadMailData = errors.New("oim: malformed Mail-Data")

// ParseMailData reads a Mail-Data value (or the <MD> of GetMetadata).
// tooLarge says the value was TooLarge and the list must be fetched.
func ParseMailData(s []byte) (entries []Entry, tooLarge bool, err error) {
	if string(bytes.TrimSpace(s)) == TooLarge {
		return nil, true, nil
	}
	var md mdElement
	if err := xml.Unmarshal(s, &md); err != nil {
		return nil, false, ErrBadMailData
	}
	for _, m := range md.Messages {
		if m.ID == "" {
			return nil, false, ErrBadMailData
		}
		sent, _ := time.Parse(time.RFC3339, m.Sent)
		entries = append(entries, Entry{ID: m.ID, From: m.From, FromName: decodeWords(m.Name), Sent: sent, Size: m.Size})
	}
	return entries, false, nil
}
