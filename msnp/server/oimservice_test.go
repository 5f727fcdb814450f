package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/hub"
	"github.com/crosstalk-im/crosstalk/metrics"
	"github.com/crosstalk-im/crosstalk/msnp/oim"
	"github.com/crosstalk-im/crosstalk/msnp/wire"
)

// oimEnv is the offline-IM services of a test server over loopback HTTP.
type oimEnv struct {
	*testEnv
	http *httptest.Server
}

func newOIMEnv(t testing.TB, tweak func(*Config), hc hub.Config) *oimEnv {
	t.Helper()
	e := newTestEnvHub(t, tweak, hc)
	web := httptest.NewServer(e.srv.OfflineMessageHandler())
	t.Cleanup(web.Close)
	return &oimEnv{testEnv: e, http: web}
}

func (e *oimEnv) ticket(number uint32) string { return e.srv.cfg.Passport.Issue(number, time.Now()) }

// post sends body to path and reads the answer as a client does.
func (e *oimEnv) post(t *testing.T, path string, body []byte) (oim.Response, error) {
	t.Helper()
	resp, err := e.http.Client().Post(e.http.URL+path, "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := oim.ParseResponse(answer)
	var f *oim.Fault
	if (resp.StatusCode == http.StatusOK) == errors.As(err, &f) {
		t.Fatalf("status %s with %v:\n%s", resp.Status, err, answer)
	}
	return r, err
}

// wantFault checks that err is a fault with code.
func wantFault(t *testing.T, what string, err error, code string) *oim.Fault {
	t.Helper()
	var f *oim.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Fatalf("%s: %v, want fault %s", what, err, code)
	}
	return f
}

// TestOIMRetrieval: a message another protocol left for an offline MSN
// user is listed, read and, once deleted, gone from the mailbox; bad
// tickets, other accounts' ids and malformed requests get faults.
func TestOIMRetrieval(t *testing.T) {
	ctx := context.Background()
	e := newOIMEnv(t, nil, hub.Config{})
	alice := e.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	bob := e.addAccount(t, 1002, "bob@example.com", "Bób", "pb")
	e.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	sent := time.Now().Truncate(time.Second)
	if d, err := e.hub.SendMessage(ctx, bob, alice.Number, hub.Message{Text: "za późno <&>", Sent: sent}, "gg"); err != nil || d != hub.Queued {
		t.Fatalf("queue: %v %v", d, err)
	}

	r, err := e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpGetMetadata, e.ticket(alice.Number)))
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := oim.ParseMailData(r.MailData)
	if err != nil || len(entries) != 1 || entries[0].From != "bob@example.com" || entries[0].FromName != "Bób" || !entries[0].Sent.Equal(sent) || entries[0].Size <= 0 {
		t.Fatalf("metadata: %+v %v", entries, err)
	}
	id := entries[0].ID

	r, err = e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpGetMessage, e.ticket(alice.Number), id))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Message) != entries[0].Size {
		t.Errorf("message of %d bytes, Mail-Data said %d", len(r.Message), entries[0].Size)
	}
	m, err := oim.ParseMessage(r.Message)
	if err != nil || m.Text != "za późno <&>" || m.From != "bob@example.com" || m.FromName != "Bób" || m.To != "alice@example.com" || !m.Sent.Equal(sent) || m.RunID == "" || m.Sequence <= 0 {
		t.Fatalf("message: %+v %v", m, err)
	}

	// Carol's ticket reads nothing of Alice's, and deletes nothing.
	_, err = e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpGetMessage, e.ticket(1003), id))
	wantFault(t, "another account's message", err, oim.FaultClient)
	if _, err := e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpDeleteMessages, e.ticket(1003), id)); err != nil {
		t.Fatal(err)
	}
	if left, _ := e.store.ReadOffline(ctx, alice.Number); len(left) != 1 {
		t.Fatalf("another account's delete removed %d", 1-len(left))
	}
	for what, body := range map[string][]byte{
		"forged ticket":   oim.RSIRequestBody(oim.OpGetMetadata, "t=AAAA&p="),
		"expired ticket":  oim.RSIRequestBody(oim.OpGetMetadata, e.srv.cfg.Passport.Issue(alice.Number, time.Now().Add(-48*time.Hour))),
		"no ticket":       oim.RSIRequestBody(oim.OpGetMetadata, ""),
		"deleted account": oim.RSIRequestBody(oim.OpGetMetadata, e.ticket(4242)),
	} {
		_, err := e.post(t, oim.RSIPath, body)
		if f := wantFault(t, what, err, oim.FaultAuthenticationFailed); f.RequiredAuthPolicy != "MBI" {
			t.Errorf("%s: policy %q", what, f.RequiredAuthPolicy)
		}
	}
	for what, body := range map[string][]byte{
		"not XML":        []byte("<soap:Envelope"),
		"no operation":   []byte(`<Envelope><Body/></Envelope>`),
		"bad message id": oim.RSIRequestBody(oim.OpGetMessage, e.ticket(alice.Number), "42"),
		"bad delete id":  oim.RSIRequestBody(oim.OpDeleteMessages, e.ticket(alice.Number), id, "x"),
		"too large":      append(oim.RSIRequestBody(oim.OpGetMetadata, e.ticket(alice.Number)), bytes.Repeat([]byte(" "), oim.MaxBody)...),
	} {
		_, err := e.post(t, oim.RSIPath, body)
		wantFault(t, what, err, oim.FaultClient)
	}
	if resp, err := e.http.Client().Get(e.http.URL + oim.RSIPath); err != nil || resp.Body.Close() != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}

	// A long answer goes out with its length, not chunked (Pidgin reads
	// Content-Length), also to "//rsi/rsi.asmx", where Pidgin posts.
	long := strings.Repeat("długa wiadomość ", 500)
	if d, err := e.hub.SendMessage(ctx, bob, alice.Number, hub.Message{Text: long}, "gg"); err != nil || d != hub.Queued {
		t.Fatalf("queue: %v %v", d, err)
	}
	all, _ := e.store.ReadOffline(ctx, alice.Number)
	resp, err := e.http.Client().Post(e.http.URL+"/"+oim.RSIPath, "text/xml",
		bytes.NewReader(oim.RSIRequestBody(oim.OpGetMessage, e.ticket(alice.Number), oim.MessageID(all[1].ID))))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TransferEncoding != nil || resp.ContentLength != int64(len(answer)) || len(answer) < 4096 {
		t.Fatalf("long answer: %s, %v, length %d of %d", resp.Status, resp.TransferEncoding, resp.ContentLength, len(answer))
	}
	if r, err := oim.ParseResponse(answer); err != nil {
		t.Fatal(err)
	} else if m, err := oim.ParseMessage(r.Message); err != nil || m.Text != long {
		t.Fatalf("long message: %v", err)
	}

	if _, err := e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpDeleteMessages, e.ticket(alice.Number), id, oim.MessageID(all[1].ID))); err != nil {
		t.Fatal(err)
	}
	if left, err := e.store.ReadOffline(ctx, alice.Number); err != nil || len(left) != 0 {
		t.Fatalf("after DeleteMessages the mailbox holds %+v %v", left, err)
	}
	r, err = e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpGetMetadata, e.ticket(alice.Number)))
	if entries, _, _ := oim.ParseMailData(r.MailData); err != nil || len(entries) != 0 {
		t.Fatalf("metadata after delete: %+v %v", entries, err)
	}
	_, err = e.post(t, oim.RSIPath, oim.RSIRequestBody(oim.OpGetMessage, e.ticket(alice.Number), id))
	wantFault(t, "a deleted message", err, oim.FaultClient)
}

// storeRequest is a Store2 from alice to bob as WLM 8.5 sends it.
func storeRequest(ticket, to, lockKey string, number int64, text string) oim.StoreRequest {
	return oim.StoreRequest{From: "alice@example.com", FriendlyName: oim.EncodeWord("Alice"), To: to, Ticket: ticket,
		AppID: "PROD0119GSJUC$18", LockKey: lockKey, MessageNumber: number, MessageType: "text",
		Content: string(oim.AppendMessage(nil, oim.Message{RunID: "{R}", Sequence: number, Text: text}))}
}

// answerLockKey is what a client computes from a lock-key challenge.
func answerLockKey(challenge string) string {
	return wire.ChallengeAnswer(11, challenge, "PROD0119GSJUC$18", wire.ProductKeys["PROD0119GSJUC$18"])
}

// TestOIMStore: Store2 asks for the lock key first, then commits the
// message to the recipient's mailbox before it answers success; refusals
// are the faults clients tell apart.
func TestOIMStore(t *testing.T) {
	ctx := context.Background()
	e := newOIMEnv(t, nil, hub.Config{Mailbox: hub.MailboxLimits{Total: 10, PerSender: 2}})
	alice := e.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	bob := e.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	carol := e.addAccount(t, 1003, "carol@example.com", "Carol", "pc")
	ticket := e.ticket(alice.Number)

	_, err := e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(ticket, "bob@example.com", "", 1, "hello")))
	f := wantFault(t, "no lock key", err, oim.FaultAuthenticationFailed)
	if f.LockKeyChallenge == "" {
		t.Fatal("no lock-key challenge")
	}
	_, err = e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(ticket, "bob@example.com", "0123456789abcdef0123456789abcdef", 1, "hello")))
	if f := wantFault(t, "wrong lock key", err, oim.FaultAuthenticationFailed); f.LockKeyChallenge == "" {
		t.Fatal("no challenge after a wrong lock key")
	}
	if left, _ := e.store.ReadOffline(ctx, bob.Number); len(left) != 0 {
		t.Fatalf("refused messages stored: %+v", left)
	}

	key := answerLockKey(f.LockKeyChallenge)
	stored := metrics.Value(metrics.Messages.WithLabelValues(protocolName))
	r, err := e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(ticket, "Bob@Example.com", key, 1, "Zażółć gęślą jaźń")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Acknowledged != 1 {
		t.Errorf("acknowledged %d", r.Acknowledged)
	}
	if metrics.Value(metrics.Messages.WithLabelValues(protocolName)) <= stored {
		t.Error("the stored message was not counted")
	}
	waiting, err := e.store.ReadOffline(ctx, bob.Number)
	if err != nil || len(waiting) != 1 || waiting[0].Text != "Zażółć gęślą jaźń" || waiting[0].From.Number != alice.Number {
		t.Fatalf("bob's mailbox after Store2: %+v %v", waiting, err)
	}
	if _, err := e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(ticket, "bob@example.com", key, 2, "again"))); err != nil {
		t.Fatalf("the same lock key for a second message: %v", err)
	}

	// Carol blocks Alice.
	if _, err := e.store.AddToList(ctx, carol.Number, alice.Number, hub.Block, 0, 100); err != nil {
		t.Fatal(err)
	}
	htmlBody := storeRequest(ticket, "bob@example.com", key, 3, "x")
	htmlBody.Content = "Content-Type: text/html\n\n<b>x</b>"
	notText := storeRequest(ticket, "bob@example.com", key, 3, "x")
	notText.MessageType = "ink"
	otherSender := storeRequest(e.ticket(carol.Number), "bob@example.com", key, 3, "x")
	unknownApp := storeRequest(ticket, "bob@example.com", key, 3, "x")
	unknownApp.AppID = "PRODNOTAPRODUCT!"
	throttled := metrics.Value(metrics.Errors.WithLabelValues(protocolName, oim.FaultThrottled))
	for _, c := range []struct {
		what string
		req  oim.StoreRequest
		code string
	}{
		{"mailbox share full", storeRequest(ticket, "bob@example.com", key, 3, "third"), oim.FaultThrottled},
		{"blocked", storeRequest(ticket, "carol@example.com", key, 3, "x"), oim.FaultSystemUnavailable},
		{"no such recipient", storeRequest(ticket, "nobody@example.com", key, 3, "x"), oim.FaultSystemUnavailable},
		{"HTML", htmlBody, oim.FaultInvalidContent},
		{"not text", notText, oim.FaultInvalidContent},
		{"empty", storeRequest(ticket, "carol@example.com", key, 3, ""), oim.FaultInvalidContent},
		{"too long", storeRequest(ticket, "carol@example.com", key, 3, strings.Repeat("x", hub.MaxMessageBytes+1)), oim.FaultInvalidContent},
		{"sender is not the ticket's", otherSender, oim.FaultClient},
		{"unknown product", unknownApp, oim.FaultClient},
		{"bad ticket", storeRequest("t=AAAA&p=", "bob@example.com", key, 3, "x"), oim.FaultAuthenticationFailed},
	} {
		_, err := e.post(t, oim.StorePath, oim.StoreRequestBody(c.req))
		wantFault(t, c.what, err, c.code)
	}
	if got := metrics.Value(metrics.Errors.WithLabelValues(protocolName, oim.FaultThrottled)) - throttled; got != 1 {
		t.Errorf("%v throttling faults counted, want 1", got)
	}
	_, err = e.post(t, oim.StorePath, []byte(`<Envelope><Header/></Envelope>`))
	wantFault(t, "malformed", err, oim.FaultClient)
	if n, _ := e.store.CountOffline(ctx, bob.Number); n != 2 {
		t.Errorf("bob's mailbox holds %d messages, want the 2 stored", n)
	}
	if n, _ := e.store.CountOffline(ctx, carol.Number); n != 0 {
		t.Errorf("carol's mailbox holds %d messages", n)
	}
}

// TestOIMLockKeyLifetime: a lock key is good for its challenge's period
// and the next only; with periods of a nanosecond none outlives its trip.
func TestOIMLockKeyLifetime(t *testing.T) {
	e := newOIMEnv(t, func(c *Config) { c.LockKeyLifetime = time.Nanosecond }, hub.Config{})
	alice := e.addAccount(t, 1001, "alice@example.com", "Alice", "pa")
	e.addAccount(t, 1002, "bob@example.com", "Bob", "pb")
	_, err := e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(e.ticket(alice.Number), "bob@example.com", "", 1, "x")))
	f := wantFault(t, "no lock key", err, oim.FaultAuthenticationFailed)
	_, err = e.post(t, oim.StorePath, oim.StoreRequestBody(storeRequest(e.ticket(alice.Number), "bob@example.com", answerLockKey(f.LockKeyChallenge), 1, "x")))
	wantFault(t, "an expired lock key", err, oim.FaultAuthenticationFailed)
}

// FuzzOIMService posts random bodies, valid tickets and lock keys
// included, to both services: every answer is a SOAP envelope the clients
// read (a fault or a result), never a panic.
func FuzzOIMService(f *testing.F) {
	e := newOIMEnv(f, nil, hub.Config{})
	alice := e.addAccount(f, 1001, "alice@example.com", "Alice", "pa")
	e.addAccount(f, 1002, "bob@example.com", "Bob", "pb")
	ticket := e.ticket(alice.Number)
	key := answerLockKey(e.srv.lockKeys().Challenge(alice.Number, time.Now()))
	f.Add(true, oim.RSIRequestBody(oim.OpGetMetadata, ticket))
	f.Add(true, oim.RSIRequestBody(oim.OpGetMessage, ticket, oim.MessageID(1)))
	f.Add(true, oim.RSIRequestBody(oim.OpDeleteMessages, ticket, oim.MessageID(1), oim.MessageID(2)))
	f.Add(false, oim.StoreRequestBody(storeRequest(ticket, "bob@example.com", key, 1, "hi")))
	f.Add(false, oim.StoreRequestBody(storeRequest(ticket, "bob@example.com", "", 1, "hi")))
	handler := e.srv.OfflineMessageHandler()
	f.Fuzz(func(t *testing.T, retrieval bool, body []byte) {
		path := oim.StorePath
		if retrieval {
			path = oim.RSIPath
		}
		rec := postTo(handler, path, body)
		if _, err := oim.ParseResponse(rec.Body.Bytes()); err != nil && !errors.As(err, new(*oim.Fault)) {
			t.Fatalf("answer %d is not an envelope: %v\n%s", rec.Code, err, rec.Body)
		}
	})
}
