package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
	"github.com/incidentbot/incidentbot/internal/store"
)

const (
	webhookSecret  = "whsec-e2e-secret"
	signingSecret  = "slack-signing-e2e-secret"
	testAdminToken = "admin-e2e-token"
)

// harness is a real server (Main on :0 with a temporary bbolt file) and
// fakes of Slack and PagerDuty, reached over HTTP by the real clients.
type harness struct {
	t     *testing.T
	slack *slackfake.Server
	pd    *pagerfake.Server
	cfg   Config
	m     *Main
	send  *pagerfake.Sender
	// clock, when set, is the server's clock (see startAt).
	clock *flowingClock
	// cadenceEvery is how often the server checks for overdue updates.
	cadenceEvery time.Duration
	// reconcile turns on the catch-up with PagerDuty's REST API.
	reconcile bool
	// digestAfter overrides the alert-storm threshold, digestCollect how
	// long a digest gathers pages (300 ms when zero).
	digestAfter   int
	digestCollect time.Duration
	// logs, when set, receives the server's JSON logs.
	logs io.Writer
	// dbFiles are the database files the server has opened, checked for
	// consistency when the test ends.
	dbFiles []string
	// leaseTTL is the PostgreSQL leader lease's lifetime (default when 0).
	leaseTTL time.Duration
	// pollEvery is pull mode's poll interval (with cfg.PagerDutyPoll set).
	pollEvery time.Duration
	// trackerPoll is how often Jira and GitHub are polled (default when 0).
	trackerPoll time.Duration
	// statusRefresh is how often each server renders /status again
	// (default when 0).
	statusRefresh time.Duration
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, nil) }

// newHarnessWith starts the server with a clock (nil: the real one).
func newHarnessWith(t *testing.T, clock *flowingClock) *harness {
	t.Helper()
	h := prepareHarness(t, clock)
	h.start()
	return h
}

// prepareHarness is newHarnessWith without starting the server: a test
// changes h.cfg first (the PostgreSQL store), then calls h.start.
func prepareHarness(t *testing.T, clock *flowingClock) *harness {
	t.Helper()
	h := &harness{t: t, slack: slackfake.New(), pd: pagerfake.New(), clock: clock}
	t.Cleanup(h.slack.Close)
	t.Cleanup(h.pd.Close)
	// Registered before any start, so it runs after every Main is closed.
	t.Cleanup(h.verifyDBFiles)
	// Each Slack user has a legacy user name (alice) that the bot must never
	// show, and a profile's real name that it shows everywhere.
	h.slack.PutUser(slackfake.User{ID: "UALICE", Name: "alice", RealName: "Alice Chen", DisplayName: "ali", Email: "alice@example.com"})
	h.slack.PutUser(slackfake.User{ID: "UBOB", Name: "bob", RealName: "Bob Martinez", DisplayName: "bobm", Email: "bob@example.com"})
	h.slack.CreateChannelDirect("incidents", "UHUMAN", false)
	h.pd.AddUser(pagerfake.User{ID: "PALICE", Name: "Alice Chen", Email: "alice@example.com"})
	h.pd.AddUser(pagerfake.User{ID: "PBOB", Name: "Bob Martinez", Email: "bob@example.com"})
	cfg := DefaultConfig()
	cfg.SlackBotToken = slackfake.DefaultToken
	cfg.SlackAPIURL = h.slack.URL()
	cfg.SlackSigningSecret = signingSecret
	cfg.PagerDutyWebhookSecrets = []string{"retired-secret", webhookSecret}
	cfg.PagerDutyAPIToken = h.pd.Token()
	cfg.PagerDutyAPIURL = h.pd.URL()
	cfg.PagerDutyFrom = "alice@example.com"
	cfg.Addr = "127.0.0.1:0"
	cfg.DB = filepath.Join(t.TempDir(), "incidentbot.db")
	cfg.ExportDir = filepath.Join(t.TempDir(), "postmortems")
	// The tests replay incidents from 2025: without this every one would be
	// long overdue for an update. Cadence has its own tests.
	cfg.UpdateCadence = map[incidentbot.Severity]time.Duration{}
	// Slack's budgets (1 post/s per channel) would make these tests slow;
	// the budget has its own tests.
	cfg.SlackRateScale = 100
	cfg.AdminToken = testAdminToken
	cfg.AnnounceChannel = "#incidents"
	h.cfg = cfg
	return h
}

// start opens a Main on the harness's configuration (and database file).
func (h *harness) start() {
	h.t.Helper()
	m := h.open()
	h.m = m
	h.send = &pagerfake.Sender{URL: m.URL() + "/webhooks/pagerduty", Secrets: []string{webhookSecret}}
}

// open opens another Main on the harness's configuration, closed when the
// test ends: a second replica, with the PostgreSQL store.
func (h *harness) open() *Main {
	h.t.Helper()
	var log *slog.Logger
	if h.logs != nil {
		log = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := NewMain(h.cfg, log)
	m.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	if h.clock != nil {
		m.Now = h.clock.Now
	}
	m.CadenceEvery = h.cadenceEvery
	m.DigestAfter = h.digestAfter
	m.ReconcileEvery = -1 // the fakes' PagerDuty state is not kept in step
	if h.reconcile {
		m.ReconcileEvery = time.Hour
	}
	m.DigestCollect = cmp.Or(h.digestCollect, 300*time.Millisecond)
	m.ReadHeaderTimeout = 300 * time.Millisecond
	if !slices.Contains(h.dbFiles, h.cfg.DB) {
		h.dbFiles = append(h.dbFiles, h.cfg.DB)
	}
	m.LeaseTTL = h.leaseTTL
	m.PollEvery = h.pollEvery
	m.TrackerPollEvery = h.trackerPoll
	m.StatusRefreshEvery = h.statusRefresh
	if err := m.Open(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if err := m.Close(); err != nil {
			h.t.Errorf("closing the server: %v", err)
		}
	})
	return m
}

// verifyDBFiles checks every database file the server opened, once no
// server has it open (store.Verify is bbolt's consistency check).
func (h *harness) verifyDBFiles() {
	for _, path := range h.dbFiles {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue // the server never got as far as creating it
		}
		if _, err := store.Verify(path); err != nil {
			h.t.Errorf("database file after the test: %v", err)
		}
	}
}

func (h *harness) restart() {
	h.t.Helper()
	if err := h.m.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.start()
}

var t0 = time.Date(2025, 10, 14, 3, 15, 0, 0, time.UTC)

func (h *harness) incident(id string) pagerfake.Incident {
	return h.pd.AddIncident(pagerfake.Incident{
		ID: id, Number: 42, Title: "API health check failures", Urgency: "high", PriorityName: "P1",
		ServiceID: "PAPI", ServiceName: "API", AssigneeIDs: []string{"PALICE"}, CreatedAt: t0,
	})
}

// deliver sends one event under a webhook ID and wants a 2xx.
func (h *harness) deliver(webhookID string, ev pagerfake.Event) int {
	h.t.Helper()
	status, err := h.send.Send(context.Background(), webhookID, ev.JSON())
	if err != nil {
		h.t.Fatal(err)
	}
	if status/100 != 2 {
		h.t.Fatalf("delivery %s (%s) answered %d", webhookID, ev.Type, status)
	}
	return status
}

func (h *harness) api(path string, v any) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.m.AdminURL()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.cfg.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil && res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			h.t.Fatal(err)
		}
	}
	return res.StatusCode
}

// metrics returns what GET /metrics answers (on the main port, as the
// harness's server is configured).
func (h *harness) metrics() string {
	h.t.Helper()
	res, err := http.Get(h.m.URL() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("GET /metrics: %v", err)
	}
	return string(body)
}

// waitIdle waits until the outbox is empty.
func (h *harness) waitIdle() {
	h.t.Helper()
	waitFor(h.t, "outbox to drain", func() bool {
		var out struct {
			Pending int `json:"pending"`
		}
		h.api("/api/outbox", &out)
		return out.Pending == 0 && h.m.Outbox.Stats().Depth == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) ev(typ string, at time.Time, data map[string]any) pagerfake.Event {
	agent := pagerfake.UserRef("PALICE", "Alice Chen")
	return pagerfake.Event{ID: fmt.Sprintf("%s-%d", typ, at.UnixNano()), Type: typ, OccurredAt: at, Agent: &agent, Data: data}
}

func (h *harness) incidentEvent(typ string, at time.Time, inc pagerfake.Incident) pagerfake.Event {
	data, ok := h.pd.IncidentData(inc.ID) // with the assignees' names
	if !ok {
		h.t.Fatalf("no PagerDuty incident %s", inc.ID)
	}
	ev := h.ev(typ, at, data)
	ev.ID = inc.ID + "-" + ev.ID
	return ev
}

type apiIncident struct {
	ID             string     `json:"id"`
	PagerDutyID    string     `json:"pagerduty_id"`
	Title          string     `json:"title"`
	Status         string     `json:"status"`
	Severity       string     `json:"severity"`
	Service        string     `json:"service"`
	ChannelID      string     `json:"channel_id"`
	OpenedAt       time.Time  `json:"opened_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	Problems       []struct {
		Job     string `json:"job"`
		Message string `json:"message"`
	} `json:"problems"`
	Timeline []struct {
		Seq        uint64    `json:"seq"`
		Supersedes uint64    `json:"supersedes"`
		At         time.Time `json:"at"`
		Kind       string    `json:"kind"`
		Actor      string    `json:"actor"`
		Source     string    `json:"source"`
		Text       string    `json:"text"`
	} `json:"timeline"`
}

func TestMain_PageToChannel_EndToEnd(t *testing.T) {
	h := newHarness(t)
	inc := h.incident("PABC123")
	h.deliver("W-trigger", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()

	chans := h.slack.Channels()
	var ch slackfake.Channel
	for _, c := range chans {
		if strings.HasPrefix(c.Name, "inc-") {
			if ch.ID != "" {
				t.Fatalf("two incident channels: %s and %s", ch.Name, c.Name)
			}
			ch = c
		}
	}
	if got, want := ch.Name, "inc-1-api-health-check-failures"; got != want {
		t.Fatalf("channel = %q, want %q", got, want)
	}
	if topic := h.slack.Topic(ch.ID); !strings.Contains(topic, "SEV1") || !strings.Contains(topic, "API health check failures") || !strings.Contains(topic, "/incidents/PABC123") {
		t.Errorf("topic = %q, want severity, title and PagerDuty link", topic)
	}
	if members := strings.Join(h.slack.Members(ch.ID), ","); !strings.Contains(members, "UALICE") {
		t.Errorf("members = %s, want the assignee UALICE invited", members)
	}
	msgs := h.slack.Messages(ch.ID)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Blocks, `"incident_ack"`) || !strings.Contains(msgs[0].Blocks, "API health check failures") || !strings.Contains(msgs[0].Blocks, "high") {
		t.Fatalf("kickoff = %+v", msgs)
	}
	ann, _ := h.slack.ChannelByName("incidents")
	if am := h.slack.Messages(ann.ID); len(am) != 1 || !strings.Contains(am[0].Blocks, "#"+ch.ID) {
		t.Errorf("announcement = %+v, want one post linking the channel", am)
	}

	h.deliver("W-ack", h.incidentEvent("incident.acknowledged", t0.Add(30*time.Second), inc))
	h.deliver("W-note", h.ev("incident.annotated", t0.Add(8*time.Minute), pagerfake.NoteData("PABC123", inc.Title, "N1", "Background job leaking connections")))
	h.deliver("W-resolve", h.incidentEvent("incident.resolved", t0.Add(23*time.Minute), inc))
	h.waitIdle()

	msgs = h.slack.Messages(ch.ID)
	var kinds []string
	for _, m := range msgs[1:] {
		kinds = append(kinds, m.Text)
	}
	if len(msgs) != 5 || !strings.Contains(msgs[4].Text, "postmortem of INC-1") || !strings.Contains(msgs[1].Text, "Acknowledged") || !strings.Contains(msgs[2].Text, "leaking connections") || !strings.Contains(msgs[3].Text, "Resolved") {
		t.Errorf("channel posts after kickoff = %q, want ack, note, resolve in order", kinds)
	}

	var got apiIncident
	if code := h.api("/api/incidents/PABC123", &got); code != http.StatusOK {
		t.Fatalf("GET incident: %d", code)
	}
	if got.ID != "INC-1" || got.PagerDutyID != "PABC123" || got.Status != "resolved" || got.Severity != "sev1" || got.Service != "API" || got.ChannelID != ch.ID {
		t.Errorf("incident = %+v", got)
	}
	if got.AcknowledgedAt == nil || !got.AcknowledgedAt.Equal(t0.Add(30*time.Second)) || got.ResolvedAt == nil || !got.ResolvedAt.Equal(t0.Add(23*time.Minute)) || !got.OpenedAt.Equal(t0) {
		t.Errorf("phase times: opened %v ack %v resolved %v", got.OpenedAt, got.AcknowledgedAt, got.ResolvedAt)
	}
	wantTL := []struct {
		kind string
		at   time.Duration
	}{{"paged", 0}, {"acknowledged", 30 * time.Second}, {"note", 8 * time.Minute}, {"resolved", 23 * time.Minute}}
	if len(got.Timeline) != len(wantTL) {
		t.Fatalf("timeline = %+v", got.Timeline)
	}
	for i, w := range wantTL {
		e := got.Timeline[i]
		if e.Kind != w.kind || !e.At.Equal(t0.Add(w.at)) || e.Source != "pagerduty" {
			t.Errorf("timeline[%d] = %+v, want %s at %v from pagerduty", i, e, w.kind, t0.Add(w.at))
		}
	}
	if got.Timeline[1].Actor != "Alice Chen" {
		t.Errorf("ack actor = %q", got.Timeline[1].Actor)
	}

	// Restart on the same file: everything is there, and a re-delivered
	// trigger changes nothing.
	h.restart()
	var again apiIncident
	h.api("/api/incidents/INC-1", &again)
	if len(again.Timeline) != 4 || again.ChannelID != ch.ID {
		t.Errorf("after restart: %d entries, channel %s", len(again.Timeline), again.ChannelID)
	}
	if status := h.deliver("W-trigger", h.incidentEvent("incident.triggered", t0, inc)); status != http.StatusOK {
		t.Errorf("re-delivered trigger answered %d, want 200 (duplicate)", status)
	}
	h.waitIdle()
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 1 || len(h.slack.Messages(ch.ID)) != 5 || len(h.slack.CallsTo("conversations.create")) != 1 {
		t.Errorf("after re-delivery: %d incidents, %d posts, %d creates; want 1, 5, 1", len(list.Incidents), len(h.slack.Messages(ch.ID)), len(h.slack.CallsTo("conversations.create")))
	}
}

func TestMain_SameTriggerTenTimesAtOnce_OneChannel(t *testing.T) {
	h := newHarness(t)
	inc := h.incident("PDUP")
	ev := h.incidentEvent("incident.triggered", t0, inc)
	body := ev.JSON()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half retried under one webhook ID, half as another subscription's copies.
			id := "W-same"
			if i%2 == 1 {
				id = fmt.Sprintf("W-other-%d", i)
			}
			if status, err := h.send.Send(context.Background(), id, body); err != nil || status/100 != 2 {
				t.Errorf("delivery %d: %d %v", i, status, err)
			}
		}()
	}
	wg.Wait()
	h.waitIdle()
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 1 || len(h.slack.CallsTo("conversations.create")) != 1 {
		t.Errorf("%d incidents, %d conversations.create calls; want 1 and 1", len(list.Incidents), len(h.slack.CallsTo("conversations.create")))
	}
}

// The process dies after Slack created the channel and before the bot
// recorded it: on restart the bot adopts that channel.
func TestMain_CrashAfterChannelCreated_AdoptsChannel(t *testing.T) {
	h := newHarness(t)
	// Slack creates the channel, then the answer never comes back in time.
	h.slack.Inject("conversations.create", slackfake.Fault{Times: 1, AfterEffect: true, Delay: time.Minute, Status: 500})
	inc := h.incident("PCRASH")
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, inc))
	waitFor(t, "Slack to create the channel", func() bool {
		_, ok := h.slack.ChannelByName("inc-1-api-health-check-failures")
		return ok
	})
	h.restart() // the in-flight create is abandoned; nothing was recorded
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/INC-1", &got)
	ch, _ := h.slack.ChannelByName("inc-1-api-health-check-failures")
	if got.ChannelID != ch.ID {
		t.Errorf("incident channel = %q, want the adopted %q", got.ChannelID, ch.ID)
	}
	n := 0
	for _, c := range h.slack.Channels() {
		if strings.HasPrefix(c.Name, "inc-1") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d incident channels, want 1", n)
	}
	if len(h.slack.Messages(ch.ID)) != 1 {
		t.Errorf("kickoff posted %d times, want 1", len(h.slack.Messages(ch.ID)))
	}
}

// name_taken by an archived channel (or one someone else made) is not
// ours: the bot takes the next name.
func TestMain_NameTakenByArchivedChannel_UsesNextName(t *testing.T) {
	h := newHarness(t)
	old := h.slack.CreateChannelDirect("inc-1-api-health-check-failures", "UBOT", true)
	h.slack.CreateChannelDirect("inc-1-api-health-check-failures-2", "UHUMAN", false)
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, h.incident("PTAKEN")))
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/INC-1", &got)
	ch, ok := h.slack.ChannelByName("inc-1-api-health-check-failures-3")
	if !ok || got.ChannelID != ch.ID || got.ChannelID == old.ID {
		t.Errorf("incident channel = %q; want the new inc-1-api-health-check-failures-3", got.ChannelID)
	}
}

func TestMain_SlackRateLimitAndErrors_KeepOrderAndRecordProblems(t *testing.T) {
	h := newHarness(t)
	h.slack.Inject("chat.postMessage", slackfake.Fault{Times: 3, Status: 429, RetryAfter: 0})
	h.slack.Inject("chat.postMessage", slackfake.Fault{Times: 1, Status: 503})
	// Bob's PagerDuty e-mail has no Slack user: a permanent failure.
	h.pd.AddUser(pagerfake.User{ID: "PNOSLACK", Name: "Carol Davis", Email: "carol@elsewhere.example"})
	inc := h.pd.AddIncident(pagerfake.Incident{ID: "PRL", Title: "Queue backlog", Urgency: "low", AssigneeIDs: []string{"PNOSLACK", "PALICE"}, CreatedAt: t0})
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, inc))
	for i := range 5 {
		h.deliver(fmt.Sprintf("W-note-%d", i), h.ev("incident.annotated", t0.Add(time.Duration(i+1)*time.Minute), pagerfake.NoteData("PRL", inc.Title, fmt.Sprintf("N%d", i), fmt.Sprintf("note %d", i))))
	}
	h.waitIdle()
	var got apiIncident
	h.api("/api/incidents/PRL", &got)
	if got.Severity != "sev3" {
		t.Errorf("severity %s, want sev3 (low urgency, no priority)", got.Severity)
	}
	msgs := h.slack.Messages(got.ChannelID)
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
	}
	joined := strings.Join(texts, "\n")
	last := -1
	for i := range 5 {
		at := strings.Index(joined, fmt.Sprintf("note %d", i))
		if at < last {
			t.Fatalf("notes out of order:\n%s", joined)
		}
		last = at
	}
	if len(got.Problems) != 1 || !strings.Contains(got.Problems[0].Message, "Carol Davis") || !strings.Contains(got.Problems[0].Message, "users_not_found") {
		t.Errorf("problems = %+v, want the failed invite of Carol Davis", got.Problems)
	}
	if !strings.Contains(joined, "Problem") || !strings.Contains(joined, "Carol Davis") {
		t.Errorf("the failed invite is not shown in the channel:\n%s", joined)
	}
	if !strings.Contains(strings.Join(h.slack.Members(got.ChannelID), ","), "UALICE") {
		t.Errorf("Alice not invited: a failed invite must not block the others")
	}
}

func TestMain_NoteForUnknownIncident_OpensFromREST(t *testing.T) {
	h := newHarness(t)
	inc := h.incident("PREST")
	h.deliver("W1", h.ev("incident.annotated", t0.Add(time.Minute), pagerfake.NoteData("PREST", inc.Title, "N1", "first word")))
	h.waitIdle()
	var got apiIncident
	if code := h.api("/api/incidents/PREST", &got); code != http.StatusOK {
		t.Fatalf("incident not opened from REST: %d", code)
	}
	if got.Title != "API health check failures" || len(got.Timeline) != 2 || got.Timeline[1].Text != "first word" || got.ChannelID == "" {
		t.Errorf("incident = %+v", got)
	}
	if n := len(h.pd.CallsTo(http.MethodGet, "/incidents/PREST")); n != 1 {
		t.Errorf("%d REST fetches, want 1", n)
	}
}

func TestMain_DeadLetterAfterMaxAge(t *testing.T) {
	h := newHarness(t)
	h.m.Outbox.MaxAge = 200 * time.Millisecond
	h.slack.Inject("conversations.setTopic", slackfake.Fault{Status: 503})
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, h.incident("PDEAD")))
	h.waitIdle()
	var out struct {
		DeadLetters []incidentbot.Job `json:"dead_letters"`
	}
	h.api("/api/outbox", &out)
	if len(out.DeadLetters) != 1 || out.DeadLetters[0].Kind != incidentbot.JobSetTopic || out.DeadLetters[0].Attempts < 2 {
		t.Errorf("dead letters = %+v, want the topic job after several attempts", out.DeadLetters)
	}
	var got apiIncident
	h.api("/api/incidents/INC-1", &got)
	if len(h.slack.Messages(got.ChannelID)) < 1 {
		t.Errorf("kickoff blocked by the failing topic job")
	}
	if body := h.metrics(); !strings.Contains(body, "incidentbot_outbox_dead_letters 1") {
		t.Errorf("metrics do not show the dead letter")
	}
}

// GET /api/outbox and the metrics show the runner at work: while the
// channel's creation is held in Slack it is running (not overdue), the jobs
// waiting for the channel are held, and incidentbot_outbox_running counts
// it; once done, nothing runs or is held.
func TestMain_OutboxRunnerView_RunningHeldAndMetric(t *testing.T) {
	h := newHarness(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	h.slack.OnCall(func(method, phase string) {
		if method == "conversations.create" && phase == slackfake.PhaseBefore {
			entered <- struct{}{}
			<-release
		}
	})
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, h.incident("PVIEW")))
	<-entered
	type outbox struct {
		Pending int `json:"pending"`
		Runner  *struct {
			Active  bool `json:"active"`
			Running int  `json:"running"`
			Held    int  `json:"held"`
			Overdue []struct {
				ID   uint64 `json:"id"`
				Kind string `json:"kind"`
			} `json:"overdue"`
			Unheld []uint64 `json:"unheld"`
		} `json:"runner"`
	}
	var out outbox
	waitFor(t, "the runner to hold every stored job", func() bool {
		out = outbox{}
		h.api("/api/outbox", &out)
		return out.Runner != nil && len(out.Runner.Unheld) == 0 && out.Runner.Held == out.Pending
	})
	if r := out.Runner; !r.Active || r.Running < 1 || out.Pending < 2 {
		t.Errorf("while the create is held: pending %d, runner %+v; want active, the create running, the jobs behind it held", out.Pending, r)
	}
	for _, o := range out.Runner.Overdue {
		if o.Kind == string(incidentbot.JobCreateChannel) {
			t.Errorf("the running create job is listed overdue: %+v", out.Runner.Overdue)
		}
	}
	if body := h.metrics(); !regexp.MustCompile(`\nincidentbot_outbox_running [1-8]\n`).MatchString(body) {
		t.Errorf("metrics do not show the running job:\n%s", grepLines(body, "incidentbot_outbox_"))
	}
	h.slack.OnCall(nil)
	close(release)
	h.waitIdle()
	out = outbox{}
	if code := h.api("/api/outbox", &out); code != http.StatusOK {
		t.Fatalf("GET /api/outbox = %d", code)
	}
	if r := out.Runner; r == nil || !r.Active || r.Running != 0 || r.Held != 0 || len(r.Overdue) != 0 || len(r.Unheld) != 0 {
		t.Errorf("drained: runner %+v, want active and empty", r)
	}
	if body := h.metrics(); !strings.Contains(body, "\nincidentbot_outbox_running 0\n") {
		t.Errorf("metrics after the drain:\n%s", grepLines(body, "incidentbot_outbox_"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMain_HealthAndAdminAuth(t *testing.T) {
	h := newHarness(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/api/incidents": 401} {
		res, err := http.Get(h.m.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
		}
	}
	if code := h.api("/api/incidents/INC-99", nil); code != http.StatusNotFound {
		t.Errorf("unknown incident = %d, want 404", code)
	}
	h.cfg.AdminToken = ""
	h.restart()
	if code := h.api("/api/incidents", nil); code != http.StatusNotFound {
		t.Errorf("API without a configured token = %d, want 404", code)
	}
}

// PagerDuty's published envelope samples are accepted by the real server:
// the incident one opens an incident, the service one is ignored with a 2xx.
func TestMain_PublishedSamples_Accepted(t *testing.T) {
	h := newHarness(t)
	files, err := filepath.Glob("../../internal/pager/testdata/envelope.*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found (%v)", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		status, err := h.send.Send(context.Background(), "", body)
		if err != nil || status/100 != 2 {
			t.Errorf("%s: %d %v", filepath.Base(f), status, err)
		}
	}
	h.waitIdle()
	var got apiIncident
	if code := h.api("/api/incidents/PGR0VU2", &got); code != http.StatusOK || got.Severity != "sev1" || got.Title != "A little bump in the road" {
		t.Errorf("sample incident: %d %+v", code, got)
	}
}

func TestMain_BadSignature_401AndCounted(t *testing.T) {
	h := newHarness(t)
	bad := &pagerfake.Sender{URL: h.send.URL, Secrets: []string{"not-the-secret"}}
	status, err := bad.Send(context.Background(), "", h.incidentEvent("incident.triggered", t0, h.incident("PSIG")).JSON())
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("bad signature answered %d %v, want 401", status, err)
	}
	if body := h.metrics(); !strings.Contains(body, "incidentbot_pagerduty_signature_failures_total 1") {
		t.Errorf("signature failure not in metrics")
	}
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 0 {
		t.Errorf("a badly signed delivery opened an incident")
	}
}

// incidentbot backup copies the live database; a server started on the
// copy finds every incident.
func TestBackup_RestoreFindsEveryIncident(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"PB1", "PB2", "PB3"} {
		inc := h.pd.AddIncident(pagerfake.Incident{ID: id, Title: "backup " + id, CreatedAt: t0})
		h.deliver("W-"+id, h.incidentEvent("incident.triggered", t0, inc))
	}
	h.waitIdle()
	file := filepath.Join(t.TempDir(), "backup.db")
	env := map[string]string{"INCIDENTBOT_ADMIN_TOKEN": testAdminToken}
	var out, errb strings.Builder
	if code := run([]string{"backup", file, "--server", h.m.AdminURL()}, func(k string) string { return env[k] }, &out, &errb); code != 0 {
		t.Fatalf("backup exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "3 incidents, consistency check passed") {
		t.Errorf("backup said %q", out.String())
	}
	h.cfg.DB = file
	h.restart()
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 3 {
		t.Errorf("restored server has %d incidents, want 3", len(list.Incidents))
	}
}

// Webhooks missed while the bot was down: at start it opens the PagerDuty
// incident it never heard of and resolves the one PagerDuty resolved.
func TestReconcile_CatchesUpWithPagerDuty(t *testing.T) {
	h := newHarness(t)
	known := h.incident("PKNOWN")
	h.deliver("W1", h.incidentEvent("incident.triggered", t0, known))
	h.waitIdle()
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	// Meanwhile, in PagerDuty:
	known.Status = "resolved"
	h.pd.AddIncident(known)
	h.pd.AddIncident(pagerfake.Incident{ID: "PMISSED", Title: "Queue depth alarm", Urgency: "high", Status: "acknowledged", CreatedAt: t0.Add(time.Hour)})
	h.reconcile = true
	h.start()
	waitFor(t, "reconciliation", func() bool {
		var got apiIncident
		return h.api("/api/incidents/PMISSED", &got) == http.StatusOK && h.timeline("PKNOWN").Status == "resolved"
	})
	missed := h.timeline("PMISSED")
	if missed.Title != "Queue depth alarm" || missed.Status != "acknowledged" || missed.ChannelID == "" && func() bool { h.waitIdle(); return h.timeline("PMISSED").ChannelID == "" }() {
		t.Errorf("missed incident = %+v", missed)
	}
	if k := kinds(h.timeline("PKNOWN")); k[len(k)-1] != "resolved" {
		t.Errorf("known incident timeline = %v", k)
	}
}

// An alert storm: the stakeholder channel gets a digest, not one post per
// page; updates still reach it as thread replies.
func TestAnnounce_StormFoldsIntoADigest(t *testing.T) {
	h := newHarness(t)
	h.digestAfter = 3
	// Long enough for all twelve deliveries on a loaded CI machine, so the
	// count of digests below does not depend on its speed.
	h.digestCollect = 2 * time.Second
	h.restart()
	for i := range 12 {
		id := fmt.Sprintf("PSTORM%02d", i)
		inc := h.pd.AddIncident(pagerfake.Incident{ID: id, Title: "disk full on db-" + fmt.Sprint(i), CreatedAt: t0})
		h.deliver("W-"+id, h.incidentEvent("incident.triggered", t0, inc))
	}
	waitFor(t, "the digest", func() bool {
		ann, _ := h.slack.ChannelByName("incidents")
		for _, m := range h.slack.Messages(ann.ID) {
			if strings.Contains(m.Text, "Alert storm") {
				return true
			}
		}
		return false
	})
	h.waitIdle()
	ann, _ := h.slack.ChannelByName("incidents")
	msgs := h.slack.Messages(ann.ID)
	var single, digests, digested int
	for _, m := range msgs {
		var n int
		switch {
		case strings.Contains(m.Text, "Alert storm"):
			if _, err := fmt.Sscanf(m.Text, "Alert storm: %d incidents", &n); err != nil {
				t.Errorf("digest %q: %v", m.Text, err)
			}
			digests++
			digested += n
		case m.ThreadTS == "":
			single++
		}
	}
	// Every page past the threshold is in exactly one digest.
	if single != 3 || digests < 1 || digests > 3 || digested != 9 {
		t.Errorf("%d single announcements, %d digests of %d incidents; want 3, 1 to 3, 9", single, digests, digested)
	}
}

// A backup onto the running server's own database file is refused: renamed
// over it, it left the server writing to an unlinked file, and every page
// answered after the backup was gone at the next start.
func TestBackup_OntoTheLiveDatabase_IsRefused(t *testing.T) {
	h := newHarness(t)
	inc := h.pd.AddIncident(pagerfake.Incident{ID: "PB1", Title: "before backup", CreatedAt: t0})
	h.deliver("W-PB1", h.incidentEvent("incident.triggered", t0, inc))
	h.waitIdle()
	for _, env := range []map[string]string{
		{"INCIDENTBOT_ADMIN_TOKEN": testAdminToken},                             // the file's lock says it
		{"INCIDENTBOT_ADMIN_TOKEN": testAdminToken, "INCIDENTBOT_DB": h.cfg.DB}, // and so does the setting
	} {
		var out, errb strings.Builder
		if code := run([]string{"backup", h.cfg.DB, "--server", h.m.AdminURL()}, func(k string) string { return env[k] }, &out, &errb); code == 0 || !strings.Contains(errb.String(), "back up to another file") {
			t.Errorf("backup onto the live file: exit %d, %s%s; want it refused", code, out.String(), errb.String())
		}
	}
	inc2 := h.pd.AddIncident(pagerfake.Incident{ID: "PB2", Title: "after backup", CreatedAt: t0})
	h.deliver("W-PB2", h.incidentEvent("incident.triggered", t0, inc2))
	h.waitIdle()
	h.restart()
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 2 {
		t.Errorf("after a restart the server has %d incidents, want 2", len(list.Incidents))
	}
}
