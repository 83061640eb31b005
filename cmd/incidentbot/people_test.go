package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// everythingShown gathers what people can read about an incident: every
// Slack message (as posted and as edited), the channel topic, the API's
// incident with its timeline, and the postmortem draft.
func (h *harness) everythingShown(pdID, ch string) string {
	h.t.Helper()
	var b strings.Builder
	for _, c := range h.slack.Channels() {
		for _, m := range h.slack.Messages(c.ID) {
			b.WriteString(m.Text + "\n" + m.Blocks + "\n")
			for _, e := range m.Edited {
				b.WriteString(e.Text + "\n" + e.Blocks + "\n")
			}
		}
	}
	for _, c := range h.slack.CallsTo("conversations.setTopic") {
		b.WriteString(c.Params.Get("topic") + "\n")
	}
	b.WriteString(h.slack.Topic(ch) + "\n")
	b.WriteString(string(mustJSON(h.t, h.m.AdminURL()+"/api/incidents/"+pdID)) + "\n")
	b.WriteString(h.get(h.t, "/api/incidents/"+pdID+"/postmortem.md") + "\n")
	for _, f := range h.slack.Files() {
		b.WriteString(string(f.Content) + "\n")
	}
	return b.String()
}

// One name per person, everywhere: a Slack user is shown by their
// profile's real name (never the legacy user name Slack sends with
// commands and mentions, nor the display name), and a PagerDuty user whose
// e-mail is a Slack user's is that same person under that same name, in
// channel posts, the topic, the kickoff, the stakeholder thread, the
// timeline, roles, action owners, the API and the postmortem. A request
// from someone the bot never saw is answered without asking Slack; their
// name is learned in the background and shown.
func TestPeople_OneNamePerPersonEverywhere(t *testing.T) {
	h := newHarness(t)
	h.slack.PutUser(slackfake.User{ID: "USARAH", Name: "sarah.k", RealName: "Sarah Kim", DisplayName: "sarah", Email: "sarah@example.com"})
	h.slack.PutUser(slackfake.User{ID: "UDANA", Name: "dana.l", RealName: "Dana Lee", DisplayName: "dl", Email: "dana@example.com"})
	h.pd.AddUser(pagerfake.User{ID: "PSARAH", Name: "S. Kim (PagerDuty)", Email: "sarah@example.com"})
	inc := h.pd.AddIncident(pagerfake.Incident{
		ID: "PNAMES", Number: 2210, Title: "API health check failures", Urgency: "high", PriorityName: "P2",
		ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PSARAH"}, CreatedAt: t0,
	})
	h.deliver("W-n1", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/PNAMES", &got)
	ch := got.ChannelID
	if !strings.Contains(strings.Join(h.slack.Members(ch), ","), "USARAH") {
		t.Errorf("members %v: the PagerDuty assignee's Slack account was not invited", h.slack.Members(ch))
	}

	// Sarah acknowledges in PagerDuty, then works from Slack.
	sarah := pagerfake.UserRef("PSARAH", "S. Kim (PagerDuty)")
	ack := h.incidentEvent("incident.acknowledged", t0.Add(time.Minute), inc)
	ack.Agent = &sarah
	h.deliver("W-n2", ack)
	h.command("USARAH", ch, "note checking the pool")
	h.command("USARAH", ch, "role scribe <@USARAH|sarah.k>")
	h.command("USARAH", ch, "commander <@USARAH|sarah.k>")
	h.command("USARAH", ch, "action Add a pool alert <@USARAH|sarah.k> p1")
	h.command("USARAH", ch, "status identified pool exhausted")
	h.waitIdle()

	// Dana was never seen: her command is answered without a users.info
	// call (every one is held 1.5 s: the lookups the request queued are
	// still in flight, unanswered and so not logged, when it is answered).
	h.slack.Inject("users.info", slackfake.Fault{Delay: 1500 * time.Millisecond})
	h.command("UDANA", ch, "note I can help with the database")
	for _, c := range h.slack.CallsTo("users.info") {
		if c.Params.Get("user") == "UDANA" {
			t.Errorf("the request waited for users.info of UDANA (%+v)", c)
		}
	}
	h.slack.ClearFaults()
	h.waitIdle()
	// Erin cannot be looked up (Slack hides her): she is shown by her ID,
	// never by the legacy user name her command carried.
	h.slack.PutUser(slackfake.User{ID: "UERIN", Name: "erin.legacy", Email: "erin@example.com"})
	h.slack.Inject("users.info", slackfake.Fault{Times: 4, Error: "user_not_visible"})
	h.command("UERIN", ch, "note watching the replicas")
	h.waitIdle()
	h.slack.ClearFaults()
	h.command("USARAH", ch, "resolve pool resized")
	h.waitIdle()

	shown := h.everythingShown("PNAMES", ch)
	for _, never := range []string{"sarah.k", "S. Kim", "dana.l", "erin.legacy", "\ufdd0"} {
		if strings.Contains(shown, never) {
			i := strings.Index(shown, never)
			t.Errorf("%q is shown: …%s…", never, shown[max(0, i-120):min(len(shown), i+60)])
		}
	}
	if !strings.Contains(shown, "Dana Lee") {
		t.Error("Dana's name was never learned")
	}

	var full struct {
		Roles   map[string]struct{ ID, Name string } `json:"roles"`
		Actions []struct {
			Owner struct{ ID, Name string } `json:"owner"`
		} `json:"action_items"`
		Assignees []struct{ ID, Name string } `json:"assignees"`
		Timeline  []struct {
			Kind    string `json:"kind"`
			Actor   string `json:"actor"`
			ActorID string `json:"actor_id"`
			Source  string `json:"source"`
			Text    string `json:"text"`
		} `json:"timeline"`
	}
	if code := h.api("/api/incidents/PNAMES", &full); code != http.StatusOK {
		t.Fatalf("GET incident: %d", code)
	}
	if r := full.Roles["scribe"]; r.ID != "USARAH" || r.Name != "Sarah Kim" {
		t.Errorf("scribe = %+v", r)
	}
	if r := full.Roles["commander"]; r.ID != "USARAH" || r.Name != "Sarah Kim" {
		t.Errorf("commander = %+v", r)
	}
	if len(full.Actions) != 1 || full.Actions[0].Owner.Name != "Sarah Kim" {
		t.Errorf("action items = %+v", full.Actions)
	}
	if len(full.Assignees) != 1 || full.Assignees[0].ID != "USARAH" || full.Assignees[0].Name != "Sarah Kim" {
		t.Errorf("assignees = %+v, want the PagerDuty user as her Slack self", full.Assignees)
	}
	people := map[string]bool{}
	for _, e := range full.Timeline {
		if e.Source != "bot" && e.ActorID != "" {
			people[e.ActorID+"="+e.Actor] = true
		}
		if e.Kind == "acknowledged" && (e.Text != "Acknowledged by Sarah Kim, the first to acknowledge: now the commander" || e.ActorID != "USARAH") {
			t.Errorf("PagerDuty acknowledgement = %+v, want Sarah Kim as her Slack self", e)
		}
	}
	for p := range people {
		if p != "USARAH=Sarah Kim" && p != "UDANA=Dana Lee" && p != "UERIN=UERIN" {
			t.Errorf("timeline actor %s, want only USARAH=Sarah Kim, UDANA=Dana Lee and UERIN by her ID", p)
		}
	}
	pm := h.get(t, "/api/incidents/PNAMES/postmortem.json")
	var draft struct {
		Roles []struct {
			Person string `json:"person"`
		} `json:"roles"`
	}
	if err := json.Unmarshal([]byte(pm), &draft); err != nil {
		t.Fatal(err)
	}
	for _, r := range draft.Roles {
		if r.Person != "Sarah Kim" {
			t.Errorf("postmortem role holder %q", r.Person)
		}
	}
	h.checkAPIReference()
}
