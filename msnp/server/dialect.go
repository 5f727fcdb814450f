package server

import (
	"fmt"
	"strconv"
	"strings"
)

// maxDialect is the newest MSNP version served.
const maxDialect = 12

// What changes from one dialect to the next (spec msnp8-18 §1). Each
// predicate names a feature, so the handlers read as the table does.

// passportLogin: MSNP8 dropped INF and MD5 for USR TWN with Passport 1.4.
func passportLogin(d int) bool { return d >= 8 }

// clientCaps: MSNP8 added the client-capabilities number to CHG, ILN, NLN.
func clientCaps(d int) bool { return d >= 8 }

// msnObjects: MSNP9 added display-picture objects to CHG, ILN, NLN.
func msnObjects(d int) bool { return d >= 9 }

// guidLists: MSNP10 names contacts and groups by GUID (ADC, LST N= F= C=,
// LSG name guid) and drops the list serial from replies.
func guidLists(d int) bool { return d >= 10 }

// personalStatus: MSNP11 added UUX/UBX and the new challenge hash.
func personalStatus(d int) bool { return d >= 11 }

// switchboardCaps: from MSNP12 IRO and JOI carry the capabilities.
func switchboardCaps(d int) bool { return d >= 12 }

// pingInterval is what MSNP9+ clients are told in QNG: ping again in this
// many seconds.
const pingInterval = "60"

// Contact and group GUIDs (MSNP10+) are derived from what the hub already
// names them by: a contact's account number, a group's id. The two kinds
// differ in their fourth part so that one can never be read as the other.
const (
	contactGUIDPrefix = "00000000-0000-0000-0000-"
	groupGUIDPrefix   = "00000000-0000-0000-0001-"
)

func contactGUID(number uint32) string { return fmt.Sprintf("%s%012x", contactGUIDPrefix, number) }
func groupGUID(id int) string          { return fmt.Sprintf("%s%012x", groupGUIDPrefix, id) }

func parseContactGUID(s string) (uint32, bool) { return parseGUID(s, contactGUIDPrefix) }

func parseGroupGUID(s string) (int, bool) {
	id, ok := parseGUID(s, groupGUIDPrefix)
	return int(id), ok && id <= 1<<31-1
}

func parseGUID(s, prefix string) (uint32, bool) {
	hex, ok := strings.CutPrefix(strings.ToLower(s), prefix)
	if !ok || len(hex) != 12 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	return uint32(n), err == nil
}
