package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
)

// damagedFile writes a database with enough incidents to span many pages,
// closes it and returns its path.
func damagedFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	putIncidents(t, db, 400, func(inc *incidentbot.Incident) {
		inc.Title = strings.Repeat("pool exhausted on the primary ", 20)
		inc.Service = "Checkout"
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func openDamaged(t *testing.T, path, want string) {
	t.Helper()
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err == nil {
		db.Close()
		t.Fatalf("Open of a damaged file succeeded")
	}
	msg := err.Error()
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(msg, want) || !strings.Contains(msg, "incidentbot backup") || strings.Contains(msg, "\n") {
		t.Errorf("Open: %q; want one line, ErrDamaged, saying %q and how to restore", msg, want)
	}
}

func TestOpen_EmptyFile_IsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	openDamaged(t, path, "is empty (0 bytes)")
}

// A truncated copy used to kill the process with SIGBUS on the first read
// past its end.
func TestOpen_TruncatedFile_IsRefused(t *testing.T) {
	path := damagedFile(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= 100_000 {
		t.Fatalf("the file is only %d bytes; the test needs more than 100,000", fi.Size())
	}
	if err := os.Truncate(path, 100_000); err != nil {
		t.Fatal(err)
	}
	openDamaged(t, path, "is truncated")
}

// Random bytes in pages 2 to 4 (the freelist and the first data pages)
// used to start "serving", then panic in a background goroutine.
func TestOpen_RandomBytesInPages2To4_AreRefused(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		path := damagedFile(t)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 3*4096)
		rand.New(rand.NewSource(seed)).Read(junk)
		if _, err := f.WriteAt(junk, 2*4096); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		openDamaged(t, path, "")
	}
}

func TestOpen_NotABoltFile_IsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidentbot.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is a postmortem, not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	openDamaged(t, path, "not an incidentbot database")
}

// A sound file still opens, with its data.
func TestOpen_SoundFile_Opens(t *testing.T) {
	path := damagedFile(t)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx incidentbot.Tx) error {
		incs, err := tx.ListIncidents(0, 0, "")
		if err == nil && len(incs) != 400 {
			t.Errorf("%d incidents, want 400", len(incs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A few bytes changed in the data pages (bit rot, a bad copy) are refused
// with the one line, or are harmless, whatever page they hit: an element
// pointing outside the map, first read by bbolt's consistency check in its
// own goroutine, killed the process ("fatal error: fault", a runtime dump,
// exit 2) where no recover reaches.
func TestOpen_FewBytesChangedInTheDataPages_AreRefusedOrHarmless(t *testing.T) {
	good := damagedFile(t)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	refused := 0
	for trial := range 200 {
		b := append([]byte(nil), orig...)
		for range 1 + rng.Intn(16) {
			b[8192+rng.Intn(len(b)-8192)] = byte(rng.Intn(256))
		}
		path := filepath.Join(t.TempDir(), "incidentbot.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(path, store.Options{Timeout: time.Second})
		if err == nil {
			db.Close() // the bytes changed values, not structure
			continue
		}
		refused++
		if msg := err.Error(); !errors.Is(err, store.ErrDamaged) || strings.Contains(msg, "\n") {
			t.Errorf("trial %d: Open: %q; want one line, ErrDamaged", trial, msg)
		}
	}
	if refused == 0 {
		t.Error("no trial damaged the structure: the test tests nothing")
	}
	t.Logf("%d of 200 damaged copies refused", refused)
}

// BenchmarkOpen opens (and closes) a database of 1,000 and of 20,000
// incidents: the checks at open read every page (checkFile's walk of the
// trees from the file, then bbolt's consistency check), so this cost grows
// with the file, once a start.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("incidents=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "incidentbot.db")
			db, err := store.Open(path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			for range n / 1000 {
				putIncidents(b, db, 1000, func(inc *incidentbot.Incident) { inc.Title = "pool exhausted on the primary"; inc.Service = "Checkout" })
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				db, err := store.Open(path, store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
		})
	}
}
