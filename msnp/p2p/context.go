package p2p

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
)

// The file-transfer Context of an INVITE (base64 in the body), all
// little-endian: header length, version, file size, type, the file name
// in UTF-16 padded with zeros to nameBytes, then fields of unknown use,
// and after the header an optional preview picture.
const (
	contextLength   = 574 // version 2; version 3 has 638
	contextVersion  = 2
	nameOffset      = 20
	nameBytes       = 520
	contextTrailer  = 570 // a u32 the official client sets to all ones
	typeNoPreview   = 1
	maxContextBytes = 64 << 10 // a preview picture included
)

// FileContext is what a file INVITE says about the file.
type FileContext struct {
	Name string
	Size uint64
}

// ErrBadContext is returned for a Context that is not a file description.
var ErrBadContext = errors.New("p2p: malformed file context")

// Encode writes the context as base64 for the INVITE body: version 2, no
// preview. A name longer than the field holds is cut.
func (c FileContext) Encode() string {
	b := make([]byte, contextLength)
	le := binary.LittleEndian
	le.PutUint32(b[0:], contextLength)
	le.PutUint32(b[4:], contextVersion)
	le.PutUint64(b[8:], c.Size)
	le.PutUint32(b[16:], typeNoPreview)
	name := utf16.Encode([]rune(c.Name))
	for i, u := range name[:min(len(name), nameBytes/2-1)] {
		le.PutUint16(b[nameOffset+2*i:], u)
	}
	le.PutUint32(b[contextTrailer:], 0xffffffff)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseFileContext reads the Context of a file INVITE: its declared header
// length must cover the name field.
func ParseFileContext(s string) (FileContext, error) {
	s = strings.TrimSpace(s)
	if base64.StdEncoding.DecodedLen(len(s)) > maxContextBytes {
		return FileContext{}, ErrBadContext
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < nameOffset+nameBytes {
		return FileContext{}, ErrBadContext
	}
	le := binary.LittleEndian
	if n := le.Uint32(b[0:]); n < nameOffset+nameBytes || uint64(n) > uint64(len(b)) {
		return FileContext{}, ErrBadContext
	}
	var name []uint16
	for i := nameOffset; i < nameOffset+nameBytes; i += 2 {
		u := le.Uint16(b[i:])
		if u == 0 {
			break
		}
		name = append(name, u)
	}
	return FileContext{Name: string(utf16.Decode(name)), Size: le.Uint64(b[8:])}, nil
}
