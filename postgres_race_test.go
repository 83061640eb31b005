package incidentbot_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/postgres"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
)

// hookStore runs hook once, inside the next armed Update, after fn returned
// nil and before the store commits.
type hookStore struct {
	*postgres.DB
	armed atomic.Bool
	hook  func()
}

func (h *hookStore) Update(ctx context.Context, fn func(incidentbot.Tx) error) error {
	return h.DB.Update(ctx, func(tx incidentbot.Tx) error {
		err := fn(tx)
		if err == nil && h.armed.CompareAndSwap(true, false) {
			h.hook()
		}
		return err
	})
}

type fetchPager struct {
	incidentbot.Pager
	pi *incidentbot.PagerIncident
}

func (p fetchPager) Incident(ctx context.Context, id string) (*incidentbot.PagerIncident, error) {
	cp := *p.pi
	return &cp, nil
}

// A note that arrives while the fetch job of its incident is committing
// (it reads the "pd-fetching:" marker the fetch is deleting) reaches the
// timeline. It was kept pending without a fetch (the marker was there),
// the fetch's DELETE of the pending events did not see it, and after both
// committed it sat in pending_events with no fetch to apply it: answered,
// never applied. The marker read now holds the row and the fetch deletes
// the marker before it takes the pending events.
func TestPostgres_NoteDuringTheFetchsCommit_IsApplied(t *testing.T) {
	db := pgtest.MustOpen(t)
	ctx := context.Background()
	hs := &hookStore{DB: db}
	s := &incidentbot.Service{Store: hs, ChannelPrefix: "inc"}
	pi := &incidentbot.PagerIncident{ID: "P1", Number: 42, Title: "API down", Urgency: "high", ServiceName: "API", CreatedAt: t0}
	js := &incidentbot.Jobs{Service: s, Pager: fetchPager{pi: pi}}
	note := func(id, text string, at time.Duration) incidentbot.PagerEvent {
		return incidentbot.PagerEvent{ID: id, Type: incidentbot.EventAnnotated, OccurredAt: t0.Add(at), IncidentID: "P1", Text: text}
	}
	// Two notes before the incident is known: pending, one fetch queued.
	for i, ev := range []incidentbot.PagerEvent{note("N1", "first note", time.Minute), note("N2", "second note", 2*time.Minute)} {
		if out, err := s.IngestPagerDuty(ctx, "W"+ev.ID, ev); err != nil || out != incidentbot.OutcomePending {
			t.Fatalf("note %d: %s, %v", i, out, err)
		}
	}
	jobs := func() []*incidentbot.Job {
		var out []*incidentbot.Job
		if err := db.View(ctx, func(tx incidentbot.Tx) error {
			return tx.Jobs(0, func(j *incidentbot.Job) bool { out = append(out, j); return true })
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var fetch *incidentbot.Job
	for _, j := range jobs() {
		if j.Kind == incidentbot.JobFetchIncident {
			if fetch != nil {
				t.Fatal("two fetch jobs")
			}
			fetch = j
		}
	}
	if fetch == nil {
		t.Fatal("no fetch job")
	}

	// The fetch job runs; inside its transaction (before COMMIT) a third
	// note arrives on another goroutine (another replica's webhook).
	n3 := make(chan error, 1)
	hs.hook = func() {
		go func() {
			out, err := s.IngestPagerDuty(ctx, "WN3", note("N3", "third note", 3*time.Minute))
			if err == nil && out != incidentbot.OutcomePending {
				err = errors.New("N3 outcome " + string(out))
			}
			n3 <- err
		}()
		select {
		case err := <-n3:
			n3 <- err // N3 committed while the fetch had not (the race)
		case <-time.After(time.Second):
			// N3 waits for the fetch's transaction (the marker it read is
			// being deleted): what the fix makes of the race.
		}
	}
	hs.armed.Store(true)
	if err := js.Perform(ctx, fetch); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if err := <-n3; err != nil {
		t.Fatalf("N3: %v", err)
	}
	// The outbox runs what is left (a fetch N3 queued, if it saw no marker).
	for _, j := range jobs() {
		if j.Kind == incidentbot.JobFetchIncident {
			if err := js.Perform(ctx, j); err != nil {
				t.Fatalf("fetch %d: %v", j.ID, err)
			}
		}
	}

	var tl []incidentbot.Entry
	if err := db.View(ctx, func(tx incidentbot.Tx) error {
		inc, err := tx.IncidentByPagerDutyID("P1")
		if err != nil {
			return err
		}
		tl, err = tx.Timeline(inc.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var pend []incidentbot.PagerEvent
	if err := db.PendingEvents(ctx, func(pdID string, evs []incidentbot.PagerEvent) error {
		pend = append(pend, evs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range tl {
		if e.Kind == incidentbot.EntryNote {
			notes = append(notes, e.Text)
		}
	}
	if !slices.Equal(notes, []string{"first note", "second note", "third note"}) || len(pend) != 0 {
		t.Errorf("timeline notes %q and %d events still pending; want the three notes, none pending (N3 was answered 2xx)", notes, len(pend))
	}
}

// One PagerDuty note, reported by a webhook (occurred_at 12:01:00.900) and
// by the log-entry poller (created_at 12:01:01), is one happening: the
// second report is a duplicate when it reads the first's "pd-happening:"
// key of the second next to its own. The keys differ, so nothing but that
// read arbitrates: when the log entry's transaction read the key before
// the webhook's committed (then waited for the incident's row lock), the
// note was recorded twice. Keys read as absent are now checked again just
// before COMMIT, after the row lock.
func TestPostgres_HappeningReportedInAdjacentSecondsAtOnce_AppliedOnce(t *testing.T) {
	db := pgtest.MustOpen(t)
	ctx := context.Background()
	hs := &hookStore{DB: db}
	s := &incidentbot.Service{Store: hs, ChannelPrefix: "inc"}
	trig := pd("P1", incidentbot.EventTriggered, t0)
	trig.Agent = incidentbot.Person{}
	trig.Incident.Assignees = nil
	if _, err := s.IngestPagerDuty(ctx, "W0", trig); err != nil {
		t.Fatal(err)
	}
	// As in pull mode with webhooks on, where every happening is reported
	// twice: "pd-happening:" keys are found often enough to be read, not
	// guessed (guess.go). Two looks that found the trigger's key.
	trigKey := "pd-happening:P1:incident.triggered:" + strconv.FormatInt(t0.Unix(), 10)
	for i := 0; i < 2; i++ {
		if err := db.Update(ctx, func(tx incidentbot.Tx) error {
			seen, err := tx.SeenDelivery(trigKey)
			if err == nil && !seen {
				return errors.New("trigger's happening key not seen")
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(time.Minute)
	hook := incidentbot.PagerEvent{ID: "EV-note", Type: incidentbot.EventAnnotated, OccurredAt: at.Add(900 * time.Millisecond), IncidentID: "P1", Text: "rolled back the deploy"}
	logged := incidentbot.PagerEvent{ID: "LOG-note", Type: incidentbot.EventAnnotated, OccurredAt: at.Add(time.Second), IncidentID: "P1", Text: "rolled back the deploy"}

	logDone := make(chan error, 1)
	hs.hook = func() {
		// The webhook's transaction is about to commit; the poller's runs now.
		go func() {
			outs, err := s.IngestPagerDutyLog(ctx, []incidentbot.PagerEvent{logged}, "cursor-1")
			if err == nil {
				t.Logf("log entry outcome: %v", outs)
			}
			logDone <- err
		}()
		time.Sleep(500 * time.Millisecond) // it reads the keys, then waits for the incident's row
	}
	hs.armed.Store(true)
	out, err := s.IngestPagerDuty(ctx, "W1", hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook outcome: %s", out)
	if err := <-logDone; err != nil {
		t.Fatal(err)
	}
	var tl []incidentbot.Entry
	if err := db.View(ctx, func(tx incidentbot.Tx) error {
		var err error
		tl, err = tx.Timeline("INC-1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range tl {
		if e.Kind == incidentbot.EntryNote && e.Text == "rolled back the deploy" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the note is on the timeline %d times, want once (one happening, two reports)", n)
	}
}

// The same two reports one after the other are one happening.
func TestPostgres_HappeningReportedInAdjacentSecondsOneAfterTheOther_AppliedOnce(t *testing.T) {
	db := pgtest.MustOpen(t)
	ctx := context.Background()
	s := &incidentbot.Service{Store: db, ChannelPrefix: "inc"}
	trig := pd("P1", incidentbot.EventTriggered, t0)
	trig.Agent = incidentbot.Person{}
	trig.Incident.Assignees = nil
	if _, err := s.IngestPagerDuty(ctx, "W0", trig); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	hook := incidentbot.PagerEvent{ID: "EV-note", Type: incidentbot.EventAnnotated, OccurredAt: at.Add(900 * time.Millisecond), IncidentID: "P1", Text: "rolled back the deploy"}
	logged := incidentbot.PagerEvent{ID: "LOG-note", Type: incidentbot.EventAnnotated, OccurredAt: at.Add(time.Second), IncidentID: "P1", Text: "rolled back the deploy"}
	if _, err := s.IngestPagerDuty(ctx, "W1", hook); err != nil {
		t.Fatal(err)
	}
	outs, err := s.IngestPagerDutyLog(ctx, []incidentbot.PagerEvent{logged}, "c")
	if err != nil || outs[0] != incidentbot.OutcomeDuplicate {
		t.Fatalf("log entry: %v %v, want duplicate", outs, err)
	}
}
