package wire

import (
	"encoding/hex"
	"testing"
)

// The expected values were computed outside Go, with a short Python script
// using hashlib for SHA-1 and a transcription of the spec's GG32 pseudocode.
var hashVectors = []struct {
	password string
	seed     uint32
	sha1     string
	gg32     uint32
}{
	{"password", 0x12345678, "b854541caa373cd45dcb1e4a556575c0ec51fa4f", 0x1c25631b},
	{"", 0, "9069ca78e7450a285173431b3e52c5c25299e473", 0},
	{"Zażółć gęślą jaźń", 0xdeadbeef, "6bb4bbb4775c4f69fda7bab2d3f4ec88f1e297ef", 0xa567d907},
	{"secret", 1, "8290001ea88f2bbbab1f28cb72874f6a2437a0e6", 0x928e57b7},
}

func TestHashes(t *testing.T) {
	for _, v := range hashVectors {
		if got := hex.EncodeToString(HashSHA1(v.password, v.seed)); got != v.sha1 {
			t.Errorf("HashSHA1(%q, %#x) = %s, want %s", v.password, v.seed, got, v.sha1)
		}
		if got := HashGG32(v.password, v.seed); got != v.gg32 {
			t.Errorf("HashGG32(%q, %#x) = %#08x, want %#08x", v.password, v.seed, got, v.gg32)
		}
	}
}
