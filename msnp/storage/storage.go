// Package storage is the SOAP encoding of MSN's storage service
// (storage.msn.com/storageservice/SchematizedStore.asmx), where Windows
// Live Messenger 8.5 and 2009 keep the roaming profile: display name,
// personal message and display picture (spec msnp8-18 §9). Requests are
// decoded into Request and answers written from plain values; what the
// operations do is the caller's (msnp/server). msnp/client calls it.
package storage

import (
	"strings"
)

// Path of the service, on whatever host name the client used; a hosts
// file or DNS points Host, where WLM 8.5 and 2009 post, at this service.
// (Their token requests name storage.live.com too, but nothing is posted
// there.)
const (
	Path = "/storageservice/SchematizedStore.asmx"
	Host = "storage.msn.com"
	// RedirectHost is the redirector MSNPSharp calls first to learn where
	// the service is (answered with a redirect to Host).
	RedirectHost = "tkrdr.storage.msn.com"
)

// Namespaces of the request and answer elements: WLM 2009 uses 2008, WLM
// 8.x and aMSN w10. An answer is written in its request's.
const (
	Namespace2008 = "http://www.msn.com/webservices/storage/2008"
	NamespaceW10  = "http://www.msn.com/webservices/storage/w10"
)

// Operations of the service.
const (
	OpGetProfile          = "GetProfile"
	OpUpdateProfile       = "UpdateProfile"
	OpCreateProfile       = "CreateProfile"
	OpShareItem           = "ShareItem"
	OpFindDocuments       = "FindDocuments"
	OpCreateDocument      = "CreateDocument"
	OpUpdateDocument      = "UpdateDocument"
	OpCreateRelationships = "CreateRelationships"
	OpDeleteRelationships = "DeleteRelationships"
)

var operations = []string{OpGetProfile, OpUpdateProfile, OpCreateProfile, OpShareItem, OpFindDocuments,
	OpCreateDocument, OpUpdateDocument, OpCreateRelationships, OpDeleteRelationships}

// TilePrefix starts the paths the display pictures are fetched at:
// TilePrefix + <cid>/<key>/static, as GetProfile names them.
const TilePrefix = "/storage/usertile/"

// DefaultMaxPicture bounds a display picture the service keeps: WLM's
// tiles are 96×96 images of a few tens of kilobytes.
const DefaultMaxPicture = 256 << 10

// MaxBody bounds a call carrying a picture of up to maxPicture bytes: its
// base64 and the envelope around it.
func MaxBody(maxPicture int) int { return maxPicture/3*4 + 4 + 64<<10 }

// IsService reports whether path is the SOAP service's. Leading slashes
// count as one and case does not count, as on the real service.
func IsService(path string) bool {
	return strings.EqualFold("/"+strings.TrimLeft(path, "/"), Path)
}

// Handles reports whether path is the service's or a display picture's.
func Handles(path string) bool { return IsService(path) || strings.HasPrefix(path, TilePrefix) }

// TilePath is where the picture of account cid is fetched, under key (a
// value only the service can make, see msnp/server).
func TilePath(cid, key string) string { return TilePrefix + cid + "/" + key + "/static" }

// ParseTilePath reads a TilePath back.
func ParseTilePath(path string) (cid, key string, ok bool) {
	rest, found := strings.CutPrefix(path, TilePrefix)
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] != "static" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Resource ids of an account's items, as the real service formed them
// from the account's cid: the profile, its expression profile and the
// display picture (the one document an account has here).
func ProfileID(cid string) string    { return cid + "!106" }
func ExpressionID(cid string) string { return cid + "!118" }
func PhotoID(cid string) string      { return cid + "!205" }

// PhotoName is the document name of the display picture when the client
// gave none.
const PhotoName = "Messenger User Tile"
