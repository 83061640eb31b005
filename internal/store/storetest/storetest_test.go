package storetest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

// recorder is a testing.TB whose cleanups and failures are kept for the
// test to look at instead of acting on the real test.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Helper()          {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// end runs the cleanups as the testing package does, last first.
func (r *recorder) end() {
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
	r.cleanups = nil
}

func put(t *testing.T, db *store.DB, title string) {
	t.Helper()
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		n, err := tx.NextIncidentNumber()
		if err != nil {
			return err
		}
		return tx.PutIncident(&incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n, Title: title})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMustOpen_ClosedAndCheckedWhenTheTestEnds(t *testing.T) {
	r := &recorder{TB: t}
	db := storetest.MustOpen(r)
	path := db.Path()
	put(t, db, "disk full")
	r.end()
	if len(r.errors) != 0 {
		t.Fatalf("errors on a sound file: %q", r.errors)
	}
	if err := db.View(context.Background(), func(incidentbot.Tx) error { return nil }); err != store.ErrClosed {
		t.Errorf("View after the cleanup = %v, want ErrClosed", err)
	}
	if n, err := store.Verify(path); err != nil || n != 1 {
		t.Errorf("Verify = %d, %v; want 1 incident", n, err)
	}
}

func TestMustReopen_KeepsWhatWasWritten(t *testing.T) {
	db := storetest.MustOpen(t)
	put(t, db, "disk full")
	db = storetest.MustReopen(t, db)
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		inc, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		if inc.Title != "disk full" {
			t.Errorf("title = %q after reopening", inc.Title)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store the test closed itself is checked on disk; damage to it fails
// the test.
func TestMustOpen_DamagedFileFailsTheTest(t *testing.T) {
	r := &recorder{TB: t}
	db := storetest.MustOpen(r)
	path := db.Path()
	put(t, db, "disk full")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Zero everything past the two meta pages: the freelist and the buckets.
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	if _, err := f.WriteAt(make([]byte, fi.Size()-2*pageSize), 2*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r.end()
	if len(r.errors) != 1 {
		t.Fatalf("errors = %q, want one about the damaged file", r.errors)
	}
	t.Logf("reported: %s", r.errors[0])
}
