package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// Where MSNP13+ clients read and store offline messages.
const (
	DefaultOIMRetrieval = "https://" + oim.RSIHost + oim.RSIPath
	DefaultOIMStore     = "https://" + oim.StoreHost + oim.StorePath
)

// OIMProductID is the product id whose key answers the storing service's
// lock-key challenges: WLM 8.5's, which Pidgin sends too.
const OIMProductID = "PROD0119GSJUC$18"

// Mail-Data notifications: at login, and when an offline message arrives
// for a client that is online.
const (
	ContentInitialMailData = "text/x-msmsgsinitialmdatanotification"
	ContentOIMNotification = "text/x-msmsgsoimnotification"
)

// ErrNotMailData is returned by OfflineMessages for a system message that
// is not a Mail-Data notification.
var ErrNotMailData = errors.New("msnp: not a Mail-Data notification")

// OfflineMessages reads the offline messages a Mail-Data notification
// lists; tooLarge says there were too many to list, and
// OIMService.List has them.
func (sm SystemMessage) OfflineMessages() (entries []oim.Entry, tooLarge bool, err error) {
	if sm.ContentType != ContentInitialMailData && sm.ContentType != ContentOIMNotification {
		return nil, false, ErrNotMailData
	}
	return oim.ParseMailData([]byte(sm.Fields.Get("Mail-Data")))
}

// OIMService calls the offline-IM services as MSNP13+ clients do: read,
// delete and store offline messages. The zero value of each optional
// field is the real clients' choice.
type OIMService struct {
	// HTTP carries the calls; its transport decides which CAs are trusted
	// and where the host names lead. Default http.DefaultClient.
	HTTP *http.Client
	// Retrieval and Store are the services' URLs; default
	// DefaultOIMRetrieval and DefaultOIMStore.
	Retrieval, Store string
	// Ticket is the messenger.msn.com ticket ("t=…&p=…") that reads;
	// StoreTicket the messengersecure.live.com one that stores.
	Ticket, StoreTicket string
	// From is the sender's e-mail, FriendlyName their display name.
	From, FriendlyName string
	// ProductID names the key lock keys are computed with; default
	// OIMProductID.
	ProductID string

	mu      sync.Mutex
	runID   string // names this client's run of messages
	number  int64  // the last message number sent
	lockKey string
}

// List returns the offline messages waiting (GetMetadata).
func (s *OIMService) List(ctx context.Context) ([]oim.Entry, error) {
	r, err := s.retrieve(ctx, oim.OpGetMetadata)
	if err != nil {
		return nil, err
	}
	entries, _, err := oim.ParseMailData(r.MailData)
	return entries, err
}

// Get fetches one offline message (GetMessage).
func (s *OIMService) Get(ctx context.Context, id string) (oim.Message, error) {
	r, err := s.retrieve(ctx, oim.OpGetMessage, id)
	if err != nil {
		return oim.Message{}, err
	}
	return oim.ParseMessage(r.Message)
}

// Delete removes offline messages the client has read (DeleteMessages).
func (s *OIMService) Delete(ctx context.Context, ids ...string) error {
	_, err := s.retrieve(ctx, oim.OpDeleteMessages, ids...)
	return err
}

func (s *OIMService) retrieve(ctx context.Context, op string, ids ...string) (oim.Response, error) {
	url := s.Retrieval
	if url == "" {
		url = DefaultOIMRetrieval
	}
	return s.call(ctx, url, oim.ActionRSI+op, oim.RSIRequestBody(op, s.Ticket, ids...))
}

// Send stores an offline message for to (Store2). A lock-key challenge is
// answered and the message sent again, once; a refusal is an *oim.Fault.
func (s *OIMService) Send(ctx context.Context, to, text string) error {
	url := s.Store
	if url == "" {
		url = DefaultOIMStore
	}
	product := s.ProductID
	if product == "" {
		product = OIMProductID
	}
	s.mu.Lock()
	if s.runID == "" {
		s.runID = oim.NewRunID()
	}
	s.number++
	req := oim.StoreRequest{From: s.From, FriendlyName: oim.EncodeWord(s.FriendlyName), To: to,
		Ticket: s.StoreTicket, AppID: product, LockKey: s.lockKey, MessageNumber: s.number, MessageType: "text",
		Content: string(oim.AppendMessage(nil, oim.Message{RunID: s.runID, Sequence: s.number, Text: text}))}
	s.mu.Unlock()
	for answered := false; ; answered = true {
		r, err := s.call(ctx, url, oim.ActionSend, oim.StoreRequestBody(req))
		var f *oim.Fault
		if answered || !errors.As(err, &f) || f.LockKeyChallenge == "" {
			if err == nil && r.Acknowledged != req.MessageNumber {
				return fmt.Errorf("msnp: store acknowledged message %d, not %d", r.Acknowledged, req.MessageNumber)
			}
			return err
		}
		req.LockKey = wire.ChallengeAnswer(11, f.LockKeyChallenge, product, wire.ProductKeys[product])
		s.mu.Lock()
		s.lockKey = req.LockKey
		s.mu.Unlock()
	}
}

// call posts one SOAP request and reads the answer, a fault included.
func (s *OIMService) call(ctx context.Context, url, action string, body []byte) (oim.Response, error) {
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return oim.Response{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+action+`"`)
	resp, err := hc.Do(req)
	if err != nil {
		return oim.Response{}, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, oim.MaxBody))
	if err != nil {
		return oim.Response{}, err
	}
	r, err := oim.ParseResponse(answer)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("msnp: offline-IM service answered %s", resp.Status)
	}
	return r, err
}
