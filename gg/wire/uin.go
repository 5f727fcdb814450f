package wire

import (
	"fmt"
	"strconv"
)

// UIN magic bytes in protobuf "uin" fields.
const (
	UINMagicClient byte = 0x01 // what libgadu writes, client to server
	UINMagicServer byte = 0x00 // what a server writes; libgadu warns on others
)

// maxUINDigits is the most digits a UIN has (2³²-1 = 4294967295).
const maxUINDigits = 10

// MaxPackedUintLen is the longest packed uint libgadu reads.
const MaxPackedUintLen = 9

// AppendProtoUIN appends the encoding of uin used in protobuf bytes fields:
// magic, digit count, ASCII digits.
func AppendProtoUIN(dst []byte, magic byte, uin uint32) []byte {
	var buf [10]byte // a uint32's digits: no allocation of their own
	digits := strconv.AppendUint(buf[:0], uint64(uin), 10)
	dst = append(dst, magic, byte(len(digits)))
	return append(dst, digits...)
}

// ParseProtoUIN decodes a protobuf bytes uin field, which must be exactly
// magic, count, count digits. The magic is returned for the caller to judge.
func ParseProtoUIN(b []byte) (uin uint32, magic byte, err error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: %d-byte field", ErrBadUIN, len(b))
	}
	if int(b[1]) != len(b)-2 {
		return 0, b[0], fmt.Errorf("%w: length byte %d in a %d-byte field", ErrBadUIN, b[1], len(b))
	}
	uin, err = parseDigits(b[2:])
	return uin, b[0], err
}

// AppendListUIN appends the encoding of uin used in notify lists: 0x00,
// packed-uint digit count, ASCII digits.
func AppendListUIN(dst []byte, uin uint32) []byte {
	var buf [10]byte // a uint32's digits: no allocation of their own
	digits := strconv.AppendUint(buf[:0], uint64(uin), 10)
	dst = append(dst, 0)
	dst = AppendPackedUint(dst, uint64(len(digits)))
	return append(dst, digits...)
}

// ParseListUIN decodes a notify-list UIN at the start of b and returns the
// number of bytes it took.
func ParseListUIN(b []byte) (uin uint32, n int, err error) {
	if len(b) == 0 || b[0] != 0 {
		return 0, 0, fmt.Errorf("%w: notify entry does not start with 0x00", ErrBadUIN)
	}
	count, m, err := ReadPackedUint(b[1:])
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrBadUIN, err)
	}
	n = 1 + m
	if count > maxUINDigits || uint64(len(b)-n) < count {
		return 0, 0, fmt.Errorf("%w: %d digits announced, %d bytes left", ErrBadUIN, count, len(b)-n)
	}
	uin, err = parseDigits(b[n : n+int(count)])
	return uin, n + int(count), err
}

// AppendTVUIN appends the "type-value" encoding libgadu reads with
// gg_tvbuff_read_uin: packed-uint (count+2), 0x00, count (one byte), digits.
func AppendTVUIN(dst []byte, uin uint32) []byte {
	var buf [10]byte // a uint32's digits: no allocation of their own
	digits := strconv.AppendUint(buf[:0], uint64(uin), 10)
	dst = AppendPackedUint(dst, uint64(len(digits)+2))
	dst = append(dst, 0, byte(len(digits)))
	return append(dst, digits...)
}

// ParseTVUIN decodes a type-value UIN at the start of b and returns the
// number of bytes it took.
func ParseTVUIN(b []byte) (uin uint32, n int, err error) {
	full, m, err := ReadPackedUint(b)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrBadUIN, err)
	}
	if len(b)-m < 2 {
		return 0, 0, fmt.Errorf("%w: cut after the length", ErrBadUIN)
	}
	kind, count := b[m], int(b[m+1])
	n = m + 2
	if kind != 0 || full != uint64(count)+2 || count > len(b)-n {
		return 0, 0, fmt.Errorf("%w: type %d, length %d of %d, %d bytes left", ErrBadUIN, kind, count, full, len(b)-n)
	}
	uin, err = parseDigits(b[n : n+count])
	return uin, n + count, err
}

// parseDigits accepts 1–10 ASCII digits without a leading zero naming a
// nonzero uint32.
func parseDigits(d []byte) (uint32, error) {
	if len(d) == 0 || len(d) > maxUINDigits || d[0] == '0' {
		return 0, fmt.Errorf("%w: %q", ErrBadUIN, d)
	}
	var v uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadUIN, d)
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, fmt.Errorf("%w: %q out of range", ErrBadUIN, d)
	}
	return uint32(v), nil
}

// AppendPackedUint appends v as a packed uint: 7 bits per byte, least
// significant group first, the high bit set on all bytes but the last (a
// protobuf varint).
func AppendPackedUint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// ReadPackedUint decodes a packed uint at the start of b and returns the
// number of bytes it took. Like libgadu it accepts at most
// MaxPackedUintLen bytes, so the value fits in 63 bits.
func ReadPackedUint(b []byte) (v uint64, n int, err error) {
	for i, c := range b {
		if i == MaxPackedUintLen {
			break
		}
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	if len(b) >= MaxPackedUintLen {
		return 0, 0, malformed("packed uint longer than %d bytes", MaxPackedUintLen)
	}
	return 0, 0, malformed("packed uint cut short")
}
