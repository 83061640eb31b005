package github_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/github"
	"github.com/incidentbot/incidentbot/internal/github/githubfake"
	"github.com/incidentbot/incidentbot/internal/webhook/webhooktest"
)

const hookSecret = "whsec-test-7f3a"

func post(t *testing.T, h http.Handler, hook githubfake.Webhook) (int, string) {
	t.Helper()
	return webhooktest.Post(t, h, "/webhooks/github", hook.Body, hook.Header)
}

// An issue of the bot's closed on GitHub, reported by the repository's
// signed webhook: applied once by its delivery ID, as the item's issue
// done; a wrong or missing signature, a ping, another repository and
// issues not the bot's change nothing.
func TestWebhookHandler_IssuesEvents(t *testing.T) {
	c, f := newClient(t)
	ctx := context.Background()
	if _, err := c.Create(ctx, item(2)); err != nil {
		t.Fatal(err)
	}
	obs := &webhooktest.Observer{}
	h := &github.WebhookHandler{Secret: hookSecret, Repository: f.Repository(), Observer: obs}

	if err := f.CloseIssue(1, "completed"); err != nil {
		t.Fatal(err)
	}
	closed, err := f.IssuesWebhook("closed", 1, "d-1", hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, h, closed); code != http.StatusOK || !strings.Contains(body, `"applied"`) {
		t.Fatalf("closed: %d %s", code, body)
	}
	if len(obs.Calls) != 1 {
		t.Fatalf("%d observations, want 1", len(obs.Calls))
	}
	got := obs.Calls[0]
	if got.Tracker != incidentbot.TrackerGitHub || got.Key != github.DeliveryKey("d-1") || len(got.Issues) != 1 {
		t.Fatalf("observed %+v", got)
	}
	if is := got.Issues[0]; is.Key != "#1" || is.IncidentID != "INC-7" || is.N != 2 || !is.Done || is.Status != "closed" || is.UpdatedAt.IsZero() {
		t.Errorf("issue = %+v", is)
	}
	// GitHub's redelivery of the same delivery: one observation.
	if code, body := post(t, h, closed); code != http.StatusOK || !strings.Contains(body, `"duplicate"`) {
		t.Errorf("redelivery: %d %s", code, body)
	}

	reopened, _ := f.IssuesWebhook("reopened", 1, "d-2", hookSecret)
	forged, _ := f.IssuesWebhook("reopened", 1, "d-3", "another secret")
	unsigned, _ := f.IssuesWebhook("reopened", 1, "d-4", "")
	tampered, _ := f.IssuesWebhook("reopened", 1, "d-5", hookSecret)
	tampered.Body = bytes.Replace(tampered.Body, []byte(`"reopened"`), []byte(`"closed"`), 1)
	for name, c := range map[string]struct {
		hook githubfake.Webhook
		code int
	}{"forged": {forged, 401}, "unsigned": {unsigned, 401}, "tampered": {tampered, 401}} {
		if code, body := post(t, h, c.hook); code != c.code {
			t.Errorf("%s: %d %s, want %d", name, code, body, c.code)
		}
	}
	if len(obs.Calls) != 1 {
		t.Fatalf("%d observations after refused deliveries, want 1", len(obs.Calls))
	}
	if err := f.ReopenIssue(1); err != nil {
		t.Fatal(err)
	}
	reopened, _ = f.IssuesWebhook("reopened", 1, "d-2", hookSecret)
	if code, _ := post(t, h, reopened); code != http.StatusOK || len(obs.Calls) != 2 || obs.Calls[1].Issues[0].Done {
		t.Errorf("reopened: %d, observations %+v", code, obs.Calls)
	}

	// Nothing to do: a ping, another repository, an issue not the bot's.
	ping, _ := f.IssuesWebhook("closed", 1, "d-6", hookSecret)
	ping.Header.Set("X-GitHub-Event", "ping")
	other := &github.WebhookHandler{Secret: hookSecret, Repository: "acme/other", Observer: obs}
	otherRepo, _ := f.IssuesWebhook("closed", 1, "d-7", hookSecret)
	for name, c := range map[string]struct {
		h    http.Handler
		hook githubfake.Webhook
	}{"ping": {h, ping}, "another repository": {other, otherRepo}} {
		if code, body := post(t, c.h, c.hook); code != http.StatusOK || !strings.Contains(body, "ignored") {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if len(obs.Calls) != 2 {
		t.Errorf("%d observations, want 2", len(obs.Calls))
	}

	// Malformed JSON, signed: 400 with a reason. A body over the limit: 413.
	bad := githubfake.Webhook{Body: []byte(`{"action":"closed","issue":`), Header: closed.Header.Clone()}
	bad.Header.Set("X-GitHub-Delivery", "d-8")
	bad.Header.Set("X-Hub-Signature-256", sign(bad.Body))
	if code, body := post(t, h, bad); code != http.StatusBadRequest || !strings.Contains(body, "malformed") {
		t.Errorf("malformed: %d %s", code, body)
	}
	huge := githubfake.Webhook{Body: bytes.Repeat([]byte(" "), github.MaxWebhookBody+1), Header: closed.Header.Clone()}
	if code, _ := post(t, h, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d, want 413", code)
	}
	var e map[string]string
	_, body := post(t, h, forged)
	if err := json.Unmarshal([]byte(body), &e); err != nil || strings.Contains(body, hookSecret) {
		t.Errorf("refusal body %q", body)
	}
}

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
