package wire

import "strings"

// EncodeName %-encodes a friendly or group name for use as one parameter.
// Real servers escaped spaces, '%' and every byte outside printable ASCII
// (UTF-8 names travel as %XX sequences of their bytes).
func EncodeName(s string) string {
	const hex = "0123456789ABCDEF"
	plain := 0
	for plain < len(s) && !nameEscaped(s[plain]) {
		plain++
	}
	if plain == len(s) {
		return s // most names: nothing to escape, nothing to copy
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:plain])
	for i := plain; i < len(s); i++ {
		c := s[i]
		if nameEscaped(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// nameEscaped reports whether EncodeName escapes byte c.
func nameEscaped(c byte) bool { return c <= ' ' || c >= 0x7f || c == '%' }

// DecodeName reverses EncodeName. It is lenient the way clients need: a '%'
// not followed by two hex digits is kept as it is.
func DecodeName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
