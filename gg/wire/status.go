package wire

// Status codes (GG_STATUS_*): the low byte of a status word. Each state with
// a description has its own code.
const (
	StatusNotAvail       uint32 = 0x01
	StatusNotAvailDescr  uint32 = 0x15
	StatusAvail          uint32 = 0x02
	StatusAvailDescr     uint32 = 0x04
	StatusBusy           uint32 = 0x03
	StatusBusyDescr      uint32 = 0x05
	StatusInvisible      uint32 = 0x14
	StatusInvisibleDescr uint32 = 0x16
	StatusFFC            uint32 = 0x17 // free for chat
	StatusFFCDescr       uint32 = 0x18
	StatusDND            uint32 = 0x21 // do not disturb
	StatusDNDDescr       uint32 = 0x22
	StatusBlocked        uint32 = 0x06
)

// Flags or-ed into a status word.
const (
	StatusImageMask   uint32 = 0x0100 // GG_STATUS_IMAGE_MASK
	StatusDescrMask   uint32 = 0x4000 // GG_STATUS_DESCR_MASK: has a description
	StatusFriendsMask uint32 = 0x8000 // GG_STATUS_FRIENDS_MASK: visible to friends only
)

// MaxDescription is the longest status description in bytes (UTF-8) that
// GG8+ clients send; libgadu cuts longer ones.
const MaxDescription = 255

// NewStatusFlagsGG11 is the NewStatus.Flags value libgadu sends with
// protocol 11.
const NewStatusFlagsGG11 uint32 = 0x00000014

// Notify list entry types (GG_USER_*), used as flags by some clients.
const (
	UserOffline uint8 = 0x01 // appear offline to this contact
	UserNormal  uint8 = 0x03
	UserBlocked uint8 = 0x04
)

var descrPairs = [][2]uint32{
	{StatusNotAvail, StatusNotAvailDescr},
	{StatusAvail, StatusAvailDescr},
	{StatusBusy, StatusBusyDescr},
	{StatusInvisible, StatusInvisibleDescr},
	{StatusFFC, StatusFFCDescr},
	{StatusDND, StatusDNDDescr},
}

// StatusBase returns the status code without flags and with any description
// variant mapped to the plain state (StatusBusyDescr → StatusBusy).
func StatusBase(status uint32) uint32 {
	s := status & 0xFF
	for _, p := range descrPairs {
		if s == p[1] {
			return p[0]
		}
	}
	return s
}

// StatusHasDescr reports whether the status code is a description variant
// or carries StatusDescrMask.
func StatusHasDescr(status uint32) bool {
	return status&StatusDescrMask != 0 || StatusBase(status) != status&0xFF
}

// StatusWithDescr returns the code for the state of status with or without
// a description, dropping flags: StatusWithDescr(StatusBusy, true) is
// StatusBusyDescr. States without a description variant are returned as is.
func StatusWithDescr(status uint32, descr bool) uint32 {
	base := StatusBase(status)
	if !descr {
		return base
	}
	for _, p := range descrPairs {
		if base == p[0] {
			return p[1]
		}
	}
	return base
}

// StatusOffline reports whether status is one of the not-available codes:
// a client that sets it waits for TypeDisconnectAck and hangs up.
func StatusOffline(status uint32) bool {
	return StatusBase(status) == StatusNotAvail
}
