package wire

// Contact is one entry of a client's notify list (GG_NOTIFY105_*,
// GG_ADD_NOTIFY105, GG_REMOVE_NOTIFY105).
type Contact struct {
	UIN  uint32
	Type uint8 // UserNormal, UserOffline, UserBlocked, or a mix
}

// MaxNotifyChunk is the most body bytes libgadu (like the official client)
// puts in one GG_NOTIFY105_FIRST/LAST packet.
const MaxNotifyChunk = 2048

// AppendNotifyEntry appends one entry: the notify-list UIN and the type.
func AppendNotifyEntry(dst []byte, c Contact) []byte {
	return append(AppendListUIN(dst, c.UIN), c.Type)
}

// ParseNotifyList decodes a notify list body: zero or more entries.
func ParseNotifyList(body []byte) ([]Contact, error) {
	var list []Contact
	for len(body) > 0 {
		uin, n, err := ParseListUIN(body)
		if err != nil {
			return nil, err
		}
		if n == len(body) {
			return nil, malformed("notify entry for %d has no type byte", uin)
		}
		list = append(list, Contact{UIN: uin, Type: body[n]})
		body = body[n+1:]
	}
	return list, nil
}

// ParseNotifyEntry decodes a body holding exactly one entry, as in
// GG_ADD_NOTIFY105 and GG_REMOVE_NOTIFY105.
func ParseNotifyEntry(body []byte) (Contact, error) {
	list, err := ParseNotifyList(body)
	if err != nil {
		return Contact{}, err
	}
	if len(list) != 1 {
		return Contact{}, malformed("%d notify entries, want 1", len(list))
	}
	return list[0], nil
}

// NotifyChunks splits a notify list into bodies of at most MaxNotifyChunk
// bytes, in order; the client sends all but the last as
// TypeNotify105First and the last as TypeNotify105Last. An empty list gives
// no chunks (send TypeNotify105ListEmpty instead).
func NotifyChunks(list []Contact) [][]byte {
	var chunks [][]byte
	var cur []byte
	for _, c := range list {
		entry := AppendNotifyEntry(nil, c)
		if len(cur) > 0 && len(cur)+len(entry) > MaxNotifyChunk {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = append(cur, entry...)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}
