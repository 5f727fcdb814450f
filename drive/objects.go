package drive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The drive keeps its files in one of two places: a directory of the
// node's own (one node), or, when nodes share a bus, a JetStream object
// store, which chunks and checksums them and which every node reads, so
// that a file uploaded through one node downloads through any other.

// ObjectBucket is the object store the drive uses on a shared bus.
const ObjectBucket = "crosstalk_drive"

// OpenObjects creates (or opens) the drive's object store on a bus, kept
// by replicas NATS servers.
func OpenObjects(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.ObjectStore, error) {
	return js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      ObjectBucket,
		Description: "the GG drive's files",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
}

// blobFile is a stored file open for reading from any offset.
type blobFile interface {
	io.ReadSeekCloser
	Size() int64
}

// osBlob is a file of the blob directory.
type osBlob struct {
	*os.File
	size int64
}

func (b osBlob) Size() int64 { return b.size }

// putBlob stores exactly size bytes from body as the file of ticket id and
// returns their hex SHA-256 (errSize for another length, errBody when the
// body broke off).
func (s *Server) putBlob(ctx context.Context, id string, size int64, body io.Reader) (string, error) {
	if s.objects == nil {
		return s.storeBlob(id, size, body)
	}
	h := sha256.New()
	src := &failedRead{r: body}
	counted := &countingReader{r: io.TeeReader(io.LimitReader(src, size+1), h)}
	_, err := s.objects.Put(ctx, jetstream.ObjectMeta{Name: id}, counted)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || err == nil && counted.n != size:
		s.removeBlob(id)
		return "", errSize
	case err != nil && src.err != nil:
		return "", fmt.Errorf("%w: %w", errBody, src.err)
	case err != nil:
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openBlob opens the file of ticket id.
func (s *Server) openBlob(ctx context.Context, id string) (blobFile, error) {
	if s.objects == nil {
		f, err := os.Open(s.blobPath(id))
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		return osBlob{File: f, size: fi.Size()}, nil
	}
	info, err := s.objects.GetInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	return &objectBlob{ctx: ctx, store: s.objects, id: id, size: int64(info.Size)}, nil
}

// removeBlob forgets the file of ticket id, if there is one.
func (s *Server) removeBlob(id string) {
	if s.objects == nil {
		os.Remove(s.blobPath(id))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectTimeout)
	defer cancel()
	if err := s.objects.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		s.log.Warn("drive: remove file", "ticket", id, "err", err)
	}
}

// objectTimeout bounds the store's small requests (an info, a delete).
const objectTimeout = 30 * time.Second

// sweepObjects removes stored files whose ticket is gone. An upload cut
// off by a node's death leaves no object: the store names an object only
// once all of it is in.
func (s *Server) sweepObjects(ctx context.Context) {
	list, err := s.objects.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return
	}
	if err != nil {
		s.log.Warn("drive: sweep", "err", err)
		return
	}
	for _, info := range list {
		if !validID(info.Name) || s.isUploading(info.Name) {
			continue
		}
		if _, err := s.cfg.Tickets.Ticket(ctx, info.Name); errors.Is(err, ErrNoTicket) {
			s.removeBlob(info.Name)
		}
	}
}

// objectBlob reads an object of the store from any offset: reading on
// from where it is costs nothing extra, a seek elsewhere (a ranged
// download, rare) reopens it and skips ahead.
type objectBlob struct {
	ctx   context.Context
	store jetstream.ObjectStore
	id    string
	size  int64

	r      jetstream.ObjectResult // nil until the first read
	at     int64                  // where r is
	offset int64                  // where the next read starts
}

func (b *objectBlob) Size() int64 { return b.size }

// objectReadAttempts bounds how often one read opens the object again
// after its stream broke off: the bus's consumer behind a Get can miss a
// heartbeat or lose its server (a cluster electing a leader, a node
// killed), which cut downloads through another node short.
const objectReadAttempts = 3

func (b *objectBlob) Read(p []byte) (n int, err error) {
	for attempt := 1; ; attempt++ {
		if b.offset >= b.size {
			return 0, io.EOF
		}
		n, err = b.readOn(p)
		if err == nil || err == io.EOF && b.offset >= b.size {
			return n, err
		}
		// The stream ended or failed before the object's end: the next
		// read opens it again where this one stopped.
		b.drop()
		if n > 0 {
			return n, nil
		}
		if attempt == objectReadAttempts || b.ctx.Err() != nil {
			return 0, err
		}
	}
}

// readOn reads from the object's stream at b.offset, opening it there
// first when it is not.
func (b *objectBlob) readOn(p []byte) (int, error) {
	if b.r == nil || b.at > b.offset {
		b.drop()
		r, err := b.store.Get(b.ctx, b.id)
		if err != nil {
			return 0, err
		}
		b.r, b.at = r, 0
	}
	if b.at < b.offset {
		skipped, err := io.CopyN(io.Discard, b.r, b.offset-b.at)
		b.at += skipped
		if err != nil {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	b.at += int64(n)
	b.offset = b.at
	return n, err
}

func (b *objectBlob) drop() {
	if b.r != nil {
		b.r.Close()
		b.r = nil
	}
}

func (b *objectBlob) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.offset
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, errors.New("drive: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("drive: seek before the start")
	}
	b.offset = offset
	return offset, nil
}

func (b *objectBlob) Close() error {
	b.drop()
	return nil
}
