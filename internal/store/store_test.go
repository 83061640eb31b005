package store_test

import (
	"context"
	"errors"
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

func TestOpen_LockedFile_TimesOut(t *testing.T) {
	path := storetest.MustOpen(t).Path()
	_, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
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
