package incidentbot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

func draftOf(t *testing.T, s *incidentbot.Service, id string) (*incidentbot.Postmortem, string) {
	t.Helper()
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p, string(p.Markdown())
}

// An end of impact recorded before the page fired (it fired late) is told
// as such: the draft said "impact ended after -10 min".
func TestPostmortem_ImpactEndedBeforeDetection_SaysSo(t *testing.T) {
	s, _ := mustService(t)
	now := t0.Add(20 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustRun(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: t0.Add(-30 * time.Minute), Actor: bob})
	mustRun(t, s, incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-1", At: t0.Add(-10 * time.Minute), Actor: bob})
	p, md := draftOf(t, s, "INC-1")
	if strings.Contains(md, "-10 min") || !strings.Contains(p.WhatHappened, "impact ended 10 min before it was detected") || !strings.Contains(md, "| Time to mitigate | 10 min before detection |") {
		t.Errorf("what happened: %s\ndraft:\n%s", p.WhatHappened, md)
	}
}

// The title is quoted as people quote, not as Go does ("Disk \"high\" on
// C:\\data").
func TestPostmortem_TitleQuotedAsWritten(t *testing.T) {
	s, _ := mustService(t)
	s.Now = func() time.Time { return t0.Add(time.Minute) }
	ev := pd("P1", incidentbot.EventTriggered, t0)
	ev.Incident.Title = `Disk "high" on C:\data`
	mustIngest(t, s, "", ev)
	p, _ := draftOf(t, s, "INC-1")
	if !strings.Contains(p.WhatHappened, `“Disk "high" on C:\data”`) {
		t.Errorf("what happened: %s", p.WhatHappened)
	}
}

// Priority changes delivered out of order: PagerDuty's latest stands. A
// P1 change of 03:20 delivered after the P2 change of 03:25 made the
// incident SEV1 ("SEV2, escalated to SEV1 at 03:20 UTC, escalated to SEV2
// at 03:25 UTC").
func TestPostmortem_PriorityChangesOutOfOrder_TheLatestStands(t *testing.T) {
	s, db := mustService(t)
	s.Now = func() time.Time { return t0.Add(time.Hour) }
	tr := pd("P1", incidentbot.EventTriggered, t0)
	tr.Incident.Priority = "P3"
	mustIngest(t, s, "", tr)
	early := pd("P1", incidentbot.EventPriorityUpdated, t0.Add(5*time.Minute))
	early.Incident.Priority = "P1"
	later := pd("P1", incidentbot.EventPriorityUpdated, t0.Add(10*time.Minute))
	later.Incident.Priority = "P2"
	mustIngest(t, s, "", later)
	mustIngest(t, s, "", early) // a retry, delivered last
	inc, tl, _ := state(t, db, "P1")
	p, _ := draftOf(t, s, "INC-1")
	if inc.Severity != incidentbot.Sev2 || inc.PagerDuty.Priority != "P2" || p.Severity != incidentbot.Sev2 || p.InitialSeverity != incidentbot.Sev3 || strings.Contains(p.SeverityNote, "to SEV1") {
		t.Errorf("severity %s (priority %s), draft %s from %s, %q; want sev2 (PagerDuty's latest, P2) from sev3", inc.Severity, inc.PagerDuty.Priority, p.Severity, p.InitialSeverity, p.SeverityNote)
	}
	if e := lastEntry(t, tl, incidentbot.EntryPriorityChanged); !strings.Contains(e.Text, "reported late") || !e.At.Equal(early.OccurredAt) {
		t.Errorf("the late change's entry: %q at %v; want it on the timeline at its time, saying it came late", e.Text, e.At)
	}
}

// A draft of an ongoing incident counts its downtime so far in the month's
// figure weighted by the share recorded affected (it counted all of it:
// 1 h of downtime, 138.9% of the budget, for 10% of users), and without a
// share says it is an upper bound.
func TestPostmortem_OngoingMonthToDate_WeightsTheShare(t *testing.T) {
	s, _ := mustService(t)
	now := t0.Add(60 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	p, _ := draftOf(t, s, "INC-1")
	if m := p.Team.MonthToDate; m == nil || m.DowntimeMinutes != 60 || !m.UpperBound {
		t.Errorf("without a share: month to date %+v; want 60 min, an upper bound", m)
	}
	mustRun(t, s, incidentbot.Cmd{Name: "affected", IncidentID: "INC-1", Percent: 10, Actor: bob})
	p, _ = draftOf(t, s, "INC-1")
	if m := p.Team.MonthToDate; m == nil || m.DowntimeMinutes != 6 || !m.WithinSLO || m.UpperBound {
		t.Errorf("10%% affected: month to date %+v; want 6 min (60 min × 10%%), within the SLO, not a bound", m)
	}
}

// A corrected impact start leaves one start on the draft's timeline, the
// one that holds; the first is a record saying it was corrected (both
// were on the timeline, nothing saying which held).
func TestPostmortem_CorrectedImpactStart_OneOnTheTimeline(t *testing.T) {
	s, _ := mustService(t)
	now := t0.Add(20 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustRun(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: t0.Add(-20 * time.Minute), Actor: bob})
	mustRun(t, s, incidentbot.Cmd{Name: "started", IncidentID: "INC-1", At: t0.Add(-10 * time.Minute), Actor: bob})
	p, _ := draftOf(t, s, "INC-1")
	var starts []string
	for _, r := range p.Timeline {
		if r.Kind == incidentbot.EntryImpactStarted {
			starts = append(starts, r.At.Format("15:04"))
		}
	}
	if len(starts) != 1 || starts[0] != t0.Add(-10*time.Minute).Format("15:04") {
		t.Errorf("impact starts on the timeline %v; want the corrected one alone", starts)
	}
	corrected := false
	for _, r := range p.Records {
		corrected = corrected || r.Kind == incidentbot.EntryImpactStarted && strings.Contains(r.Event, "corrected since")
	}
	if !corrected {
		t.Errorf("records %+v: the first start is not kept as corrected", p.Records)
	}
}
