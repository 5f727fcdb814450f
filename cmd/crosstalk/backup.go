package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/store"
)

// A backup is a gzipped tar of the files a data directory needs, under
// their names in it: the SQLite database and the keys (what the store's
// Backup writes), then the drive's files under drive/. The embedded bus's
// state (presence) and the lock file are left out: a node rebuilds the one
// and takes the other. A PostgreSQL database is pg_dump's to back up: the
// archive then holds the keys and the drive's files. Nodes on a shared bus
// keep the drive's files in its object store: with --nats, backup reads
// them from there and restore puts them back.

type backupCmd struct {
	storeFlags
	Out  string `help:"Archive to write (.tar.gz), replaced if it exists. It holds the password key: keep it as safe as the data directory." required:"" type:"path"`
	Nats string `help:"NATS URL of a service whose nodes share a bus: the drive's files are taken from its object store."`
}

func (c *backupCmd) Run() error {
	return c.withExisting(func(ctx context.Context, st store.Store) error {
		var objects jetstream.ObjectStore
		if c.Nats != "" {
			b, err := bus.Open(ctx, bus.Options{URL: c.Nats})
			if err != nil {
				return err
			}
			defer b.Close()
			if objects, err = b.JS.ObjectStore(ctx, drive.ObjectBucket); errors.Is(err, jetstream.ErrBucketNotFound) {
				objects = nil // no file was ever stored
			} else if err != nil {
				return fmt.Errorf("the drive's object store: %w", err)
			}
		}
		files, size, err := writeBackup(ctx, st, c.Data, objects, c.Out)
		if err != nil {
			return err
		}
		fmt.Printf("backed up %s to %s: %d files, %d bytes before compression\n", c.Data, c.Out, files, size)
		if c.Database != "" {
			fmt.Println(pgDumpNote)
		}
		return nil
	})
}

// writeBackup writes the backup of the data directory dir, whose store st
// is, to the file out: into a temporary file beside it, synced, then
// renamed, so that out is only ever a whole backup. The database is copied
// before the drive's files, so that every file a ticket in it names is
// there unless it expired meanwhile; a file without a ticket is removed by
// the drive's sweeper.
// With objects, the drive's files come from that object store instead of
// the data directory.
func writeBackup(ctx context.Context, st store.Store, dir string, objects jetstream.ObjectStore, out string) (files int, size int64, err error) {
	staging, err := os.MkdirTemp(filepath.Dir(out), ".crosstalk-backup-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(staging)
	names, err := st.Backup(ctx, staging)
	if err != nil {
		return 0, 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".crosstalk-backup-*.tar.gz") // mode 0600
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	add := func(name, path string) error {
		n, err := addFile(tw, name, path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a drive file that expired while we were at it
		}
		files, size = files+1, size+n
		return err
	}
	for _, name := range names {
		if err := add(name, filepath.Join(staging, name)); err != nil {
			return 0, 0, err
		}
	}
	blobDir := drive.BlobDir(dir)
	if objects != nil {
		n, bytes, err := addObjects(ctx, tw, objects, filepath.Base(blobDir))
		files, size = files+n, size+bytes
		if err != nil {
			return 0, 0, err
		}
	}
	blobs, err := os.ReadDir(blobDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	for _, e := range blobs {
		if !e.Type().IsRegular() || drive.Unfinished(e.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if err := add(path.Join(filepath.Base(blobDir), e.Name()), filepath.Join(blobDir, e.Name())); err != nil {
			return 0, 0, err
		}
	}
	if err := errors.Join(tw.Close(), zw.Close(), f.Sync(), f.Close()); err != nil {
		return 0, 0, err
	}
	return files, size, os.Rename(f.Name(), out)
}

// addFile writes the file at path into tw as name, returning its size.
func addFile(tw *tar.Writer, name, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: info.Size(), Mode: 0o600, ModTime: info.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != info.Size() {
		err = fmt.Errorf("%s changed while it was copied", path)
	}
	return n, err
}

// addObjects writes every file of the drive's object store into tw, under
// dir, skipping those that expire while it runs.
func addObjects(ctx context.Context, tw *tar.Writer, objects jetstream.ObjectStore, dir string) (files int, size int64, err error) {
	list, err := objects.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	for _, info := range list {
		r, err := objects.Get(ctx, info.Name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			return files, size, err
		}
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(dir, info.Name), Size: int64(info.Size), Mode: 0o600, ModTime: info.ModTime})
		var n int64
		if err == nil {
			n, err = io.Copy(tw, r)
		}
		r.Close()
		if err != nil {
			return files, size, fmt.Errorf("drive file %s: %w", info.Name, err)
		}
		files, size = files+1, size+n
	}
	return files, size, nil
}

// pgDumpNote tells the operator of a PostgreSQL store where its database's
// backup comes from.
const pgDumpNote = "the database is in PostgreSQL and not in the archive: back it up with pg_dump and restore it with pg_restore"

type restoreCmd struct {
	In          string `help:"Archive written by crosstalk backup." required:"" type:"existingfile"`
	Data        string `help:"Data directory to restore into; it must not exist yet or be empty." required:"" type:"path"`
	Nats        string `help:"NATS URL of a service whose nodes share a bus: the drive's files go into its object store."`
	BusReplicas int    `help:"With --nats: how many NATS servers keep the object store, if restore creates it." default:"1"`
}

func (c *restoreCmd) Run() error {
	ctx, stop := untilInterrupted()
	defer stop()
	files, err := restoreBackup(ctx, c.In, c.Data)
	if err != nil {
		return err
	}
	fmt.Printf("restored %s into %s: %d files\n", c.In, c.Data, files)
	if c.Nats != "" {
		n, err := restoreObjects(ctx, c.Nats, c.BusReplicas, drive.BlobDir(c.Data))
		if err != nil {
			return err
		}
		fmt.Printf("put %d drive files into the bus's object store\n", n)
	}
	if _, err := os.Stat(filepath.Join(c.Data, store.DatabaseFile)); errors.Is(err, fs.ErrNotExist) {
		fmt.Println(pgDumpNote + "; start serve with --database and --data " + c.Data)
	}
	return nil
}

// restoreObjects puts the drive files of the restored blobDir into the
// object store of the bus at url (created with replicas if missing), and
// removes them from blobDir: nodes on that bus read them from there.
func restoreObjects(ctx context.Context, url string, replicas int, blobDir string) (files int, err error) {
	b, err := bus.Open(ctx, bus.Options{URL: url})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	objects, err := b.JS.ObjectStore(ctx, drive.ObjectBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		objects, err = drive.OpenObjects(ctx, b.JS, replicas)
	}
	if err != nil {
		return 0, fmt.Errorf("the drive's object store: %w", err)
	}
	entries, err := os.ReadDir(blobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(blobDir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			return files, err
		}
		_, err = objects.Put(ctx, jetstream.ObjectMeta{Name: e.Name()}, f)
		f.Close()
		if err != nil {
			return files, fmt.Errorf("drive file %s: %w", e.Name(), err)
		}
		if err := os.Remove(p); err != nil {
			return files, err
		}
		files++
	}
	return files, nil
}

// restoreBackup unpacks the backup in into the data directory dir, which
// must not exist or be empty, and checks that it holds keys that load and a
// SQLite store that opens, unless it is the backup of a PostgreSQL store,
// which has no database. On failure it leaves dir as it found it.
func restoreBackup(ctx context.Context, in, dir string) (files int, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, err
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	case err != nil:
		return 0, fmt.Errorf("--data: %w", err)
	case len(entries) > 0:
		return 0, fmt.Errorf("--data %s is not empty: restore only into a new or empty directory", dir)
	default:
		defer func() {
			if err != nil {
				emptyDir(dir)
			}
		}()
	}
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if files, err = unpack(ctx, f, dir); err != nil {
		return 0, fmt.Errorf("%s: %w", in, err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.KeyFile)); err != nil {
		return 0, fmt.Errorf("%s is not a crosstalk backup: it has no %s", in, store.KeyFile)
	}
	if _, err := os.Stat(filepath.Join(dir, store.DatabaseFile)); errors.Is(err, fs.ErrNotExist) {
		_, err := store.LoadKeys(dir, store.KeyConfig{})
		return files, err
	}
	// Opening brings an older backup's schema up to date, too.
	st, err := store.OpenExistingSQLite(ctx, dir)
	if err != nil {
		return 0, err
	}
	return files, st.Close()
}

// unpack writes the regular files of a gzipped tar into dir, refusing any
// entry that is not a file or directory or whose name leads out of dir.
func unpack(ctx context.Context, r io.Reader, dir string) (files int, err error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return 0, err
		}
		name := filepath.FromSlash(hdr.Name)
		if !filepath.IsLocal(name) {
			return 0, fmt.Errorf("entry %q lies outside the data directory", hdr.Name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o700)
		case tar.TypeReg:
			err = writeFile(target, tr)
			files++
		default:
			err = fmt.Errorf("entry %q is neither a file nor a directory", hdr.Name)
		}
		if err != nil {
			return 0, err
		}
	}
}

// writeFile creates the file at path, which must not exist, from r.
func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Sync(), f.Close())
}

// emptyDir removes everything in dir, keeping dir.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
