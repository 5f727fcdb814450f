package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosstalk-im/crosstalk/bus"
	"github.com/crosstalk-im/crosstalk/drive"
	"github.com/crosstalk-im/crosstalk/internal/pgtest"
	"github.com/crosstalk-im/crosstalk/internal/testenv"
	"github.com/crosstalk-im/crosstalk/node"
	"github.com/crosstalk-im/crosstalk/store"
)

// A backup taken by its own process while the server runs restores into a
// fresh directory, where a node starts, a user logs in with the password
// they had and downloads the drive file they were sent; what happened after
// the backup, and uploads still being written, are not in it. Restore
// refuses a directory that is not empty.
func TestBackupRestore(t *testing.T) {
	ctx := testContext(t)
	data := t.TempDir()
	n := startNode(t, func(o *node.Options) { o.DataDir = data })
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	addAccount(t, n, 1002, "b@example.com", "pw-b")
	path, content := testFile(t, "notes.txt", 300<<10)
	drv := ggDrive{Drive: "http://" + n.HTTPAddr}
	recv := command((&ggRecvFileCmd{ggLogin: ggAs(n, 1002, "pw-b"), ggDrive: drv, Dir: t.TempDir()}).run).start(t, ctx, "waiting for a file as 1002")
	if r := command((&ggSendFileCmd{ggLogin: ggAs(n, 1001, "pw-a"), ggDrive: drv, To: 1002, File: path}).run).run(t, ctx); r.err != nil {
		t.Fatalf("send-file: %v\n%s", r.err, r.errOut)
	}
	if r := recv.wait(); r.err != nil {
		t.Fatalf("recv-file: %v\n%s", r.err, r.errOut)
	}
	tickets, err := n.Store.ExpiredTickets(ctx, time.Now().Add(100*365*24*time.Hour), 10)
	if err != nil || len(tickets) != 1 {
		t.Fatalf("tickets: %v, %v", tickets, err)
	}
	sent := tickets[0]
	const partial = "0123456789abcdef0123456789abcdef.42.part"
	if err := os.WriteFile(filepath.Join(drive.BlobDir(data), partial), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	archive := filepath.Join(t.TempDir(), "crosstalk.tar.gz")
	stdout, stderr, code := crosstalk(t, "backup", "--data", data, "--out", archive)
	if want := "backed up " + data + " to " + archive + ": 3 files, "; code != 0 || !strings.HasPrefix(stdout, want) {
		t.Fatalf("backup: exit %d, %q, want %q...\n%s", code, stdout, want, stderr)
	}
	addAccount(t, n, 1003, "c@example.com", "pw-c")

	restored := filepath.Join(t.TempDir(), "restored")
	stdout, stderr, code = crosstalk(t, "restore", "--in", archive, "--data", restored)
	if want := "restored " + archive + " into " + restored + ": 3 files\n"; code != 0 || stdout != want {
		t.Fatalf("restore: exit %d, %q, want %q\n%s", code, stdout, want, stderr)
	}
	if _, err := os.Stat(filepath.Join(drive.BlobDir(restored), partial)); !os.IsNotExist(err) {
		t.Errorf("an unfinished upload was restored: %v", err)
	}
	n2 := startNode(t, func(o *node.Options) { o.DataDir = restored })
	if _, err := n2.Store.Account(ctx, 1003); err == nil {
		t.Error("an account made after the backup is in it")
	}
	login := ggAs(n2, 1002, "pw-b")
	gg, err := login.connect(ctx, testLogger(t))
	if err != nil {
		t.Fatalf("GG login on the restored node: %v", err)
	}
	defer logout(gg)
	dc, err := login.signIn(ctx, ggDrive{Drive: "http://" + n2.HTTPAddr}, gg)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.CloseIdleConnections()
	tk, err := dc.Ticket(ctx, sent.ID)
	if err != nil || tk.FileName != "notes.txt" || tk.Sender != 1001 {
		t.Fatalf("ticket %s on the restored node: %+v, %v", sent.ID, tk, err)
	}
	var got bytes.Buffer
	if _, err := dc.Download(ctx, tk, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("download on the restored node: %d bytes, %v; want %d", got.Len(), err, len(content))
	}

	before, _ := os.ReadDir(restored)
	_, stderr, code = crosstalk(t, "restore", "--in", archive, "--data", restored)
	if want := "--data " + restored + " is not empty"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("restore into a used directory: exit %d, %q, want %q", code, stderr, want)
	}
	if after, _ := os.ReadDir(restored); len(after) != len(before) {
		t.Errorf("the refused restore changed the directory: %d entries, then %d", len(before), len(after))
	}
}

// Restore takes only files within the data directory, and only an archive
// that holds a database and its key; a refused one leaves nothing behind.
func TestRestoreRefusesForeignArchives(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"escape", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}, `entry "../evil" lies outside the data directory`},
		{"absolute", []tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg}}, `entry "/etc/evil" lies outside the data directory`},
		{"link", []tar.Header{{Name: "drive/x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, `entry "drive/x" is neither a file nor a directory`},
		{"no key", []tar.Header{{Name: "crosstalk.db", Typeflag: tar.TypeReg}}, "is not a crosstalk backup: it has no secret.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "x.tar.gz")
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			for _, h := range tc.entries {
				h.Mode = 0o600
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			zw.Close()
			if err := os.WriteFile(archive, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			target := filepath.Join(parent, "data")
			_, err := restoreBackup(t.Context(), archive, target)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want %q", err, tc.want)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("a refused restore left %v", left)
			}
		})
	}
}

// backup's and restore's flags also come from the environment and the
// config file, as serve's do.
func TestBackupFlagSources(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "crosstalk.tar.gz")
	if err := os.WriteFile(archive, nil, 0o600); err != nil { // restore's --in must exist
		t.Fatal(err)
	}
	t.Setenv("CROSSTALK_OUT", "/srv/backups/crosstalk.tar.gz")
	t.Setenv("CROSSTALK_IN", archive)
	config := writeConfig(t, `{"data": "/srv/crosstalk"}`)
	c, _, err := parse(t, "--config", config, "backup")
	if err != nil || c.Backup.Data != "/srv/crosstalk" || c.Backup.Out != "/srv/backups/crosstalk.tar.gz" {
		t.Fatalf("backup: %v %+v", err, c.Backup)
	}
	c, _, err = parse(t, "--config", config, "restore")
	if err != nil || c.Restore.Data != "/srv/crosstalk" || c.Restore.In != archive {
		t.Fatalf("restore: %v %+v", err, c.Restore)
	}
}

// With PostgreSQL, backup carries the keys and the drive's files and says
// that the database is pg_dump's; restored next to the same database, a
// node with no key flags reads the passwords with the restored keys.
func TestBackupRestorePostgres(t *testing.T) {
	ctx := testContext(t)
	database, data := pgtest.URL(t), t.TempDir()
	signing := store.NewKey()
	n := startNode(t, func(o *node.Options) {
		o.DataDir, o.Database = data, database
		o.Keys = store.KeyConfig{Signing: signing} // the password key is the data directory's
	})
	addAccount(t, n, 1001, "a@example.com", "pw-a")
	if err := os.MkdirAll(drive.BlobDir(data), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drive.BlobDir(data), "0123456789abcdef0123456789abcdef"), []byte("file"), 0o600); err != nil {
		t.Fatal(err)
	}
	signingFile := filepath.Join(t.TempDir(), "signing.key")
	if err := os.WriteFile(signingFile, signing, 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "crosstalk.tar.gz")
	stdout, stderr, code := crosstalk(t, "backup", "--data", data, "--database", database, "--signing-key-file", signingFile, "--out", archive)
	if code != 0 || !strings.Contains(stdout, ": 3 files, ") || !strings.Contains(stdout, "pg_dump") {
		t.Fatalf("backup: exit %d, %q\n%s", code, stdout, stderr)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	stdout, stderr, code = crosstalk(t, "restore", "--in", archive, "--data", restored)
	if code != 0 || !strings.Contains(stdout, ": 3 files\n") || !strings.Contains(stdout, "pg_restore") {
		t.Fatalf("restore: exit %d, %q\n%s", code, stdout, stderr)
	}
	n2 := startNode(t, func(o *node.Options) { o.DataDir, o.Database = restored, database })
	if pw, err := n2.Store.Password(ctx, 1001); err != nil || pw != "pw-a" {
		t.Fatalf("password on the restored node: %q, %v", pw, err)
	}
	if !bytes.Equal(n2.Store.DeriveKey("drive"), n.Store.DeriveKey("drive")) {
		t.Error("the restored node signs with other keys")
	}
	if _, err := os.Stat(filepath.Join(drive.BlobDir(restored), "0123456789abcdef0123456789abcdef")); err != nil {
		t.Errorf("the drive's file: %v", err)
	}
}

// With --nats, backup takes the drive's files from the bus's object store,
// and restore puts them into another bus's.
func TestBackupRestoreObjects(t *testing.T) {
	ctx := testContext(t)
	from, to := testenv.NATS(t), testenv.NATS(t)
	data := t.TempDir()
	st, err := store.OpenSQLite(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	b, err := bus.Open(ctx, bus.Options{URL: from})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	objects, err := drive.OpenObjects(ctx, b.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef"
	content := bytes.Repeat([]byte("drive file "), 30_000)
	if _, err := objects.PutBytes(ctx, id, content); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tar.gz")
	if out, errOut, code := crosstalk(t, "backup", "--data", data, "--out", archive, "--nats", from); code != 0 {
		t.Fatalf("backup: %s %s", out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	out, errOut, code := crosstalk(t, "restore", "--in", archive, "--data", restored, "--nats", to)
	if code != 0 || !strings.Contains(out, "put 1 drive files into the bus's object store") {
		t.Fatalf("restore: %q %s", out, errOut)
	}
	b2, err := bus.Open(ctx, bus.Options{URL: to})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	there, err := b2.JS.ObjectStore(ctx, drive.ObjectBucket)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := there.GetBytes(ctx, id); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("restored object: %d bytes, %v", len(got), err)
	}
	if left, _ := os.ReadDir(drive.BlobDir(restored)); len(left) != 0 {
		t.Fatalf("files left in the restored directory: %v", left)
	}
}
