package wire

import (
	"strings"
)

// AddressURI returns the URI of an address header (From, To, Contact,
// Record-Route) as pidgin-sipe reads it: the text inside <…>, or without
// angle brackets everything up to the first ';'.
func AddressURI(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		rest := v[i+1:]
		if j := strings.IndexByte(rest, '>'); j >= 0 {
			return rest[:j]
		}
		return ""
	}
	uri, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(uri)
}

// Tag returns the tag parameter of an address header, as pidgin-sipe
// finds it: the text after ";tag=" up to the next ';'.
func Tag(v string) string {
	return Between(v, ";tag=", ";")
}

// Between returns the text after the first before up to the next after
// (or the end), "" when before does not occur. It is how pidgin-sipe
// picks parameters out of headers (the reason="…" of ms-diagnostics, the
// timeout= of ms-keep-alive), and the MS-SIPAE signature must pick them
// the same way.
func Between(v, before, after string) string {
	i := strings.Index(v, before)
	if i < 0 {
		return ""
	}
	rest := v[i+len(before):]
	if j := strings.Index(rest, after); j >= 0 {
		return rest[:j]
	}
	return rest
}

// URIUser returns the user@host part of a sip: URI, without scheme and
// parameters: "sip:alice@example.com;transport=tcp" → "alice@example.com".
func URIUser(uri string) string {
	uri = strings.TrimSpace(uri)
	for _, scheme := range []string{"sip:", "sips:"} {
		if len(uri) >= len(scheme) && strings.EqualFold(uri[:len(scheme)], scheme) {
			uri = uri[len(scheme):]
			break
		}
	}
	if i := strings.IndexAny(uri, ";?>"); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

// AuthParams reads an authentication header (WWW-Authenticate,
// Authorization, Authentication-Info): a scheme, then comma-separated
// name=value pairs whose values may be quoted. Names are lower-cased;
// values lose their quotes.
func AuthParams(v string) (scheme string, params map[string]string) {
	params = make(map[string]string)
	scheme = AuthPairs(v, func(name, value string) {
		name = strings.ToLower(name)
		if _, seen := params[name]; !seen {
			params[name] = value
		}
	})
	return scheme, params
}

// AuthPairs is AuthParams without the map, for a reader of every message
// that wants a few names: it returns the scheme and calls each with the
// pairs in order, names as sent and duplicates included.
func AuthPairs(v string, each func(name, value string)) (scheme string) {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t,")
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		after = strings.TrimLeft(after, " \t")
		var value string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				value, rest = after[1:], ""
			} else {
				value, rest = after[1:1+end], after[2+end:]
			}
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value = strings.TrimSpace(value)
		}
		each(strings.TrimSpace(name), value)
	}
	return scheme
}

// AuthFields reads the parameters names of an authentication header into
// values (the first value of each, names matched without regard to case,
// as AuthParams keeps them) and returns the scheme: AuthParams without
// its map, for a reader of every message that wants a few names (at most
// 32).
func AuthFields(v string, names, values []string) (scheme string) {
	var seen uint32
	return AuthPairs(v, func(name, value string) {
		for i, n := range names {
			if strings.EqualFold(name, n) {
				if seen&(1<<i) == 0 {
					seen |= 1 << i
					values[i] = value
				}
				return
			}
		}
	})
}

// Param returns a header parameter such as the branch of a Via or the
// expires of a Contact: the text after ";name=" up to the next ';' or ','.
func Param(v, name string) string {
	p := Between(v, ";"+name+"=", ";")
	if i := strings.IndexByte(p, ','); i >= 0 {
		p = p[:i]
	}
	return strings.TrimSpace(p)
}

// HasPrefixFold is strings.HasPrefix without regard to case, and without
// lower-casing a copy of every message's Content-Type.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
