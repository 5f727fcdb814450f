package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/crosstalk-im/crosstalk/msnp/storage"
)

// DefaultStorage is where Windows Live Messenger 8.5 and 2009 keep the
// roaming profile.
const DefaultStorage = "https://" + storage.Host + storage.Path

// StorageService is the ticket service name and policy WLM asks the
// token service for to reach the storage service.
const (
	StorageService = storage.Host
	StoragePolicy  = "MBI_SSL"
)

// ProfileService reads and writes the account's roaming profile at the
// storage service as WLM 8.5 and 2009 do: display name, personal message
// and display picture. The zero value of each optional field is the real
// clients' choice.
type ProfileService struct {
	// HTTP carries the calls and the picture's download; its transport
	// decides which CAs are trusted and where the host names lead.
	// Default http.DefaultClient.
	HTTP *http.Client
	// URL is the service's; default DefaultStorage.
	URL string
	// Ticket is the StorageService ticket ("t=…&p=…").
	Ticket string
	// CID is the account's cid as the address book gives it; "" names
	// the ticket's own account.
	CID string
}

// Profile reads the profile (GetProfile).
func (s *ProfileService) Profile(ctx context.Context) (storage.Profile, error) {
	r, err := s.call(ctx, storage.Request{Operation: storage.OpGetProfile, Alias: s.CID})
	return r.Profile, err
}

// SetProfile changes the display name and the personal message
// (UpdateProfile); a nil one stays as it is.
func (s *ProfileService) SetProfile(ctx context.Context, displayName, personalMessage *string) error {
	_, err := s.call(ctx, storage.Request{Operation: storage.OpUpdateProfile, DisplayName: displayName, PersonalStatus: personalMessage})
	return err
}

// SetPicture uploads the display picture: the account's picture document
// is replaced when FindDocuments lists one (UpdateDocument), made
// otherwise (CreateDocument). mediaType is as WLM writes it (image/png).
func (s *ProfileService) SetPicture(ctx context.Context, mediaType string, data []byte) error {
	found, err := s.call(ctx, storage.Request{Operation: storage.OpFindDocuments, Alias: s.CID})
	if err != nil {
		return err
	}
	doc := &storage.Document{Name: storage.PhotoName, Streams: []storage.Stream{{Type: storage.StreamUserTile, MimeType: mediaType, Data: data}}}
	if len(found.Documents) == 0 {
		_, err = s.call(ctx, storage.Request{Operation: storage.OpCreateDocument, Alias: s.CID, Document: doc})
		return err
	}
	_, err = s.call(ctx, storage.Request{Operation: storage.OpUpdateDocument, ResourceID: found.Documents[0].ResourceID, Document: doc})
	return err
}

// ErrNoPicture is returned by Picture when the profile has none.
var ErrNoPicture = errors.New("msnp: the profile has no display picture")

// Picture downloads the display picture at the URL the profile names and
// returns it with its media type.
func (s *ProfileService) Picture(ctx context.Context, maxBytes int64) ([]byte, string, error) {
	p, err := s.Profile(ctx)
	if err != nil {
		return nil, "", err
	}
	if p.PictureURL == "" {
		return nil, "", ErrNoPicture
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.PictureURL, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("msnp: picture download answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err == nil && int64(len(data)) > maxBytes {
		err = fmt.Errorf("msnp: picture larger than %d bytes", maxBytes)
	}
	return data, resp.Header.Get("Content-Type"), err
}

func (s *ProfileService) client() *http.Client {
	if s.HTTP == nil {
		return http.DefaultClient
	}
	return s.HTTP
}

// call makes one call with the service's ticket; a refusal is a
// *storage.Fault.
func (s *ProfileService) call(ctx context.Context, r storage.Request) (storage.Response, error) {
	url := s.URL
	if url == "" {
		url = DefaultStorage
	}
	r.Ticket = s.Ticket
	return storage.Call(ctx, s.client(), url, r)
}
