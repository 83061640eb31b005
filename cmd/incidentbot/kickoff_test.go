package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// shownKickoff is a kickoff message as Slack shows it: its header, fields
// by label, context line and buttons.
type shownKickoff struct {
	TS      string
	Header  string
	Fields  map[string]string
	Context string
	Buttons []string
	Edits   int
}

// readKickoff reads the Block Kit of a message into what people see.
func readKickoff(t *testing.T, m slackfake.Message) shownKickoff {
	t.Helper()
	var blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Text json.RawMessage `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(m.Blocks), &blocks); err != nil {
		t.Fatalf("kickoff blocks: %v in %s", err, m.Blocks)
	}
	k := shownKickoff{TS: m.TS, Fields: map[string]string{}, Edits: len(m.Edited)}
	for _, b := range blocks {
		switch b.Type {
		case "header":
			k.Header = b.Text.Text
		case "section":
			for _, f := range b.Fields {
				label, value, _ := strings.Cut(f.Text, "\n")
				k.Fields[strings.Trim(label, "*")] = value
			}
		case "context":
			for _, e := range b.Elements {
				var s string
				if json.Unmarshal(e.Text, &s) == nil {
					k.Context += s
				}
			}
		case "actions":
			for _, e := range b.Elements {
				var o struct {
					Text string `json:"text"`
				}
				if json.Unmarshal(e.Text, &o) == nil {
					k.Buttons = append(k.Buttons, o.Text)
				}
			}
		}
	}
	return k
}

// kickoff returns the incident channel's kickoff as it is now, checking
// that it is the channel's first message, the only kickoff, and pinned.
func (h *harness) kickoff(ch string) shownKickoff {
	h.t.Helper()
	h.waitIdle()
	msgs := h.slack.Messages(ch)
	if len(msgs) == 0 {
		h.t.Fatal("no kickoff message")
	}
	for _, m := range msgs[1:] {
		if strings.Contains(m.Text, " paged: ") || strings.Contains(m.Text, " declared: ") {
			h.t.Errorf("a second kickoff: %q", m.Text)
		}
	}
	if pins := h.slack.Pins(ch); len(pins) != 1 || pins[0] != msgs[0].TS {
		h.t.Errorf("pins = %v, want the kickoff %s pinned", pins, msgs[0].TS)
	}
	return readKickoff(h.t, msgs[0])
}

func (k shownKickoff) want(t *testing.T, step string, fields map[string]string, buttons ...string) {
	t.Helper()
	for label, want := range fields {
		got, ok := k.Fields[label]
		switch {
		case want == "" && ok:
			t.Errorf("%s: kickoff shows %s %q, want none", step, label, got)
		case want != "" && !strings.Contains(got, want):
			t.Errorf("%s: kickoff %s = %q, want %q (fields %v)", step, label, got, want, k.Fields)
		}
	}
	if strings.Join(k.Buttons, ",") != strings.Join(buttons, ",") {
		t.Errorf("%s: kickoff buttons = %v, want %v", step, k.Buttons, buttons)
	}
}

// The kickoff message is pinned once and kept true in place through the
// whole incident: after every change of status, severity, roles and
// assignees it shows what the incident is now, with the buttons its state
// allows, and once resolved no buttons and the postmortem draft's link.
func TestKickoff_KeptTrueAfterEveryStateChange(t *testing.T) {
	h := newHarness(t)
	inc := h.pd.AddIncident(pagerfake.Incident{
		ID: "PKICK", Number: 2210, Title: "API health check failures", Urgency: "high", PriorityName: "P2",
		ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PALICE"}, CreatedAt: t0,
		ConferenceURL: "https://meet.example.com/inc-2210", ConferenceNumber: "+1 555-0100,,1234#",
	})
	h.deliver("W-k1", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/PKICK", &got)
	ch := got.ChannelID
	all := []string{"Acknowledge", "Post update", "Resolve"}
	open := []string{"Post update", "Resolve"}

	k := h.kickoff(ch)
	if k.Header != "INC-1: API health check failures" {
		t.Errorf("header = %q", k.Header)
	}
	k.want(t, "paged", map[string]string{
		"Severity": "SEV2", "Status": "triggered", "Service": "API", "Urgency": "high",
		"Assignees": "Alice Chen", "Commander": "none yet",
		"PagerDuty":         "<https://fake.pagerduty.com/incidents/PKICK|#2210 API health check failures>",
		"Conference bridge": "<https://meet.example.com/inc-2210|Join> · +1 555-0100,,1234#",
		"Postmortem":        "",
	}, all...)
	if strings.Contains(k.Fields["PagerDuty"], "PagerDuty #") {
		t.Errorf("PagerDuty field repeats its label: %q", k.Fields["PagerDuty"])
	}

	h.command("UBOB", ch, "ack")
	k = h.kickoff(ch)
	k.want(t, "acknowledged", map[string]string{"Status": "acknowledged", "Severity": "SEV2"}, open...)

	h.command("UBOB", ch, "severity sev1")
	k = h.kickoff(ch)
	k.want(t, "escalated", map[string]string{"Severity": "SEV1", "Status": "acknowledged"}, open...)

	h.command("UBOB", ch, "commander <@UALICE|alice>")
	k = h.kickoff(ch)
	k.want(t, "commander", map[string]string{"Commander": "Alice Chen"}, open...)

	inc = h.pd.AddIncident(pagerfake.Incident{
		ID: "PKICK", Number: 2210, Title: "API health check failures", Urgency: "high", PriorityName: "P2",
		ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PALICE", "PBOB"}, CreatedAt: t0,
		ConferenceURL: "https://meet.example.com/inc-2210", ConferenceNumber: "+1 555-0100,,1234#",
	})
	h.deliver("W-k2", h.incidentEvent("incident.reassigned", t0.Add(5*time.Minute), inc))
	k = h.kickoff(ch)
	k.want(t, "reassigned", map[string]string{"Assignees": "Alice Chen, Bob Martinez"}, open...)

	h.command("UALICE", ch, "status identified bad deploy")
	k = h.kickoff(ch)
	k.want(t, "identified", map[string]string{"Status": "identified"}, open...)

	h.command("UALICE", ch, "status monitoring rolled back")
	k = h.kickoff(ch)
	k.want(t, "monitoring", map[string]string{"Status": "monitoring"}, open...)

	h.command("UALICE", ch, "resolve rolled back")
	k = h.kickoff(ch)
	k.want(t, "resolved", map[string]string{"Status": "resolved", "Postmortem": "|Draft postmortem>"})
	files := h.slack.FilesIn(ch)
	if len(files) == 0 || !strings.Contains(k.Fields["Postmortem"], files[len(files)-1].ID) {
		t.Errorf("postmortem field = %q, want the link to the uploaded draft %+v", k.Fields["Postmortem"], files)
	}
	if !strings.Contains(k.Context, "resolved") || !strings.Contains(k.Context, "after") {
		t.Errorf("context after resolution = %q, want when and after how long", k.Context)
	}
	if k.Edits < 6 {
		t.Errorf("kickoff edited %d times, want it updated in place after each change", k.Edits)
	}
	if n := len(h.slack.CallsTo("pins.add")); n != 1 {
		t.Errorf("pins.add called %d times, want once", n)
	}
	// The bot's own pin is not a timeline event.
	for _, e := range h.timeline("INC-1").Timeline {
		if e.Kind == "pinned" {
			t.Errorf("timeline has the kickoff pin: %+v", e)
		}
	}
	h.checkAPIReference()
}

// A pin repeated after a lost answer gets Slack's already_pinned: the
// kickoff is pinned, which is all the job wanted (no problem, no dead
// letter).
func TestKickoff_AlreadyPinnedIsDone(t *testing.T) {
	h := newHarness(t)
	h.slack.Inject("pins.add", slackfake.Fault{Times: 1, Error: "already_pinned"})
	_, ch := h.paged("PPINNED")
	h.waitIdle()
	if got := h.timeline("INC-1"); len(got.Problems) != 0 {
		t.Errorf("problems = %+v", got.Problems)
	}
	var out struct {
		Dead []json.RawMessage `json:"dead_letters"`
	}
	h.api("/api/outbox", &out)
	if len(out.Dead) != 0 {
		t.Errorf("dead letters: %s", out.Dead)
	}
	if calls := h.slack.CallsTo("pins.add"); len(calls) != 1 || calls[0].Error != "already_pinned" || calls[0].Params.Get("timestamp") != h.slack.Messages(ch)[0].TS {
		t.Errorf("pins.add calls %+v", calls)
	}
}
