// Package pgtest opens PostgreSQL stores for tests: each test gets a
// schema of its own in the server named by INCIDENTBOT_TEST_DATABASE_URL
// (.ci/run starts a throwaway cluster and sets it; developers run
// `eval "$(.ci/pg-start)"`), migrated, and dropped when the test ends.
//
//	db := pgtest.MustOpen(t)            // a new schema
//	db2 := pgtest.MustOpenURL(t, url)   // a second replica on the same schema
//
// Without the variable the test skips with a loud message, and fails when
// the CI variable is set: a CI run never passes without the server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// EnvURL is the variable naming the test server.
const EnvURL = "INCIDENTBOT_TEST_DATABASE_URL"

// BaseURL returns the test server's URL, skipping (locally) or failing
// (CI) the test when there is none.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		msg := "\n*** " + EnvURL + " is not set: this PostgreSQL test did NOT run. ***\n" +
			"*** Start a throwaway server with: eval \"$(.ci/pg-start)\" (stop it with .ci/pg-stop) ***"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "\nCI is set: the PostgreSQL tests must run there (.ci/run starts the server).")
		}
		t.Skip(msg)
	}
	return u
}

// SchemaURL creates a new schema in the test server and returns a URL
// whose connections use it (search_path). The schema is dropped when the
// test ends.
func SchemaURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to the test server: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		// Sessions left by the test (a bot process a failed test did not
		// stop) would hold locks the DROP waits on or deadlocks with: the
		// schema's sessions are named after it (application_name below).
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", schema); err != nil {
			t.Errorf("pgtest: ending the sessions of schema %s: %v", schema, err)
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MustOpen opens a store on a new, migrated schema; it is closed when the
// test ends.
func MustOpen(t testing.TB) *postgres.DB {
	t.Helper()
	return MustOpenURL(t, SchemaURL(t))
}

// MustOpenURL opens (migrating) a store at rawURL, closed when the test
// ends: a second replica on the schema of SchemaURL.
func MustOpenURL(t testing.TB, rawURL string) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, rawURL, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("pgtest: close: %v", err)
		}
	})
	return db
}
