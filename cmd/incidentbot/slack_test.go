package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

func (h *harness) app() *slackfake.AppClient {
	c := &slackfake.AppClient{BaseURL: h.m.URL(), SigningSecret: signingSecret, Slack: h.slack}
	if h.clock != nil {
		c.Now = h.clock.Now
	}
	return c
}

type cmdReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// command runs /incident text as user in channel and returns the answer.
func (h *harness) command(user, channel, text string) cmdReply {
	h.t.Helper()
	status, body, err := h.app().Command(context.Background(), slackfake.CommandRequest{Text: text, UserID: user, ChannelID: channel})
	if err != nil || status != http.StatusOK {
		h.t.Fatalf("/incident %s: %d %v %s", text, status, err, body)
	}
	var r cmdReply
	if len(bytes.TrimSpace(body)) == 0 {
		return r // the quiet answer: the command's post in the channel says it all
	}
	if err := json.Unmarshal(body, &r); err != nil {
		h.t.Fatalf("/incident %s: %v in %s", text, err, body)
	}
	return r
}

// paged opens an incident from a page and returns its channel ID.
func (h *harness) paged(pdID string) (pagerfake.Incident, string) {
	h.t.Helper()
	inc := h.incident(pdID)
	h.deliver("W-"+pdID, h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/"+pdID, &got)
	if got.ChannelID == "" {
		h.t.Fatal("no channel")
	}
	return inc, got.ChannelID
}

func (h *harness) timeline(id string) apiIncident {
	h.t.Helper()
	var got apiIncident
	if code := h.api("/api/incidents/"+id, &got); code != http.StatusOK {
		h.t.Fatalf("GET %s: %d", id, code)
	}
	return got
}

func kinds(inc apiIncident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func TestSlack_Commands_RunTheIncidentBothWays(t *testing.T) {
	h := newHarness(t)
	inc, ch := h.paged("PCMD")
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)

	// One visible message per action: the channel's post, no private
	// confirmation besides it.
	if r := h.command("UALICE", ch, "ack"); r != (cmdReply{}) {
		t.Errorf("ack reply = %+v, want none (the channel post says it)", r)
	}
	h.waitIdle()
	if got, _ := h.pd.Incident("PCMD"); got.Status != "acknowledged" {
		t.Errorf("PagerDuty status = %s, want acknowledged", got.Status)
	}
	if calls := h.pd.CallsTo(http.MethodPut, "/incidents"); len(calls) != 1 || calls[0].From != "alice@example.com" {
		t.Errorf("PagerDuty manage calls = %+v, want one with From alice@example.com", calls)
	}
	// PagerDuty's webhook for our own acknowledgement adds nothing.
	h.deliver("W-echo", h.incidentEvent("incident.acknowledged", time.Now().UTC(), inc))

	h.command("UALICE", ch, "note pool at 100/100 &amp; climbing")
	h.command("UBOB", general.ID, "note INC-1 from elsewhere")
	h.command("UALICE", ch, "status identified background job leaking connections")
	if r := h.command("UALICE", ch, "severity sev2"); r != (cmdReply{}) {
		t.Errorf("severity reply = %+v, want none", r)
	}
	h.command("UALICE", ch, "role comms <@UBOB|bob>")
	h.command("UALICE", ch, "started 2025-10-14T03:10:00Z")
	h.command("UALICE", ch, "impact all API users, ~2,000 active")
	h.command("UALICE", ch, "rootcause sync job does not release connections on validation errors")
	h.command("UALICE", ch, "action Add pool usage alert at 80% <@UBOB|bob> due:2025-10-20 p1")
	h.command("UALICE", ch, "action done 1")
	h.command("UALICE", ch, "public API degraded")
	h.waitIdle()
	if notes := h.pd.Notes("PCMD"); len(notes) != 2 || notes[0].Content != "pool at 100/100 & climbing" {
		t.Errorf("PagerDuty notes = %+v", notes)
	}
	if topic := h.slack.Topic(ch); !strings.Contains(topic, "SEV2") || !strings.Contains(topic, "comms: Bob Martinez") {
		t.Errorf("topic = %q, want the new severity and the comms role", topic)
	}
	if !strings.Contains(strings.Join(h.slack.Members(ch), ","), "UBOB") {
		t.Error("bob was given a role but not invited")
	}

	r := h.command("UALICE", ch, "timeline")
	if r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "pool at 100/100 &amp; climbing") || !strings.Contains(r.Text, "from elsewhere") {
		t.Errorf("timeline reply = %s", r.Text)
	}
	if r := h.command("UALICE", ch, "resolve restarted the API pods"); r != (cmdReply{}) {
		t.Errorf("resolve reply = %+v", r)
	}
	if r := h.command("UALICE", ch, "resolve"); !strings.Contains(r.Text, "already resolved") {
		t.Errorf("second resolve = %+v, want a friendly no-op", r)
	}
	h.waitIdle()
	if got, _ := h.pd.Incident("PCMD"); got.Status != "resolved" {
		t.Errorf("PagerDuty status = %s, want resolved", got.Status)
	}
	got := h.timeline("INC-1")
	want := "paged acknowledged note note status_update severity_changed role_assigned impact_started impact root_cause action_item action_item public_name resolved"
	if strings.Join(kinds(got), " ") != want {
		t.Errorf("timeline kinds\n got %s\nwant %s", strings.Join(kinds(got), " "), want)
	}
	if got.Status != "resolved" || got.Severity != "sev2" {
		t.Errorf("incident = %s %s", got.Status, got.Severity)
	}
	if r := h.command("UALICE", general.ID, "list"); !strings.Contains(r.Text, "No open incidents") {
		t.Errorf("list = %q", r.Text)
	}
}

func TestSlack_Declare_OpensChannelAndAnswersLater(t *testing.T) {
	h := newHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	h.slack.AddMember(general.ID, "UBOT")
	rURL := h.slack.NewResponseURL()
	status, body, err := h.app().Command(context.Background(), slackfake.CommandRequest{Text: "declare Checkout errors &gt; 5% sev1", UserID: "UBOB", ChannelID: general.ID, ResponseURL: rURL})
	if err != nil || status != 200 || !strings.Contains(string(body), "Declared INC-1 (sev1)") {
		t.Fatalf("declare: %d %v %s", status, err, body)
	}
	h.waitIdle()
	c, ok := h.slack.ChannelByName("inc-1-checkout-errors-5")
	if !ok {
		t.Fatalf("channel not created: %+v", h.slack.Channels())
	}
	if !strings.Contains(strings.Join(h.slack.Members(c.ID), ","), "UBOB") {
		t.Error("the declarer was not invited")
	}
	if rs := h.slack.Responses(rURL); len(rs) != 1 || !strings.Contains(rs[0].Text, c.ID) {
		t.Errorf("response_url answers = %+v, want one linking the channel", rs)
	}
	got := h.timeline("INC-1")
	if got.Title != "Checkout errors > 5%" || got.Severity != "sev1" || got.PagerDutyID != "" || got.Timeline[0].Kind != "declared" {
		t.Errorf("declared incident = %+v", got)
	}
	if strings.Contains(string(mustJSON(t, h.m.AdminURL()+"/api/outbox")), "/response/") {
		t.Error("a response_url leaked through /api/outbox")
	}
}

func mustJSON(t *testing.T, url string) []byte {
	t.Helper()
	status, body := getWithToken(t, url, testAdminToken)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	return body
}

// getWithToken GETs url with an admin token and returns the status and the
// whole body; a transport or read error fails the test.
func getWithToken(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, body
}

func TestSlack_BadRequests(t *testing.T) {
	h := newHarness(t)
	app := h.app()
	ctx := context.Background()
	body := []byte("text=list&team_id=T0001&user_id=UALICE")
	for name, tc := range map[string]struct {
		ts   time.Time
		sig  string
		body []byte
		want int
	}{
		"bad signature":   {time.Now(), "v0=00", body, 401},
		"6 minutes old":   {time.Now().Add(-6 * time.Minute), "", body, 401},
		"over 1 MiB":      {time.Now(), "", bytes.Repeat([]byte("a"), 2<<20), 413},
		"valid, for sure": {time.Now(), "", body, 200},
	} {
		status, _, err := app.Raw(ctx, slackfake.CommandsPath, "application/x-www-form-urlencoded", tc.body, tc.ts, tc.sig)
		if err != nil || status != tc.want {
			t.Errorf("%s: %d %v, want %d", name, status, err, tc.want)
		}
	}
	if r := h.command("UALICE", "CNONE", "frobnicate"); !strings.Contains(r.Text, "There is no subcommand “frobnicate”") || !strings.Contains(r.Text, "/incident declare <title>") || r.ResponseType != "ephemeral" {
		t.Errorf("unknown subcommand = %+v", r)
	}
	if r := h.command("UALICE", "CNONE", "severity"); !strings.Contains(r.Text, "/incident severity <sev1|sev2|sev3|sev4>") {
		t.Errorf("bad arguments = %+v", r)
	}
	if r := h.command("UALICE", "CNONE", "note hello"); !strings.Contains(r.Text, "not an incident channel") {
		t.Errorf("note outside a channel = %+v", r)
	}
	if r := h.command("UALICE", "CNONE", "help"); !strings.Contains(r.Text, "/incident declare <title>") {
		t.Errorf("help = %+v", r)
	}

	h.cfg.SlackTeamID = "TOTHER"
	h.restart()
	if r := h.command("UALICE", "CNONE", "list"); !strings.Contains(r.Text, "another Slack workspace") {
		t.Errorf("other workspace = %+v", r)
	}
}

func TestSlack_Responders_RestrictSeverityResolveRoles(t *testing.T) {
	h := newHarness(t)
	h.slack.AddUser("UCAROL", "carol", "carol@example.com")
	h.slack.AddUserGroup("S0ONCALL", "UCAROL")
	h.cfg.Responders = []string{"UBOB", "S0ONCALL"}
	h.restart()
	_, ch := h.paged("PRESP")
	for _, text := range []string{"severity sev3", "resolve", "commander", "role scribe"} {
		if r := h.command("UALICE", ch, text); !strings.Contains(r.Text, "Only responders can") {
			t.Errorf("alice %q = %+v, want a refusal", text, r)
		}
	}
	if r := h.command("UALICE", ch, "note anyone may add to the timeline"); r != (cmdReply{}) {
		t.Errorf("note = %+v", r)
	}
	if r := h.command("UBOB", ch, "severity sev3"); r != (cmdReply{}) {
		t.Errorf("listed user = %+v", r)
	}
	// Group membership arrives through the background refresh.
	waitFor(t, "carol's group to be known", func() bool {
		// Refused until then; accepted, it is answered by the channel post.
		return h.command("UCAROL", ch, "commander") == (cmdReply{})
	})
	if len(h.slack.CallsTo("usergroups.users.list")) == 0 {
		t.Error("group membership never fetched")
	}
}

func TestSlack_Buttons_AckUpdateModalResolve(t *testing.T) {
	h := newHarness(t)
	_, ch := h.paged("PBTN")
	kickoff := h.slack.Messages(ch)[0]
	ctx := context.Background()
	app := h.app()
	if status, _, err := app.Interaction(ctx, slackfake.BlockActionPayload("UALICE", ch, kickoff.TS, "incident_ack", "INC-1", "")); err != nil || status != 200 {
		t.Fatalf("ack button: %d %v", status, err)
	}
	if status, _, err := app.Interaction(ctx, slackfake.BlockActionPayload("UALICE", ch, kickoff.TS, "incident_update", "INC-1", "")); err != nil || status != 200 {
		t.Fatalf("update button: %d %v", status, err)
	}
	views := h.slack.Views()
	if len(views) != 1 || views[0].CallbackID != "incident_update" || !strings.Contains(views[0].JSON, `"private_metadata":"INC-1"`) {
		t.Fatalf("views = %+v", views)
	}
	sub := slackfake.ViewSubmissionPayload("UALICE", "incident_update", "INC-1", map[string]map[string]any{
		"status":  {"status": slackfake.StaticSelectValue("monitoring")},
		"message": {"message": slackfake.TextInputValue("Pods restarted; watching the pool")},
	})
	if status, body, err := app.Interaction(ctx, sub); err != nil || status != 200 || len(bytes.TrimSpace(body)) != 0 {
		t.Fatalf("submission: %d %v %s", status, err, body)
	}
	if status, _, err := app.Interaction(ctx, slackfake.BlockActionPayload("UALICE", ch, kickoff.TS, "incident_resolve", "INC-1", "")); err != nil || status != 200 {
		t.Fatalf("resolve button: %d %v", status, err)
	}
	h.waitIdle()
	got := h.timeline("INC-1")
	if k := strings.Join(kinds(got), " "); k != "paged acknowledged status_update resolved" {
		t.Errorf("timeline = %s", k)
	}
	if got.Status != "resolved" || got.Timeline[2].Text != "Pods restarted; watching the pool" {
		t.Errorf("incident = %+v", got)
	}
	// An empty update is refused inside the modal.
	bad := slackfake.ViewSubmissionPayload("UALICE", "incident_update", "INC-1", map[string]map[string]any{"message": {"message": slackfake.TextInputValue(" ")}})
	_, body, err := app.Interaction(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"response_action":"errors"`) {
		t.Errorf("empty update answered %s", body)
	}
}

func TestSlack_Events_PinsEditsDeletions(t *testing.T) {
	h := newHarness(t)
	_, ch := h.paged("PPIN")
	ctx := context.Background()
	app := h.app()
	status, body, err := app.URLVerification(ctx, "challenge-123")
	if err != nil || status != 200 || !strings.Contains(string(body), "challenge-123") {
		t.Fatalf("url_verification: %d %v %s", status, err, body)
	}
	msg, _ := h.slack.PostMessageDirect(ch, "UALICE", "connections at 100/100 <@UBOB|bob>")
	other, _ := h.slack.PostMessageDirect(ch, "UBOB", "restarting pods now")
	send := func(id string, ev map[string]any, retry int) {
		t.Helper()
		if status, body, err := app.Event(ctx, id, ev, retry); err != nil || status != 200 {
			t.Fatalf("event %s: %d %v %s", id, status, err, body)
		}
	}
	send("Ev1", slackfake.PinAddedEvent("UALICE", ch, msg), 0)
	send("Ev1", slackfake.PinAddedEvent("UALICE", ch, msg), 1)                    // Slack's retry
	send("Ev2", slackfake.ReactionAddedEvent("UBOB", ch, msg.TS, "pushpin"), 0)   // same message again
	send("Ev3", slackfake.ReactionAddedEvent("UBOB", ch, other.TS, "pushpin"), 0) // fetched by the outbox
	send("Ev4", slackfake.ReactionAddedEvent("UBOB", ch, other.TS, "eyes"), 0)    // not a pin
	h.waitIdle()
	msg.Text = "connections at 100/100, leak suspected"
	send("Ev5", slackfake.MessageChangedEvent(ch, msg, "connections at 100/100"), 0)
	send("Ev6", slackfake.MessageDeletedEvent(ch, other.TS), 0)
	// Slack sends message_changed for an unfurl too: same text, no entry.
	send("Ev7", slackfake.MessageChangedEvent(ch, msg, msg.Text), 0)
	h.waitIdle()
	got := h.timeline("INC-1")
	if k := strings.Join(kinds(got), " "); k != "paged pinned pinned pinned retracted" {
		t.Fatalf("timeline = %s", k)
	}
	pin := got.Timeline[1]
	if want, _ := timeOfTS(msg.TS); !pin.At.Equal(want) || pin.Text != "connections at 100/100 @bob" || pin.Actor != "Alice Chen" {
		t.Errorf("pinned entry = %+v (ts %s)", pin, msg.TS)
	}
	if got.Timeline[2].Text != "restarting pods now" {
		t.Errorf("reaction pin = %+v", got.Timeline[2])
	}
	if got.Timeline[3].Text != "connections at 100/100, leak suspected" || !got.Timeline[3].At.Equal(pin.At) {
		t.Errorf("edit = %+v, want the new text at the original time", got.Timeline[3])
	}
	// Slash-command view of the timeline shows the latest versions only.
	r := h.command("UALICE", ch, "timeline")
	if strings.Contains(r.Text, "restarting pods now") || !strings.Contains(r.Text, "leak suspected") || strings.Contains(r.Text, "100/100 @bob") {
		t.Errorf("timeline shows superseded entries:\n%s", r.Text)
	}
}

func timeOfTS(ts string) (time.Time, bool) {
	var sec, us int64
	parts := strings.SplitN(ts, ".", 2)
	for _, c := range parts[0] {
		sec = sec*10 + int64(c-'0')
	}
	if len(parts) == 2 {
		for _, c := range (parts[1] + "000000")[:6] {
			us = us*10 + int64(c-'0')
		}
	}
	return time.Unix(sec, us*1000).UTC(), true
}

func TestSlack_PagerDutyFailure_RetriedThenReported(t *testing.T) {
	h := newHarness(t)
	_, ch := h.paged("PFAIL")
	h.pd.Inject(http.MethodPut, "/incidents", pagerfake.Fault{Times: 2, Status: 503})
	h.command("UALICE", ch, "ack")
	h.waitIdle()
	if got, _ := h.pd.Incident("PFAIL"); got.Status != "acknowledged" {
		t.Errorf("after two 503s PagerDuty status = %s, want acknowledged", got.Status)
	}
	// A note as a user PagerDuty does not know, with no usable fallback.
	h.slack.AddUser("UEVE", "eve", "eve@nowhere.example")
	h.m.Jobs.PagerFrom = "nobody@nowhere.example"
	h.command("UEVE", ch, "note eve was here")
	h.waitIdle()
	got := h.timeline("INC-1")
	if len(got.Problems) != 1 || !strings.Contains(got.Problems[0].Message, "could not add the note to PagerDuty") {
		t.Errorf("problems = %+v", got.Problems)
	}
	var shown bool
	for _, m := range h.slack.Messages(ch) {
		shown = shown || strings.Contains(m.Text, "could not add the note to PagerDuty")
	}
	if !shown {
		t.Error("the PagerDuty failure was not told in the channel")
	}
}

// One visible message per action: a command run in its incident's channel
// is answered by its post there and nothing else; run elsewhere, the person
// is told privately where it went. No post's label repeats its text.
func TestSlack_Commands_OneVisibleMessagePerAction(t *testing.T) {
	h := newHarness(t)
	_, ch := h.paged("PQUIET")
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	before := len(h.slack.Messages(ch))
	for _, text := range []string{"ack", "note pool exhausted", "severity sev2", "role scribe <@UBOB|bob>", "impact checkout down", "resolve rolled back"} {
		if r := h.command("UALICE", ch, text); r != (cmdReply{}) {
			t.Errorf("/incident %s answered %+v besides its post", text, r)
		}
	}
	if r := h.command("UALICE", general.ID, "note INC-1 from elsewhere"); r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "INC-1") {
		t.Errorf("a note from another channel = %+v, want a private confirmation naming INC-1", r)
	}
	h.waitIdle()
	var posts []string
	for _, m := range h.slack.Messages(ch)[before:] {
		if m.ThreadTS == "" && len(m.Files) == 0 {
			posts = append(posts, renderBlocks(m))
		}
	}
	// ack, note, severity, role, impact, resolve, the note from elsewhere:
	// one post each.
	if len(posts) != 7 {
		t.Fatalf("%d posts, want 7:\n%s", len(posts), strings.Join(posts, "\n"))
	}
	for _, p := range posts {
		words := strings.Fields(strings.ToLower(strings.NewReplacer("*", "", ":", "").Replace(p)))
		for i := 1; i+1 < len(words); i++ {
			if words[i] == words[i+1] && len(words[i]) > 3 {
				t.Errorf("post repeats %q: %s", words[i], p)
			}
		}
	}
	if !strings.Contains(posts[0], "Acknowledged by Alice Chen") {
		t.Errorf("ack post = %s", posts[0])
	}
	if n := len(h.slack.Messages(general.ID)); n != 0 {
		t.Errorf("%d messages in #general, want none (the confirmation is private)", n)
	}
}
