package drive

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes bounds a file name.
const MaxNameBytes = 255

// maxIDBytes bounds a ticket id in a path; ours are 32 hex digits.
const maxIDBytes = 64

// nameAllowed is what the GG client keeps in a file name; it replaces every
// other character with '_' before offering the file (spec §9.2).
func nameAllowed(r rune) bool {
	switch {
	case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		return true
	}
	return strings.ContainsRune(" [](){}-+=_;'<>,.&$!", r)
}

// SanitizeName makes a file name safe the way the GG client does: every
// character outside 0-9 a-z A-Z space [](){}-+=_;'<>,.&$! becomes '_'
// (bytes of invalid UTF-8 each count as one character). A name of only
// dots becomes '_', and it is cut to MaxNameBytes. The result never
// contains '/', '\\' or NUL and is never "", "." or "..".
func SanitizeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < MaxNameBytes; {
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		if r != utf8.RuneError && nameAllowed(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if strings.Trim(out, ".") == "" {
		return "_" + strings.TrimLeft(out, ".")
	}
	return out
}

// validName reports whether name is one SanitizeName leaves unchanged.
func validName(name string) bool {
	return name != "" && SanitizeName(name) == name
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

var errBadRef = errors.New("bad file reference")

// ParseFileRef splits the escaped last part of an outbox or inbox path,
// "<id>%2C<name>" or "<id>,<name>" with the name percent-encoded, into the
// ticket id and the file name. The id is letters and digits only; the name,
// once unescaped, must be a sanitised name (see SanitizeName): no '/', '\\',
// NUL, "." or "..", whatever escaping hid them.
func ParseFileRef(escaped string) (id, name string, err error) {
	// The first ',' or "%2C" (either case) ends the id. Byte by byte: case
	// mapping of the whole string would move offsets on invalid UTF-8.
	sep, width := -1, 0
	for i := 0; i < len(escaped); i++ {
		if escaped[i] == ',' {
			sep, width = i, 1
			break
		}
		if escaped[i] == '%' && i+2 < len(escaped) && escaped[i+1] == '2' && (escaped[i+2] == 'C' || escaped[i+2] == 'c') {
			sep, width = i, 3
			break
		}
	}
	if sep < 0 {
		return "", "", errBadRef
	}
	id, rawName := escaped[:sep], escaped[sep+width:]
	if !validID(id) || strings.ContainsRune(rawName, '/') {
		return "", "", errBadRef
	}
	name, err = url.PathUnescape(rawName)
	if err != nil || !validName(name) {
		return "", "", errBadRef
	}
	return id, name, nil
}
