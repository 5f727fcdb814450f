package server

import (
	"fmt"
	"strconv"
	"strings"
)

// maxDialect is the newest MSNP version served.
const maxDialect = 18

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

// addressBook: MSNP13 moved the lists to the ABCH SOAP services; ADL/RML
// replace SYN, ADC and REM, GTC is gone, the server pushes GCF policies,
// and XFR SB/RNG name the authentication domain ("U messenger.msn.com").
func addressBook(d int) bool { return d >= 13 }

// networkIDs: MSNP14 added the network id (1 = Windows Live) after the
// address in ILN/NLN/FLN/UBX, FQY, and a "1" at the end of XFR SB and RNG.
func networkIDs(d int) bool { return d >= 14 }

// singleSignOn: MSNP15 signs in with USR SSO and the MBI_KEY_OLD proof.
func singleSignOn(d int) bool { return d >= 15 }

// endpoints: MSNP16 added multiple points of presence, named by machine
// GUID, and extended capabilities (caps:ext).
func endpoints(d int) bool { return d >= 16 }

// handles: MSNP18 writes contacts as network:email (1:bob@example.com) in
// NLN/FLN/UBX and sends NLN, not ILN, for the initial presence.
func handles(d int) bool { return d >= 18 }

// offlineIMs: from MSNP11 offline messages wait for the client at the
// offline-IM service, which the notification server lists (Mail-Data):
// MSN Messenger 7.0 and 7.5 read them there (they cannot send any; WLM 8,
// MSNP13, can), as the real service and Escargot notified them from
// MSNP11 (spec msnp8-18 §7; NINA wiki MSNP13 Offline IM). Older clients
// get them as chats at login.
func offlineIMs(d int) bool { return d >= 11 }

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
