package node

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/msnp/client"
	"github.com/crosstalk-im/crosstalk/msnp/passport"
	msnpserver "github.com/crosstalk-im/crosstalk/msnp/server"
	"github.com/crosstalk-im/crosstalk/msnp/storage"
	"github.com/crosstalk-im/crosstalk/store"
)

// profileService signs in at the token service over hc, asking for the
// storage ticket as WLM does, and returns the storage service with it.
func profileService(t *testing.T, ctx context.Context, hc *http.Client, email, password, cid string) *client.ProfileService {
	t.Helper()
	tokens, err := passport.RequestTokens(ctx, hc, passport.DefaultRST, email, password, []passport.RequestedToken{
		{Address: client.StorageService, Policy: client.StoragePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Tickets[client.StorageService] == "" {
		t.Fatalf("no %s ticket: %+v", client.StorageService, tokens)
	}
	return &client.ProfileService{HTTP: hc, Ticket: tokens.Tickets[client.StorageService], CID: cid}
}

// tile is a PNG display picture of one colour.
func tile(t *testing.T, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func wantFault(t *testing.T, what string, err error, code string) {
	t.Helper()
	var f *storage.Fault
	if !errors.As(err, &f) || f.Code != code {
		t.Errorf("%s: %v, want fault %s", what, err, code)
	}
}

func get(t *testing.T, ctx context.Context, hc *http.Client, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestStorageProfileOverHTTPS: the storage service over HTTPS at
// storage.msn.com with a ticket from the token service. The display name
// UpdateProfile sets is the account's (a watching MSN client sees it) and
// GetProfile returns it with the personal message; an uploaded picture is
// fetched back byte for byte at the URL GetProfile names, a new one
// replaces it and retires the old URL; the size limit, non-images, forged
// tickets, another account's profile and forged URLs are refused.
func TestStorageProfileOverHTTPS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const limit = 8 << 10
	o, ca := httpsOptions(t)
	o.DataDir, o.MSNP = t.TempDir(), msnpserver.Config{MaxProfilePicture: limit}
	n := startNodeWith(t, o)
	hc := passportClient(t, n, ca)
	addAccount(t, n, 1001, "alice@example.com", "Alice", "pa")
	addAccount(t, n, 1002, "bob@example.com", "Bob", "pb")
	bob := loginDialect(t, ctx, n, hc, 18, "bob@example.com", "pb")
	if _, err := bob.Add(ctx, client.ListForward, "alice@example.com", "", -1); err != nil {
		t.Fatal(err)
	}
	aliceMSN := loginDialect(t, ctx, n, hc, 18, "alice@example.com", "pa")
	nextPresence(t, ctx, bob, "alice@example.com", client.StatusOnline)

	alice := profileService(t, ctx, hc, "alice@example.com", "pa", "1001")
	p, err := alice.Profile(ctx)
	if err != nil || p.DisplayName != "Alice" || p.PersonalStatus != "" || p.PictureURL != "" {
		t.Fatalf("first profile: %+v %v", p, err)
	}
	name, message := "Alice in Wonderland", "down the rabbit hole <&>"
	if err := alice.SetProfile(ctx, &name, &message); err != nil {
		t.Fatal(err)
	}
	if p, err := alice.Profile(ctx); err != nil || p.DisplayName != name || p.PersonalStatus != message {
		t.Fatalf("after UpdateProfile: %+v %v", p, err)
	}
	if a, err := n.Store.Account(ctx, 1001); err != nil || a.DisplayName != name {
		t.Fatalf("account: %+v %v", a, err)
	}
	for {
		if pr := next[client.Presence](t, ctx, bob.Events()); pr.Email == "alice@example.com" && pr.Friendly == name {
			break
		}
	}
	// Alice's signed-in session took the name too: her next status
	// carries it, not the one she signed in with.
	if err := aliceMSN.SetStatus(ctx, client.StatusAway); err != nil {
		t.Fatal(err)
	}
	for {
		pr := next[client.Presence](t, ctx, bob.Events())
		if pr.Email != "alice@example.com" || pr.Status != client.StatusAway {
			continue
		}
		if pr.Friendly != name {
			t.Fatalf("alice's session announces %q after the rename", pr.Friendly)
		}
		break
	}
	// A change of the message alone leaves the name.
	other := "back"
	if err := alice.SetProfile(ctx, nil, &other); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Profile(ctx); p.DisplayName != name || p.PersonalStatus != other {
		t.Fatalf("message only: %+v", p)
	}

	if _, _, err := alice.Picture(ctx, limit); !errors.Is(err, client.ErrNoPicture) {
		t.Fatalf("picture before upload: %v", err)
	}
	red := tile(t, color.RGBA{R: 255, A: 255})
	if err := alice.SetPicture(ctx, "image/png", red); err != nil {
		t.Fatal(err)
	}
	got, kind, err := alice.Picture(ctx, limit)
	if err != nil || !bytes.Equal(got, red) || kind != "image/png" {
		t.Fatalf("picture: %d bytes of %q, %v", len(got), kind, err)
	}
	first, _ := alice.Profile(ctx)
	if !strings.HasPrefix(first.PictureURL, "https://storage.msn.com"+storage.TilePrefix+"1001/") || first.PictureSize != len(red) {
		t.Fatalf("picture URL %q size %d", first.PictureURL, first.PictureSize)
	}
	// The second upload replaces the document (UpdateDocument).
	blue := tile(t, color.RGBA{B: 255, A: 255})
	if err := alice.SetPicture(ctx, "image/png", blue); err != nil {
		t.Fatal(err)
	}
	if got, _, err := alice.Picture(ctx, limit); err != nil || !bytes.Equal(got, blue) {
		t.Fatalf("replaced picture: %d bytes, %v", len(got), err)
	}
	if code, _ := get(t, ctx, hc, first.PictureURL); code != http.StatusNotFound {
		t.Errorf("the old picture's URL answers %d", code)
	}
	current, _ := alice.Profile(ctx)
	forged := current.PictureURL[:len(current.PictureURL)-len("0/static")] + "1/static"
	if strings.HasSuffix(current.PictureURL, "1/static") {
		forged = current.PictureURL[:len(current.PictureURL)-len("1/static")] + "0/static"
	}
	if code, _ := get(t, ctx, hc, forged); code != http.StatusNotFound {
		t.Errorf("a forged URL answers %d", code)
	}

	// The limit: exactly it is kept, a byte more is refused.
	atLimit := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, limit-8)...)
	if err := alice.SetPicture(ctx, "image/png", atLimit); err != nil {
		t.Fatalf("picture at the limit: %v", err)
	}
	wantFault(t, "over the limit", alice.SetPicture(ctx, "image/png", append(atLimit, 0)), storage.FaultQuotaExceeded)
	wantFault(t, "not an image", alice.SetPicture(ctx, "image/png", []byte("<html><script>alert(1)</script>")), storage.FaultBadArgument)
	if got, _, _ := alice.Picture(ctx, limit); !bytes.Equal(got, atLimit) {
		t.Error("a refused upload changed the picture")
	}

	forgedTicket := &client.ProfileService{HTTP: hc, Ticket: "t=forged&p=", CID: "1001"}
	_, err = forgedTicket.Profile(ctx)
	wantFault(t, "forged ticket", err, storage.FaultAuth)
	wantFault(t, "forged ticket update", forgedTicket.SetProfile(ctx, &other, nil), storage.FaultAuth)
	snoop := profileService(t, ctx, hc, "bob@example.com", "pb", "1001")
	_, err = snoop.Profile(ctx)
	wantFault(t, "bob reading alice's profile", err, storage.FaultAccessDenied)
	if p, _ := alice.Profile(ctx); p.DisplayName != name || p.PersonalStatus != other {
		t.Fatalf("refused calls changed the profile: %+v", p)
	}
}

// TestStorageProfileAcrossNodes: two nodes sharing a PostgreSQL store
// and a bus serve the same profile: what is set at one is read at the
// other, and the picture URL one named is fetched from the other.
func TestStorageProfileAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, keys, nats := pgtest.URL(t), store.KeyConfig{Current: store.NewKey()}, testenv.NATS(t)
	o1, ca := httpsOptions(t)
	o2 := o1
	o1.DataDir, o1.Database, o1.Keys, o1.NatsURL = t.TempDir(), url, keys, nats
	o2.DataDir, o2.Database, o2.Keys, o2.NatsURL = t.TempDir(), url, keys, nats
	n1, n2 := startNodeWith(t, o1), startNodeWith(t, o2)
	addAccount(t, n1, 1001, "alice@example.com", "Alice", "pa")

	at1 := profileService(t, ctx, passportClient(t, n1, ca), "alice@example.com", "pa", "1001")
	name, message, picture := "Alice", "on node one", tile(t, color.RGBA{G: 255, A: 255})
	if err := at1.SetProfile(ctx, &name, &message); err != nil {
		t.Fatal(err)
	}
	if err := at1.SetPicture(ctx, "image/png", picture); err != nil {
		t.Fatal(err)
	}
	named, err := at1.Profile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The ticket node one issued, used at node two.
	hc2 := passportClient(t, n2, ca)
	at2 := &client.ProfileService{HTTP: hc2, Ticket: at1.Ticket, CID: "1001"}
	p, err := at2.Profile(ctx)
	if err != nil || p.DisplayName != name || p.PersonalStatus != message || p.PictureURL != named.PictureURL {
		t.Fatalf("at node two: %+v %v", p, err)
	}
	if code, got := get(t, ctx, hc2, named.PictureURL); code != http.StatusOK || !bytes.Equal(got, picture) {
		t.Fatalf("node two serves node one's URL: %d, %d bytes", code, len(got))
	}
}
