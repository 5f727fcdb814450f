// Package soap holds what the MSN SOAP services' encoders share: a buffer
// that writes escaped XML, and the one way every answer is sent.
package soap

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Writer is an answer or a request being written.
type Writer struct{ bytes.Buffer }

// Text writes s XML-escaped.
func (w *Writer) Text(s string) { _ = xml.EscapeText(w, []byte(s)) }

// Elem writes <name>s</name>, s escaped.
func (w *Writer) Elem(name, s string) {
	w.WriteString("<" + name + ">")
	w.Text(s)
	w.WriteString("</" + name + ">")
}

// Send answers with body and its length: Pidgin's and old clients' HTTP
// readers know no chunked encoding, which Go uses for long answers
// without one.
func Send(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}
