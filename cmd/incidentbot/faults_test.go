package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// A damaged database file stops the server at start with exit code 1 and
// one line that says what is wrong and how to restore (it used to die with
// SIGBUS and a runtime dump, exit code 2, or serve an empty file as new).
func TestServe_DamagedDatabase_ExitsOneWithOneLine(t *testing.T) {
	for _, c := range []struct {
		name, want string
		damage     func(path string) error
	}{
		{"empty", "is empty (0 bytes)", func(p string) error { return os.WriteFile(p, nil, 0o600) }},
		{"not a database", "not an incidentbot database", func(p string) error {
			return os.WriteFile(p, bytes.Repeat([]byte("not a database\n"), 1000), 0o600)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "incidentbot.db")
			if err := c.damage(path); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{
				"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_WEBHOOK_SECRETS": "w",
				"INCIDENTBOT_DB": path, "INCIDENTBOT_ADDR": "127.0.0.1:0",
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"serve"}, func(k string) string { return env[k] }, &stdout, &stderr)
			out := strings.TrimSpace(stderr.String())
			if code != 1 || strings.Count(out, "\n") != 0 || !strings.Contains(out, c.want) || !strings.Contains(out, "incidentbot backup") {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line saying %q and how to restore", code, out, c.want)
			}
		})
	}
}

// Readiness means "can durably accept deliveries": not with the disk all
// but full, even while a small heartbeat still fits.
func TestReadyz_BelowTheFreeSpaceFloor_IsNotReady(t *testing.T) {
	h := newHarness(t)
	get := func() int {
		res, err := http.Get(h.m.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("/readyz = %d with room on the disk", code)
	}
	if !strings.Contains(h.metrics(), "incidentbot_database_filesystem_free_bytes ") {
		t.Error("/metrics has no incidentbot_database_filesystem_free_bytes gauge")
	}
	h.m.MinFreeBytes = 1 << 62 // more than any disk has
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d below the floor, want 503", code)
	}
}

// Identifiers far longer than PagerDuty's or Slack's are malformed (400
// with a short reason), not a failure to record (503, retried for 48 h);
// logs quote a bounded prefix.
func TestWebhooks_OversizedIdentifiers_Are400(t *testing.T) {
	logs := &lockedBuffer{}
	h := newHarness(t)
	h.logs = logs
	h.restart()
	inc := h.incident("PBIG")
	long := strings.Repeat("w", 60<<10)
	status, err := h.send.Send(context.Background(), long, h.incidentEvent("incident.triggered", t0, inc).JSON())
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadRequest {
		t.Errorf("a 60 KB X-Webhook-Id: %d, want 400", status)
	}
	ev := h.incidentEvent("incident.triggered", t0, inc)
	ev.ID = strings.Repeat("e", 500<<10)
	if status, err = h.send.Send(context.Background(), "W-1", ev.JSON()); err != nil || status != http.StatusBadRequest {
		t.Errorf("a 500 KB event.id: %d, %v; want 400", status, err)
	}
	event := slackfake.MessageDeletedEvent("C123", "1700000000.000100")
	if status, _, err := h.app().Event(context.Background(), strings.Repeat("E", 40<<10), event, 0); err != nil || status != http.StatusBadRequest {
		t.Errorf("a 40 KB Slack event_id: %d, %v; want 400", status, err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 2000 {
			t.Errorf("a log line of %d bytes quotes the input whole: %.200s…", len(line), line)
		}
	}
}

// A signed slash command replayed inside Slack's 5-minute window is
// applied once, and the replay gets the first answer, also when the replay
// spells the signature's hex digits in upper case (it verifies all the
// same; the replay's key was the header's text, so it was applied again).
func TestCommands_ReplayedSignedRequest_AppliesOnce(t *testing.T) {
	h := newHarness(t)
	_, ch := h.paged("PREPLAY")
	form := url.Values{"command": {"/incident"}, "text": {"action Alert on pool saturation"}, "user_id": {"UALICE"},
		"channel_id": {ch}, "team_id": {slackfake.DefaultTeamID}, "response_url": {h.slack.NewResponseURL()}}
	body := []byte(form.Encode())
	ts := time.Now()
	_, sig := slackfake.SignRequest(h.cfg.SlackSigningSecret, ts, body)
	var answers []string
	for _, sig := range []string{"", "", "v0=" + strings.ToUpper(strings.TrimPrefix(sig, "v0="))} {
		status, resp, err := h.app().Raw(context.Background(), "/slack/commands", "application/x-www-form-urlencoded", body, ts, sig)
		if err != nil || status != http.StatusOK {
			t.Fatalf("command: %d %v", status, err)
		}
		answers = append(answers, string(resp))
	}
	for i, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("replay %d was answered %q, the first %q; want the same", i+1, a, answers[0])
		}
	}
	got := h.timeline("INC-1")
	n := 0
	for _, e := range got.Timeline {
		if e.Kind == "action_item" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d action items after a replay, want 1", n)
	}
}

// A button of an incident the database does not know (an old message after
// a restore) is answered, and nothing is left retrying.
func TestInteractions_ButtonOfAnUnknownIncident_IsAnsweredAndLeavesNothing(t *testing.T) {
	h := newHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	payload := slackfake.BlockActionPayload("UALICE", general.ID, "1700000000.000100", "incident_ack", "INC-41", h.slack.NewTriggerID())
	respURL := h.slack.NewResponseURL()
	payload["response_url"] = respURL
	if status, _, err := h.app().Interaction(context.Background(), payload); err != nil || status != http.StatusOK {
		t.Fatalf("interaction: %d %v", status, err)
	}
	h.waitIdle()
	resp := h.slack.Responses(respURL)
	if len(resp) != 1 || !strings.Contains(resp[0].Text, "no incident INC-41") {
		t.Errorf("responses %+v, want one saying there is no incident INC-41", resp)
	}
	var outbox struct {
		Pending     int               `json:"pending"`
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	h.api("/api/outbox", &outbox)
	if outbox.Pending != 0 || len(outbox.DeadLetters) != 0 {
		t.Errorf("outbox: %d pending, dead letters %s; want nothing left", outbox.Pending, outbox.DeadLetters)
	}
}

// The admin token's scheme is case-insensitive (RFC 9110).
func TestAPI_LowercaseBearer_IsAccepted(t *testing.T) {
	h := newHarness(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		req, err := http.NewRequest(http.MethodGet, h.m.AdminURL()+"/api/incidents", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", scheme+" "+testAdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%q: %d, want 200", scheme, res.StatusCode)
		}
	}
}
