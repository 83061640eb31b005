package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/github/githubfake"
	"github.com/incidentbot/incidentbot/internal/jira/jirafake"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
	"github.com/incidentbot/incidentbot/internal/statuspage/statuspagefake"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every secret is known; every path is driven, failures included; no
// secret appears in the logs, the API, the exports, the status site or
// anything posted to Slack.
func TestSecrets_NeverInAnyOutput(t *testing.T) {
	secrets := map[string]string{
		"slack bot token":      "xoxb-SECRET-bot-7f3a9c",
		"slack signing secret": "SECRET-signing-55e1",
		"pagerduty token":      "SECRET-pd-token-c0ffee",
		"webhook secret":       "SECRET-webhook-9b2d",
		"old webhook secret":   "SECRET-old-webhook-1a1a",
		"admin token":          "SECRET-admin-4242",
		"statuspage key":       "SECRET-statuspage-beef",
		"jira api token":       "SECRET-jira-token-d00d",
		"github token":         "ghp_SECRETgithubToken0000000000000000",
	}
	jf, gf := jirafake.New(), githubfake.New()
	t.Cleanup(jf.Close)
	t.Cleanup(gf.Close)
	jf.SetCredentials("bot@example.com", secrets["jira api token"])
	gf.SetToken(secrets["github token"])
	sp := statuspagefake.New(secrets["statuspage key"], "PAGE1")
	t.Cleanup(sp.Close)
	logs := &lockedBuffer{}
	clock := &flowingClock{}
	clock.Set(time.Now().UTC())
	h := newHarnessWith(t, clock)
	h.slack.Token = secrets["slack bot token"]
	h.pd.SetToken(secrets["pagerduty token"])
	h.logs = logs
	h.cfg.SlackBotToken = secrets["slack bot token"]
	h.cfg.SlackSigningSecret = secrets["slack signing secret"]
	h.cfg.PagerDutyAPIToken = secrets["pagerduty token"]
	h.cfg.PagerDutyWebhookSecrets = []string{secrets["old webhook secret"], secrets["webhook secret"]}
	h.cfg.AdminToken = secrets["admin token"]
	h.cfg.StatuspageAPIKey, h.cfg.StatuspagePageID, h.cfg.StatuspageAPIURL = secrets["statuspage key"], "PAGE1", sp.URL()
	h.cfg.StatusDir = filepath.Join(t.TempDir(), "status")
	h.cfg.JiraURL, h.cfg.JiraEmail, h.cfg.JiraAPIToken, h.cfg.JiraProject = jf.URL(), "bot@example.com", secrets["jira api token"], "OPS"
	h.cfg.GitHubToken, h.cfg.GitHubRepository, h.cfg.GitHubAPIURL = secrets["github token"], gf.Repository(), gf.URL()
	h.restart()
	h.send.Secrets = []string{secrets["webhook secret"]}
	ctx := context.Background()

	// PagerDuty: good, badly signed, malformed, oversized, unknown type.
	inc := h.incident("PSECRET")
	h.deliver("W1", h.incidentEvent("incident.triggered", clock.Now(), inc))
	bad := &pagerfake.Sender{URL: h.send.URL, Secrets: []string{"wrong"}}
	// Refusals are the point here: only a delivery that got no answer fails.
	send := func(s *pagerfake.Sender, body []byte) {
		t.Helper()
		if status, err := s.Send(ctx, "", body); err != nil {
			t.Fatalf("webhook %.20q: %d %v", body, status, err)
		}
	}
	send(bad, []byte(`{"event":{}}`))
	send(h.send, []byte(`{"event":`))
	send(h.send, bytes.Repeat([]byte("x"), 2<<20))
	send(h.send, []byte(`{"event":{"id":"E","event_type":"service.updated","data":{}}}`))
	h.waitIdle()
	ch := h.timeline("PSECRET").ChannelID

	// Slack: commands (with response_url), a bad signature, a stale one.
	app := &slackfake.AppClient{BaseURL: h.m.URL(), SigningSecret: secrets["slack signing secret"], Slack: h.slack, Now: clock.Now}
	rURL := h.slack.NewResponseURL()
	// As above, refusals are the point: only a request without an answer fails.
	answered := func(what string, status int, _ []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %d %v", what, status, err)
		}
	}
	for _, text := range []string{"ack", "note checking the pool", "action add a canary <@UALICE> p1", "action done 1", "followups", "severity sev1", "public Checkout errors", "status identified found it", "declare Second one sev2", "frobnicate", "resolve fixed"} {
		status, body, err := app.Command(ctx, slackfake.CommandRequest{Text: text, UserID: "UALICE", ChannelID: ch, ResponseURL: rURL})
		answered("/incident "+text, status, body, err)
	}
	status, body, err := app.Raw(ctx, slackfake.CommandsPath, "application/x-www-form-urlencoded", []byte("text=list"), time.Now(), "v0=deadbeef")
	answered("a badly signed command", status, body, err)
	status, body, err = app.Raw(ctx, slackfake.CommandsPath, "application/x-www-form-urlencoded", []byte("text=list"), time.Now().Add(-time.Hour), "")
	answered("a stale command", status, body, err)

	// Failures of every remote: Slack rejects, PagerDuty and Statuspage too.
	h.slack.Inject("chat.postMessage", slackfake.Fault{Times: 2, Error: "invalid_auth"})
	h.pd.Inject("", "/incidents", pagerfake.Fault{Times: 3, Status: 401})
	sp.Inject("", statuspagefake.Fault{Status: 401, Times: 2})
	jf.Inject("", "", jirafake.Fault{Status: 401, Times: 2})
	gf.Inject("", "", githubfake.Fault{Status: 401, Times: 2})
	status, body, err = app.Command(ctx, slackfake.CommandRequest{Text: "note INC-1 after failures", UserID: "UALICE", ChannelID: ch})
	answered("/incident note", status, body, err)
	status, body, err = app.Command(ctx, slackfake.CommandRequest{Text: "update INC-1 still going", UserID: "UALICE", ChannelID: ch})
	answered("/incident update", status, body, err)
	h.waitIdle()

	// Admin API, with a wrong token too.
	var outputs []string
	for _, path := range []string{"/api/incidents", "/api/incidents/INC-1", "/api/incidents/INC-2", "/api/outbox", "/api/incidents/INC-1/postmortem.md", "/api/incidents/INC-1/postmortem.json", "/status", "/status.json", "/status.atom", "/metrics"} {
		status, b := getWithToken(t, h.m.AdminURL()+path, secrets["admin token"])
		if status != http.StatusOK {
			t.Errorf("GET %s: %d", path, status)
		}
		outputs = append(outputs, string(b))
	}
	_, b := getWithToken(t, h.m.AdminURL()+"/api/incidents", "wrong")
	outputs = append(outputs, string(b))
	// Files written: postmortem exports, the status site.
	for _, dir := range []string{h.cfg.ExportDir, h.cfg.StatusDir} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			outputs = append(outputs, string(b))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Everything posted to Slack and Statuspage.
	for _, c := range h.slack.Channels() {
		for _, m := range h.slack.Messages(c.ID) {
			outputs = append(outputs, m.Text, m.Blocks)
		}
	}
	for _, r := range h.slack.AllResponses() {
		outputs = append(outputs, r.Body)
	}
	for _, i := range sp.Incidents() {
		for _, u := range i.Updates {
			outputs = append(outputs, u.Body)
		}
	}
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, logs.String())
	if !strings.Contains(logs.String(), "PAGERDUTY WEBHOOK REFUSED") || !strings.Contains(logs.String(), "slack request refused") {
		t.Fatal("the failure paths were not driven (no refusal in the logs)")
	}
	all := strings.Join(outputs, "\n")
	rURLSecret := strings.TrimPrefix(rURL, "http://")
	for name, secret := range secrets {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("the %s appears in the output: …%s…", name, all[max(0, i-200):min(len(all), i+len(secret)+50)])
		}
	}
	if strings.Contains(all, rURLSecret[strings.Index(rURLSecret, "/"):]) {
		t.Error("a response_url appears in the output")
	}
}
