package drive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// breakingObjects serves one object whose streams break off after cut
// bytes, for the first breaks Gets.
type breakingObjects struct {
	jetstream.ObjectStore // only Get is called
	data                  []byte
	cut                   int
	breaks                int
	gets                  int
}

func (o *breakingObjects) Get(context.Context, string, ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	o.gets++
	var r io.Reader = bytes.NewReader(o.data)
	if o.gets <= o.breaks {
		r = io.MultiReader(io.LimitReader(r, int64(o.cut)), failing{})
	}
	return objectResult{r}, nil
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("nats: timeout") }

type objectResult struct{ io.Reader }

func (objectResult) Close() error                         { return nil }
func (objectResult) Info() (*jetstream.ObjectInfo, error) { return nil, nil }
func (objectResult) Error() error                         { return nil }

// TestObjectReadResumes: a download whose object stream breaks off goes
// on from where it stopped, and a stream that keeps breaking fails the
// read rather than ending it early as if complete.
func TestObjectReadResumes(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 30_000)
	store := &breakingObjects{data: data, cut: 3665, breaks: 2}
	b := &objectBlob{ctx: context.Background(), store: store, id: "x", size: int64(len(data))}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
	}
	if store.gets != 3 {
		t.Errorf("opened the object %d times, want 3", store.gets)
	}

	dead := &breakingObjects{data: data, cut: 0, breaks: 1 << 30}
	b = &objectBlob{ctx: context.Background(), store: dead, id: "x", size: int64(len(data))}
	if got, err := io.ReadAll(b); err == nil || len(got) != 0 {
		t.Fatalf("a stream that keeps breaking read %d bytes, err %v", len(got), err)
	}
	if dead.gets != objectReadAttempts {
		t.Errorf("opened a dead object %d times, want %d", dead.gets, objectReadAttempts)
	}
}
