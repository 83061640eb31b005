package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
		{"03:16:00", "UALICE", "note Initial investigation: all API pods showing healthy status"},
		{"03:17:00", "UALICE", "note Application logs: \"connection timeout\" errors appearing"},
		{"03:18:00", "UBOB", "note Joined the incident response"},
		{"03:19:00", "UALICE", "note Pattern: all database connection attempts timing out"},
		{"03:20:00", "UBOB", "note PostgreSQL running normally"},
		{"03:22:00", "UALICE", "note Connection pool metrics: 100/100 connections in use"},
		{"03:23:00", "UALICE", "status identified Background job leaking connections"},
		{"03:23:30", "UALICE", "rootcause The data sync background job did not release its connection on DataValidationError, exhausting the 100-connection pool"},
		{"03:24:00", "UALICE", "impact Complete API unavailability affecting 100% of users (~2,000 active users); Admin Dashboard and Mobile App down"},
		{"03:25:00", "UALICE", "note Decision: restart the API pods to release connections"},
		{"03:27:00", "UBOB", "note Rolling restart initiated for the API deployment"},
		{"03:30:00", "UBOB", "note First pods restarted, connection pool draining"},
		{"03:33:00", "UALICE", "update 50% of pods restarted, API partially operational"},
		{"03:35:00", "UBOB", "note All pods restarted, connection pool normalized"},
		{"03:36:00", "UALICE", "status monitoring Smoke tests passed, API fully operational"},
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

	// The timeline rows at their UTC times.
	wantRows := []struct{ at, kind, contains string }{
		{"03:15:00", "paged", "API health check failures"},
		{"03:15:30", "acknowledged", "Alice Chen"},
		{"03:16:00", "note", "all API pods showing healthy"},
		{"03:17:00", "note", "connection timeout"},
		{"03:18:00", "note", "Joined"},
		{"03:19:00", "note", "timing out"},
		{"03:20:00", "note", "PostgreSQL"},
		{"03:22:00", "note", "100/100"},
		{"03:23:00", "status_update", "Background job leaking connections"},
		{"03:23:30", "root_cause", "DataValidationError"},
		{"03:24:00", "impact", "100% of users"},
		{"03:25:00", "note", "restart the API pods"},
		{"03:27:00", "note", "Rolling restart initiated"},
		{"03:30:00", "note", "First pods restarted"},
		{"03:33:00", "status_update", "50% of pods"},
		{"03:35:00", "note", "All pods restarted"},
		{"03:36:00", "status_update", "Smoke tests passed"},
		{"03:37:00", "action_item", "connection pool alerts"},
		{"03:37:10", "action_item", "Static analysis"},
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
	sec := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	if sec(p.Metrics.TimeToAcknowledge) != "30" || sec(p.Metrics.TimeToIdentify) != "480" || sec(p.Metrics.TimeToMitigate) != "1260" || sec(p.Metrics.TimeToResolve) != "1380" {
		t.Errorf("metrics: ack %s, identify %s, mitigate %s, resolve %s seconds; want 30, 480, 1260, 1380",
			sec(p.Metrics.TimeToAcknowledge), sec(p.Metrics.TimeToIdentify), sec(p.Metrics.TimeToMitigate), sec(p.Metrics.TimeToResolve))
	}
	if p.Severity != incidentbot.Sev1 || p.Service != "API" || p.Date != "2025-10-14" || sec(p.DurationSec) != "1380" {
		t.Errorf("header: %s %s %s duration %s", p.Severity, p.Service, p.Date, sec(p.DurationSec))
	}
	// Error budget by formula: 99.9% of 30 days leaves 43.2 min. The
	// incident ran 23 min (53.2%); the document's "45%" does not follow.
	a := p.Availability
	if a.BudgetMinutes < 43.19 || a.BudgetMinutes > 43.21 {
		t.Errorf("budget = %v min, want 43.2", a.BudgetMinutes)
	}
	if a.DurationMinutes == nil || fmt.Sprintf("%.1f", *a.DurationMinutes) != "23.0" || fmt.Sprintf("%.1f", *a.DurationBudgetPct) != "53.2" {
		t.Errorf("duration %v min = %v%% of budget; want 23 min = 53.2%%", a.DurationMinutes, a.DurationBudgetPct)
	}
	if a.DowntimeMinutes == nil || fmt.Sprintf("%.1f", *a.DowntimeMinutes) != "21.0" || fmt.Sprintf("%.1f", *a.BudgetUsedPct) != "48.6" {
		t.Errorf("downtime to mitigation %v min = %v%%; want 21 min = 48.6%%", a.DowntimeMinutes, a.BudgetUsedPct)
	}
	if len(p.Communication.Updates) != 3 || len(p.ActionItems) != 2 || p.ActionItems[0].Owner == nil || p.ActionItems[0].Priority != "p1" {
		t.Errorf("updates %d, action items %+v", len(p.Communication.Updates), p.ActionItems)
	}

	// The Markdown: the same figures, and the file and upload.
	md := h.get(t, "/api/incidents/PDBPOOL/postmortem.md")
	for _, want := range []string{
		"# Postmortem: API health check failures",
		"| 03:15:30 | Acknowledged by Alice Chen | Alice Chen (PagerDuty) |",
		"| Time to acknowledge | 30 s | 03:15:30 UTC |",
		"| Time to identify | 8 min | 03:23:00 UTC |",
		"| Time to mitigate | 21 min | 03:36:00 UTC |",
		"| Time to resolve | 23 min | 03:38:00 UTC |",
		"43.2 min",
		"23 min, 53.2% of the budget",
		"```mermaid",
		"| 1 | Add connection pool alerts at 80% and 95% | Bob Martinez | P1 | 2025-10-14 | open |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "45%") {
		t.Error("Markdown copies the document's 45%")
	}
	file := filepath.Join(h.cfg.ExportDir, "2025-10-14-INC-1.md")
	got, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(got), "| Time to resolve | 23 min |") {
		t.Errorf("exported file %s: %v", file, err)
	}
	uploads := h.slack.FilesIn(ch)
	if len(uploads) < 1 || !strings.Contains(string(uploads[len(uploads)-1].Content), "| Time to resolve | 23 min |") {
		t.Fatalf("uploads = %d", len(uploads))
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
