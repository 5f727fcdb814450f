package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// The storage service Windows Live Messenger 8.5 and 2009 keep the
// roaming profile in, over HTTPS at storage.msn.com (spec msnp8-18 §9):
// the display name is the account's own, the one PRP MFN and every other
// protocol change; the personal message and the display picture are kept
// in the store's profile, so that any node sharing the store answers the
// same.
//
// Every account has exactly one profile and at most one document, its
// display picture; a client may read and change only its own. The
// picture is fetched at a URL GetProfile names, which holds a key only
// the service can make, bound to the account and to the picture's
// version: whoever the owner's client hands the URL to may fetch it, no
// one can find pictures by trying account numbers, and a URL stops
// working when the picture is replaced or removed.

// StorageHandler serves storage.Path and the display pictures under
// storage.TilePrefix. Calls are authenticated by the ticket in their
// StorageUserHeader, which the token service issued (any node's, as with
// USR).
func (s *Server) StorageHandler() http.Handler { return http.HandlerFunc(s.serveStorage) }

func (s *Server) serveStorage(w http.ResponseWriter, r *http.Request) {
	if !storage.IsService(r.URL.EscapedPath()) {
		s.serveTile(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a SOAP request", http.StatusMethodNotAllowed)
		return
	}
	if redirectService(w, r, storage.RedirectHost, storage.Host) {
		return
	}
	limit := storage.MaxBody(s.cfg.MaxProfilePicture)
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return
	}
	if len(body) > limit {
		s.storageFault(w, "", "", &storage.Fault{Code: storage.FaultQuotaExceeded, Message: "request too large"})
		return
	}
	req, err := storage.ParseRequest(body)
	if err != nil {
		s.storageFault(w, "", "", &storage.Fault{Code: storage.FaultBadArgument, Message: "malformed request"})
		return
	}
	metrics.Commands.WithLabelValues(protocolName, req.Operation).Inc()
	if f := s.storageCall(r, w, req); f != nil {
		s.storageFault(w, req.Namespace, req.Operation, f)
	}
}

func (s *Server) storageFault(w http.ResponseWriter, ns, op string, f *storage.Fault) {
	metrics.Errors.WithLabelValues(protocolName, f.Code).Inc()
	storage.WriteFault(w, ns, op, f)
}

var errStorageFailed = &storage.Fault{Code: storage.FaultInternal, Message: "service unavailable"}

// storageCall does one operation for the ticket's account.
func (s *Server) storageCall(r *http.Request, w http.ResponseWriter, req storage.Request) *storage.Fault {
	ctx := r.Context()
	acct, err := s.enabledTicketOwner(ctx, req.Ticket)
	switch {
	case errors.Is(err, errRefusedTicket):
		return &storage.Fault{Code: storage.FaultAuth, Message: "bad ticket"}
	case err != nil:
		s.log.Error("storage: account", "err", err)
		return errStorageFailed
	}
	me := cid(acct.Number)
	user := storage.User{CID: me, Ticket: req.Ticket}
	if req.Alias != "" && !ownAlias(req.Alias, acct.Number) {
		return &storage.Fault{Code: storage.FaultAccessDenied, Message: "not your profile"}
	}
	store := s.cfg.Hub.Store()
	switch req.Operation {
	case storage.OpGetProfile, storage.OpFindDocuments:
		p, err := store.Profile(ctx, acct.Number)
		if err != nil {
			s.log.Error("storage: profile", "err", err)
			return errStorageFailed
		}
		if req.Operation == storage.OpFindDocuments {
			var docs []storage.DocumentInfo
			if p.Picture != nil {
				docs = append(docs, storage.DocumentInfo{ResourceID: storage.PhotoID(me), Name: storage.PhotoName})
			}
			storage.WriteDocuments(w, req.Namespace, user, docs)
			return nil
		}
		answer := storage.Profile{DisplayName: acct.DisplayName, PersonalStatus: p.PersonalMessage, Changed: p.Changed}
		if answer.Changed.IsZero() {
			answer.Changed = acct.CreatedAt
		}
		if p.Picture != nil {
			answer.PictureURL = tileURL(r, me, s.tileKey(acct.Number, p.PictureVersion))
			answer.PictureType, answer.PictureSize = p.PictureType, len(p.Picture)
		}
		storage.WriteProfile(w, req.Namespace, user, answer)
	case storage.OpUpdateProfile:
		if req.ResourceID != "" && req.ResourceID != storage.ProfileID(me) {
			return &storage.Fault{Code: storage.FaultItemNotFound, Message: "no such profile"}
		}
		if f := s.updateProfile(ctx, acct, req); f != nil {
			return f
		}
		storage.WriteResult(w, req.Namespace, user, req.Operation, "")
	case storage.OpCreateProfile:
		// Every account has its profile already: this names it.
		storage.WriteResult(w, req.Namespace, user, req.Operation, storage.ProfileID(me))
	case storage.OpCreateDocument, storage.OpUpdateDocument:
		if req.Operation == storage.OpUpdateDocument && req.ResourceID != storage.PhotoID(me) {
			return &storage.Fault{Code: storage.FaultItemNotFound, Message: "no such document"}
		}
		if f := s.storePicture(ctx, acct, req.Document.Picture()); f != nil {
			return f
		}
		result := ""
		if req.Operation == storage.OpCreateDocument {
			result = storage.PhotoID(me)
		}
		storage.WriteResult(w, req.Namespace, user, req.Operation, result)
	default:
		// ShareItem, CreateRelationships, DeleteRelationships: the picture
		// is the profile's and the profile everyone's who holds its URL
		// already; there is nothing to link or share.
		storage.WriteResult(w, req.Namespace, user, req.Operation, "")
	}
	return nil
}

// ownAlias reports whether a handle's alias names the account: its cid
// as the address book writes it (decimal), or in the 16 hexadecimal
// digits the real storage service wrote cids in.
func ownAlias(alias string, number uint32) bool {
	if alias == cid(number) {
		return true
	}
	n, err := strconv.ParseUint(alias, 16, 64)
	return len(alias) == 16 && err == nil && n == uint64(number)
}

// updateProfile renames the account (as PRP MFN does, so every protocol
// sees the name) and keeps the personal message, as far as req names them.
func (s *Server) updateProfile(ctx context.Context, acct hub.Account, req storage.Request) *storage.Fault {
	if n := req.DisplayName; n != nil && *n != acct.DisplayName {
		if strings.TrimSpace(*n) == "" || len(wire.EncodeName(*n)) > maxEncodedName {
			return &storage.Fault{Code: storage.FaultBadArgument, Message: "bad display name"}
		}
		err := s.cfg.Hub.Rename(ctx, acct.Number, *n)
		if errors.Is(err, hub.ErrInvalid) {
			return &storage.Fault{Code: storage.FaultBadArgument, Message: "bad display name"}
		}
		if err != nil {
			s.log.Error("storage: rename", "err", err)
			return errStorageFailed
		}
	}
	if m := req.PersonalStatus; m != nil {
		if len(*m) > s.cfg.MaxPersonalStatus {
			return &storage.Fault{Code: storage.FaultBadArgument, Message: "personal message too long"}
		}
		if err := s.cfg.Hub.Store().SetPersonalMessage(ctx, acct.Number, *m); err != nil {
			s.log.Error("storage: personal message", "err", err)
			return errStorageFailed
		}
	}
	return nil
}

// pictureTypes are the images kept as display pictures, by the type the
// data's own first bytes show: whatever the client claims, nothing else is
// served back from this origin.
var pictureTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/bmp": true}

// storePicture keeps a document's image as the account's display picture.
func (s *Server) storePicture(ctx context.Context, acct hub.Account, pic *storage.Stream) *storage.Fault {
	switch {
	case pic == nil || len(pic.Data) == 0:
		return &storage.Fault{Code: storage.FaultBadArgument, Message: "no user tile"}
	case len(pic.Data) > s.cfg.MaxProfilePicture:
		return &storage.Fault{Code: storage.FaultQuotaExceeded, Message: "picture larger than " + strconv.Itoa(s.cfg.MaxProfilePicture) + " bytes"}
	}
	kind := http.DetectContentType(pic.Data)
	if !pictureTypes[kind] {
		return &storage.Fault{Code: storage.FaultBadArgument, Message: "not a PNG, JPEG, GIF or BMP image"}
	}
	if _, err := s.cfg.Hub.Store().SetPicture(ctx, acct.Number, kind, pic.Data); err != nil {
		s.log.Error("storage: picture", "err", err)
		return errStorageFailed
	}
	return nil
}

// tileKey is the part of a picture's URL that proves the service made it:
// the version, and a MAC of account and version under the Passport key,
// so every node that checks the tickets checks these too.
func (s *Server) tileKey(number, version uint32) string {
	return strconv.FormatUint(uint64(version), 10) + "-" + hex.EncodeToString(s.tileMAC(number, version))
}

func (s *Server) tileMAC(number, version uint32) []byte {
	m := hmac.New(sha256.New, s.cfg.Passport.Key)
	m.Write([]byte("msn usertile\x00" + strconv.FormatUint(uint64(number), 10) + "\x00" + strconv.FormatUint(uint64(version), 10)))
	return m.Sum(nil)[:16]
}

// tileURL is where the client that made r fetches a picture: the host it
// reached the service at, which a hosts file points at this service.
func tileURL(r *http.Request, cid, key string) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	host := r.Host
	if host == "" {
		host = storage.Host
	}
	return scheme + "://" + host + storage.TilePath(cid, key)
}

// serveTile answers a picture's URL with the picture, when the URL's key
// is right and its version current; 404 otherwise, whichever it was.
func (s *Server) serveTile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "GET a picture", http.StatusMethodNotAllowed)
		return
	}
	p, ok := s.tile(r.Context(), r.URL.EscapedPath())
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.PictureType)
	// An image and nothing else, whatever a browser would make of it.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", p.Changed, bytes.NewReader(p.Picture))
}

// tile is the profile whose current picture path names.
func (s *Server) tile(ctx context.Context, path string) (hub.Profile, bool) {
	cidText, key, ok := storage.ParseTilePath(path)
	if !ok {
		return hub.Profile{}, false
	}
	number, err := strconv.ParseUint(cidText, 10, 32)
	versionText, macText, found := strings.Cut(key, "-")
	version, verr := strconv.ParseUint(versionText, 10, 32)
	mac, merr := hex.DecodeString(macText)
	if err != nil || !found || verr != nil || merr != nil || cidText != cid(uint32(number)) ||
		!hmac.Equal(mac, s.tileMAC(uint32(number), uint32(version))) {
		return hub.Profile{}, false
	}
	p, err := s.cfg.Hub.Store().Profile(ctx, uint32(number))
	if err != nil {
		if !errors.Is(err, hub.ErrNotFound) {
			s.log.Error("storage: picture", "err", err)
		}
		return hub.Profile{}, false
	}
	return p, p.Picture != nil && p.PictureVersion == uint32(version)
}
