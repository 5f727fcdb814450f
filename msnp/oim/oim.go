// Package oim is the encoding of MSN's offline-IM services (spec msnp8-18
// §7), which MSNP13+ clients read and send offline messages through
// instead of the switchboard: the retrieval service (rsi.hotmail.com:
// GetMetadata, GetMessage, DeleteMessages), the storing service
// (ows.messenger.msn.com: Store2, guarded by a lock key), the Mail-Data
// list the notification server sends, and the mail-like text of one
// message. It holds no state; msnp/server serves it over the hub's
// mailbox and msnp/client calls it.
package oim

import (
	"fmt"
	"strconv"
	"strings"
)

// Paths of the two services, on whatever host name the client used; a
// hosts file or DNS points RSIHost and StoreHost at this service.
const (
	RSIPath   = "/rsi/rsi.asmx"
	StorePath = "/OimWS/oim.asmx"
	RSIHost   = "rsi.hotmail.com"
	StoreHost = "ows.messenger.msn.com"
)

// Service names the service at path, RSIPath or StorePath, or is ""
// elsewhere. Pidgin posts to "//rsi/rsi.asmx": leading slashes count as
// one, and case does not count, as on the real service.
func Service(path string) string {
	p := "/" + strings.TrimLeft(path, "/")
	for _, s := range []string{RSIPath, StorePath} {
		if strings.EqualFold(p, s) {
			return s
		}
	}
	return ""
}

// Handles reports whether path is one of the services'.
func Handles(path string) bool { return Service(path) != "" }

// Namespaces and SOAP actions the clients use.
const (
	NSRSI = "http://www.hotmail.msn.com/ws/2004/09/oim/rsi"
	// NSStore is the namespace of the storing request's header and body
	// elements; WLM 8.5 and Pidgin use it with the Store2 action.
	NSStore    = "http://messenger.msn.com/ws/2004/09/oim/"
	NSStore2   = "http://messenger.live.com/ws/2006/09/oim/"
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsRM       = "http://schemas.xmlsoap.org/ws/2003/03/rm"
	nsUtility  = "http://schemas.xmlsoap.org/ws/2002/07/utility"
	ActionRSI  = NSRSI + "/"
	ActionSend = NSStore2 + "Store2"
)

// MaxBody bounds a request or an answer read: one message is at most
// hub.MaxMessageBytes of text, a third more in base64, and a kilobyte of
// envelope; a Mail-Data list of hundreds of entries fits as well.
const MaxBody = 256 << 10

// messageIDPrefix starts every message id: ids are GUIDs, as the real
// service's were, whose last group is the mailbox's number for it.
const messageIDPrefix = "00000000-0000-0000-0000-"

// MessageID names the mailbox's message id in the GUID form clients know.
func MessageID(id int64) string {
	return fmt.Sprintf("%s%012X", messageIDPrefix, uint64(id)&0xFFFFFFFFFFFF)
}

// ParseMessageID reads a MessageID back.
func ParseMessageID(s string) (int64, bool) {
	hex, ok := strings.CutPrefix(strings.ToUpper(strings.Trim(s, "{} ")), messageIDPrefix)
	if !ok || len(hex) != 12 {
		return 0, false
	}
	id, err := strconv.ParseInt(hex, 16, 64)
	return id, err == nil && id > 0
}
