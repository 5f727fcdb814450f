package hub

import (
	"errors"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/crosstalk-im/crosstalk/internal/protofield"
)

// Events cross between nodes, and presence records sit in the bus's
// key-value bucket, in protocol buffers' wire format, written and read
// field by field: a fraction of JSON's size and cost, and old nodes skip
// the fields new ones add.

var errBadEncoding = errors.New("hub: malformed bus message")

// Field numbers of an envelope: one event for the sessions of one account.
const (
	envTo        = 1
	envWatermark = 2
	envEvent     = 3
)

// Field numbers of an Event.
const (
	evKind = iota + 1
	evFrom
	evStatus
	evText
	evSerial
	evProtocol
	evSession
	evAt
	evInvite
	evMessage
	evTyping
	evNotification
	evFile
	evSkipProtocol
	evInstance
	evReason
)

// encodeEnvelope frames ev for the node holding to's sessions; watermark is
// the presence revision the sender had seen (see directory.waitFor).
func encodeEnvelope(to uint32, watermark uint64, ev *Event) []byte {
	b := make([]byte, 0, 128)
	b = appendVarint(b, envTo, uint64(to))
	b = appendVarint(b, envWatermark, watermark)
	b = protowire.AppendTag(b, envEvent, protowire.BytesType)
	return protowire.AppendBytes(b, appendEvent(nil, ev))
}

func decodeEnvelope(data []byte) (to uint32, watermark uint64, ev Event, err error) {
	err = eachField(data, func(num protowire.Number, v field) error {
		switch num {
		case envTo:
			to = uint32(v.n)
		case envWatermark:
			watermark = v.n
		case envEvent:
			return decodeEvent(v.b, &ev)
		}
		return nil
	})
	return to, watermark, ev, err
}

func appendEvent(b []byte, ev *Event) []byte {
	b = appendString(b, evKind, string(ev.Kind))
	if ev.From != (Account{}) {
		b = appendMessage(b, evFrom, appendAccount(nil, ev.From))
	}
	b = appendString(b, evStatus, string(ev.Status))
	b = appendString(b, evText, ev.Text)
	b = appendVarint(b, evSerial, uint64(ev.Serial))
	b = appendString(b, evProtocol, ev.Protocol)
	b = appendString(b, evSession, ev.Session)
	b = appendVarint(b, evAt, protowire.EncodeZigZag(ev.At))
	if i := ev.Invite; i != nil {
		var ib []byte
		ib = appendString(ib, 1, i.Protocol)
		ib = appendString(ib, 2, i.Conversation)
		ib = appendString(ib, 3, i.Addr)
		ib = appendString(ib, 4, i.Cookie)
		b = appendMessage(b, evInvite, ib)
	}
	if ev.Message != nil {
		b = appendMessage(b, evMessage, appendChat(nil, ev.Message))
	}
	b = appendVarint(b, evTyping, protowire.EncodeZigZag(int64(ev.Typing)))
	if n := ev.Notification; n != nil {
		b = appendMessage(b, evNotification, appendString(appendString(appendString(nil, 1, n.Kind), 2, n.Data), 3, n.Protocol))
	}
	b = appendString(b, evFile, ev.File)
	b = appendString(b, evSkipProtocol, ev.SkipProtocol)
	b = appendString(b, evInstance, ev.Instance)
	return appendVarint(b, evReason, uint64(ev.Reason))
}

func decodeEvent(data []byte, ev *Event) error {
	return eachField(data, func(num protowire.Number, v field) error {
		switch num {
		case evKind:
			ev.Kind = EventKind(internKind(v.b))
		case evFrom:
			return decodeAccount(v.b, &ev.From)
		case evStatus:
			ev.Status = internStatus(v.b)
		case evText:
			ev.Text = string(v.b)
		case evSerial:
			ev.Serial = uint32(v.n)
		case evProtocol:
			ev.Protocol = string(v.b)
		case evSession:
			ev.Session = string(v.b)
		case evAt:
			ev.At = protowire.DecodeZigZag(v.n)
		case evInstance:
			ev.Instance = string(v.b)
		case evReason:
			ev.Reason = KickReason(v.n)
		case evInvite:
			ev.Invite = &Invite{}
			return eachField(v.b, func(num protowire.Number, v field) error {
				switch num {
				case 1:
					ev.Invite.Protocol = string(v.b)
				case 2:
					ev.Invite.Conversation = string(v.b)
				case 3:
					ev.Invite.Addr = string(v.b)
				case 4:
					ev.Invite.Cookie = string(v.b)
				}
				return nil
			})
		case evMessage:
			ev.Message = &Message{}
			return decodeChat(v.b, ev.Message)
		case evTyping:
			ev.Typing = int(protowire.DecodeZigZag(v.n))
		case evNotification:
			ev.Notification = &Notification{}
			return eachField(v.b, func(num protowire.Number, v field) error {
				switch num {
				case 1:
					ev.Notification.Kind = string(v.b)
				case 2:
					ev.Notification.Data = string(v.b)
				case 3:
					ev.Notification.Protocol = string(v.b)
				}
				return nil
			})
		case evFile:
			ev.File = string(v.b)
		case evSkipProtocol:
			ev.SkipProtocol = string(v.b)
		}
		return nil
	})
}

func appendAccount(b []byte, a Account) []byte {
	b = appendVarint(b, 1, uint64(a.Number))
	b = appendString(b, 2, a.Email)
	b = appendString(b, 3, a.Nick)
	b = appendString(b, 4, a.DisplayName)
	return appendTime(b, 5, a.CreatedAt)
}

func decodeAccount(data []byte, a *Account) error {
	return eachField(data, func(num protowire.Number, v field) error {
		switch num {
		case 1:
			a.Number = uint32(v.n)
		case 2:
			a.Email = string(v.b)
		case 3:
			a.Nick = string(v.b)
		case 4:
			a.DisplayName = string(v.b)
		case 5:
			a.CreatedAt = decodeTime(v.n)
		}
		return nil
	})
}

func appendChat(b []byte, m *Message) []byte {
	b = appendString(b, 1, m.Text)
	if m.Format != nil {
		b = appendMessage(b, 2, appendFormat(nil, *m.Format))
	}
	b = appendTime(b, 3, m.Sent)
	b = appendVarint(b, 4, uint64(m.Offline))
	for _, r := range m.Runs {
		b = appendMessage(b, 5, appendMessage(appendString(nil, 1, r.Text), 2, appendFormat(nil, r.Format)))
	}
	return b
}

func decodeChat(data []byte, m *Message) error {
	return eachField(data, func(num protowire.Number, v field) error {
		switch num {
		case 1:
			m.Text = string(v.b)
		case 2:
			m.Format = &Format{}
			return decodeFormat(v.b, m.Format)
		case 3:
			m.Sent = decodeTime(v.n)
		case 4:
			m.Offline = int64(v.n)
		case 5:
			if len(m.Runs) >= MaxRuns {
				return errBadEncoding
			}
			var r Run
			err := eachField(v.b, func(num protowire.Number, v field) error {
				switch num {
				case 1:
					r.Text = string(v.b)
				case 2:
					return decodeFormat(v.b, &r.Format)
				}
				return nil
			})
			m.Runs = append(m.Runs, r)
			return err
		}
		return nil
	})
}

// Format flags, packed in one varint.
const (
	fmtBold = 1 << iota
	fmtItalic
	fmtUnderline
	fmtStrike
)

func appendFormat(b []byte, f Format) []byte {
	b = appendString(b, 1, f.Font)
	b = appendString(b, 2, f.Color)
	var flags uint64
	if f.Bold {
		flags |= fmtBold
	}
	if f.Italic {
		flags |= fmtItalic
	}
	if f.Underline {
		flags |= fmtUnderline
	}
	if f.Strike {
		flags |= fmtStrike
	}
	return appendVarint(b, 3, flags)
}

func decodeFormat(data []byte, f *Format) error {
	return eachField(data, func(num protowire.Number, v field) error {
		switch num {
		case 1:
			f.Font = string(v.b)
		case 2:
			f.Color = string(v.b)
		case 3:
			f.Bold, f.Italic = v.n&fmtBold != 0, v.n&fmtItalic != 0
			f.Underline, f.Strike = v.n&fmtUnderline != 0, v.n&fmtStrike != 0
		}
		return nil
	})
}

// A presence record: one entry per session.
func appendPresenceRecord(b []byte, r presenceRecord) []byte {
	for _, sp := range r.Sessions {
		var e []byte
		e = appendString(e, 1, sp.ID)
		e = appendString(e, 2, string(sp.Status))
		e = appendString(e, 3, sp.Text)
		e = appendString(e, 4, sp.Protocol)
		e = appendString(e, 5, sp.Node)
		e = appendString(e, 6, sp.Details)
		e = appendString(e, 7, sp.Addr)
		b = appendMessage(b, 1, e)
	}
	return b
}

// maxRecordSessions bounds a record read from the bus; an account has at
// most a session per protocol per node and a few in passing.
const maxRecordSessions = 256

func decodePresenceRecord(data []byte) (presenceRecord, error) {
	var r presenceRecord
	err := eachField(data, func(num protowire.Number, v field) error {
		if num != 1 {
			return nil
		}
		if len(r.Sessions) >= maxRecordSessions {
			return errBadEncoding
		}
		var sp sessionPresence
		err := eachField(v.b, func(num protowire.Number, v field) error {
			switch num {
			case 1:
				sp.ID = string(v.b)
			case 2:
				sp.Status = internStatus(v.b)
			case 3:
				sp.Text = string(v.b)
			case 4:
				sp.Protocol = intern(v.b)
			case 5:
				sp.Node = intern(v.b)
			case 6:
				sp.Details = string(v.b)
			case 7:
				sp.Addr = string(v.b)
			}
			return nil
		})
		r.Sessions = append(r.Sessions, sp)
		return err
	})
	return r, err
}

// field is one decoded field: a varint in n, or bytes in b.
type field struct {
	n uint64
	b []byte
}

// eachField calls fn for every varint and length-delimited field of a
// message (protofield.Each).
func eachField(data []byte, fn func(protowire.Number, field) error) error {
	err := protofield.Each(data, func(f protofield.Field) error {
		if f.Type != protowire.VarintType && f.Type != protowire.BytesType {
			return nil
		}
		return fn(f.Num, field{n: f.Value, b: f.Bytes})
	})
	if errors.Is(err, protofield.ErrMalformed) {
		return errBadEncoding
	}
	return err
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
}

// Times travel as Unix nanoseconds, zero for the zero time.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return appendVarint(b, num, protowire.EncodeZigZag(t.UnixNano()))
}

func decodeTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, protowire.DecodeZigZag(v)).UTC()
}

// Statuses, kinds, protocol and node names come from small sets: decoding
// them to shared strings keeps a record's memory to what varies.
func internStatus(b []byte) Status {
	for _, s := range [...]Status{StatusOnline, StatusBusy, StatusAway, StatusIdle, StatusBeRightBack,
		StatusOnThePhone, StatusOutToLunch, StatusInvisible, StatusOffline} {
		if string(s) == string(b) {
			return s
		}
	}
	return Status(b)
}

// interned holds the protocol and node names seen in records, up to
// maxInterned of them (a cluster has a handful).
var interned = struct {
	sync.Mutex
	names map[string]string
}{names: make(map[string]string)}

const maxInterned = 1024

func intern(b []byte) string {
	interned.Lock()
	defer interned.Unlock()
	if s, ok := interned.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(interned.names) < maxInterned {
		interned.names[s] = s
	}
	return s
}

func internKind(b []byte) string {
	for _, k := range [...]EventKind{EventPresence, EventReverseAdded, EventReverseRemoved, EventKick,
		EventInvite, EventMessage, EventNotify, EventTyping, EventFile, EventMailbox, EventListsChanged} {
		if string(k) == string(b) {
			return string(k)
		}
	}
	return string(b)
}
