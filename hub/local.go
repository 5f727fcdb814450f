package hub

import (
	"iter"
	"slices"
)

// localSessions are this node's sessions, by account, under Hub.mu. Most
// accounts have one session here, which takes a map slot of one pointer;
// only an account with more pays for a slice of them.
type localSessions struct {
	one  map[uint32]*Session
	more map[uint32][]*Session // an account with two or more, in attach order
}

func newLocalSessions() localSessions {
	return localSessions{one: make(map[uint32]*Session), more: make(map[uint32][]*Session)}
}

func (l *localSessions) add(s *Session) {
	n := s.account.Number
	switch first, ok := l.one[n]; {
	case ok:
		delete(l.one, n)
		l.more[n] = []*Session{first, s}
	case len(l.more[n]) > 0:
		l.more[n] = append(l.more[n], s)
	default:
		l.one[n] = s
	}
}

func (l *localSessions) remove(s *Session) {
	n := s.account.Number
	if l.one[n] == s {
		delete(l.one, n)
		return
	}
	sessions := l.more[n]
	if i := slices.Index(sessions, s); i >= 0 {
		sessions = slices.Delete(sessions, i, i+1)
	}
	switch len(sessions) {
	case 0:
		delete(l.more, n)
	case 1:
		delete(l.more, n)
		l.one[n] = sessions[0]
	default:
		l.more[n] = sessions
	}
}

// appendOf appends the account's sessions to dst.
func (l *localSessions) appendOf(dst []*Session, number uint32) []*Session {
	if s, ok := l.one[number]; ok {
		return append(dst, s)
	}
	return append(dst, l.more[number]...)
}

// of yields the account's sessions.
func (l *localSessions) of(number uint32) iter.Seq[*Session] {
	return func(yield func(*Session) bool) {
		if s, ok := l.one[number]; ok {
			yield(s)
			return
		}
		for _, s := range l.more[number] {
			if !yield(s) {
				return
			}
		}
	}
}

func (l *localSessions) has(number uint32) bool {
	_, ok := l.one[number]
	return ok || len(l.more[number]) > 0
}

// appendAll appends every session to dst.
func (l *localSessions) appendAll(dst []*Session) []*Session {
	for _, s := range l.one {
		dst = append(dst, s)
	}
	for _, sessions := range l.more {
		dst = append(dst, sessions...)
	}
	return dst
}
