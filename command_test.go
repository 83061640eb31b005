package incidentbot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// lastEntry returns the last timeline entry of a kind.
func lastEntry(t *testing.T, tl []incidentbot.Entry, kind incidentbot.EntryKind) incidentbot.Entry {
	t.Helper()
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Kind == kind {
			return tl[i]
		}
	}
	t.Fatalf("no %s entry in %d entries", kind, len(tl))
	return incidentbot.Entry{}
}

func runErr(t *testing.T, s *incidentbot.Service, c incidentbot.Cmd, wantCode, wantText string) {
	t.Helper()
	_, err := s.Run(context.Background(), c)
	if incidentbot.ErrorCode(err) != wantCode || !strings.Contains(incidentbot.ErrorMessage(err), wantText) {
		t.Errorf("%s at %v: error %v, want %s mentioning %q", c.Name, c.At, err, wantCode, wantText)
	}
}

var bob = incidentbot.Person{ID: "UBOB", Name: "Bob Martinez"}

// A backdated note sits in the timeline at the time it names, keeps the
// time it was typed, and tells PagerDuty which time it means.
func TestCmdNote_Backdated_SitsAtItsTimeAndKeepsWhenTyped(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(51 * time.Minute) // 04:06
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	at := t0.Add(-30 * time.Minute) // 02:45, before the page, on its day
	r := mustRun(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", At: at, Text: "Redis node down", Actor: bob})
	if !strings.Contains(r.Text, "02:45:00 UTC") {
		t.Errorf("reply %q does not name the time", r.Text)
	}
	_, tl, jobs := state(t, db, "P1")
	e := lastEntry(t, tl, incidentbot.EntryNote)
	if !e.At.Equal(at) || e.RecordedAt == nil || !e.RecordedAt.Equal(now) || e.Text != "Redis node down" {
		t.Errorf("note at %v recorded %v text %q; want at %v recorded %v", e.At, e.RecordedAt, e.Text, at, now)
	}
	var note *incidentbot.Job
	for _, j := range jobs {
		if j.Kind == incidentbot.JobPagerNote {
			note = j
		}
	}
	if note == nil || note.Text != "[02:45:00 UTC] Redis node down" {
		t.Errorf("PagerDuty note job = %+v", note)
	}
	// A note typed now has no separate recording time.
	mustRun(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", Text: "now", Actor: bob})
	_, tl, _ = state(t, db, "P1")
	if e := lastEntry(t, tl, incidentbot.EntryNote); e.RecordedAt != nil || !e.At.Equal(now) {
		t.Errorf("a present note: at %v recorded %v", e.At, e.RecordedAt)
	}
}

func TestCmdNote_Backdated_FutureOrBeforeTheIncidentsDayRefused(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(time.Hour)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	runErr(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", At: now.Add(time.Second), Text: "x", Actor: bob}, incidentbot.EINVALID, "in the future")
	runErr(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", At: time.Date(2025, 10, 13, 23, 59, 0, 0, time.UTC), Text: "x", Actor: bob}, incidentbot.EINVALID, "on or after the day")
	_, tl, _ := state(t, db, "P1")
	for _, e := range tl {
		if e.Kind == incidentbot.EntryNote {
			t.Errorf("a refused note was recorded: %+v", e)
		}
	}
}

// /incident started records its entry at the start it names.
func TestCmdStarted_EntrySitsAtTheStart(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(20 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	start := t0.Add(-10 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: start, Actor: bob})
	inc, tl, _ := state(t, db, "P1")
	e := lastEntry(t, tl, incidentbot.EntryImpactStarted)
	if !e.At.Equal(start) || e.RecordedAt == nil || !e.RecordedAt.Equal(now) || !inc.ImpactStartedAt.Equal(start) {
		t.Errorf("started entry at %v recorded %v, impact started %v; want %v, %v", e.At, e.RecordedAt, inc.ImpactStartedAt, start, now)
	}
	runErr(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: now.Add(time.Hour), Actor: bob}, incidentbot.EINVALID, "in the future")
	// A year typed wrong (1700) once drafted a postmortem whose figures
	// overflowed and whose rendering recursed until the process died.
	runErr(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), Actor: bob}, incidentbot.EINVALID, "more than 30 days before")
}

// /incident mitigated records when impact ended (now by default); it wins
// over the first monitoring status, and the public view follows it.
func TestCmdMitigated_RecordsTheEndOfImpact(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(40 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustRun(t, s, incidentbot.Cmd{Name: "status", IncidentID: "INC-1", Status: incidentbot.StatusMonitoring, Text: "watching", Actor: bob})
	end := t0.Add(25 * time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-1", At: end, Actor: bob})
	inc, tl, _ := state(t, db, "P1")
	if inc.ImpactEndedAt == nil || !inc.ImpactEndedAt.Equal(end) || !inc.ImpactEnd().Equal(end) || !inc.MitigatedAt.Equal(now) {
		t.Errorf("impact ended %v (end %v), first monitoring %v; want %v and %v", inc.ImpactEndedAt, inc.ImpactEnd(), inc.MitigatedAt, end, now)
	}
	if e := lastEntry(t, tl, incidentbot.EntryMitigated); !e.At.Equal(end) || e.RecordedAt == nil {
		t.Errorf("mitigated entry at %v recorded %v", e.At, e.RecordedAt)
	}
	pi, err := s.PublicIncident(context.Background(), "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if pi.ImpactTo == nil || !pi.ImpactTo.Equal(end) {
		t.Errorf("public impact to %v, want %v", pi.ImpactTo, end)
	}
	// An impact start after the recorded end is refused.
	runErr(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: end.Add(time.Minute), Actor: bob}, incidentbot.EINVALID, "after it ended")
	// Without a time: now. Before the start: refused.
	now = now.Add(time.Minute)
	mustRun(t, s, incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-1", Actor: bob})
	if inc, _, _ := state(t, db, "P1"); !inc.ImpactEndedAt.Equal(now) {
		t.Errorf("mitigated without a time: %v, want %v", inc.ImpactEndedAt, now)
	}
	runErr(t, s, incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-1", At: t0.Add(-time.Minute), Actor: bob}, incidentbot.EINVALID, "before it was detected")
	runErr(t, s, incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-1", At: now.Add(time.Minute), Actor: bob}, incidentbot.EINVALID, "in the future")
}

func TestCmdAffected_RecordsTheShare(t *testing.T) {
	s, db := mustService(t)
	s.Now = func() time.Time { return t0.Add(time.Minute) }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustRun(t, s, incidentbot.Cmd{Name: "affected", IncidentID: "INC-1", Percent: 85, Actor: bob})
	inc, tl, _ := state(t, db, "P1")
	if inc.AffectedPercent == nil || *inc.AffectedPercent != 85 {
		t.Errorf("affected = %v, want 85", inc.AffectedPercent)
	}
	if e := lastEntry(t, tl, incidentbot.EntryAffected); e.Text != "Affected: 85% of users or requests" {
		t.Errorf("entry %q", e.Text)
	}
	runErr(t, s, incidentbot.Cmd{Name: "affected", IncidentID: "INC-1", Percent: 0, Actor: bob}, incidentbot.EINVALID, "affected <N%>")
	runErr(t, s, incidentbot.Cmd{Name: "affected", IncidentID: "INC-1", Percent: 101, Actor: bob}, incidentbot.EINVALID, "affected <N%>")
}
