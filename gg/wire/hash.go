package wire

import (
	"crypto/sha1"
	"encoding/binary"
	"math/bits"
)

// Login hash types as named in GG_LOGIN80.
const (
	HashTypeGG32 uint8 = 0x01
	HashTypeSHA1 uint8 = 0x02
)

// HashSHA1 is the GG11 login hash: SHA-1 of the password bytes followed by
// the welcome seed as a little-endian uint32. The password bytes are used
// as given (libgadu does not re-encode them).
func HashSHA1(password string, seed uint32) []byte {
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(binary.LittleEndian.AppendUint32(nil, seed))
	return h.Sum(nil)
}

// HashGG32 is the pre-GG11 login hash (hash type 0x01). x keeps its shifted
// high bytes from round to round; only its low byte takes the next password
// byte.
func HashGG32(password string, seed uint32) uint32 {
	x, y := uint32(0), seed
	for i := 0; i < len(password); i++ {
		x = x&0xFFFFFF00 | uint32(password[i])
		y ^= x
		y += x
		x <<= 8
		y ^= x
		x <<= 8
		y -= x
		x <<= 8
		y ^= x
		y = bits.RotateLeft32(y, int(y&0x1F))
	}
	return y
}
