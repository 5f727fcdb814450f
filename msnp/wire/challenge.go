package wire

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
)

// ProductKeys are the client ids and keys clients answer CHL with.
var ProductKeys = map[string]string{
	"msmsgs@msnmsgr.com": "Q1P7W2E4J9R8U3S5",
	"PROD0038W!61ZTF9":   "VT6PX?UQTM4WM%YR",
	"PROD0061VRRZH@4F":   "JXQ6J@TUOGYV@N0M",
	"PROD0058#7IL2{QD":   "QHDCY@7R1TB6W?5B",
	"PROD00504RLUG%WL":   "I2EBK%PYNLZL5_J4",
	"PROD0076ENE8*@AW":   "CEQJ8}OE0!WTSWII",
	"PROD0090YUAUV{2B":   "YMM8C_H7KCQ2S_KL",
	"PROD0101{0RM?UBW":   "CFHUR$52U_{VIX5T",
	"PROD01065C%ZFN6F":   "O4BG@C7BWLYQX?5G",
	"PROD0112J1LW7%NB":   "RH96F{PHI8PPX_TJ",
	"PROD0113H11T8$X_":   "RG@XY*28Q5QHS%Q5",
	"PROD0114ES4Z%Q5W":   "PK}_A_0N_K%O?A9S",
	"PROD0118R6%2WYOS":   "YIXPX@5I2P0UT*LK",
	"PROD0119GSJUC$18":   "ILTXC!4IXB5FB*PX",
	"PROD0120PW!CCV9@":   "C1BX{V4W}Q3*10SM",
}

// ChallengeAnswer is the 32 hex characters a client of dialect answers
// challenge with, as product id with its key: MD5 up to MSNP10, the MSNP11
// hash from then on (spec msnp8-18 §8).
func ChallengeAnswer(dialect int, challenge, productID, key string) string {
	if dialect < 11 {
		sum := md5.Sum([]byte(challenge + key))
		return hex.EncodeToString(sum[:])
	}
	return challengeHash11(challenge, productID, key)
}

// challengeHash11 is MSNP11's challenge hash, step by step as spec §8
// describes it.
func challengeHash11(challenge, productID, key string) string {
	sum := md5.Sum([]byte(challenge + key))
	var h, m [4]uint32
	for i := range h {
		h[i] = binary.LittleEndian.Uint32(sum[4*i:])
		m[i] = h[i] & 0x7FFFFFFF
	}
	s := []byte(challenge + productID)
	for len(s)%8 != 0 {
		s = append(s, '0')
	}
	const p = 0x7FFFFFFF
	var hi, lo uint64
	for i := 0; i+8 <= len(s); i += 8 {
		w0 := uint64(binary.LittleEndian.Uint32(s[i:]))
		w1 := uint64(binary.LittleEndian.Uint32(s[i+4:]))
		t := (0x0E79A9C1 * w0) % p
		t = (uint64(m[0])*(t+lo) + uint64(m[1])) % p
		hi += t
		u := (w1 + t) % p
		lo = (uint64(m[2])*u + uint64(m[3])) % p
		hi += lo
	}
	lo = (lo + uint64(m[1])) % p
	hi = (hi + uint64(m[3])) % p
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], h[0]^uint32(lo))
	binary.LittleEndian.PutUint32(out[4:], h[1]^uint32(hi))
	binary.LittleEndian.PutUint32(out[8:], h[2]^uint32(lo))
	binary.LittleEndian.PutUint32(out[12:], h[3]^uint32(hi))
	return hex.EncodeToString(out[:])
}
