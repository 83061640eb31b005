package incidentbot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

type manualClock struct{ t time.Time }

func (c *manualClock) Now() time.Time { return c.t }

// cadenceService is a Service with a manual clock and the cadences of
// production, on db (from storetest).
func cadenceService(db *store.DB, clk *manualClock) (*incidentbot.Service, *store.DB) {
	return &incidentbot.Service{Store: db, Now: clk.Now, ChannelPrefix: "inc", PublicSeverities: []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2},
		Cadence: map[incidentbot.Severity]time.Duration{incidentbot.Sev1: 15 * time.Minute, incidentbot.Sev2: 30 * time.Minute, incidentbot.Sev3: time.Hour}}, db
}

func get(t *testing.T, db *store.DB, id string) (*incidentbot.Incident, []incidentbot.Entry) {
	t.Helper()
	var inc *incidentbot.Incident
	var tl []incidentbot.Entry
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		var err error
		if inc, err = tx.Incident(id); err != nil {
			return err
		}
		tl, err = tx.Timeline(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return inc, tl
}

func kindCount(tl []incidentbot.Entry, k incidentbot.EntryKind) int {
	n := 0
	for _, e := range tl {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func TestCadence_ClockRules(t *testing.T) {
	clk := &manualClock{t: t0}
	s, db := cadenceService(storetest.MustOpen(t), clk)
	ctx := context.Background()
	alice := incidentbot.Person{ID: "U1", Name: "alice"}
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "declare", Text: "checkout down", Severity: incidentbot.Sev1, Actor: alice}); err != nil {
		t.Fatal(err)
	}
	due := func() time.Duration {
		inc, _ := get(t, db, "INC-1")
		if inc.NextUpdateDue == nil {
			return -1
		}
		return inc.NextUpdateDue.Sub(t0)
	}
	check := func(at time.Duration, want int) {
		t.Helper()
		clk.t = t0.Add(at)
		n, err := s.CheckCadence(ctx)
		if err != nil || n != want {
			t.Fatalf("at +%v: %d overdue, %v; want %d", at, n, err, want)
		}
	}
	if due() != 15*time.Minute {
		t.Fatalf("due +%v after opening, want +15m", due())
	}
	check(14*time.Minute, 0)
	check(15*time.Minute, 1)
	if due() != 30*time.Minute {
		t.Errorf("after the holding update due +%v, want +30m", due())
	}
	_, tl := get(t, db, "INC-1")
	if kindCount(tl, incidentbot.EntryCadenceMissed) != 1 || kindCount(tl, incidentbot.EntryStatusUpdate) != 1 || !strings.Contains(tl[len(tl)-1].Text, "Next update by 03:45 UTC") {
		t.Errorf("timeline after a miss: %+v", tl)
	}
	// A person's update restarts the clock.
	clk.t = t0.Add(20 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "update", IncidentID: "INC-1", Actor: alice, Text: "rolling back"})
	if due() != 35*time.Minute {
		t.Errorf("after an update at +20m due +%v, want +35m", due())
	}
	check(30*time.Minute, 0)
	// A severity change: last update + new cadence, or now if that passed.
	clk.t = t0.Add(25 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-1", Actor: alice, Severity: incidentbot.Sev2})
	if due() != 50*time.Minute {
		t.Errorf("sev2 at +25m: due +%v, want +50m (last update +20m + 30m)", due())
	}
	clk.t = t0.Add(40 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-1", Actor: alice, Severity: incidentbot.Sev1})
	if due() != 40*time.Minute {
		t.Errorf("sev1 at +40m: due +%v, want now (+35m has passed)", due())
	}
	clk.t = t0.Add(41 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-1", Actor: alice, Severity: incidentbot.Sev4})
	if due() != -1 {
		t.Errorf("sev4 has no cadence, due +%v", due())
	}
	clk.t = t0.Add(42 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-1", Actor: alice, Severity: incidentbot.Sev2})
	mustRun(t, s, incidentbot.Cmd{Name: "resolve", IncidentID: "INC-1", Actor: alice})
	if due() != -1 {
		t.Errorf("resolved, due +%v", due())
	}
}

// The bot was down for an hour: one catch-up update and one entry saying
// how many were missed; after a restart nothing repeats.
func TestCadence_DownForAnHour_OneCatchUp(t *testing.T) {
	clk := &manualClock{t: t0}
	s, db := cadenceService(storetest.MustOpen(t), clk)
	ctx := context.Background()
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Text: "db down", Severity: incidentbot.Sev1, Actor: incidentbot.Person{ID: "U1"}})
	clk.t = t0.Add(75 * time.Minute)
	if n, err := s.CheckCadence(ctx); err != nil || n != 1 {
		t.Fatalf("%d overdue, want 1, %v", n, err)
	}
	_, tl := get(t, db, "INC-1")
	if kindCount(tl, incidentbot.EntryCadenceMissed) != 1 || kindCount(tl, incidentbot.EntryStatusUpdate) != 1 {
		t.Fatalf("timeline = %+v", tl)
	}
	if missed := tl[len(tl)-2].Text; !strings.Contains(missed, "5 updates missed") {
		t.Errorf("missed entry = %q, want 5 updates missed (+15, +30, +45, +60, +75)", missed)
	}
	s2, db2 := cadenceService(storetest.MustReopen(t, db), clk)
	clk.t = t0.Add(76 * time.Minute)
	if n, err := s2.CheckCadence(ctx); err != nil || n != 0 {
		t.Errorf("after a restart %d overdue, want 0, %v", n, err)
	}
	clk.t = t0.Add(90 * time.Minute)
	if n, err := s2.CheckCadence(ctx); err != nil || n != 1 {
		t.Errorf("at +90m %d overdue, want 1, %v", n, err)
	}
	_, tl = get(t, db2, "INC-1")
	if kindCount(tl, incidentbot.EntryCadenceMissed) != 2 {
		t.Errorf("%d cadence_missed entries, want 2", kindCount(tl, incidentbot.EntryCadenceMissed))
	}
}

func TestPublicIncidents_OnlyPublicAndNoNotes(t *testing.T) {
	clk := &manualClock{t: t0}
	s, _ := cadenceService(storetest.MustOpen(t), clk)
	ctx := context.Background()
	a := incidentbot.Person{ID: "U1"}
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Text: "internal: db-7 disk full", Severity: incidentbot.Sev1, Actor: a})
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Text: "minor thing", Severity: incidentbot.Sev3, Actor: a})
	mustRun(t, s, incidentbot.Cmd{Name: "public", IncidentID: "INC-1", Actor: a, Text: "Checkout errors"})
	mustRun(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", Actor: a, Text: "secret internal detail"})
	mustRun(t, s, incidentbot.Cmd{Name: "status", IncidentID: "INC-1", Actor: a, Status: incidentbot.StatusIdentified, Text: "We found the cause"})
	pis, err := s.PublicIncidents(ctx, t0.AddDate(0, 0, -90))
	if err != nil || len(pis) != 1 {
		t.Fatalf("public incidents = %+v, %v", pis, err)
	}
	p := pis[0]
	if p.Name != "Checkout errors" || p.Status != incidentbot.StatusIdentified || len(p.Updates) != 1 || p.Updates[0].Text != "We found the cause" || p.Impact != "critical" {
		t.Errorf("public view = %+v", p)
	}
}

// An incident that was public stays on the public pages, with its new
// impact, when its severity drops, and the site is rewritten to say so; an
// incident that never was public never appears.
func TestPublic_SeverityDropKeepsItPublicAndRewritesTheSite(t *testing.T) {
	clk := &manualClock{t: t0}
	s, db := cadenceService(storetest.MustOpen(t), clk)
	s.Site = true
	ctx := context.Background()
	a := incidentbot.Person{ID: "U1"}
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Text: "Checkout errors", Severity: incidentbot.Sev1, Actor: a})
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Text: "minor thing", Severity: incidentbot.Sev3, Actor: a})
	siteJobs := func() int {
		n := 0
		err := db.View(ctx, func(tx incidentbot.Tx) error {
			return tx.Jobs(0, func(j *incidentbot.Job) bool {
				if j.Kind == incidentbot.JobPublishSite {
					n++
				}
				return true
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := siteJobs()
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-1", Severity: incidentbot.Sev3, Actor: a})
	if siteJobs() == before {
		t.Error("severity sev1 → sev3: the status site was not rewritten")
	}
	before = siteJobs()
	mustRun(t, s, incidentbot.Cmd{Name: "severity", IncidentID: "INC-2", Severity: incidentbot.Sev4, Actor: a})
	if siteJobs() != before {
		t.Error("severity sev3 → sev4 of a never-public incident rewrote the status site")
	}
	pis, err := s.PublicIncidents(ctx, t0.AddDate(0, 0, -90))
	if err != nil || len(pis) != 1 || pis[0].ID != "INC-1" || pis[0].Impact != incidentbot.ImpactOf(incidentbot.Sev3) {
		t.Errorf("public incidents = %+v, %v; want INC-1 alone, with sev3's impact", pis, err)
	}
}
