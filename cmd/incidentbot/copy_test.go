package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/incidentbot/incidentbot/internal/store"
)

// snapshot reads every incident with its timeline, the outbox and the
// dead letters as JSON, to compare two stores (job IDs aside).
func snapshot(t *testing.T, s copyStore) string {
	t.Helper()
	var out []any
	err := s.View(context.Background(), func(tx incidentbot.Tx) error {
		incs, err := tx.ListIncidents(0, 0, "")
		if err != nil {
			return err
		}
		for _, inc := range incs {
			tl, err := tx.Timeline(inc.ID)
			if err != nil {
				return err
			}
			out = append(out, inc, tl)
		}
		if err := tx.Jobs(0, func(j *incidentbot.Job) bool { cp := *j; cp.ID = 0; out = append(out, cp); return true }); err != nil {
			return err
		}
		dl, err := tx.DeadLetters()
		out = append(out, dl)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A bbolt file moves to PostgreSQL and back with incidentbot copy: the
// same incidents, timelines (seqs kept), jobs, dead letters, pending
// events and dedupe records, and the next incident number follows on.
func TestCopy_BboltToPostgresAndBack(t *testing.T) {
	url := pgtest.SchemaURL(t)
	h := newHarness(t)
	inc := h.incident("PCOPY")
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	h.deliver("W2", h.ev("incident.annotated", t0.Add(time.Minute), pagerfake.NoteData("PCOPY", inc.Title, "N1", "first note")))
	// An event for an incident nobody has seen waits (pending).
	h.deliver("W3", h.ev("incident.annotated", t0.Add(2*time.Minute), pagerfake.NoteData("PUNKNOWN", "?", "N2", "early note")))
	h.waitIdle()
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := run([]string{"copy", "--from", h.cfg.DB, "--to", url}, envOf(nil), &out, &errOut); code != 0 {
		t.Fatalf("copy to PostgreSQL = %d: %s", code, errOut.String())
	}
	t.Log(out.String())
	back := filepath.Join(t.TempDir(), "back.db")
	out.Reset()
	if code := run([]string{"copy", "--from", url, "--to", back}, envOf(nil), &out, &errOut); code != 0 {
		t.Fatalf("copy back = %d: %s", code, errOut.String())
	}
	// Copying into a store that is not empty is refused.
	if code := run([]string{"copy", "--from", h.cfg.DB, "--to", back}, envOf(nil), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not empty") {
		t.Errorf("copy into a non-empty store = %d: %s", code, errOut.String())
	}
	src, err := store.Open(h.cfg.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := store.Open(back, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	a, b := snapshot(t, src), snapshot(t, dst)
	if a != b {
		t.Errorf("after bbolt → PostgreSQL → bbolt the stores differ:\n%s\n%s", a, b)
	}
	ca, err := src.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := dst.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ca, cb) || ca["incidents"] != 1 || ca["pending events"] != 1 || ca["delivery records"] == 0 {
		t.Errorf("counts %v and %v", ca, cb)
	}
	var n int
	if err := dst.Update(context.Background(), func(tx incidentbot.Tx) error {
		var err error
		n, err = tx.NextIncidentNumber()
		return err
	}); err != nil || n != 2 {
		t.Errorf("next incident number after the copies = %d, %v; want 2", n, err)
	}
}

// A source path that does not exist (a typo) is an error: it was created
// as an empty database and "copied", counts matching at 0.
func TestCopy_FromAMissingSource_IsRefused(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "incidentbt.db"), filepath.Join(dir, "new.db")
	var out, errb strings.Builder
	code := run([]string{"copy", "--from", src, "--to", dst}, envOf(nil), &out, &errb)
	if _, err := os.Stat(src); code == 0 || err == nil || !strings.Contains(errb.String(), "incidentbt.db") {
		t.Errorf("copy from a missing source: exit %d, source created %v, stderr %q; want a failure naming it, nothing created", code, err == nil, errb.String())
	}
}
