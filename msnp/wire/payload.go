package wire

import (
	"bytes"
	"net/textproto"
	"strings"
)

// Payload is the payload of a switchboard MSG: MIME-style header lines, an
// empty line, then the body. Lines may end in CRLF or LF; header lines
// without a colon are skipped, as the official clients do. Reading a
// header allocates only its value, so that relaying a message costs no
// parsing it does not need.
type Payload struct {
	head []byte
	Body []byte
	// Complete is false when no empty line ends the header block (the
	// whole payload is then read as headers).
	Complete bool
}

// ParsePayload splits a MSG payload into its header block and body.
func ParsePayload(p []byte) Payload {
	for i := 0; i < len(p); {
		end := bytes.IndexByte(p[i:], '\n')
		if end < 0 {
			break
		}
		line := p[i : i+end]
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return Payload{head: p[:i], Body: p[i+end+1:], Complete: true}
		}
		i += end + 1
	}
	return Payload{head: p}
}

// nextHeader takes the first header line of rest: its name and value,
// trimmed, and what follows it; ok is false once no header line is left.
func nextHeader(rest []byte) (name, value, after []byte, ok bool) {
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if found && len(name) > 0 {
			return name, bytes.TrimSpace(value), rest, true
		}
	}
	return nil, nil, nil, false
}

// Header returns the first value of the named header (any letter case), or
// "". It is read for every message relayed, and allocates only the value.
func (p Payload) Header(name string) string { return string(p.header(name)) }

// HeaderBytes is Header in the payload's own bytes, which the caller must
// neither change nor keep past the payload: none allocated.
func (p Payload) HeaderBytes(name string) []byte { return p.header(name) }

// header is the first value of the named header, in the payload's bytes.
func (p Payload) header(name string) []byte {
	for n, value, rest, ok := nextHeader(p.head); ok; n, value, rest, ok = nextHeader(rest) {
		if asciiEqualFold(n, name) {
			return value
		}
	}
	return nil
}

// ContentType is the Content-Type without parameters, in lower case. The
// types messages carry most are returned without allocating: it is read
// several times for every message relayed.
func (p Payload) ContentType() string {
	t, _, _ := bytes.Cut(p.header("Content-Type"), []byte(";"))
	t = bytes.TrimSpace(t)
	for _, common := range commonContentTypes {
		if asciiEqualFold(t, common) {
			return common
		}
	}
	return strings.ToLower(string(t))
}

// commonContentTypes are the content types of text, typing, P2P and
// invitation messages, in lower case.
var commonContentTypes = []string{"text/plain", "text/x-msmsgscontrol", "application/x-msnmsgrp2p", "text/x-msmsgsinvite"}

// Headers returns every header, keyed in canonical form.
// Names and values are cut from one copy of the header block, and the
// values of headers named once share one slice: a login's profile, twenty
// headers, costs a few allocations instead of sixty.
func (p Payload) Headers() textproto.MIMEHeader {
	n := 0
	for _, _, rest, ok := nextHeader(p.head); ok; _, _, rest, ok = nextHeader(rest) {
		n++
	}
	h := make(textproto.MIMEHeader, n)
	if n == 0 {
		return h
	}
	head := string(p.head)
	// nextHeader's slices lie within p.head, ending where p.head's
	// capacity does: their capacity tells where they start.
	cut := func(b []byte) string {
		if len(b) == 0 {
			return "" // TrimSpace gives nil for an empty value
		}
		at := cap(p.head) - cap(b)
		return head[at : at+len(b)]
	}
	values := make([]string, n)
	for name, value, rest, ok := nextHeader(p.head); ok; name, value, rest, ok = nextHeader(rest) {
		key := textproto.CanonicalMIMEHeaderKey(cut(name))
		if vs, seen := h[key]; seen {
			h[key] = append(vs, cut(value))
			continue
		}
		values[0] = cut(value)
		h[key] = values[:1:1]
		values = values[1:]
	}
	return h
}

// asciiEqualFold compares header names, which are ASCII, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
