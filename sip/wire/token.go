package wire

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomHex returns the hex digits of n random bytes, n at most 16: the
// tags, branches, Call-IDs and signature nonces of both ends.
func RandomHex(n int) string {
	var digits [32]byte
	return string(AppendRandomHex(digits[:0], n))
}

// AppendRandomHex appends RandomHex's digits to dst.
func AppendRandomHex(dst []byte, n int) []byte {
	var b [16]byte
	_, _ = rand.Read(b[:n])
	return hex.AppendEncode(dst, b[:n])
}
