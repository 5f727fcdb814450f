package wire

import (
	"strconv"
	"strings"
)

// Escape encodes a text value: "/" becomes "/1" and "\" becomes "/2", one
// character at a time (an escaped "/" is never looked at again). Nothing
// else is escaped: "|" stays as it is (the "/3" sometimes mentioned for it
// is used by no known client) and so does 0x1C. Binary values are base64
// and must not go through Escape.
func Escape(s string) string {
	if !strings.ContainsAny(s, `/\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '/':
			b.WriteString("/1")
		case '\\':
			b.WriteString("/2")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Unescape decodes a text value left to right: "/1" becomes "/", "/2"
// becomes "\", and any other "/" (including a final one) is kept as it is.
func Unescape(s string) string {
	if !strings.Contains(s, "/") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '/' && i+1 < len(s) {
			switch s[i+1] {
			case '1':
				b.WriteByte('/')
				i++
				continue
			case '2':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// DictSep separates the pairs of a dictionary.
const DictSep = '\x1c'

// Pair is one entry of a dictionary. Value is decoded (unescaped).
type Pair struct {
	Key   string
	Value string
}

// Dict is a dictionary value: "Key=Value" pairs joined by byte 0x1C, in
// order. Keys may repeat: a contact list is one dictionary of records that
// each start with ContactID.
type Dict []Pair

// ParseDict decodes a dictionary value as it is on the wire: pairs split on
// 0x1C, each on its first "=", key and value unescaped (pidgin unescapes
// each value, Digsby the whole body; for real keys, which hold no "/", the
// two agree). Empty items are skipped; an item without "=" is a key with an
// empty value.
func ParseDict(raw string) Dict {
	if raw == "" {
		return nil
	}
	var d Dict
	for item := range strings.SplitSeq(raw, string(DictSep)) {
		if item == "" {
			continue
		}
		k, v, _ := strings.Cut(item, "=")
		d = append(d, Pair{Unescape(k), Unescape(v)})
	}
	return d
}

// dictKeyUnsafe drops what a dictionary key cannot hold.
var dictKeyUnsafe = strings.NewReplacer("\x1c", "", "=", "")

// Encode returns the wire form of d, to be used as a raw message value.
// Keys and values are escaped; there is no escape for 0x1C, so it is
// removed, and so is "=" from keys.
func (d Dict) Encode() string {
	var b strings.Builder
	for i, p := range d {
		if i > 0 {
			b.WriteByte(DictSep)
		}
		b.WriteString(Escape(dictKeyUnsafe.Replace(p.Key)))
		b.WriteByte('=')
		b.WriteString(Escape(strings.ReplaceAll(p.Value, "\x1c", "")))
	}
	return b.String()
}

func (d Dict) index(key string) int {
	for i, p := range d {
		if p.Key == key {
			return i
		}
	}
	return -1
}

// Lookup returns the first value of key and whether it is present.
func (d Dict) Lookup(key string) (string, bool) {
	if i := d.index(key); i >= 0 {
		return d[i].Value, true
	}
	return "", false
}

// Get returns the first value of key, "" when absent.
func (d Dict) Get(key string) string {
	v, _ := d.Lookup(key)
	return v
}

// Has reports whether key is present.
func (d Dict) Has(key string) bool { return d.index(key) >= 0 }

// Int returns the first value of key as a decimal integer.
func (d Dict) Int(key string) (int, bool) {
	v, ok := d.Lookup(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// Uint32 returns the first value of key as an unsigned 32-bit decimal.
func (d Dict) Uint32(key string) (uint32, bool) {
	v, ok := d.Lookup(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err == nil
}

// Bool reads the "True"/"False" values of settings (case-insensitive);
// "1" counts as true too.
func (d Dict) Bool(key string) bool {
	v := d.Get(key)
	return strings.EqualFold(v, "true") || v == "1"
}

// Add appends a pair.
func (d *Dict) Add(key, value string) { *d = append(*d, Pair{key, value}) }

// Set replaces the first pair named key, or appends one.
func (d *Dict) Set(key, value string) {
	if i := d.index(key); i >= 0 {
		(*d)[i].Value = value
		return
	}
	d.Add(key, value)
}

// Records splits d into records that each begin at a pair named startKey
// (ContactID for contact lists, GroupID for group lists). Pairs before the
// first startKey are dropped.
func (d Dict) Records(startKey string) []Dict {
	var out []Dict
	for i, p := range d {
		if p.Key == startKey {
			out = append(out, Dict{p})
		} else if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], d[i])
		}
	}
	return out
}

// ListSep separates the items of a list value.
const ListSep = "|"

// SplitList splits a list value ("a|b|c") into its items; "" gives none.
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ListSep)
}

// JoinList joins items with "|". There is no escape for "|" that clients
// understand, so it is removed from the items.
func JoinList(items ...string) string {
	clean := make([]string, len(items))
	for i, it := range items {
		clean[i] = strings.ReplaceAll(it, ListSep, "")
	}
	return strings.Join(clean, ListSep)
}
