package jira_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/jira"
	"github.com/incidentbot/incidentbot/internal/jira/jirafake"
	"github.com/incidentbot/incidentbot/internal/webhook/webhooktest"
)

const hookSecret = "jira-hook-secret-5e1d"

func post(t *testing.T, h http.Handler, hook jirafake.Webhook) (int, string) {
	t.Helper()
	return webhooktest.Post(t, h, "/webhooks/jira", hook.Body, hook.Header)
}

// An issue of the bot's moved to Done in Jira, reported by the signed
// admin webhook: applied once by its delivery identifier (which Jira's
// retries keep), as the item's issue done; a wrong or missing signature,
// another project, other events and issues not the bot's change nothing.
func TestWebhookHandler_IssueEvents(t *testing.T) {
	c, f := newClient(t)
	is, err := c.Create(context.Background(), item(3))
	if err != nil {
		t.Fatal(err)
	}
	obs := &webhooktest.Observer{}
	h := &jira.WebhookHandler{Secret: hookSecret, Site: f.URL(), Project: "OPS", Observer: obs}
	if err := f.SetStatus(is.Key, "Done"); err != nil {
		t.Fatal(err)
	}
	done, err := f.IssueUpdatedWebhook(is.Key, "To Do", "wh-1", hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`"applied"`, `"duplicate"`} {
		if code, body := post(t, h, done); code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("delivery %d: %d %s, want %s", i+1, code, body, want)
		}
	}
	if len(obs.Calls) != 1 {
		t.Fatalf("%d observations, want 1", len(obs.Calls))
	}
	got := obs.Calls[0]
	if got.Tracker != incidentbot.TrackerJira || got.Key != jira.DeliveryKey("wh-1") || len(got.Issues) != 1 {
		t.Fatalf("observed %+v", got)
	}
	if o := got.Issues[0]; o.Key != is.Key || o.IncidentID != "INC-7" || o.N != 3 || !o.Done || o.Status != "Done" || o.URL != f.URL()+"/browse/"+is.Key || o.UpdatedAt.IsZero() {
		t.Errorf("issue = %+v", o)
	}

	forged, _ := f.IssueUpdatedWebhook(is.Key, "To Do", "wh-2", "another secret")
	unsigned, _ := f.IssueUpdatedWebhook(is.Key, "To Do", "wh-3", "")
	tampered, _ := f.IssueUpdatedWebhook(is.Key, "To Do", "wh-4", hookSecret)
	tampered.Body = bytes.Replace(tampered.Body, []byte(`"Done"`), []byte(`"To Do"`), 1)
	for name, hook := range map[string]jirafake.Webhook{"forged": forged, "unsigned": unsigned, "tampered": tampered} {
		if code, body := post(t, h, hook); code != http.StatusUnauthorized || strings.Contains(body, hookSecret) {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
	other := &jira.WebhookHandler{Secret: hookSecret, Site: f.URL(), Project: "SEC", Observer: obs}
	if code, body := post(t, other, done); code != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Errorf("another project: %d %s", code, body)
	}
	if len(obs.Calls) != 1 {
		t.Errorf("%d observations after refused and ignored deliveries, want 1", len(obs.Calls))
	}

	bad := jirafake.Webhook{Body: []byte(`{"webhookEvent":"jira:issue_updated","issue":`), Header: done.Header.Clone()}
	bad.Header.Set("X-Atlassian-Webhook-Identifier", "wh-5")
	bad.Header.Set("X-Hub-Signature", signature(bad.Body))
	if code, body := post(t, h, bad); code != http.StatusBadRequest || !strings.Contains(body, "malformed") {
		t.Errorf("malformed: %d %s", code, body)
	}
	comment := jirafake.Webhook{Body: []byte(`{"webhookEvent":"comment_created","comment":{"id":"1"}}`), Header: done.Header.Clone()}
	comment.Header.Set("X-Atlassian-Webhook-Identifier", "wh-6")
	comment.Header.Set("X-Hub-Signature", signature(comment.Body))
	if code, body := post(t, h, comment); code != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Errorf("comment event: %d %s", code, body)
	}
	huge := jirafake.Webhook{Body: bytes.Repeat([]byte(" "), jira.MaxWebhookBody+1), Header: done.Header.Clone()}
	if code, _ := post(t, h, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d, want 413", code)
	}
}

func signature(body []byte) string {
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"a":1}`)
	good := signature(body)
	for _, c := range []struct {
		header string
		want   bool
	}{{good, true}, {strings.ToUpper(good[:7]) + good[7:], false}, {"sha1=" + good[7:], false}, {"sha256=zz", false}, {"", false}, {good[:len(good)-2], false}} {
		if got := jira.VerifySignature(c.header, body, hookSecret); got != c.want {
			t.Errorf("VerifySignature(%q) = %v, want %v", c.header, got, c.want)
		}
	}
	if jira.VerifySignature(good, body, "") {
		t.Error("verified with no secret")
	}
}
