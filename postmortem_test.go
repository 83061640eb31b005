package incidentbot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func tp(t time.Time) *time.Time { return &t }

var (
	t0    = time.Date(2025, 10, 14, 3, 15, 0, 0, time.UTC)
	alice = Person{ID: "U1", Name: "Alice Chen"}
	// alicePD is Alice as PagerDuty knows her.
	alicePD = Person{ID: "PALICE", Name: "Alice Chen"}
)

// sampleIncident is a small resolved incident with a bit of everything: a
// page that came in as SEV2 and was escalated, an impact start recorded
// before the page, a backdated note, a bot's holding update, an edited pin.
func sampleIncident() (*Incident, []Entry) {
	inc := &Incident{
		ID: "INC-7", Number: 7, Title: "API health check failures", Severity: Sev1, Status: StatusResolved,
		Service: "API", PagerDuty: &PagerLink{ID: "PX", Number: 42, URL: "https://acme.pagerduty.com/incidents/PX", ServiceID: "PAPI"},
		ChannelName: "inc-7-api-health-check-failures", Roles: map[Role]Person{RoleCommander: alice},
		OpenedAt: t0, ImpactStartedAt: tp(t0.Add(-2 * time.Minute)), AcknowledgedAt: tp(t0.Add(30 * time.Second)),
		IdentifiedAt: tp(t0.Add(8 * time.Minute)), MitigatedAt: tp(t0.Add(21 * time.Minute)), ResolvedAt: tp(t0.Add(23 * time.Minute)),
		RootCause: "Sync job leaked connections | on errors", Summary: "Restarted the API pods.",
		Actions: []ActionItem{
			{N: 1, Text: "Alert at 80% pool use", Owner: &Person{ID: "U2", Name: "Bob"}, Priority: "p1", Due: "2025-10-20", Status: "open",
				Tracked: []TrackedIssue{{Tracker: TrackerJira, Key: "OPS-123", URL: "https://acme.atlassian.net/browse/OPS-123", Status: "In Progress"}, {Tracker: TrackerGitHub, Key: "#45", URL: "https://github.com/acme/ops/issues/45", Status: "open"}}},
			{N: 2, Text: "Pool size runbook", Priority: "p3", Status: "done", Tracked: []TrackedIssue{{Tracker: TrackerJira, Key: "OPS-124", URL: "javascript:alert(1)", Status: "Done", Done: true}}},
		},
	}
	tl := []Entry{
		{Seq: 1, At: t0, Kind: EntryPaged, Actor: Person{Name: "PagerDuty"}, Source: SourcePagerDuty, Text: "Paged: API health check failures (service API)"},
		{Seq: 2, At: t0.Add(30 * time.Second), Kind: EntryAcknowledged, Actor: alicePD, Source: SourcePagerDuty, Text: "Acknowledged by Alice Chen"},
		{Seq: 3, At: t0.Add(2 * time.Minute), Kind: EntryPinned, Actor: alice, Source: SourceSlack, Text: "pool at 100/100", Ref: "1.1", Permalink: "https://x.slack.com/archives/C1/p11"},
		{Seq: 4, At: t0.Add(2 * time.Minute), Kind: EntryPinned, Actor: alice, Source: SourceSlack, Text: "pool at 100/100, leak suspected", Ref: "1.1", Supersedes: 3},
		{Seq: 5, At: t0.Add(3 * time.Minute), Kind: EntrySeverityChanged, Actor: alice, Source: SourceSlack, Text: "Severity sev2 → sev1", Severity: Sev1, PreviousSeverity: Sev2},
		{Seq: 6, At: t0.Add(8 * time.Minute), Kind: EntryStatusUpdate, Status: StatusIdentified, Actor: alice, Source: SourceSlack, Text: "Leak in the sync job"},
		{Seq: 7, At: t0.Add(9 * time.Minute), Kind: EntryImpact, Actor: alice, Source: SourceSlack, Text: "All API users for 21 minutes"},
		{Seq: 8, At: t0.Add(9 * time.Minute), Kind: EntryRootCause, Actor: alice, Source: SourceSlack, Text: "Sync job leaked connections | on errors"},
		{Seq: 9, At: t0.Add(-2 * time.Minute), RecordedAt: tp(t0.Add(10 * time.Minute)), Kind: EntryImpactStarted, Actor: alice, Source: SourceSlack, Text: "Impact started at 2025-10-14 03:13 UTC"},
		{Seq: 10, At: t0.Add(12 * time.Minute), RecordedAt: tp(t0.Add(18 * time.Minute)), Kind: EntryNote, Actor: Person{ID: "U2", Name: "Bob"}, Source: SourceSlack, Text: "Restarted the first pod"},
		{Seq: 11, At: t0.Add(19 * time.Minute), Kind: EntryCadenceMissed, Actor: Person{Name: "incidentbot"}, Source: SourceBot, Text: "No status update since 03:23:00 UTC: the update due at 03:33 UTC was missed"},
		{Seq: 12, At: t0.Add(19 * time.Minute), Kind: EntryStatusUpdate, Status: StatusIdentified, Actor: Person{Name: "incidentbot"}, Source: SourceBot, Text: "We are still working on this issue. Next update by 03:49 UTC."},
		{Seq: 13, At: t0.Add(21 * time.Minute), Kind: EntryStatusUpdate, Status: StatusMonitoring, Actor: alice, Source: SourceSlack, Text: "Pods restarted,\nwatching"},
		{Seq: 14, At: t0.Add(22 * time.Minute), Kind: EntryActionItem, Actor: alice, Source: SourceSlack, Text: "Action item 1: Alert at 80% pool use"},
		{Seq: 15, At: t0.Add(23 * time.Minute), Kind: EntryResolved, Actor: alice, Source: SourceSlack, Text: "Resolved by Alice Chen: Restarted the API pods."},
	}
	return inc, tl
}

// sampleHistory is what the store would give about earlier incidents.
func sampleHistory() History {
	return History{
		Known: true, Since: t0.Add(-HistoryWindow), Until: t0,
		All:     Sample{Ack: []int64{60, 120, 300}, Resolve: []int64{1200, 2700, 3600, 5400}},
		Service: Sample{Ack: []int64{90}, Resolve: []int64{1800, 2400}},
		Month:   &MonthSum{Start: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC), Incidents: 1, Minutes: 10},
		Related: []Related{{ID: "INC-3", Title: "API latency", Date: "2025-09-14", Severity: Sev2, Status: StatusResolved, Why: []string{"same_service"}, DurationSec: ptr64(1800), RootCause: "Slow query"}},
	}
}

func ptr64(n int64) *int64 { return &n }

func sampleDraft() *Postmortem {
	inc, tl := sampleIncident()
	return DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: sampleHistory(), SLO: 99.9, StakeholderChannel: "#incidents", Public: true, Now: time.Date(2025, 10, 15, 9, 0, 0, 0, time.UTC)})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; review the diff and run go test -run Golden -update .\n%s", name, got)
	}
}

// The golden files prove stability only; correctness is proven by the
// figure tests here and the replay test in cmd/incidentbot. Refresh: go
// test -run Golden -update .
func TestPostmortem_Markdown_Golden(t *testing.T) {
	golden(t, "postmortem.golden.md", sampleDraft().Markdown())
}
func TestPostmortem_HTML_Golden(t *testing.T) {
	golden(t, "postmortem.golden.html", sampleDraft().HTML())
}

func TestDraftPostmortem_TimesRunFromTheImpactStart(t *testing.T) {
	p := sampleDraft()
	if !p.Start.Equal(t0.Add(-2*time.Minute)) || p.StartSource != "impact_started" || *p.DurationSec != 25*60 {
		t.Errorf("start %v (%s), duration %v; want the impact start 03:13 and 25 min", p.Start, p.StartSource, *p.DurationSec)
	}
	md := string(p.Markdown())
	for _, want := range []string{
		"| **Start** | 2025-10-14 03:13:00 UTC (impact started; detected 03:15:00) |",
		"| **Duration** | 25 min |",
		"- **Downtime:** 23 min (03:13:00 → 03:36:00 UTC, recorded impact start → first monitoring status).",
		"a monthly error budget of 43 min 12 s.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// One duration format: no "91.5 min"-style decimals anywhere.
	if m := regexp.MustCompile(`\d+\.\d+ min`).FindString(md); m != "" {
		t.Errorf("a duration in decimal minutes: %q", m)
	}
	// The started entry sits at the start it records, kept in the JSON
	// with the time it was typed.
	var started *TimelineRow
	for i, r := range p.Timeline {
		if r.Kind == EntryImpactStarted {
			started = &p.Timeline[i]
			if i != 0 {
				t.Errorf("the impact start is row %d, want the first", i)
			}
		}
	}
	if started == nil || !started.At.Equal(p.Start) || started.RecordedAt == nil || !started.RecordedAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("impact_started row = %+v", started)
	}
}

func TestDraftPostmortem_Figures(t *testing.T) {
	p := sampleDraft()
	if *p.Detection.TimeToDetectSec != 120 || *p.Metrics.TimeToAcknowledge != 30 || *p.Metrics.TimeToResolve != 23*60 || *p.Metrics.TimeToMitigate != 21*60 {
		t.Errorf("detect %d ack %d mitigate %d resolve %d", *p.Detection.TimeToDetectSec, *p.Metrics.TimeToAcknowledge, *p.Metrics.TimeToMitigate, *p.Metrics.TimeToResolve)
	}
	// Downtime: impact start (03:13) to the first monitoring (03:36), 23
	// min; with no share recorded, the budget figure is an upper bound.
	a := p.Availability
	budget := (1 - 99.9/100) * 30 * 24 * 60
	if *a.DowntimeSec != 23*60 || *a.DowntimeMinutes != 23 || a.BudgetMinutes != 43.2 {
		t.Errorf("downtime %v s = %v min, budget %v", *a.DowntimeSec, *a.DowntimeMinutes, a.BudgetMinutes)
	}
	if want := math.Round(23/budget*1000) / 10; *a.BudgetUsedPct != want || !a.UpperBound {
		t.Errorf("budget used %v%% (upper bound %v), want %v%% as an upper bound", *a.BudgetUsedPct, a.UpperBound, want)
	}
	md := string(p.Markdown())
	if !strings.Contains(md, "up to 53.2% of the monthly budget, if every user was affected") || strings.Contains(md, "**53.2%") {
		t.Errorf("the budget is not stated as an upper bound:\n%s", md)
	}
	// Team figures: medians of the history with their counts.
	tf := p.Team
	if *tf.TimeToAcknowledge.AllMedianSec != 120 || tf.TimeToAcknowledge.AllCount != 3 || *tf.TimeToResolve.AllMedianSec != 3150 || *tf.TimeToResolve.ServiceMedianSec != 2100 || tf.TimeToResolve.ServiceCount != 2 {
		t.Errorf("team figures = %+v", tf)
	}
	for _, want := range []string{"| Time to acknowledge | 30 s | 2 min (3 incidents) | 1 min 30 s (1 incident) |", "| Time to resolve | 23 min | 52 min 30 s (4 incidents) | 35 min (2 incidents) |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Month to date: 10 earlier minutes + 23 now, over 30 days.
	mt := tf.MonthToDate
	if mt == nil || mt.Incidents != 2 || mt.DowntimeMinutes != 33 || mt.AvailabilityPercent != math.Round((100-33.0/43200*100)*1000)/1000 || !mt.WithinSLO || !mt.UpperBound {
		t.Errorf("month to date = %+v", mt)
	}
}

// With a recorded end of impact and share affected, the budget is the
// downtime weighted by the share, stated with its assumption.
func TestDraftPostmortem_AffectedShareWeighsTheBudget(t *testing.T) {
	inc, tl := sampleIncident()
	inc.ImpactEndedAt = tp(t0.Add(16 * time.Minute)) // 03:31, before the first monitoring
	inc.AffectedPercent = ptrf(85)
	p := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, SLO: 99.9, Now: t0.Add(time.Hour)})
	a := p.Availability
	down := 18.0 // 03:13 → 03:31
	want := math.Round(down*0.85/((1-99.9/100)*30*24*60)*1000) / 10
	if *a.DowntimeSec != 18*60 || a.DowntimeToSource != "mitigated" || a.UpperBound || *a.BudgetUsedPct != want {
		t.Errorf("downtime %v s to %s, budget %v%% (upper %v); want 1080 s to mitigated, %v%%", *a.DowntimeSec, a.DowntimeToSource, *a.BudgetUsedPct, a.UpperBound, want)
	}
	if *p.Metrics.TimeToMitigate != 16*60 {
		t.Errorf("time to mitigate %d, want the recorded end of impact (960 s)", *p.Metrics.TimeToMitigate)
	}
	if !strings.Contains(a.Assumption, "weighted by the 85% of users or requests recorded as affected") {
		t.Errorf("assumption %q", a.Assumption)
	}
	md := string(p.Markdown())
	if !strings.Contains(md, fmt.Sprintf("85%% of 18 min is 15 min 18 s of downtime against the budget: %s of the monthly budget.", pct(want))) {
		t.Errorf("Markdown budget line:\n%s", md)
	}
	if p.Team.Known || !strings.Contains(md, "| Time to acknowledge | 30 s | n/a (no history) | n/a (no history) |") {
		t.Error("without history the team figures are not n/a")
	}
}

// The timeline holds events; postmortem material has its own sections;
// the bot's holding updates appear only under Communication, marked.
func TestDraftPostmortem_TimelineHoldsEventsOnly(t *testing.T) {
	p := sampleDraft()
	for _, r := range p.Timeline {
		switch r.Kind {
		case EntryImpact, EntryRootCause, EntryActionItem, EntryCadenceMissed, EntryAffected:
			t.Errorf("bookkeeping row in the timeline: %+v", r)
		}
		if r.Source == SourceBot {
			t.Errorf("the bot's entry in the timeline: %+v", r)
		}
	}
	kinds := map[EntryKind]int{}
	for _, r := range p.Records {
		kinds[r.Kind]++
	}
	if kinds[EntryImpact] != 1 || kinds[EntryRootCause] != 1 || kinds[EntryActionItem] != 1 || kinds[EntryCadenceMissed] != 1 {
		t.Errorf("records = %v", kinds)
	}
	c := p.Communication
	if c.UpdatesByPeople != 2 || c.UpdatesByBot != 1 || len(c.Updates) != 3 || !c.Updates[1].ByBot || c.StakeholderChannel != "#incidents" || c.IncidentChannel != "inc-7-api-health-check-failures" {
		t.Errorf("communication = %+v", c)
	}
	for _, s := range p.Resolution {
		if strings.Contains(s.Text, "still working") {
			t.Errorf("the bot's holding update under Resolution: %+v", s)
		}
	}
	md := string(p.Markdown())
	if !strings.Contains(md, "| incidentbot (holding update) |") || !strings.Contains(md, "(incidentbot holding update)") {
		t.Error("the holding update is not marked as the bot's")
	}
	if i := strings.Index(md, "## Timeline"); strings.Contains(md[i:strings.Index(md, "## Root cause")], "still working") {
		t.Error("the holding update is in the timeline table")
	}
	// The status page block, as the template's sample.
	if !strings.Contains(md, "[03:23] Identified: Leak in the sync job\n[03:34] Identified: We are still working on this issue. Next update by 03:49 UTC. (incidentbot holding update)\n[03:36] Monitoring: Pods restarted, watching\n[03:38] Resolved: This incident has been resolved.") {
		t.Errorf("status page block:\n%s", md)
	}
}

func TestDraftPostmortem_ResolutionIsWhatPeopleDidFromIdentification(t *testing.T) {
	p := sampleDraft()
	var got []string
	for _, s := range p.Resolution {
		got = append(got, fmt.Sprintf("%s %s %s", s.At.Format("15:04"), s.Kind, s.Text))
	}
	want := []string{
		"03:23 status_update Update (identified): Leak in the sync job",
		"03:27 note Restarted the first pod",
		"03:36 status_update Update (monitoring): Pods restarted,\nwatching",
		"03:38 resolved Restarted the API pods.",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("resolution =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDraftPostmortem_SeverityHistoryInHeaderAndSummary(t *testing.T) {
	p := sampleDraft()
	if p.InitialSeverity != Sev2 || p.SeverityNote != "SEV2, escalated to SEV1 at 03:18 UTC" {
		t.Errorf("severity: %s, %q", p.InitialSeverity, p.SeverityNote)
	}
	md := string(p.Markdown())
	if !strings.Contains(md, "| **Severity** | SEV2, escalated to SEV1 at 03:18 UTC |") || !strings.Contains(p.WhatHappened, "(SEV2, escalated to SEV1 at 03:18 UTC) was detected") {
		t.Errorf("severity history missing:\n%s", p.WhatHappened)
	}
	// An entry recorded before severities were structured still counts.
	inc, tl := sampleIncident()
	tl[4].Severity, tl[4].PreviousSeverity = "", ""
	tl = append(tl, Entry{Seq: 20, At: t0.Add(22 * time.Minute), Kind: EntrySeverityChanged, Source: SourcePagerDuty, Actor: alicePD, Text: "Priority changed to P3: severity sev1 → sev3"})
	p = DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, Now: t0})
	if p.SeverityNote != "SEV2, escalated to SEV1 at 03:18 UTC, lowered to SEV3 at 03:37 UTC" {
		t.Errorf("severity note %q", p.SeverityNote)
	}
}

// A Slack user and the PagerDuty user of the same name are one person,
// shown under the Slack name, with the roles they held.
func TestDraftPostmortem_ParticipantsOnePerPerson(t *testing.T) {
	p := sampleDraft()
	if len(p.Participants) != 2 {
		t.Fatalf("participants = %+v", p.Participants)
	}
	a, b := p.Participants[0], p.Participants[1]
	if a.Name != "Alice Chen" || a.SlackID != "U1" || a.PagerDutyID != "PALICE" || len(a.Roles) != 1 || a.Roles[0] != RoleCommander || a.Actions[EntryAcknowledged] != 1 {
		t.Errorf("first participant = %+v", a)
	}
	if b.Name != "Bob" || len(b.Roles) != 0 || b.Did != "1 note" {
		t.Errorf("second participant = %+v", b)
	}
	if !strings.Contains(string(p.Markdown()), "| Alice Chen | commander | acknowledged, 2 updates, 1 pin, changed the severity, recorded the impact start, described the impact, recorded the root cause, 1 action item, resolved it |") {
		t.Errorf("participants table:\n%s", p.Markdown())
	}
}

func TestDraftPostmortem_TheTemplatesFrame(t *testing.T) {
	p := sampleDraft()
	md := string(p.Markdown())
	for _, want := range []string{
		"| **Date of draft** | 2025-10-15 |", "| **Author** | Alice Chen |", "| **Reviewers** | _names_ |",
		"- **Action items tracked in:** Jira (OPS), GitHub", "- **Next review:** _date: check action item progress_",
		"| INC-3 | 2025-09-14 | API latency | 30 min | Slow query | same service |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	inc, tl := sampleIncident()
	inc.Roles = nil
	if md := string(DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, Now: t0}).Markdown()); !strings.Contains(md, "| **Author** | _name (the incident commander") {
		t.Error("no author prompt without a commander")
	}
}

// JSON numbers are rounded to what they mean.
func TestDraftPostmortem_JSONNumbersAreRounded(t *testing.T) {
	inc, tl := sampleIncident()
	inc.ImpactStartedAt = tp(t0.Add(-7*time.Minute - 17*time.Second))
	js, err := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, SLO: 99.9, Now: t0}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\d+\.\d{2,}`).FindAllString(string(js), -1) {
		t.Errorf("unrounded number %s in the JSON", m)
	}
	if !strings.Contains(string(js), `"monthly_budget_minutes":43.2`) || !strings.Contains(string(js), `"downtime_minutes":28.3`) {
		t.Errorf("JSON:\n%s", js)
	}
}

func TestDraftPostmortem_OngoingAndUnknowns(t *testing.T) {
	inc := &Incident{ID: "INC-1", Title: "x", Severity: Sev3, Status: StatusAcknowledged, OpenedAt: t0, DeclaredBy: &Person{Name: "bob"}, AcknowledgedAt: tp(t0.Add(time.Minute))}
	p := DraftPostmortem(DraftInput{Incident: inc, SLO: 99.95, Now: t0.Add(time.Hour)})
	md := string(p.Markdown())
	for _, want := range []string{"| **End** | Ongoing |", "| Time to resolve | n/a | n/a |", "Time to detect:** n/a", "_who was affected", "Declared in Slack by bob", "99.95%", "21 min 36 s", "Not shown on the public status pages", "- **This month:** n/a"} {
		if !strings.Contains(md, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if len(p.Participants) != 0 || len(p.Related) != 0 {
		t.Errorf("participants %v related %v", p.Participants, p.Related)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"end":null`, `"time_to_resolve_seconds":null`, `"downtime_minutes":null`, `"statements":[]`, `"related_incidents":[]`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30 s", 8 * time.Minute: "8 min", 90 * time.Second: "1 min 30 s", 65 * time.Minute: "1 h 5 min", 50 * time.Hour: "2 d 2 h"} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
	// The extremes end (the shortest once recursed for ever: -MinInt64 is
	// MinInt64), and so do minute counts beyond a Duration's range.
	for _, d := range []time.Duration{math.MinInt64, math.MaxInt64, -time.Minute} {
		if got := Human(d); got == "" || (d < 0) != strings.HasPrefix(got, "-") {
			t.Errorf("Human(%d) = %q", int64(d), got)
		}
	}
	for _, m := range []float64{153722867.3, -1e300, 1e300, math.Inf(1)} {
		if got := minutesDur(m); got == "" {
			t.Errorf("minutesDur(%g) = %q", m, got)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []int64
		want string
	}{{nil, "nil"}, {[]int64{5}, "5"}, {[]int64{9, 1, 5}, "5"}, {[]int64{4, 1, 3, 2}, "3"}, {[]int64{1, 2}, "2"}} {
		got := "nil"
		if m := median(c.in); m != nil {
			got = fmt.Sprint(*m)
		}
		if got != c.want {
			t.Errorf("median(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

// BenchmarkPostmortem_10kEntries drafts a 10,000-entry timeline and
// renders its Markdown, JSON and HTML, once per iteration
// (docs/benchmarks.md).
func BenchmarkPostmortem_10kEntries(b *testing.B) {
	inc, _ := sampleIncident()
	tl := benchTimeline(inc)
	h := sampleHistory()
	// The CPU time of this goroutine's thread is reported beside the wall
	// time: on a shared machine it is the steadier of the two.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		c0 := ThreadCPU()
		p := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: h, SLO: 99.9, Public: true, Now: inc.OpenedAt})
		if len(p.Markdown()) == 0 || len(p.HTML()) == 0 {
			b.Fatal("empty")
		}
		if _, err := p.JSON(); err != nil {
			b.Fatal(err)
		}
		cpu += ThreadCPU() - c0
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
}

// benchTimeline is 10,000 entries: mostly notes, with people's and the
// bot's updates, pins, PagerDuty acknowledgements and impact statements
// mixed in.
func benchTimeline(inc *Incident) []Entry { return benchTimelineN(inc, 10000) }

// BenchmarkPostmortem_Sizes drafts and renders all three formats at 1,000
// and 10,000 entries: time and memory should grow with the timeline, no
// faster.
func BenchmarkPostmortem_Sizes(b *testing.B) {
	inc, _ := sampleIncident()
	for _, n := range []int{1000, 10000} {
		tl := benchTimelineN(inc, n)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: sampleHistory(), SLO: 99.9, Public: true, Now: inc.OpenedAt})
				if _, err := p.JSON(); err != nil || len(p.Markdown()) == 0 || len(p.HTML()) == 0 {
					b.Fatal("empty", err)
				}
			}
		})
	}
}

func benchTimelineN(inc *Incident, n int) []Entry {
	tl := make([]Entry, n)
	for i := range tl {
		e := Entry{Seq: uint64(i + 1), At: inc.OpenedAt.Add(time.Duration(i) * time.Second), Kind: EntryNote, Actor: Person{ID: fmt.Sprintf("U%d", i%7), Name: fmt.Sprintf("Person %d", i%7)}, Source: SourceSlack, Text: fmt.Sprintf("note %d: checked the pool | still at 100/100 <b>", i)}
		switch {
		case i%50 == 0:
			e.Kind, e.Status, e.Actor, e.Source, e.Text = EntryStatusUpdate, StatusIdentified, Person{Name: "incidentbot"}, SourceBot, "We are still working on this issue."
		case i%10 == 0:
			e.Kind, e.Status = EntryStatusUpdate, StatusIdentified
		case i%25 == 1:
			e.Kind, e.Permalink = EntryPinned, "https://x.slack.com/archives/C1/p1"
		case i%40 == 3:
			e.Kind, e.Actor, e.Source = EntryAcknowledged, Person{ID: fmt.Sprintf("P%d", i%7), Name: fmt.Sprintf("Person %d", i%7)}, SourcePagerDuty
		case i%100 == 7:
			e.Kind = EntryImpact
		}
		tl[i] = e
	}
	return tl
}

// BenchmarkPostmortem_10kEntries_Each renders each format of the same
// 10,000-entry draft on its own (docs/benchmarks.md).
func BenchmarkPostmortem_10kEntries_Each(b *testing.B) {
	inc, _ := sampleIncident()
	tl := benchTimeline(inc)
	p := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: sampleHistory(), SLO: 99.9, Public: true, Now: inc.OpenedAt})
	for _, f := range []struct {
		name string
		fn   func() int
	}{
		{"draft", func() int {
			return len(DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, SLO: 99.9, Public: true, Now: inc.OpenedAt}).Timeline)
		}},
		{"markdown", func() int { return len(p.Markdown()) }},
		{"json", func() int { b, _ := p.JSON(); return len(b) }},
		{"html", func() int { return len(p.HTML()) }},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f.fn() == 0 {
					b.Fatal("empty")
				}
			}
		})
	}
}

// Two Slack users of the same name are two people; a PagerDuty user of
// that name, unmapped, could be either and stays apart.
func TestDraftPostmortem_ParticipantsSameNameSlackUsersStayApart(t *testing.T) {
	inc, _ := sampleIncident()
	inc.Roles = nil
	tl := []Entry{
		{Seq: 1, At: t0, Kind: EntryNote, Actor: Person{ID: "U1", Name: "Sam Lee"}, Source: SourceSlack, Text: "a"},
		{Seq: 2, At: t0, Kind: EntryNote, Actor: Person{ID: "U2", Name: "Sam Lee"}, Source: SourceSlack, Text: "b"},
		{Seq: 3, At: t0, Kind: EntryAcknowledged, Actor: Person{ID: "PSAM", Name: "Sam Lee"}, Source: SourcePagerDuty, Text: "c"},
	}
	p := DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, Now: t0})
	if len(p.Participants) != 3 {
		t.Errorf("participants = %+v, want three", p.Participants)
	}
}
