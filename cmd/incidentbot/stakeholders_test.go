package main

import (
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// stakeholderThread returns the announcement in #incidents and its replies,
// oldest first.
func (h *harness) stakeholderThread() (slackfake.Message, []slackfake.Message) {
	h.t.Helper()
	ann, _ := h.slack.ChannelByName("incidents")
	var parent slackfake.Message
	var replies []slackfake.Message
	for _, m := range h.slack.Messages(ann.ID) {
		switch {
		case m.ThreadTS == "" || m.ThreadTS == m.TS:
			if parent.TS != "" {
				h.t.Errorf("a second top-level post in #incidents: %q", m.Text)
			}
			parent = m
		default:
			replies = append(replies, m)
		}
	}
	for _, r := range replies {
		if r.ThreadTS != parent.TS {
			h.t.Errorf("reply %q is in thread %s, not the announcement's %s", r.Text, r.ThreadTS, parent.TS)
		}
	}
	return parent, replies
}

// The stakeholder thread tells the whole story of a long incident, from
// the page to the resolution: every published update (the bot's holding
// update too), the escalation (also shown in the channel), the commander,
// and the resolution with its duration and the postmortem draft (also in
// the channel). After it no reply promises another update.
func TestStakeholders_ThreadTellsTheWholeStory(t *testing.T) {
	clock := &flowingClock{}
	clock.Set(t0)
	h := prepareHarness(t, clock)
	h.cfg.UpdateCadence = map[incidentbot.Severity]time.Duration{incidentbot.Sev1: 15 * time.Minute, incidentbot.Sev2: 30 * time.Minute}
	h.cadenceEvery = 20 * time.Millisecond
	h.start()

	pdInc := func(priority string) pagerfake.Incident {
		return h.pd.AddIncident(pagerfake.Incident{
			ID: "PSTORY", Number: 2210, Title: "API health check failures", Urgency: "high", PriorityName: priority,
			ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PALICE"}, CreatedAt: t0,
		})
	}
	inc := pdInc("P2")
	h.deliver("W-s1", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/PSTORY", &got)
	ch := got.ChannelID

	clock.Set(t0.Add(5 * time.Minute))
	h.command("UALICE", ch, "status investigating Elevated API errors; looking into it")
	h.waitIdle()
	// The next update was due at 03:50 (30 min): the bot holds the thread.
	clock.Set(t0.Add(36 * time.Minute))
	waitFor(t, "the holding update", func() bool {
		_, replies := h.stakeholderThread()
		return len(replies) > 0 && strings.Contains(replies[len(replies)-1].Text, "Next update by")
	})
	h.waitIdle()

	clock.Set(t0.Add(40 * time.Minute))
	inc = pdInc("P1")
	h.deliver("W-s2", h.incidentEvent("incident.priority_updated", t0.Add(40*time.Minute), inc))
	h.waitIdle()
	h.command("UALICE", ch, "commander <@UBOB|bob>")
	h.waitIdle()
	clock.Set(t0.Add(50 * time.Minute))
	h.command("UBOB", ch, "status identified A bad deploy; rolling back")
	h.waitIdle()
	// Before the next update is due (identified at 50 min: due at 80), so
	// no holding update races the resolution.
	clock.Set(t0.Add(75 * time.Minute))
	h.command("UBOB", ch, "resolve Rolled back to v2.30")
	h.waitIdle()
	// A cadence check after the resolution adds nothing.
	clock.Set(t0.Add(3 * time.Hour))
	time.Sleep(100 * time.Millisecond)
	h.waitIdle()

	parent, replies := h.stakeholderThread()
	if !strings.Contains(parent.Blocks, "SEV1") || !strings.Contains(parent.Blocks, "resolved") {
		t.Errorf("announcement = %s, want it updated to SEV1 and resolved", parent.Blocks)
	}
	want := []struct {
		has       string
		broadcast bool
	}{
		{"update (investigating): Elevated API errors", false},
		// Working on the page acknowledged it: the first to acknowledge commands.
		{"INC-1 commander: Alice Chen", false},
		{"Next update by 04:21 UTC", false},
		{"INC-1 escalated SEV2 → SEV1", true},
		{"INC-1 commander: Bob Martinez (was Alice Chen)", false},
		{"update (identified): A bad deploy", false},
		{"INC-1 resolved after 1 h 15 min: Rolled back to v2.30.", true},
	}
	var texts []string
	for _, r := range replies {
		texts = append(texts, r.Text)
	}
	if len(replies) != len(want) {
		t.Fatalf("thread replies:\n%s\nwant %d", strings.Join(texts, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.Contains(replies[i].Text, w.has) || replies[i].Broadcast != w.broadcast {
			t.Errorf("reply %d = %q (broadcast %v), want %q (broadcast %v)", i, replies[i].Text, replies[i].Broadcast, w.has, w.broadcast)
		}
	}
	last := replies[len(replies)-1].Text
	files := h.slack.FilesIn(ch)
	if len(files) == 0 || !strings.Contains(last, files[0].ID) || !strings.Contains(last, "Postmortem draft") {
		t.Errorf("resolution reply = %q, want the postmortem draft's link (files %+v)", last, files)
	}
	for _, r := range replies[3:] {
		if strings.Contains(r.Text, "Next update") {
			t.Errorf("a reply after the holding update promises another: %q", r.Text)
		}
	}
	h.checkAPIReference()
}
