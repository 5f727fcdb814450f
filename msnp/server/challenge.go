package server

import (
	"context"
	"crypto/subtle"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// handleQRY checks the answer to CHL: the MD5 form up to MSNP10, the
// MSNP11 hash from then on, with the key of the product id the client
// names (spec msnp8-18 §8).
func (n *nsConn) handleQRY(_ context.Context, cmd wire.Command) error {
	if n.challenge == nil {
		return errCode(errNotExpected)
	}
	id := cmd.Arg(1)
	key, known := wire.ProductKeys[id]
	want := wire.ChallengeAnswer(n.dialect, n.challenge.text, id, key)
	n.challenge = nil
	if !known || subtle.ConstantTimeCompare([]byte(want), cmd.Payload) != 1 {
		return fatalCode(errChallenge)
	}
	n.send("QRY", cmd.Args[0])
	return nil
}
