package github

import (
	"log/slog"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v75/github"
	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/webhook"
)

// MaxWebhookBody is the largest webhook body read (GitHub caps its own
// payloads at 25 MB; an issues event is a few kilobytes).
const MaxWebhookBody = 1 << 20

// WebhookHandler serves POST /webhooks/github: a repository webhook's
// "issues" events, signed with its secret (X-Hub-Signature-256, HMAC-SHA256
// of the body), each applied once by its X-GitHub-Delivery before the 2xx.
// An issue of the bot's (its labels name an incident and an item) closed
// or reopened makes the item done or open, as the poll would a minute
// later. Other events ("ping" when the webhook is made) are answered 200
// and change nothing; so are issues of another repository or not the
// bot's.
type WebhookHandler struct {
	// Secret is the webhook's secret (GITHUB_WEBHOOK_SECRET).
	Secret string
	// Repository is GITHUB_REPOSITORY (owner/name): events of another
	// repository are not applied.
	Repository string
	Observer   incidentbot.TrackerObserver
	Logger     *slog.Logger
}

// signer names what signs GitHub's deliveries.
var signer = webhook.Signer{Service: "GITHUB", Setting: "GITHUB_WEBHOOK_SECRET", Header: gh.SHA256SignatureHeader, MissingHint: "is the webhook's secret set?"}

// DeliveryKey is the dedupe key of a GitHub webhook delivery.
func DeliveryKey(id string) string { return "github-delivery:" + id }

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	body, ok := webhook.ReadBody(w, r, MaxWebhookBody)
	if !ok {
		return
	}
	delivery := gh.DeliveryID(r)
	sig := r.Header.Get(gh.SHA256SignatureHeader)
	if h.Secret == "" || sig == "" || gh.ValidateSignature(sig, body, []byte(h.Secret)) != nil {
		webhook.RefuseSignature(w, r, log, signer, sig, delivery)
		return
	}
	if !webhook.DeliveryID(w, delivery, "X-GitHub-Delivery") {
		return
	}
	event := gh.WebHookType(r)
	if event != "issues" {
		// "ping" (the webhook was made) and any event the webhook was set
		// to send besides issues: nothing to do.
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored")
		return
	}
	parsed, err := gh.ParseWebHook(event, body)
	if err != nil {
		log.Warn("github webhook: malformed body", "err", err, "delivery", incidentbot.Clip(delivery))
		webhook.WriteJSON(w, http.StatusBadRequest, "error", "malformed issues event: "+err.Error())
		return
	}
	ev, ok := parsed.(*gh.IssuesEvent)
	if !ok || ev.Issue == nil {
		webhook.WriteJSON(w, http.StatusBadRequest, "error", "issues event without an issue")
		return
	}
	if repo := ev.GetRepo().GetFullName(); !strings.EqualFold(repo, h.Repository) {
		log.Warn("github webhook: an event of another repository ignored", "repository", incidentbot.Clip(repo), "want", h.Repository, "delivery", incidentbot.Clip(delivery))
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored")
		return
	}
	switch ev.GetAction() {
	case "closed", "reopened", "edited", "labeled":
	default:
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored")
		return
	}
	is := trackedIssue(ev.Issue)
	if is.IncidentID == "" {
		webhook.WriteJSON(w, http.StatusOK, "status", "ignored") // not an issue of the bot's
		return
	}
	out, changed, err := h.Observer.ObserveTracker(r.Context(), incidentbot.TrackerGitHub, DeliveryKey(delivery), []incidentbot.TrackerIssue{is})
	if err != nil {
		log.Error("github webhook: could not record the delivery; GitHub does not retry, the next poll will see the change", "err", err, "delivery", incidentbot.Clip(delivery))
		webhook.WriteJSON(w, http.StatusServiceUnavailable, "error", "could not record the delivery")
		return
	}
	if changed > 0 {
		log.Info("github webhook: action item changed in GitHub", "incident", is.IncidentID, "item", is.N, "issue", is.Key, "action", ev.GetAction())
	}
	webhook.WriteJSON(w, http.StatusOK, "status", string(out))
}
