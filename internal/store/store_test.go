package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

func TestDB_Update_PersistsAcrossReopen(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		n, err := tx.NextIncidentNumber()
		if err != nil {
			return err
		}
		inc := &incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n, Title: "disk full", PagerDuty: &incidentbot.PagerLink{ID: "PABC"}, ChannelID: "C1"}
		if err := tx.PutIncident(inc); err != nil {
			return err
		}
		if err := tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "one"}); err != nil {
			return err
		}
		return tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "two"})
	})
	if err != nil {
		t.Fatal(err)
	}
	db = storetest.MustReopen(t, db)
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		for _, get := range []func() (*incidentbot.Incident, error){
			func() (*incidentbot.Incident, error) { return tx.Incident("INC-1") },
			func() (*incidentbot.Incident, error) { return tx.IncidentByPagerDutyID("PABC") },
			func() (*incidentbot.Incident, error) { return tx.IncidentByChannel("C1") },
		} {
			inc, err := get()
			if err != nil {
				return err
			}
			if got, want := inc.Title, "disk full"; got != want {
				t.Errorf("title = %q, want %q", got, want)
			}
		}
		tl, err := tx.Timeline("INC-1")
		if err != nil {
			return err
		}
		if len(tl) != 2 || tl[0].Text != "one" || tl[1].Text != "two" || tl[0].Seq >= tl[1].Seq {
			t.Errorf("timeline = %+v, want one then two in seq order", tl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDB_Update_FailedMemberDoesNotSinkItsBatch(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(tx incidentbot.Tx) error {
				if err := tx.MarkDelivery(string(rune('A'+i%26))+string(rune('a'+i/26)), time.Now()); err != nil {
					return err
				}
				if i%7 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	err := db.View(ctx, func(tx incidentbot.Tx) error {
		for i, err := range errs {
			seen, serr := tx.SeenDelivery(string(rune('A'+i%26)) + string(rune('a'+i/26)))
			if serr != nil {
				return serr
			}
			if i%7 == 0 {
				if !errors.Is(err, boom) || seen {
					t.Errorf("member %d: err=%v seen=%v, want boom and rolled back", i, err, seen)
				}
			} else if err != nil || !seen {
				t.Errorf("member %d: err=%v seen=%v, want committed", i, err, seen)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDB_Update_PanicIsAnError(t *testing.T) {
	db := storetest.MustOpen(t)
	err := db.Update(context.Background(), func(incidentbot.Tx) error { panic("bad") })
	if err == nil {
		t.Fatal("want an error from a panicking function")
	}
	if err := db.Update(context.Background(), func(incidentbot.Tx) error { return nil }); err != nil {
		t.Fatalf("store unusable after a panic: %v", err)
	}
}

func TestOpen_LockedFile_TimesOut(t *testing.T) {
	path := storetest.MustOpen(t).Path()
	_, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

func TestTx_Incidents_NewestFirstWithCursor(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		for range 5 {
			n, err := tx.NextIncidentNumber()
			if err != nil {
				return err
			}
			if err := tx.PutIncident(&incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		page, err := tx.ListIncidents(0, 2, "")
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].Number != 5 || page[1].Number != 4 {
			t.Errorf("first page = %v", ids(page))
		}
		if page, err = tx.ListIncidents(4, 10, ""); err != nil {
			return err
		}
		if len(page) != 3 || page[0].Number != 3 || page[2].Number != 1 {
			t.Errorf("page before 4 = %v", ids(page))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ids(incs []*incidentbot.Incident) []string {
	var out []string
	for _, i := range incs {
		out = append(out, i.ID)
	}
	return out
}

func TestDB_PruneDeliveries_KeepsRecent(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	now := time.Now()
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		if err := tx.MarkDelivery("old", now.Add(-8*24*time.Hour)); err != nil {
			return err
		}
		return tx.MarkDelivery("recent", now.Add(-73*time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneDeliveries(now.Add(-7 * 24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	var old, recent bool
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		var err error
		if old, err = tx.SeenDelivery("old"); err != nil {
			return err
		}
		recent, err = tx.SeenDelivery("recent")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if old {
		t.Error("old record kept")
	}
	if !recent {
		t.Error("73 h old record pruned; must be kept at least 72 h")
	}
}

func TestTx_Pending_TakeRemovesThem(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	var first1, first2 bool
	err := db.Update(ctx, func(tx incidentbot.Tx) error {
		var err error
		if first1, err = tx.AddPending("P1", incidentbot.PagerEvent{ID: "e1"}); err != nil {
			return err
		}
		first2, err = tx.AddPending("P1", incidentbot.PagerEvent{ID: "e2"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !first1 || first2 {
		t.Errorf("first = %v, %v; want true, false", first1, first2)
	}
	var taken, again []incidentbot.PagerEvent
	err = db.Update(ctx, func(tx incidentbot.Tx) error {
		var err error
		if taken, err = tx.TakePending("P1"); err != nil {
			return err
		}
		again, err = tx.TakePending("P1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(taken) != 2 || taken[0].ID != "e1" {
		t.Errorf("TakePending = %v", taken)
	}
	if len(again) != 0 {
		t.Errorf("second TakePending = %v, want none", again)
	}
}

// An Update racing Close either commits or returns ErrClosed; it never
// waits forever.
func TestDB_Update_RacingCloseNeverHangs(t *testing.T) {
	for i := range 200 {
		db := storetest.MustOpen(t)
		done := make(chan error, 1)
		go func() {
			done <- db.Update(context.Background(), func(incidentbot.Tx) error { return nil })
		}()
		if err := db.Close(); err != nil {
			t.Fatalf("iteration %d: Close: %v", i, err)
		}
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, store.ErrClosed) {
				t.Fatalf("iteration %d: %v", i, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("iteration %d: Update still blocked 3 s after Close", i)
		}
	}
}
