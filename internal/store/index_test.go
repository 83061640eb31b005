package store_test

import (
	"context"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

var i0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// putIncidents stores incidents 1..n, shaped by each.
func putIncidents(t testing.TB, db *store.DB, n int, each func(inc *incidentbot.Incident)) {
	t.Helper()
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for range n {
			num, err := tx.NextIncidentNumber()
			if err != nil {
				return err
			}
			inc := &incidentbot.Incident{ID: incidentbot.IncidentID(num), Number: num, Status: incidentbot.StatusTriggered, OpenedAt: i0.Add(time.Duration(num) * time.Hour)}
			each(inc)
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func resolve(inc *incidentbot.Incident, at time.Time) {
	inc.Status = incidentbot.StatusResolved
	inc.ResolvedAt = &at
}

// A file of the first layout (no resolved, services or storm indexes) gets
// them built when it is opened.
func TestOpen_OldLayout_BuildsTheIndexes(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 3, func(inc *incidentbot.Incident) {
		inc.Service = "API"
		resolve(inc, i0.Add(48*time.Hour))
	})
	if err := store.ForgetIndexesForTest(db); err != nil {
		t.Fatal(err)
	}
	db = storetest.MustReopen(t, db)
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		var got []int
		if err := tx.ResolvedSince(i0, func(inc *incidentbot.Incident) bool { got = append(got, inc.Number); return true }); err != nil {
			return err
		}
		if len(got) != 3 {
			t.Errorf("after reopening an old layout, %d resolved incidents indexed, want 3", len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A file without the title word index gets it built when opened.
func TestOpen_OldLayout_BuildsTheTitleWordIndex(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 3, func(inc *incidentbot.Incident) { inc.Title = "Redis node down" })
	if err := store.ForgetIndexesForTest(db); err != nil {
		t.Fatal(err)
	}
	db = storetest.MustReopen(t, db)
	var got []int
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		return tx.TitleIncidents([]string{"redis", "node"}, 2, 0, func(inc *incidentbot.Incident) bool { got = append(got, inc.Number); return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("after reopening, %v found by title words, want 3 incidents", got)
	}
}
