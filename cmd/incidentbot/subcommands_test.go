package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// commandAnswered runs /incident text with a response URL of its own and
// returns the answer and what was later posted to that URL.
func (h *harness) commandAnswered(user, channel, text string) (cmdReply, func() []slackfake.Response) {
	h.t.Helper()
	url := h.slack.NewResponseURL()
	status, body, err := h.app().Command(context.Background(), slackfake.CommandRequest{Text: text, UserID: user, ChannelID: channel, ResponseURL: url})
	if err != nil || status != http.StatusOK {
		h.t.Fatalf("/incident %s: %d %v %s", text, status, err, body)
	}
	var r cmdReply
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &r); err != nil {
			h.t.Fatalf("/incident %s: %v in %s", text, err, body)
		}
	}
	return r, func() []slackfake.Response { return h.slack.Responses(url) }
}

// lastPost returns the text of the newest top-level message in a channel.
func (h *harness) lastPost(ch string) string {
	msgs := h.slack.Messages(ch)
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].ThreadTS == "" && len(msgs[i].Files) == 0 {
			return renderBlocks(msgs[i])
		}
	}
	return ""
}

// The first to acknowledge commands when nobody does (here in PagerDuty,
// as the Slack user with the same e-mail), and the channel is told in the
// acknowledgement's post; /incident handoff hands command over, with an
// entry, a post, the topic, the kickoff and the stakeholder thread.
func TestSlack_FirstAcknowledgerCommandsAndHandoff(t *testing.T) {
	h := newHarness(t)
	inc, ch := h.paged("PHAND")
	bob := pagerfake.UserRef("PBOB", "Bob Martinez")
	ack := h.incidentEvent("incident.acknowledged", t0.Add(time.Minute), inc)
	ack.Agent = &bob
	h.deliver("W-h1", ack)
	h.waitIdle()
	if p := h.lastPost(ch); !strings.Contains(p, "Acknowledged by Bob Martinez, the first to acknowledge: now the commander") {
		t.Errorf("acknowledgement post = %q", p)
	}
	h.kickoff(ch).want(t, "first ack", map[string]string{"Commander": "Bob Martinez"}, "Post update", "Resolve")
	if !strings.Contains(strings.Join(h.slack.Members(ch), ","), "UBOB") {
		t.Error("the new commander was not invited")
	}
	// A later acknowledgement changes nothing.
	if r := h.command("UALICE", ch, "ack"); !strings.Contains(r.Text, "already acknowledged") {
		t.Errorf("second ack = %+v", r)
	}

	if r := h.command("UBOB", ch, "handoff <@UALICE|alice>"); r != (cmdReply{}) {
		t.Errorf("handoff answered %+v besides its post", r)
	}
	h.waitIdle()
	if p := h.lastPost(ch); !strings.Contains(p, "Bob Martinez handed command to Alice Chen") {
		t.Errorf("handoff post = %q", p)
	}
	h.kickoff(ch).want(t, "handoff", map[string]string{"Commander": "Alice Chen"}, "Post update", "Resolve")
	if topic := h.slack.Topic(ch); !strings.Contains(topic, "commander: Alice Chen") {
		t.Errorf("topic = %q", topic)
	}
	_, replies := h.stakeholderThread()
	var told []string
	for _, r := range replies {
		told = append(told, r.Text)
	}
	if s := strings.Join(told, "\n"); !strings.Contains(s, "commander: Bob Martinez") || !strings.Contains(s, "commander: Alice Chen (was Bob Martinez)") {
		t.Errorf("stakeholder thread:\n%s", s)
	}
	if r := h.command("UBOB", ch, "handoff <@UALICE|alice>"); !strings.Contains(r.Text, "already the commander") {
		t.Errorf("handoff to the commander = %+v", r)
	}
	if r := h.command("UBOB", ch, "handoff alice"); !strings.Contains(r.Text, "/incident handoff @user") {
		t.Errorf("handoff without a mention = %+v, want the usage", r)
	}
	got := h.timeline("INC-1")
	if k := strings.Join(kinds(got), " "); k != "paged acknowledged role_assigned" {
		t.Errorf("timeline %s", k)
	}
	h.checkAPIReference()
}

// /incident title renames the incident: its channel follows (prefix and
// number kept; a taken name gets the next suffix), and so do the topic,
// the kickoff, the announcement and its thread; PagerDuty's own title,
// sent again with a later event, does not undo it.
func TestSlack_Title_RenamesTheIncidentAndItsChannel(t *testing.T) {
	h := newHarness(t)
	inc, ch := h.paged("PTITLE")
	h.slack.CreateChannelDirect("inc-1-primary-database-down", "UHUMAN", true) // archived: the name stays taken
	if r := h.command("UALICE", ch, "title Primary database down"); r != (cmdReply{}) {
		t.Errorf("title answered %+v besides its post", r)
	}
	h.waitIdle()
	c, _ := h.slack.Channel(ch)
	if c.Name != "inc-1-primary-database-down-2" {
		t.Errorf("channel name = %q, want inc-1-primary-database-down-2", c.Name)
	}
	var renames []string
	for _, call := range h.slack.CallsTo("conversations.rename") {
		renames = append(renames, call.Params.Get("name")+"="+call.Error)
	}
	if strings.Join(renames, ",") != "inc-1-primary-database-down=name_taken,inc-1-primary-database-down-2=" {
		t.Errorf("conversations.rename calls %v", renames)
	}
	if topic := h.slack.Topic(ch); !strings.Contains(topic, "INC-1: Primary database down") {
		t.Errorf("topic = %q", topic)
	}
	if k := h.kickoff(ch); k.Header != "INC-1: Primary database down" || !strings.Contains(k.Fields["PagerDuty"], "#42 API health check failures") {
		t.Errorf("kickoff header %q, PagerDuty %q (PagerDuty keeps its own title)", k.Header, k.Fields["PagerDuty"])
	}
	parent, replies := h.stakeholderThread()
	if !strings.Contains(parent.Blocks, "Primary database down") || len(replies) == 0 || !strings.Contains(replies[len(replies)-1].Text, "renamed: Primary database down") {
		t.Errorf("announcement %s, replies %+v", parent.Blocks, replies)
	}
	if p := h.lastPost(ch); !strings.Contains(p, "Renamed from “API health check failures” to “Primary database down”") {
		t.Errorf("rename post = %q", p)
	}
	h.deliver("W-t2", h.incidentEvent("incident.acknowledged", t0.Add(time.Minute), inc))
	h.waitIdle()
	if got := h.timeline("INC-1"); got.Title != "Primary database down" {
		t.Errorf("title after PagerDuty's event = %q", got.Title)
	}
	if r := h.command("UALICE", ch, "title"); !strings.Contains(r.Text, "/incident title <text>") {
		t.Errorf("title without text = %+v", r)
	}
	h.checkAPIReference()
}

// A private incident gets a private channel, is never announced, never
// reaches Statuspage or the status site even at SEV1, and its postmortem
// goes only to its own channel; the declaration is told only to the person.
func TestSlack_DeclarePrivate_StaysOutOfPublicChannels(t *testing.T) {
	h, sp, _ := statusHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	r := h.command("UALICE", general.ID, "declare Leaked API credentials sev1 private")
	if r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "private") {
		t.Errorf("declare private = %+v, want a private answer", r)
	}
	h.waitIdle()
	got := h.timeline("INC-1")
	c, _ := h.slack.Channel(got.ChannelID)
	if !c.IsPrivate || got.Severity != "sev1" {
		t.Fatalf("channel %+v, severity %s: want a private channel at sev1", c, got.Severity)
	}
	if !strings.Contains(strings.Join(c.Members, ","), "UALICE") {
		t.Error("the declarer is not in the private channel")
	}
	if r := h.command("UBOB", general.ID, "list"); strings.Contains(r.Text, "Leaked") || !strings.Contains(r.Text, "INC-1* 🔒 private incident") {
		t.Errorf("list elsewhere = %q, want the private incident without its title", r.Text)
	}
	if r := h.command("UBOB", general.ID, "timeline INC-1"); !strings.Contains(r.Text, "There is no incident INC-1") {
		t.Errorf("someone outside the private incident read its timeline: %q", r.Text)
	}
	if r := h.command("UALICE", general.ID, "timeline INC-1"); !strings.Contains(r.Text, "Leaked API credentials") {
		t.Errorf("its commander cannot read it from elsewhere: %q", r.Text)
	}
	h.command("UALICE", got.ChannelID, "status identified rotating the keys")
	if r := h.command("UALICE", got.ChannelID, "public Security maintenance"); !strings.Contains(r.Text, "private") {
		t.Errorf("public name on a private incident = %+v", r)
	}
	h.command("UALICE", got.ChannelID, "resolve keys rotated")
	h.waitIdle()
	// A public incident declared alongside is announced: the check below
	// can see announcements.
	h.command("UALICE", general.ID, "declare Checkout slow sev2")
	h.waitIdle()
	ann, _ := h.slack.ChannelByName("incidents")
	for _, m := range h.slack.Messages(ann.ID) {
		if strings.Contains(m.Text+m.Blocks, "INC-1") || strings.Contains(m.Text+m.Blocks, "Leaked") {
			t.Errorf("#incidents shows the private incident: %q", m.Text)
		}
	}
	if n := len(h.slack.Messages(ann.ID)); n == 0 {
		t.Error("the public incident was not announced either: the check above proves nothing")
	}
	for _, m := range h.slack.Messages(general.ID) {
		if strings.Contains(m.Text+m.Blocks, "Leaked") {
			t.Errorf("#general shows the private incident: %q", m.Text)
		}
	}
	for _, inc := range sp.Incidents() {
		if strings.Contains(inc.Name, "Leaked") || strings.Contains(inc.Name, "INC-1") {
			t.Errorf("Statuspage has the private incident: %+v", inc)
		}
	}
	if len(sp.Incidents()) == 0 {
		t.Error("Statuspage has not even the public SEV2 incident: the check above proves nothing")
	}
	site, err := os.ReadFile(filepath.Join(h.cfg.StatusDir, "status.json"))
	if err != nil || strings.Contains(string(site), "Leaked") || strings.Contains(string(site), `"INC-1"`) {
		t.Errorf("status.json (%v) shows the private incident:\n%s", err, site)
	}
	if body := h.get(t, "/status.json"); strings.Contains(body, "Leaked") {
		t.Errorf("/status.json shows the private incident")
	}
	files := h.slack.Files()
	if len(files) != 1 || files[0].Channel != got.ChannelID {
		t.Errorf("postmortem files %+v, want one, in the private channel only", files)
	}
	h.checkAPIReference()
}

// /incident page asks PagerDuty for more responders: a mentioned user (as
// the PagerDuty user with their e-mail) or an escalation policy by name,
// with a message; it records who asked for whom, invites the paged people,
// and PagerDuty's responder.added webhooks add nothing more. An unknown
// policy answers privately with the closest names.
func TestSlack_Page_AddsRespondersThroughPagerDuty(t *testing.T) {
	h := newHarness(t)
	h.slack.PutUser(slackfake.User{ID: "UCAROL", Name: "carol", RealName: "Carol Diaz", Email: "carol@example.com"})
	h.pd.AddUser(pagerfake.User{ID: "PCAROL", Name: "Carol Diaz", Email: "carol@example.com"})
	db := h.pd.AddEscalationPolicy(pagerfake.EscalationPolicy{Name: "Database on-call", UserIDs: []string{"PCAROL"}})
	h.pd.AddEscalationPolicy(pagerfake.EscalationPolicy{Name: "Database platform", UserIDs: []string{"PBOB"}})
	inc, ch := h.paged("PPAGE")

	if r := h.command("UALICE", ch, "page <@UBOB|bob> can you look at the replicas?"); r != (cmdReply{}) {
		t.Errorf("page answered %+v besides its post", r)
	}
	h.waitIdle()
	if p := h.lastPost(ch); !strings.Contains(p, "Alice Chen paged Bob Martinez through PagerDuty: can you look at the replicas?") {
		t.Errorf("page post = %q", p)
	}
	h.command("UALICE", ch, "page database ON-CALL replica lag is climbing")
	h.waitIdle()
	if p := h.lastPost(ch); !strings.Contains(p, "Alice Chen paged the escalation policy “Database on-call” through PagerDuty (Carol Diaz): replica lag is climbing") {
		t.Errorf("policy page post = %q", p)
	}
	reqs := h.pd.ResponderRequests("PPAGE")
	if len(reqs) != 2 || reqs[0].RequesterID != "PALICE" || reqs[0].Targets[0] != "user_reference:PBOB" || reqs[0].Message != "can you look at the replicas?" ||
		reqs[1].Targets[0] != "escalation_policy_reference:"+db.ID || reqs[1].Message != "replica lag is climbing" {
		t.Errorf("responder requests = %+v", reqs)
	}
	members := strings.Join(h.slack.Members(ch), ",")
	if !strings.Contains(members, "UBOB") || !strings.Contains(members, "UCAROL") {
		t.Errorf("members %s, want the paged Bob and Carol invited", members)
	}
	// PagerDuty's webhooks for the responders it added: nothing new.
	before := len(h.timeline("INC-1").Timeline)
	for _, e := range h.pd.LogEntries(inc.ID) {
		if e.Type == "responder_request_log_entry" {
			ev, ok := h.pd.WebhookFor(e.ID)
			if !ok {
				t.Fatalf("no webhook for %+v", e)
			}
			h.deliver("W-"+e.ID, ev)
		}
	}
	h.waitIdle()
	if after := h.timeline("INC-1").Timeline; len(after) != before {
		t.Errorf("responder.added webhooks added %d entries: %+v", len(after)-before, after[before:])
	}

	// A name PagerDuty has no policy for: nobody is paged, the closest are
	// suggested privately.
	r, answers := h.commandAnswered("UALICE", ch, "page Databse oncall please")
	if r != (cmdReply{}) {
		t.Errorf("page answered %+v at once", r)
	}
	h.waitIdle()
	got := answers()
	if len(got) != 1 || got[0].ResponseType != "ephemeral" || !strings.Contains(got[0].Text, "no escalation policy “databse oncall please”") ||
		!strings.Contains(got[0].Text, "“Database on-call”") {
		t.Errorf("answer to an unknown policy = %+v", got)
	}
	if n := len(h.pd.ResponderRequests("PPAGE")); n != 2 {
		t.Errorf("%d responder requests, want still 2", n)
	}
	if r := h.command("UALICE", ch, "page"); !strings.Contains(r.Text, "/incident page <@user | escalation policy name> [message]") {
		t.Errorf("page without a target = %+v, want the usage", r)
	}
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	h.command("UALICE", general.ID, "declare Checkout slow")
	if r := h.command("UALICE", general.ID, "page INC-2 <@UBOB|bob>"); !strings.Contains(r.Text, "declared in Slack") {
		t.Errorf("page on a declared incident = %+v", r)
	}
	h.checkAPIReference()
}
