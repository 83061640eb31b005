package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// The reference DB-pool-exhaustion incident
// (../shared/reference/example-postmortem-db-pool-exhaustion.txt), replayed
// through signed webhooks and slash commands at its own times, then its
// draft checked against the document's figures.
func TestPostmortem_ReplayOfReferenceIncident(t *testing.T) {
	day := time.Date(2025, 10, 14, 0, 0, 0, 0, time.UTC)
	at := func(hhmmss string) time.Time {
		t, err := time.Parse("15:04:05", hhmmss)
		if err != nil {
			panic(err)
		}
		return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
	}
	clock := &flowingClock{}
	clock.Set(at("03:14:00"))
	h := newHarnessWith(t, clock)
	h.slack.AddUser("UALICE", "Alice Chen", "alice@example.com")
	h.slack.AddUser("UBOB", "Bob Martinez", "bob@example.com")

	pdInc := h.pd.AddIncident(pagerfake.Incident{
		ID: "PDBPOOL", Number: 1042, Title: "API health check failures", Urgency: "high", PriorityName: "P1",
		ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PALICE"}, CreatedAt: at("03:15:00"),
	})
	clock.Set(at("03:15:00"))
	h.deliver("W-trigger", h.incidentEvent("incident.triggered", at("03:15:00"), pdInc))
	h.waitIdle()
	var opened apiIncident
	h.api("/api/incidents/PDBPOOL", &opened)
	ch := opened.ChannelID
	clock.Set(at("03:15:30"))
	h.deliver("W-ack", h.incidentEvent("incident.acknowledged", at("03:15:30"), pdInc))

	steps := []struct{ at, user, text string }{
		{"03:15:45", "UALICE", "commander"},
		{"03:16:00", "UALICE", "note Initial investigation: all API pods showing healthy status"},
		{"03:17:00", "UALICE", "note Application logs: \"connection timeout\" errors appearing"},
		{"03:18:00", "UBOB", "note Joined the incident response"},
		{"03:19:00", "UALICE", "note Pattern: all database connection attempts timing out"},
		{"03:20:00", "UBOB", "note PostgreSQL running normally"},
		{"03:22:00", "UALICE", "note Connection pool metrics: 100/100 connections in use"},
		{"03:22:30", "UBOB", "note 03:14:30 First connection timeouts in the API logs"},
		{"03:22:40", "UALICE", "started 03:14"},
		{"03:23:00", "UALICE", "status identified Background job leaking connections"},
		{"03:23:30", "UALICE", "rootcause The data sync background job did not release its connection on DataValidationError, exhausting the 100-connection pool"},
		{"03:24:00", "UALICE", "impact Complete API unavailability affecting 100% of users (~2,000 active users); Admin Dashboard and Mobile App down"},
		{"03:25:00", "UALICE", "note Decision: restart the API pods to release connections"},
		{"03:27:00", "UBOB", "note Rolling restart initiated for the API deployment"},
		{"03:30:00", "UBOB", "note First pods restarted, connection pool draining"},
		{"03:33:00", "UALICE", "update 50% of pods restarted, API partially operational"},
		{"03:35:00", "UBOB", "note All pods restarted, connection pool normalized"},
		{"03:35:30", "UALICE", "affected 100%"},
		{"03:36:00", "UALICE", "status monitoring Smoke tests passed, API fully operational"},
		{"03:36:20", "UALICE", "mitigated 03:35"},
		{"03:37:00", "UALICE", "action Add connection pool alerts at 80% and 95% <@UBOB|Bob Martinez> due:2025-10-14 p1"},
		{"03:37:10", "UALICE", "action Static analysis for resource leaks due:2025-10-20 p2"},
		{"03:38:00", "UALICE", "resolve Rolling restart released the leaked connections; the sync job is stopped until fixed"},
	}
	for _, s := range steps {
		clock.Set(at(s.at))
		if r := h.command(s.user, ch, s.text); strings.Contains(r.Text, "Usage") || strings.Contains(r.Text, "Sorry") {
			t.Fatalf("%s %s: %s", s.at, s.text, r.Text)
		}
	}
	h.waitIdle()
	// PagerDuty's webhook for our own resolution adds nothing.
	clock.Set(at("03:38:02"))
	h.deliver("W-resolve-echo", h.incidentEvent("incident.resolved", at("03:38:02"), pdInc))
	clock.Set(at("03:45:00"))
	h.command("UALICE", ch, "note Post-incident monitoring confirmed stability")
	h.waitIdle()

	var p incidentbot.Postmortem
	res, err := http.NewRequest(http.MethodGet, h.m.AdminURL()+"/api/incidents/INC-1/postmortem.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(res)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET postmortem.json: %d %v", resp.StatusCode, err)
	}

	// The timeline rows at their UTC times: events only, the backdated
	// note and the impact start at the times they name.
	wantRows := []struct{ at, kind, contains string }{
		{"03:14:00", "impact_started", "Impact started at 2025-10-14 03:14 UTC"},
		{"03:14:30", "note", "First connection timeouts"},
		{"03:15:00", "paged", "API health check failures"},
		{"03:15:30", "acknowledged", "Alice Chen"},
		{"03:15:45", "role_assigned", "Alice Chen is commander"},
		{"03:16:00", "note", "all API pods showing healthy"},
		{"03:17:00", "note", "connection timeout"},
		{"03:18:00", "note", "Joined"},
		{"03:19:00", "note", "timing out"},
		{"03:20:00", "note", "PostgreSQL"},
		{"03:22:00", "note", "100/100"},
		{"03:23:00", "status_update", "Background job leaking connections"},
		{"03:25:00", "note", "restart the API pods"},
		{"03:27:00", "note", "Rolling restart initiated"},
		{"03:30:00", "note", "First pods restarted"},
		{"03:33:00", "status_update", "50% of pods"},
		{"03:35:00", "mitigated", "Impact ended at 03:35:00 UTC"}, // exactly 03:35, the note a few ms after
		{"03:35:00", "note", "All pods restarted"},
		{"03:36:00", "status_update", "Smoke tests passed"},
		{"03:38:00", "resolved", "Rolling restart released"},
		{"03:45:00", "note", "confirmed stability"},
	}
	if len(p.Timeline) != len(wantRows) {
		for _, r := range p.Timeline {
			t.Logf("%s %s %s", r.At.Format("15:04:05"), r.Kind, r.Event)
		}
		t.Fatalf("%d timeline rows, want %d", len(p.Timeline), len(wantRows))
	}
	for i, w := range wantRows {
		r := p.Timeline[i]
		if r.At.Format("15:04:05") != w.at || string(r.Kind) != w.kind || !strings.Contains(r.Event, w.contains) {
			t.Errorf("row %d = %s %s %q; want %s %s containing %q", i, r.At.Format("15:04:05"), r.Kind, r.Event, w.at, w.kind, w.contains)
		}
	}
	// The backdated note keeps when it was typed.
	if r := p.Timeline[1]; r.RecordedAt == nil || r.RecordedAt.Format("15:04:05") != "03:22:30" {
		t.Errorf("backdated note recorded at %v, want 03:22:30", r.RecordedAt)
	}
	// Postmortem material is in its own sections, not the timeline.
	kinds := map[incidentbot.EntryKind]int{}
	for _, r := range p.Records {
		kinds[r.Kind]++
	}
	if kinds[incidentbot.EntryRootCause] != 1 || kinds[incidentbot.EntryImpact] != 1 || kinds[incidentbot.EntryActionItem] != 2 || kinds[incidentbot.EntryAffected] != 1 {
		t.Errorf("records by kind = %v", kinds)
	}
	sec := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	// Every figure by formula from the recorded times.
	detected, impactStart, impactEnd, resolved := at("03:15:00"), at("03:14:00"), at("03:35:00"), at("03:38:00")
	s := func(d time.Duration) string { return fmt.Sprint(int64(d / time.Second)) }
	if sec(p.Metrics.TimeToAcknowledge) != s(at("03:15:30").Sub(detected)) || sec(p.Metrics.TimeToIdentify) != s(at("03:23:00").Sub(detected)) ||
		sec(p.Metrics.TimeToMitigate) != s(impactEnd.Sub(detected)) || sec(p.Metrics.TimeToResolve) != s(resolved.Sub(detected)) ||
		sec(p.Detection.TimeToDetectSec) != s(detected.Sub(impactStart)) {
		t.Errorf("metrics: ack %s, identify %s, mitigate %s, resolve %s, detect %s seconds", sec(p.Metrics.TimeToAcknowledge), sec(p.Metrics.TimeToIdentify), sec(p.Metrics.TimeToMitigate), sec(p.Metrics.TimeToResolve), sec(p.Detection.TimeToDetectSec))
	}
	// Start and Duration run from the recorded impact start.
	if !p.Start.Equal(impactStart) || sec(p.DurationSec) != s(resolved.Sub(impactStart)) || p.Severity != incidentbot.Sev1 || p.Service != "API" || p.Date != "2025-10-14" {
		t.Errorf("header: start %v, duration %s, %s %s %s", p.Start, sec(p.DurationSec), p.Severity, p.Service, p.Date)
	}
	// Error budget by formula: 99.9% of 30 days leaves 43.2 min; the
	// downtime (impact start to the recorded end, 21 min) times the share
	// affected (100%) over it. The document's "45%" does not follow.
	a := p.Availability
	budget := (1 - 99.9/100) * 30 * 24 * 60
	down := impactEnd.Sub(impactStart).Minutes()
	round1 := func(f float64) float64 { return math.Round(f*10) / 10 }
	if a.BudgetMinutes != round1(budget) || sec(a.DowntimeSec) != s(impactEnd.Sub(impactStart)) || a.DowntimeToSource != "mitigated" {
		t.Errorf("budget %v min, downtime %s s to %s", a.BudgetMinutes, sec(a.DowntimeSec), a.DowntimeToSource)
	}
	if a.AffectedPercent == nil || *a.AffectedPercent != 100 || a.UpperBound || a.BudgetUsedPct == nil || *a.BudgetUsedPct != round1(down*1.0/budget*100) {
		t.Errorf("affected %v, upper bound %v, budget used %v%%; want 100%%, no bound, %v%%", a.AffectedPercent, a.UpperBound, a.BudgetUsedPct, round1(down/budget*100))
	}
	// Month to date: this is the service's only incident this month.
	if mt := p.Team.MonthToDate; mt == nil || mt.Incidents != 1 || mt.DowntimeMinutes != round1(down) || mt.AvailabilityPercent != math.Round((100-down/(30*24*60)*100)*1000)/1000 || !mt.WithinSLO {
		t.Errorf("month to date = %+v", mt)
	}
	if len(p.Communication.Updates) != 3 || p.Communication.UpdatesByPeople != 3 || len(p.ActionItems) != 2 || p.ActionItems[0].Owner == nil || p.ActionItems[0].Priority != "p1" {
		t.Errorf("updates %d, action items %+v", len(p.Communication.Updates), p.ActionItems)
	}
	if len(p.Participants) != 2 || p.Participants[0].Name != "Alice Chen" || p.Participants[0].PagerDutyID == "" || p.Participants[1].Name != "Bob Martinez" {
		t.Errorf("participants = %+v", p.Participants)
	}

	// The Markdown: the same figures, and the files and upload.
	md := h.get(t, "/api/incidents/PDBPOOL/postmortem.md")
	for _, want := range []string{
		"# Postmortem: API health check failures",
		"| **Start** | 2025-10-14 03:14:00 UTC (impact started; detected 03:15:00) |",
		"| **Duration** | 24 min |",
		"| 03:14:30 | First connection timeouts in the API logs _(recorded 03:22:30)_ | Bob Martinez |",
		// The first to acknowledge commands (issue 13).
		"| 03:15:30 | Acknowledged by Alice Chen, the first to acknowledge: now the commander | Alice Chen (PagerDuty) |",
		"| Time to acknowledge | 30 s | 03:15:30 UTC |",
		"| Time to identify | 8 min | 03:23:00 UTC |",
		"| Time to mitigate | 20 min | 03:35:00 UTC |",
		"| Time to resolve | 23 min | 03:38:00 UTC |",
		"a monthly error budget of 43 min 12 s",
		"- **Downtime:** 21 min (03:14:00 → 03:35:00 UTC, recorded impact start → recorded end of impact).",
		"100% of 21 min is 21 min of downtime against the budget: 48.6% of the monthly budget.",
		"- **Stakeholder channel:** " + h.cfg.AnnounceChannel,
		"```mermaid",
		"| 1 | Add connection pool alerts at 80% and 95% | Bob Martinez | P1 | 2025-10-14 | open |",
		"| Alice Chen | commander |",
		"| **Author** | Alice Chen |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	if strings.Contains(md, "45%") {
		t.Error("Markdown copies the document's 45%")
	}
	for ext, want := range map[string]string{".md": "| Time to resolve | 23 min |", ".json": `"time_to_resolve_seconds":1380`, ".html": "<td>Time to resolve</td><td>23 min</td>"} {
		file := filepath.Join(h.cfg.ExportDir, "2025-10-14-INC-1"+ext)
		got, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("exported file %s lacks %q: %v", file, want, err)
		}
	}
	uploads := h.slack.FilesIn(ch)
	if len(uploads) < 1 || !strings.Contains(string(uploads[len(uploads)-1].Content), "| Time to resolve | 23 min |") {
		t.Fatalf("uploads = %d", len(uploads))
	}
	// The upload's comment names the file, never the server's path.
	if c := uploads[len(uploads)-1].InitialComment; !strings.Contains(c, "2025-10-14-INC-1.md") || strings.Contains(c, h.cfg.ExportDir) || strings.Contains(c, string(filepath.Separator)+"2025-10-14") {
		t.Errorf("upload comment %q", c)
	}
	// The HTML over the API, self-contained.
	res, err = http.NewRequest(http.MethodGet, h.m.AdminURL()+"/api/incidents/INC-1/postmortem.html", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Header.Set("Authorization", "Bearer "+testAdminToken)
	hr, err := http.DefaultClient.Do(res)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err != nil || hr.StatusCode != http.StatusOK || !strings.HasPrefix(hr.Header.Get("Content-Type"), "text/html") || !strings.Contains(hr.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(string(page), "<h1>Postmortem: API health check failures</h1>") || strings.Contains(string(page), "<script") {
		t.Errorf("GET postmortem.html: %d %s %v", hr.StatusCode, hr.Header, err)
	}

	// Re-drafting: unchanged → not uploaded again; after a note → the new draft.
	h.command("UALICE", ch, "postmortem") // the 03:45 note came after the first draft
	h.waitIdle()
	n := len(h.slack.FilesIn(ch))
	if r := h.command("UALICE", ch, "postmortem"); !strings.Contains(r.Text, "has not changed") {
		t.Errorf("unchanged redraft: %q", r.Text)
	}
	clock.Set(at("03:50:00"))
	h.command("UBOB", ch, "note Sync job scaled to zero until the fix ships")
	h.command("UALICE", ch, "postmortem")
	h.waitIdle()
	if files := h.slack.FilesIn(ch); len(files) != n+1 || !strings.Contains(string(files[n].Content), "Sync job scaled to zero") {
		t.Errorf("after a note: %d uploads (want %d) with the new note", len(files), n+1)
	}
	h.command("UALICE", ch, "postmortem")
	h.waitIdle()
	if len(h.slack.FilesIn(ch)) != n+1 {
		t.Error("an unchanged draft was uploaded twice")
	}

	// incidentbot postmortem INC-1 -o FILE fetches it from the running server.
	out := filepath.Join(t.TempDir(), "pm.md")
	env := map[string]string{"INCIDENTBOT_ADMIN_TOKEN": testAdminToken}
	var stderr strings.Builder
	code := run([]string{"postmortem", "INC-1", "--server", h.m.AdminURL(), "-o", out}, func(k string) string { return env[k] }, io.Discard, &stderr)
	if b, err := os.ReadFile(out); err != nil || code != 0 || !strings.Contains(string(b), "Sync job scaled to zero") {
		t.Errorf("incidentbot postmortem: exit %d, %s (%v)", code, stderr.String(), err)
	}
	outHTML := filepath.Join(t.TempDir(), "pm.html")
	if code := run([]string{"postmortem", "INC-1", "--html", "--server", h.m.AdminURL(), "-o", outHTML}, func(k string) string { return env[k] }, io.Discard, &stderr); code != 0 {
		t.Errorf("incidentbot postmortem --html: exit %d, %s", code, stderr.String())
	} else if b, err := os.ReadFile(outHTML); err != nil || !strings.Contains(string(b), "Sync job scaled to zero") || !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Errorf("--html wrote %d bytes (%v)", len(b), err)
	}
	if code := run([]string{"postmortem", "INC-1", "--html", "--json", "--server", h.m.AdminURL()}, func(k string) string { return env[k] }, io.Discard, &stderr); code != 2 {
		t.Errorf("--html --json: exit %d, want 2", code)
	}
	env["INCIDENTBOT_ADMIN_TOKEN"] = "wrong"
	stderr.Reset()
	if code := run([]string{"postmortem", "INC-1", "--server", h.m.AdminURL()}, func(k string) string { return env[k] }, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "refused the admin token") {
		t.Errorf("wrong token: exit %d, %s", code, stderr.String())
	}
	_ = slackfake.DefaultToken
	_ = context.Background
}

func (h *harness) get(t *testing.T, path string) string {
	t.Helper()
	return string(mustJSON(t, h.m.AdminURL()+path))
}
