package incidentbot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func tp(t time.Time) *time.Time { return &t }

// sampleIncident is a small resolved incident with a bit of everything.
func sampleIncident() (*Incident, []Entry, []*Incident) {
	t0 := time.Date(2025, 10, 14, 3, 15, 0, 0, time.UTC)
	alice := Person{ID: "U1", Name: "Alice Chen"}
	inc := &Incident{
		ID: "INC-7", Number: 7, Title: "API health check failures", Severity: Sev1, Status: StatusResolved,
		Service: "API", PagerDuty: &PagerLink{ID: "PX", Number: 42, URL: "https://acme.pagerduty.com/incidents/PX", ServiceID: "PAPI"},
		ChannelName: "inc-7-api-health-check-failures", Roles: map[Role]Person{RoleCommander: alice},
		OpenedAt: t0, ImpactStartedAt: tp(t0.Add(-2 * time.Minute)), AcknowledgedAt: tp(t0.Add(30 * time.Second)),
		IdentifiedAt: tp(t0.Add(8 * time.Minute)), MitigatedAt: tp(t0.Add(21 * time.Minute)), ResolvedAt: tp(t0.Add(23 * time.Minute)),
		RootCause: "Sync job leaked connections | on errors", Summary: "Restarted the API pods.",
		Actions: []ActionItem{{N: 1, Text: "Alert at 80% pool use", Owner: &Person{ID: "U2", Name: "Bob"}, Priority: "p1", Due: "2025-10-20", Status: "open"}},
	}
	tl := []Entry{
		{Seq: 1, At: t0, Kind: EntryPaged, Actor: Person{Name: "PagerDuty"}, Source: SourcePagerDuty, Text: "Paged: API health check failures (service API)"},
		{Seq: 2, At: t0.Add(30 * time.Second), Kind: EntryAcknowledged, Actor: alice, Source: SourcePagerDuty, Text: "Acknowledged by Alice Chen"},
		{Seq: 3, At: t0.Add(2 * time.Minute), Kind: EntryPinned, Actor: alice, Source: SourceSlack, Text: "pool at 100/100", Ref: "1.1", Permalink: "https://x.slack.com/archives/C1/p11"},
		{Seq: 4, At: t0.Add(2 * time.Minute), Kind: EntryPinned, Actor: alice, Source: SourceSlack, Text: "pool at 100/100, leak suspected", Ref: "1.1", Supersedes: 3},
		{Seq: 5, At: t0.Add(8 * time.Minute), Kind: EntryStatusUpdate, Status: StatusIdentified, Actor: alice, Source: SourceSlack, Text: "Leak in the sync job"},
		{Seq: 6, At: t0.Add(9 * time.Minute), Kind: EntryImpact, Actor: alice, Source: SourceSlack, Text: "All API users for 21 minutes"},
		{Seq: 7, At: t0.Add(21 * time.Minute), Kind: EntryStatusUpdate, Status: StatusMonitoring, Actor: alice, Source: SourceSlack, Text: "Pods restarted,\nwatching"},
		{Seq: 8, At: t0.Add(22 * time.Minute), Kind: EntryCadenceMissed, Actor: Person{}, Source: SourceBot, Text: "No update for 15 min"},
		{Seq: 9, At: t0.Add(23 * time.Minute), Kind: EntryResolved, Actor: alice, Source: SourceSlack, Text: "Resolved by Alice Chen: Restarted the API pods."},
	}
	related := []*Incident{
		{ID: "INC-3", Title: "API latency", OpenedAt: t0.AddDate(0, -1, 0), Severity: Sev2, Status: StatusResolved},
		{ID: "INC-9", Title: "later one", OpenedAt: t0.AddDate(0, 0, 1), Severity: Sev3, Status: StatusResolved},
	}
	return inc, tl, related
}

// The golden file proves stability only; correctness is proven by the
// replay test in cmd/incidentbot. Refresh: go test -run Golden -update .
func TestPostmortem_Markdown_Golden(t *testing.T) {
	inc, tl, related := sampleIncident()
	p := DraftPostmortem(inc, tl, related, 99.9, time.Date(2025, 10, 15, 9, 0, 0, 0, time.UTC))
	got := p.Markdown()
	golden := filepath.Join("testdata", "postmortem.golden.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Markdown changed; review the diff and run go test -run Golden -update .\n%s", got)
	}
}

func TestDraftPostmortem_Figures(t *testing.T) {
	inc, tl, related := sampleIncident()
	p := DraftPostmortem(inc, tl, related, 99.9, time.Now())
	if *p.Detection.TimeToDetectSec != 120 || *p.Metrics.TimeToAcknowledge != 30 || *p.Metrics.TimeToResolve != 23*60 {
		t.Errorf("detect %d ack %d resolve %d", *p.Detection.TimeToDetectSec, *p.Metrics.TimeToAcknowledge, *p.Metrics.TimeToResolve)
	}
	// Downtime runs from the recorded impact start to mitigation: 23 min.
	if *p.Availability.DowntimeMinutes != 23 || fmt.Sprintf("%.1f", *p.Availability.BudgetUsedPct) != "53.2" {
		t.Errorf("downtime %v = %v%%", *p.Availability.DowntimeMinutes, *p.Availability.BudgetUsedPct)
	}
	if len(p.Related) != 1 || p.Related[0].ID != "INC-3" {
		t.Errorf("related = %+v, want only the earlier INC-3", p.Related)
	}
	// The superseded pin shows in its corrected form only.
	n := 0
	for _, r := range p.Timeline {
		if strings.Contains(r.Event, "pool at 100/100") {
			n++
			if !strings.Contains(r.Event, "leak suspected") {
				t.Errorf("superseded text shown: %q", r.Event)
			}
		}
	}
	if n != 1 || len(p.Communication.MissedCadences) != 1 || len(p.Communication.Updates) != 2 {
		t.Errorf("pins %d, missed cadences %d, updates %d", n, len(p.Communication.MissedCadences), len(p.Communication.Updates))
	}
}

func TestDraftPostmortem_OngoingAndUnknowns(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)
	inc := &Incident{ID: "INC-1", Title: "x", Severity: Sev3, Status: StatusAcknowledged, OpenedAt: t0, DeclaredBy: &Person{Name: "bob"}, AcknowledgedAt: tp(t0.Add(time.Minute))}
	p := DraftPostmortem(inc, nil, nil, 99.95, t0.Add(time.Hour))
	md := string(p.Markdown())
	for _, want := range []string{"| **End** | Ongoing |", "| Time to resolve | n/a | n/a |", "Time to detect:** n/a", "_who was affected", "Declared in Slack by bob", "99.95%", "21.6 min"} {
		if !strings.Contains(md, want) {
			t.Errorf("lacks %q", want)
		}
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"end":null`, `"time_to_resolve_seconds":null`, `"downtime_minutes":null`, `"impact":[]`} {
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
}

// BenchmarkPostmortem_10kEntries drafts and renders a 10,000-entry
// timeline (docs/benchmarks.md).
func BenchmarkPostmortem_10kEntries(b *testing.B) {
	inc, _, _ := sampleIncident()
	tl := make([]Entry, 10000)
	for i := range tl {
		tl[i] = Entry{Seq: uint64(i + 1), At: inc.OpenedAt.Add(time.Duration(i) * time.Second), Kind: EntryNote, Actor: Person{ID: "U1", Name: "Alice Chen"}, Source: SourceSlack, Text: fmt.Sprintf("note %d: checked the pool | still at 100/100", i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		p := DraftPostmortem(inc, tl, nil, 99.9, inc.OpenedAt)
		if len(p.Markdown()) == 0 {
			b.Fatal("empty")
		}
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}
