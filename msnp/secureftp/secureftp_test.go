package secureftp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// knownKeys are the keys 00 01 … 17 and 18 19 … 2f.
func knownKeys() Keys {
	var k Keys
	for i := range KeySize {
		k.Encryption[i] = byte(i)
		k.Hash[i] = byte(KeySize + i)
	}
	return k
}

// The expected values were computed apart from this package, with a
// plain RC4 and Python's hmac over SHA-1 of the keys cut to 16 bytes.
const (
	knownPlain  = "The quick brown fox jumps over the lazy dog"
	knownCipher = "ee0326b8947ddcb0fae390d3a163f8884d16bbbb2c07b615b3f561d61e7e601731a7436e24be486de09671"
	knownMAC    = "2/lIsjc2nCkFQa2kDjrMCNA5GA0="
)

func TestKnownAnswer(t *testing.T) {
	s := knownKeys().Seal(bytes.NewReader([]byte(knownPlain)))
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != knownCipher {
		t.Fatalf("ciphertext %x", got)
	}
	if line := string(MACLine(s.Sum())); line != "MAC "+knownMAC+"\x00\r\n" {
		t.Fatalf("MAC line %q", line)
	}
}

func TestFields(t *testing.T) {
	enc, h := knownKeys().Fields()
	if enc != "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX" || h != "GBkaGxwdHh8gISIjJCUmJygpKissLS4v" {
		t.Fatalf("fields %q %q", enc, h)
	}
	k, err := ParseKeys(enc, h)
	if err != nil || k != knownKeys() {
		t.Fatalf("parse: %v %v", k, err)
	}
	if _, err := ParseKeys("AAECAwQFBgcICQoLDA0ODxAREhMU", h); !errors.Is(err, ErrKeySize) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := ParseKeys(enc, "not base64!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
	a, b := NewKeys(), NewKeys()
	if a == b || a.Encryption == a.Hash {
		t.Fatal("NewKeys repeats itself")
	}
}

func TestParseMACLine(t *testing.T) {
	want, _ := ParseMACLine([]byte("MAC " + knownMAC))
	if len(want) != MACSize {
		t.Fatalf("MAC of %d bytes", len(want))
	}
	for _, line := range []string{
		"MAC " + knownMAC + "\x00\r\n", // pidgin-sipe, and MACLine
		"MAC " + knownMAC + "\r\n",
		"MAC " + knownMAC + " \r\n",
		"MAC " + knownMAC + "\n",
	} {
		got, err := ParseMACLine([]byte(line))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %x %v", line, got, err)
		}
	}
	for _, line := range []string{"", "MAC", "BYE 16777989\r\n", "MAC AAAA\r\n", "MAC !!\r\n", "mac " + knownMAC} {
		if _, err := ParseMACLine([]byte(line)); !errors.Is(err, ErrMACLine) {
			t.Errorf("%q: %v", line, err)
		}
	}
}

// roundTrip seals data, cuts the ciphertext where cuts says and opens it.
func roundTrip(t testing.TB, k Keys, data []byte, cuts []int) {
	s := k.Seal(bytes.NewReader(data))
	wire, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 16 && bytes.Equal(wire, data) {
		t.Fatal("nothing encrypted")
	}
	var out bytes.Buffer
	o := k.Open(&out)
	rest := wire
	for _, c := range cuts {
		c = min(c, len(rest))
		if n, err := o.Write(rest[:c]); err != nil || n != c {
			t.Fatalf("write: %d %v", n, err)
		}
		rest = rest[c:]
	}
	if _, err := o.Write(rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("opened data differs")
	}
	if err := o.Check(MACLine(s.Sum())); err != nil {
		t.Fatal(err)
	}
}

func TestSealOpen(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 2045, 2046, openChunk + 5, 3*openChunk + 1} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		roundTrip(t, NewKeys(), data, []int{1, 2045, 7, openChunk + 3})
	}
}

func TestCheckMismatch(t *testing.T) {
	k := knownKeys()
	s := k.Seal(bytes.NewReader([]byte(knownPlain)))
	wire, _ := io.ReadAll(s)
	wire[3] ^= 1
	o := k.Open(io.Discard)
	o.Write(wire)
	if err := o.Check(MACLine(s.Sum())); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("altered file: %v", err)
	}
	other := NewKeys()
	o = other.Open(io.Discard)
	o.Write(wire)
	if err := o.Check([]byte("MAC " + knownMAC + "\x00\r\n")); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("other keys: %v", err)
	}
}

// failWriter takes limit bytes, then fails.
type failWriter struct{ limit int }

func (w *failWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.limit)
	w.limit -= n
	if n < len(p) {
		return n, errors.New("disk full")
	}
	return n, nil
}

func TestOpenWriteFails(t *testing.T) {
	o := knownKeys().Open(&failWriter{limit: 10})
	n, err := o.Write(make([]byte, 100))
	if n != 10 || err == nil {
		t.Fatalf("write: %d %v", n, err)
	}
}

func FuzzParseMACLine(f *testing.F) {
	f.Add([]byte("MAC " + knownMAC + "\x00\r\n"))
	f.Add([]byte("MAC \r\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		sum, err := ParseMACLine(line)
		if err != nil {
			return
		}
		if len(sum) != MACSize {
			t.Fatalf("MAC of %d bytes", len(sum))
		}
		again, err := ParseMACLine(MACLine(sum))
		if err != nil || !bytes.Equal(again, sum) {
			t.Fatalf("MACLine does not read back: %v", err)
		}
	})
}

func FuzzSealOpen(f *testing.F) {
	f.Add([]byte(knownPlain), uint16(3), uint16(10))
	f.Add([]byte{}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, a, b uint16) {
		roundTrip(t, knownKeys(), data, []int{int(a), int(b)})
	})
}

// FuzzParseKeys: the keys come in a peer's ACCEPT; whatever the fields
// hold is keys of KeySize bytes or an error, and keys read back from the
// fields they write.
func FuzzParseKeys(f *testing.F) {
	encryption, hashKey := knownKeys().Fields()
	f.Add(encryption, hashKey)
	f.Add("AAECAwQFBgcICQoLDA0ODxAREhMU", "not base64!")
	f.Fuzz(func(t *testing.T, encryption, hashKey string) {
		k, err := ParseKeys(encryption, hashKey)
		if err != nil {
			return
		}
		again, err := ParseKeys(k.Fields())
		if err != nil || again != k {
			t.Fatalf("keys do not read back from their fields: %v", err)
		}
	})
}
