package jira

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/webhook"
)

// MaxWebhookBody is the largest webhook body read; an issue event with
// its changelog is a few kilobytes.
const MaxWebhookBody = 1 << 20

// WebhookHandler serves POST /webhooks/jira: a Jira Cloud admin webhook
// (System → WebHooks, or POST /rest/webhooks/1.0/webhook) saved with a
// secret, so that Jira signs each delivery (X-Hub-Signature: "sha256=" and
// the hex HMAC-SHA256 of the body). An issue event of the bot's (its labels
// name an incident and an item, in JIRA_PROJECT) is applied once by its
// X-Atlassian-Webhook-Identifier, which Jira keeps across retries, before
// the 200: an issue moved into or out of the done status category makes
// the item done or open, as the poll would a minute later. Other events
// and issues are answered 200 and change nothing.
type WebhookHandler struct {
	// Secret is the webhook's secret (JIRA_WEBHOOK_SECRET).
	Secret string
	// Site is JIRA_URL, for the issues' links; Project is JIRA_PROJECT:
	// issues of other projects are not applied.
	Site, Project string
	Observer      incidentbot.TrackerObserver
	Logger        *slog.Logger
}

// DeliveryKey is the dedupe key of a Jira webhook delivery.
func DeliveryKey(id string) string { return "jira-delivery:" + id }

// VerifySignature reports whether header (X-Hub-Signature) is the
// "sha256=" HMAC-SHA256 of body under secret.
func VerifySignature(header string, body []byte, secret string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// signer names what signs Jira's deliveries.
var signer = webhook.Signer{Service: "JIRA", Setting: "JIRA_WEBHOOK_SECRET", Header: "X-Hub-Signature", MissingHint: "was the webhook saved with a secret?"}

// webhookEvent is what the bot reads of a Jira webhook's body.
type webhookEvent struct {
	WebhookEvent string `json:"webhookEvent"`
	Issue        *issue `json:"issue"`
}

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	body, ok := webhook.ReadBody(w, r, MaxWebhookBody)
	if !ok {
		return
	}
	delivery := r.Header.Get("X-Atlassian-Webhook-Identifier")
	sig := r.Header.Get("X-Hub-Signature")
	if !VerifySignature(sig, body, h.Secret) {
		webhook.RefuseSignature(w, r, log, signer, sig, delivery)
		return
	}
	if !webhook.DeliveryID(w, delivery, "X-Atlassian-Webhook-Identifier") {
		return
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		log.Warn("jira webhook: malformed body", "err", err, "delivery", incidentbot.Clip(delivery))
		webhook.WriteJSON(w, http.StatusBadRequest, "error", "malformed webhook body: "+err.Error())
		return
	}
	// Only updates: a created issue is the bot's own create, and a
	// deleted one says nothing about the item's work.
	if ev.WebhookEvent != "jira:issue_updated" || ev.Issue == nil {
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored")
		return
	}
	if !strings.HasPrefix(ev.Issue.Key, h.Project+"-") {
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored") // another project's issue
		return
	}
	is := trackedIssue(h.Site, *ev.Issue)
	if is.IncidentID == "" || ev.Issue.Fields.Status == nil {
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored") // not an issue of the bot's, or no status to read
		return
	}
	out, changed, err := h.Observer.ObserveTracker(r.Context(), incidentbot.TrackerJira, DeliveryKey(delivery), []incidentbot.TrackerIssue{is})
	if err != nil {
		log.Error("jira webhook: could not record the delivery; Jira will retry", "err", err, "delivery", incidentbot.Clip(delivery))
		webhook.WriteJSON(w, http.StatusServiceUnavailable, "error", "could not record the delivery; retry")
		return
	}
	if changed > 0 {
		log.Info("jira webhook: action item changed in Jira", "incident", is.IncidentID, "item", is.N, "issue", is.Key, "status", is.Status)
	}
	webhook.WriteJSON(w, http.StatusOK, "status", string(out))
}
