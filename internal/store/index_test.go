package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

var i0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// putIncidents stores incidents 1..n, shaped by each.
func putIncidents(t *testing.T, db *store.DB, n int, each func(inc *incidentbot.Incident)) {
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

func numbers(incs []*incidentbot.Incident) []int {
	out := make([]int, len(incs))
	for i, inc := range incs {
		out[i] = inc.Number
	}
	return out
}

func resolve(inc *incidentbot.Incident, at time.Time) {
	inc.Status = incidentbot.StatusResolved
	inc.ResolvedAt = &at
}

func TestTx_ListIncidents_ByStatus(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 6, func(inc *incidentbot.Incident) {
		if inc.Number%2 == 0 {
			resolve(inc, inc.OpenedAt.Add(time.Minute))
		}
	})
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		for _, c := range []struct {
			status        string
			before, limit int
			want          []int
		}{
			{"", 0, 0, []int{6, 5, 4, 3, 2, 1}},
			{"open", 0, 0, []int{5, 3, 1}},
			{"open", 5, 1, []int{3}},
			{"resolved", 0, 2, []int{6, 4}},
			{"resolved", 4, 10, []int{2}},
		} {
			got, err := tx.ListIncidents(c.before, c.limit, c.status)
			if err != nil {
				return err
			}
			if !slices.Equal(numbers(got), c.want) {
				t.Errorf("ListIncidents(%d, %d, %q) = %v, want %v", c.before, c.limit, c.status, numbers(got), c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTx_ResolvedSince_FollowsReopeningAndNewResolution(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 4, func(inc *incidentbot.Incident) {
		resolve(inc, i0.Add(time.Duration(inc.Number)*24*time.Hour))
	})
	ctx := context.Background()
	// INC-2 reopens; INC-1 is resolved again, later than every other.
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		two, err := tx.Incident("INC-2")
		if err != nil {
			return err
		}
		two.Status = incidentbot.StatusTriggered
		if err := tx.PutIncident(two); err != nil {
			return err
		}
		one, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		resolve(one, i0.Add(10*24*time.Hour))
		return tx.PutIncident(one)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		return tx.ResolvedSince(i0.Add(3*24*time.Hour), func(inc *incidentbot.Incident) bool {
			got = append(got, inc.Number)
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 4, 3}; !slices.Equal(got, want) {
		t.Errorf("resolved since day 3, latest first = %v, want %v", got, want)
	}
}

func TestTx_ServiceIncidents_ByIDOrNameNewestFirstAndBounded(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 8, func(inc *incidentbot.Incident) {
		switch inc.Number % 4 {
		case 0:
			inc.Service = "Checkout" // by name only (declared)
		case 1:
			inc.Service = "checkout API"
			inc.PagerDuty = &incidentbot.PagerLink{ID: "P" + inc.ID, ServiceID: "PCHK"}
		case 2:
			inc.Service = "Search"
		}
	})
	var got []int
	reads := 0
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		keys := incidentbot.ServiceKeys(&incidentbot.Incident{Service: "CHECKOUT", PagerDuty: &incidentbot.PagerLink{ServiceID: "PCHK"}})
		return tx.ServiceIncidents(keys, 8, func(inc *incidentbot.Incident) bool {
			reads++
			got = append(got, inc.Number)
			return len(got) < 2
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{5, 4}; !slices.Equal(got, want) || reads != 2 {
		t.Errorf("service incidents below 8 = %v after %d reads, want %v after 2", got, reads, want)
	}
}

func TestTx_StormIncidents_UntilAnnounced(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 3, func(inc *incidentbot.Incident) { inc.InDigest = inc.Number != 2 })
	ctx := context.Background()
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		one, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		one.Announcement = &incidentbot.Posted{Channel: "C1", TS: "1.1", Digest: true}
		return tx.PutIncident(one)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		storm, err := tx.StormIncidents()
		if err != nil {
			return err
		}
		if got := numbers(storm); !slices.Equal(got, []int{3}) {
			t.Errorf("storm = %v, want [3]", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDB_View_LongReadStopsWhenItsContextEnds(t *testing.T) {
	db := storetest.MustOpen(t)
	putIncidents(t, db, 300, func(*incidentbot.Incident) {})
	ctx, cancel := context.WithCancel(context.Background())
	read := 0
	err := db.View(ctx, func(tx incidentbot.Tx) error {
		cancel() // the request went away after the read began
		incs, err := tx.ListIncidents(0, 1000, "")
		read = len(incs)
		return err
	})
	if !errors.Is(err, context.Canceled) || read != 0 {
		t.Errorf("read %d incidents, err %v; want the read stopped with context.Canceled", read, err)
	}
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
