package pagerfake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

// referenceTypes are LogEntry.type's values in PagerDuty's REST reference
// (PagerDuty/api-schema, reference/REST/openapiv3.json), and the two the
// fake also records that accounts return though the reference omits them.
var referenceTypes = map[string]bool{
	"acknowledge_log_entry": true, "annotate_log_entry": true, "assign_log_entry": true, "delegate_log_entry": true,
	"escalate_log_entry": true, "exhaust_escalation_path_log_entry": true, "notify_log_entry": true,
	"reach_ack_limit_log_entry": true, "reach_trigger_limit_log_entry": true, "repeat_escalation_path_log_entry": true,
	"resolve_log_entry": true, "snooze_log_entry": true, "trigger_log_entry": true, "unacknowledge_log_entry": true,
	"urgency_change_log_entry": true, "field_value_change_log_entry": true, "custom_field_value_change_log_entry": true,
	"priority_change_log_entry": true, "responder_request_log_entry": true,
}

// TestServer_LogEntries_FollowWhatHappensToIncidents: the log is derived
// from the incidents' changes (REST calls and the fake's own plays), in
// the reference's shape, newest first, filtered by since/until, paged, and
// per incident.
func TestServer_LogEntries_FollowWhatHappensToIncidents(t *testing.T) {
	srv := MustServer(t)
	at := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return at })
	inc := srv.AddIncident(pagerfake.Incident{Title: "Disk full", AssigneeIDs: []string{"PUSER01"}})
	at = at.Add(time.Minute)
	client := MustClient(t, srv)
	ctx := context.Background()
	if _, err := client.ManageIncidentsWithContext(ctx, "ada@example.com", []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Type: "incident_reference", Status: "acknowledged"}}); err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	if _, err := client.CreateIncidentNoteWithContext(ctx, inc.ID, pagerduty.IncidentNote{Content: "Cleaning /var", User: pagerduty.APIObject{Summary: "grace@example.com"}}); err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	srv.Escalate(inc.ID, "PUSER02")

	res, err := client.ListLogEntriesWithContext(ctx, pagerduty.ListLogEntriesOptions{Includes: []string{"incidents"}})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range res.LogEntries {
		types = append(types, e.Type)
		if !referenceTypes[e.Type] || e.ID == "" || e.CreatedAt == "" || e.Incident.ID != inc.ID || e.Incident.Title != "Disk full" {
			t.Errorf("log entry %+v: not in the reference's shape", e)
		}
	}
	want := []string{"escalate_log_entry", "annotate_log_entry", "acknowledge_log_entry", "assign_log_entry", "trigger_log_entry"}
	if len(types) != len(want) {
		t.Fatalf("types %v, want %v (newest first)", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("types %v, want %v (newest first)", types, want)
		}
	}
	if note := res.LogEntries[1]; note.Agent.ID != "PUSER02" || note.Channel.Raw["summary"] != "Cleaning /var" {
		t.Errorf("the note's entry: agent %+v channel %v; want Grace and the content as the channel's summary", note.Agent, note.Channel.Raw)
	}
	if esc := res.LogEntries[0]; len(esc.Assignees) != 1 || esc.Assignees[0].ID != "PUSER02" || esc.Agent.Type != "service_reference" {
		t.Errorf("the escalation's entry: assignees %+v agent %+v", esc.Assignees, esc.Agent)
	}

	window, err := client.ListLogEntriesWithContext(ctx, pagerduty.ListLogEntriesOptions{Since: "2025-06-01T09:01:00Z", Until: "2025-06-01T09:02:00Z", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(window.LogEntries) != 1 || window.LogEntries[0].Type != "acknowledge_log_entry" || window.More {
		t.Errorf("[09:01, 09:02) = %+v more=%v; want the acknowledgement alone (since inclusive, until exclusive)", window.LogEntries, window.More)
	}
	first, err := client.ListIncidentLogEntriesWithContext(ctx, inc.ID, pagerduty.ListIncidentLogEntriesOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.LogEntries) != 2 || !first.More {
		t.Errorf("the incident's first page: %d entries, more=%v; want 2 and more", len(first.LogEntries), first.More)
	}
	if _, err := client.ListIncidentLogEntriesWithContext(ctx, "PNOPE", pagerduty.ListIncidentLogEntriesOptions{}); err == nil {
		t.Error("an unknown incident's log entries: no error, want 404")
	} else {
		MustAPIError(t, err, 404)
	}
	req, _ := http.NewRequest("GET", srv.URL()+"/log_entries?include[]=users", nil)
	req.Header.Set("Authorization", "Token token="+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Error struct{ Code int } `json:"error"`
	}
	if resp.StatusCode != 400 || json.Unmarshal(body, &doc) != nil || doc.Error.Code != 2001 {
		t.Errorf("include[]=users (not in the reference's enum) = %d %s, want 400 with code 2001", resp.StatusCode, body)
	}
}

// TestServer_WebhookFor_AgreesWithTheLog: the webhook of a log entry's
// happening has its type, time and agent, and none for the first
// assignment.
func TestServer_WebhookFor_AgreesWithTheLog(t *testing.T) {
	srv := MustServer(t)
	inc := srv.AddIncident(pagerfake.Incident{Title: "Disk full", AssigneeIDs: []string{"PUSER01"}})
	srv.Acknowledge(inc.ID, "PUSER01")
	log := srv.LogEntries(inc.ID)
	if len(log) != 3 {
		t.Fatalf("%d entries, want trigger, first assignment, acknowledgement", len(log))
	}
	if _, ok := srv.WebhookFor(log[1].ID); ok {
		t.Error("the first assignment has a webhook; PagerDuty sends none")
	}
	ev, ok := srv.WebhookFor(log[2].ID)
	if !ok || ev.Type != "incident.acknowledged" || !ev.OccurredAt.Equal(log[2].CreatedAt) || ev.Agent == nil || ev.Agent.ID != "PUSER01" {
		t.Errorf("webhook %+v, want incident.acknowledged by PUSER01 at the entry's time", ev)
	}
}

// TestServer_SetRateLimit_AnswersAsPagerDuty: ratelimit-* headers on every
// answer, 429 code 2020 past the limit, a new window after it resets.
func TestServer_SetRateLimit_AnswersAsPagerDuty(t *testing.T) {
	srv := MustServer(t)
	at := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return at })
	srv.SetRateLimit(2, time.Minute)
	get := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL()+"/log_entries", nil)
		req.Header.Set("Authorization", "Token token="+srv.Token())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i, want := range []string{"1", "0"} {
		if res := get(); res.StatusCode != 200 || res.Header.Get("ratelimit-remaining") != want || res.Header.Get("ratelimit-limit") != "2" || res.Header.Get("ratelimit-reset") != "60" {
			t.Errorf("request %d: %d %v", i+1, res.StatusCode, res.Header)
		}
	}
	if res := get(); res.StatusCode != 429 || res.Header.Get("ratelimit-remaining") != "0" || res.Header.Get("Retry-After") != "" {
		t.Errorf("over the limit: %d %v, want 429 with ratelimit-* and no Retry-After", res.StatusCode, res.Header)
	}
	at = at.Add(61 * time.Second)
	if res := get(); res.StatusCode != 200 {
		t.Errorf("after the reset: %d", res.StatusCode)
	}
}

// referenceKeys are the properties of LogEntry and its per-type schemas in
// PagerDuty's REST reference (id, type, summary, self and html_url from
// its Reference base; acknowledgement_timeout and assignees from the
// acknowledge and assign/escalate/delegate schemas). user is the
// responder of responder_request_log_entry, a type the reference omits.
var referenceKeys = map[string]bool{
	"id": true, "type": true, "summary": true, "self": true, "html_url": true, "created_at": true, "channel": true,
	"agent": true, "note": true, "contexts": true, "service": true, "incident": true, "teams": true,
	"event_details": true, "changeset": true, "acknowledgement_timeout": true, "assignees": true,
}

// TestServer_LogEntries_OnlyTheReferencesProperties: every key of every
// entry the fake answers is a property of the reference's schemas.
func TestServer_LogEntries_OnlyTheReferencesProperties(t *testing.T) {
	srv := MustServer(t)
	inc := srv.AddIncident(pagerfake.Incident{Title: "Disk full", AssigneeIDs: []string{"PUSER01"}, PriorityName: "P3"})
	srv.Acknowledge(inc.ID, "PUSER01")
	srv.AddNote(inc.ID, "PUSER02", "n")
	srv.SetPriority(inc.ID, "PUSER01", "P1")
	srv.Escalate(inc.ID, "PUSER02")
	srv.RequestResponder(inc.ID, "PUSER01", "PUSER02", "help")
	srv.Unacknowledge(inc.ID)
	srv.Resolve(inc.ID, "PUSER02")
	srv.Reopen(inc.ID, "PUSER01")
	req, _ := http.NewRequest("GET", srv.URL()+"/log_entries?include[]=incidents&limit=100", nil)
	req.Header.Set("Authorization", "Token token="+srv.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		LogEntries []map[string]json.RawMessage `json:"log_entries"`
		More       *bool                        `json:"more"`
		Limit      *int                         `json:"limit"`
		Offset     *int                         `json:"offset"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.More == nil || doc.Limit == nil || doc.Offset == nil {
		t.Error("the list lacks the reference's Pagination fields (more, limit, offset)")
	}
	if len(doc.LogEntries) < 9 {
		t.Fatalf("%d entries", len(doc.LogEntries))
	}
	for _, e := range doc.LogEntries {
		var typ string
		_ = json.Unmarshal(e["type"], &typ)
		for k := range e {
			if !referenceKeys[k] && !(k == "user" && typ == "responder_request_log_entry") {
				t.Errorf("%s has %q, not a property of the reference's LogEntry", typ, k)
			}
		}
		for _, required := range []string{"id", "type", "created_at", "incident", "agent", "channel"} {
			if _, ok := e[required]; !ok {
				t.Errorf("%s lacks %s", typ, required)
			}
		}
	}
}
