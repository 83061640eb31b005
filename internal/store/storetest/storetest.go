// Package storetest opens stores for tests, in the style of bbolt's
// internal/btesting: every store it opens is checked for consistency
// (bbolt's page checks, [store.DB.Check]) when the test ends, and the test
// fails if the file is damaged.
//
//	db := storetest.MustOpen(t)          // a new file in t.TempDir()
//	db = storetest.MustReopen(t, db)     // close it (checked) and open it again
//	db2 := storetest.MustOpenAt(t, path) // a chosen file, e.g. shared with another opener
//
// A test may close a store itself (to play a restart, or to race Close):
// the cleanup then checks the closed file with [store.Verify] instead.
//
// It is used by every package's tests; it is imported by tests only.
package storetest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
)

// MustOpen opens a new store in a temporary directory (t.TempDir) with
// the default options. When the test ends its file is checked for
// consistency, then closed; a problem fails the test.
func MustOpen(t testing.TB) *store.DB {
	t.Helper()
	return MustOpenAt(t, filepath.Join(t.TempDir(), "incidentbot.db"))
}

// MustOpenAt is MustOpen on a chosen file (created if needed): a test that
// prepares the file, or hands it to something else afterwards.
func MustOpenAt(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		t.Helper()
		if isClosed(db) {
			// The test closed it: check what it left on disk.
			if _, err := store.Verify(path); err != nil {
				t.Errorf("storetest: %s after the test closed it: %v", path, err)
			}
			return
		}
		check(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", path, err)
		}
	})
	return db
}

// MustClose checks db's consistency and closes it now, failing the test on
// either's error: a test that plays a restart or hands the file to
// another opener.
func MustClose(t testing.TB, db *store.DB) {
	t.Helper()
	path := db.Path() // bbolt forgets it on Close
	check(t, db)
	if err := db.Close(); err != nil {
		t.Fatalf("storetest: close %s: %v", path, err)
	}
}

// MustReopen closes db (checking it, as MustClose does) and opens its file
// again, as a restarted process would; the new store is checked and closed
// when the test ends like one from MustOpen.
func MustReopen(t testing.TB, db *store.DB) *store.DB {
	t.Helper()
	path := db.Path() // bbolt forgets it on Close
	MustClose(t, db)
	return MustOpenAt(t, path)
}

func check(t testing.TB, db *store.DB) {
	t.Helper()
	if err := db.Check(); err != nil {
		t.Errorf("storetest: consistency check of %s: %v", db.Path(), err)
	}
}

// isClosed reports whether db was closed: a View on a closed store fails
// with store.ErrClosed and runs nothing.
func isClosed(db *store.DB) bool {
	err := db.View(context.Background(), func(incidentbot.Tx) error { return nil })
	return errors.Is(err, store.ErrClosed)
}
