package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m).Run()) }

// Each URL is a database of its own on a running server, empty and
// writable, and gone when its test ends.
func TestFreshDatabases(t *testing.T) {
	var urls []string
	for range 2 {
		t.Run("db", func(t *testing.T) {
			url := URL(t)
			urls = append(urls, url)
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var tables int
			if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
				t.Fatalf("a new database has %d tables, %v", tables, err)
			}
			if _, err := conn.Exec(context.Background(), `CREATE TABLE t (x int)`); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(urls) != 2 || urls[0] == urls[1] {
		t.Fatalf("databases %v", urls)
	}
	if _, err := pgx.Connect(context.Background(), urls[0]); err == nil {
		t.Error("a test's database outlived it")
	}
}
