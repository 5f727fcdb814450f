package oim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"time"

	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// LockKeys issues the lock-key challenges of the storing service and
// checks the lock keys clients answer them with: the MSNP11 challenge
// hash of the challenge with the client's product id and key (spec §7).
// A challenge is computed from the account and the time, not stored, so
// any node holding Key checks a lock key another node challenged for.
type LockKeys struct {
	Key []byte
	// Lifetime is how long a challenge stays the current one; a lock key
	// is accepted for its challenge's period and the next.
	Lifetime time.Duration
}

// DefaultLockKeyLifetime: a client answers a challenge once per hour or
// two, not once per message.
const DefaultLockKeyLifetime = time.Hour

// challengeDigits is the length of a challenge; 20 digits and a 16
// character product id never fill a multiple of 8, which keeps clients
// that pad differently in agreement (spec §8).
const challengeDigits = 20

// Challenge is the account's current challenge.
func (l LockKeys) Challenge(account uint32, now time.Time) string {
	return l.challenge(account, l.period(now))
}

// Check reports whether lockKey answers the account's current or last
// challenge for the product id appID; false for an unknown product id.
func (l LockKeys) Check(account uint32, appID, lockKey string, now time.Time) bool {
	key, ok := wire.ProductKeys[appID]
	if !ok || lockKey == "" {
		return false
	}
	p := l.period(now)
	for _, period := range []int64{p, p - 1} {
		want := wire.ChallengeAnswer(11, l.challenge(account, period), appID, key)
		if subtle.ConstantTimeCompare([]byte(want), []byte(lockKey)) == 1 {
			return true
		}
	}
	return false
}

func (l LockKeys) period(now time.Time) int64 {
	life := l.Lifetime
	if life <= 0 {
		life = DefaultLockKeyLifetime
	}
	return now.UnixNano() / int64(life)
}

func (l LockKeys) challenge(account uint32, period int64) string {
	m := hmac.New(sha256.New, l.Key)
	var in [12]byte
	binary.BigEndian.PutUint32(in[:], account)
	binary.BigEndian.PutUint64(in[4:], uint64(period))
	m.Write([]byte("msn oim lock key\x00"))
	m.Write(in[:])
	sum := m.Sum(nil)
	digits := make([]byte, challengeDigits)
	for i := range digits {
		digits[i] = '0' + sum[i]%10
	}
	return string(digits)
}
