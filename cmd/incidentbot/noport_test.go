package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// noPortHarness is the harness with Slack in Socket Mode and PagerDuty in
// pull mode, and neither inbound secret: the bot only dials out.
func noPortHarness(t *testing.T) *harness {
	t.Helper()
	h := prepareHarness(t, nil)
	h.cfg.SlackSigningSecret = ""
	h.cfg.PagerDutyWebhookSecrets = nil
	h.cfg.SlackAppToken = h.slack.AppToken
	h.cfg.PagerDutyPoll = 10 * time.Second
	h.pollEvery = 100 * time.Millisecond
	if errs := h.cfg.Validate(); len(errs) > 0 {
		t.Fatalf("the no-inbound-port configuration is invalid: %v", errs)
	}
	h.start()
	waitFor(t, "the Socket Mode connection", func() bool { open, _ := h.slack.SocketConnections(); return open == 1 })
	return h
}

// socketCommand runs /incident text over Socket Mode and returns the
// answer its acknowledgement carried ("" when none).
func (h *harness) socketCommand(user, channel, text string) string {
	h.t.Helper()
	return h.ackText(h.slack.SocketCommand(slackfake.CommandRequest{Text: text, UserID: user, ChannelID: channel}))
}

func (h *harness) ackText(e *slackfake.Envelope) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a, err := e.Wait(ctx)
	if err != nil {
		h.t.Fatalf("envelope %s: %v", e.Type, err)
	}
	if len(a.Payload) == 0 {
		return ""
	}
	var r cmdReply
	if err := json.Unmarshal(a.Payload, &r); err != nil {
		h.t.Fatalf("ack payload %s: %v", a.Payload, err)
	}
	return r.Text
}

// TestNoInboundPort_IncidentPagedByPullWorkedOverSocketMode runs a whole
// incident with nothing reaching the bot but /healthz: PagerDuty's log is
// polled, Slack comes over Socket Mode. In the middle the connection is
// refreshed (and later dropped) while commands are sent, and the bot is
// restarted between two polls while PagerDuty's log grows: each thing
// that happened is on the timeline exactly once.
func TestNoInboundPort_IncidentPagedByPullWorkedOverSocketMode(t *testing.T) {
	h := noPortHarness(t)

	// Nothing but health is served to the outside.
	for _, path := range []string{"/webhooks/pagerduty", "/slack/commands", "/slack/interactions", "/slack/events"} {
		res, err := http.Post(h.m.URL()+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d; with no inbound secret it must not be served", path, res.StatusCode)
		}
	}
	if res, err := http.Get(h.m.URL() + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v", err)
	} else {
		res.Body.Close()
	}

	// Paged by pull.
	pdInc := h.pd.AddIncident(pagerfake.Incident{Title: "Checkout 5xx", Urgency: "high", PriorityName: "P2", ServiceID: "PSHOP", ServiceName: "Shop", AssigneeIDs: []string{"PALICE"}})
	var inc apiIncident
	waitFor(t, "the page to open an incident", func() bool { return h.api("/api/incidents/"+pdInc.ID, &inc) == http.StatusOK && inc.ChannelID != "" })
	h.waitIdle()
	ch := inc.ChannelID
	if members := strings.Join(h.slack.Members(ch), ","); !strings.Contains(members, "UALICE") {
		t.Errorf("members %s: the page's assignee is not invited", members)
	}

	// Worked by slash commands over Socket Mode; the ack goes to PagerDuty
	// as Alice, and its log entry comes back as the echo.
	if got := h.socketCommand("UALICE", ch, "ack"); strings.Contains(got, "failed") {
		t.Fatalf("ack answered %q", got)
	}
	waitFor(t, "the ack to reach PagerDuty", func() bool { p, _ := h.pd.Incident(pdInc.ID); return p.Status == "acknowledged" })

	// A refresh in the middle of a burst of notes: nothing lost, nothing twice.
	var wg sync.WaitGroup
	for i := range 12 {
		if i == 4 {
			h.slack.SocketDisconnect("refresh_requested")
		}
		wg.Add(1)
		e := h.slack.SocketCommand(slackfake.CommandRequest{Text: fmt.Sprintf("note step %d", i), UserID: "UBOB", ChannelID: ch})
		go func() { defer wg.Done(); h.ackText(e) }()
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
	if _, most := h.slack.SocketConnections(); most < 2 {
		t.Errorf("at most %d connection at once: the refresh left a gap", most)
	}
	// A drop: the command sent while no connection is open arrives later.
	h.slack.SocketDrop()
	h.socketCommand("UBOB", ch, "note after the drop")

	// Buttons: Post update opens the modal with the click's trigger_id,
	// the submission publishes the update.
	kickoff := h.slack.Messages(ch)[0]
	click := slackfake.BlockActionPayload("UALICE", ch, kickoff.TS, "incident_update", inc.ID, "")
	h.ackText(h.slack.SocketInteraction(click))
	if views := h.slack.Views(); len(views) != 1 || views[0].TriggerID != click["trigger_id"] {
		t.Fatalf("views %+v: want the modal opened with the click's trigger_id", views)
	}
	h.ackText(h.slack.SocketInteraction(slackfake.ViewSubmissionPayload("UALICE", "incident_update", inc.ID, map[string]map[string]any{
		"status":  {"status": slackfake.StaticSelectValue("identified")},
		"message": {"message": slackfake.TextInputValue("Bad deploy; rolling back")},
	})))

	// A pin over Socket Mode (Events API).
	msg, _ := h.slack.PostMessageDirect(ch, "UBOB", "error rate back under 1%")
	h.ackText(h.slack.SocketEvent("EvPin1", slackfake.PinAddedEvent("UBOB", ch, msg)))
	h.waitIdle()

	// A restart between two polls: what PagerDuty logs while the bot is
	// down (a note in PagerDuty's app, an escalation) is read after it.
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	h.pd.AddNote(pdInc.ID, "PBOB", "Database team paged")
	h.pd.Escalate(pdInc.ID, "PBOB")
	h.start()
	waitFor(t, "Socket Mode after the restart", func() bool { open, _ := h.slack.SocketConnections(); return open == 1 })
	waitFor(t, "the entries logged during the restart", func() bool {
		got := h.timeline(inc.ID)
		return strings.Contains(strings.Join(kinds(got), " "), "escalated")
	})

	// Resolved from Slack; PagerDuty's resolve log entry is its echo.
	h.socketCommand("UALICE", ch, "resolve rolled back")
	waitFor(t, "the resolve to reach PagerDuty", func() bool { p, _ := h.pd.Incident(pdInc.ID); return p.Status == "resolved" })
	all := h.pd.LogEntries(pdInc.ID)
	h.waitPolled(all[len(all)-1].CreatedAt) // every entry read, the echoes too
	h.waitIdle()

	got := h.timeline(inc.ID)
	count := map[string]int{}
	notes := map[string]int{}
	for _, e := range got.Timeline {
		if e.Supersedes == 0 {
			count[e.Kind]++
		}
		if e.Kind == "note" {
			notes[e.Text]++
		}
	}
	want := map[string]int{"paged": 1, "acknowledged": 1, "note": 14, "status_update": 1, "pinned": 1, "escalated": 1, "resolved": 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %s entries, want %d (timeline %v)", count[k], k, n, kinds(got))
		}
	}
	for text, n := range notes {
		if n != 1 {
			t.Errorf("note %q recorded %d times", text, n)
		}
	}
	if got.Status != "resolved" {
		t.Errorf("status %s, want resolved", got.Status)
	}
	if p := h.slack.SocketProblems(); len(p) > 0 {
		t.Errorf("acknowledgements Slack would refuse: %v", p)
	}
}

// TestPullAndWebhooks_AHappeningArrivingBothWaysAppliesOnce: with webhooks
// and pull mode both on, PagerDuty's webhook and its log entry of the same
// happening (different IDs, milliseconds against seconds) give one
// timeline entry, whichever comes first.
func TestPullAndWebhooks_AHappeningArrivingBothWaysAppliesOnce(t *testing.T) {
	h := prepareHarness(t, nil)
	h.cfg.PagerDutyPoll = 10 * time.Second
	h.pollEvery = 100 * time.Millisecond
	h.start()
	webhook := func(e pagerfake.LogEntry) {
		t.Helper()
		ev, ok := h.pd.WebhookFor(e.ID)
		if !ok {
			t.Fatalf("no webhook for %s", e.Type)
		}
		h.deliver("", ev)
	}
	pdInc := h.pd.AddIncident(pagerfake.Incident{Title: "Queue backlog", AssigneeIDs: []string{"PALICE"}})
	webhook(h.pd.LogEntries(pdInc.ID)[0]) // the trigger, by webhook first
	var inc apiIncident
	waitFor(t, "the incident", func() bool { return h.api("/api/incidents/"+pdInc.ID, &inc) == http.StatusOK && inc.ChannelID != "" })
	h.waitPolled(h.pd.LogEntries(pdInc.ID)[0].CreatedAt) // and its log entry
	h.pd.Acknowledge(pdInc.ID, "PBOB")
	log := h.pd.LogEntries(pdInc.ID)
	h.waitPolled(log[len(log)-1].CreatedAt) // the log entry first this time
	webhook(log[len(log)-1])
	h.pd.AddNote(pdInc.ID, "PBOB", "Consumers scaled to 20")
	log = h.pd.LogEntries(pdInc.ID)
	webhook(log[len(log)-1])
	h.waitPolled(log[len(log)-1].CreatedAt)
	h.waitIdle()
	got := h.timeline(inc.ID)
	if k := strings.Join(kinds(got), " "); k != "paged acknowledged note" {
		t.Errorf("timeline %s, want each happening once: paged acknowledged note", k)
	}

	// Happenings of one type within a second that differ in what changed
	// are each applied once, both ways: two responders asked at once, two
	// hand-overs, two priority changes (they once counted as one, and the
	// second was answered "duplicate").
	before := len(log)
	h.pd.RequestResponder(pdInc.ID, "PALICE", "PBOB", "Need the queue owner")
	h.pd.RequestResponder(pdInc.ID, "PALICE", "PCAROL", "Need the queue owner")
	h.pd.Reassign(pdInc.ID, "PALICE", "PBOB")
	h.pd.Reassign(pdInc.ID, "PALICE", "PCAROL")
	h.pd.SetPriority(pdInc.ID, "PALICE", "P3")
	h.pd.SetPriority(pdInc.ID, "PALICE", "P4")
	log = h.pd.LogEntries(pdInc.ID)
	if len(log) != before+6 {
		t.Fatalf("%d new log entries, want 6", len(log)-before)
	}
	for _, e := range log[before:] {
		webhook(e)
	}
	h.waitPolled(log[len(log)-1].CreatedAt)
	h.waitIdle()
	n := map[string]int{}
	for _, k := range kinds(h.timeline(inc.ID)) {
		n[k]++
	}
	for kind, want := range map[string]int{"responder_added": 2, "reassigned": 2, "severity_changed": 2} {
		if n[kind] != want {
			t.Errorf("%d %s entries, want %d (each happening once, both ways); timeline kinds %v", n[kind], kind, want, n)
		}
	}
}

// waitPolled waits until pull mode's cursor has passed at: every log entry
// up to then is applied (the cursor is in whole seconds, as PagerDuty's
// since and until are).
func (h *harness) waitPolled(at time.Time) {
	h.t.Helper()
	waitFor(h.t, "the poll to pass "+at.Format(time.RFC3339Nano), func() bool {
		cur, err := h.m.Service.Cursor(context.Background(), incidentbot.PagerDutyLogCursor)
		if err != nil {
			h.t.Fatal(err)
		}
		c, err := time.Parse(time.RFC3339, cur)
		return err == nil && c.After(at)
	})
}
