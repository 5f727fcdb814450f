package wire

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// Published answers of the MSNP11 challenge hash (the ECF MSN library's
// and a Ruby client's tests), and the MD5 form of MSNP8–10.
func TestChallengeAnswer(t *testing.T) {
	for _, c := range []struct {
		dialect             int
		challenge, id, want string
	}{
		{11, "22210219642164014968", "PROD0090YUAUV{2B", "85ecb0db8f32113df79ce0892b9a102c"},
		{11, "36819795137093047918", "PROD0090YUAUV{2B", "e7ad3cb09d3e9e4e7c720175984809e9"},
		{11, "21948129323261853323", "PROD0090YUAUV{2B", "59bcf63ed21f44906c3d3e121ddbed65"},
		{15, "11533365622852247127", "PROD0113H11T8$X_", "f086d1ded067186deca8dba2231602cf"},
		{8, "15570131571988941333", "msmsgs@msnmsgr.com", md5hexOf("15570131571988941333Q1P7W2E4J9R8U3S5")},
	} {
		if got := ChallengeAnswer(c.dialect, c.challenge, c.id, ProductKeys[c.id]); got != c.want {
			t.Errorf("MSNP%d %s %s: %s, want %s", c.dialect, c.challenge, c.id, got, c.want)
		}
	}
}

func md5hexOf(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
