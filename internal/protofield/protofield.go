// Package protofield walks the fields of an encoded protobuf message, for
// the codecs that read a few hot messages by hand rather than through
// generated code and its reflective walk: the hub's bus events and GG11's
// message packets.
package protofield

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is what Each returns for bytes that are no protobuf
// message.
var ErrMalformed = errors.New("malformed protobuf message")

// Field is one field of a message.
type Field struct {
	Num  protowire.Number
	Type protowire.Type
	// Value is a varint's value, or a fixed32's or fixed64's.
	Value uint64
	// Bytes is a length-delimited field's content; it aliases the message.
	Bytes []byte
}

// Each calls fn with each field of msg, in order, groups skipped, and
// returns fn's first error, or ErrMalformed where msg stops making sense.
// Nested messages are bounded by the message's own length, so a decoder
// built on it never allocates more than its input justifies.
func Each(msg []byte, fn func(Field) error) error {
	for len(msg) > 0 {
		var f Field
		var n int
		f.Num, f.Type, n = protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: tag: %v", ErrMalformed, protowire.ParseError(n))
		}
		msg = msg[n:]
		switch f.Type {
		case protowire.VarintType:
			f.Value, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			f.Value = uint64(v)
		case protowire.Fixed64Type:
			f.Value, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			f.Bytes, n = protowire.ConsumeBytes(msg)
		default:
			n = protowire.ConsumeFieldValue(f.Num, f.Type, msg)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, f.Num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if f.Type == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
