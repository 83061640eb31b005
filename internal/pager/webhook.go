package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxBody is the largest webhook body accepted (PagerDuty guarantees
// payloads up to 55 KB; anything near this cap is not PagerDuty).
const MaxBody = 1 << 20

// Ingester is what the webhook handler needs from the lifecycle: record a
// delivery durably and say what became of it.
type Ingester interface {
	IngestPagerDuty(ctx context.Context, webhookID string, ev incidentbot.PagerEvent) (incidentbot.Outcome, error)
}

// IngestFunc adapts a function to Ingester.
type IngestFunc func(ctx context.Context, webhookID string, ev incidentbot.PagerEvent) (incidentbot.Outcome, error)

// IngestPagerDuty calls f.
func (f IngestFunc) IngestPagerDuty(ctx context.Context, webhookID string, ev incidentbot.PagerEvent) (incidentbot.Outcome, error) {
	return f(ctx, webhookID, ev)
}

// WebhookHandler serves POST /webhooks/pagerduty.
//
// It answers 401 only to a missing or bad signature (PagerDuty disables a
// subscription after three dropped deliveries in a row, so that answer is
// logged loudly), 400 to a malformed body, 413 to a body over MaxBody, 503
// when the delivery could not be recorded (PagerDuty retries 5xx), and 2xx
// once the delivery is durable, deduplicated, or of a type the bot ignores.
type WebhookHandler struct {
	secrets []string
	ingest  Ingester
	log     *slog.Logger
	metrics *webhookMetrics
}

type webhookMetrics struct {
	deliveries *prometheus.CounterVec
	badSigs    prometheus.Counter
}

// NewWebhookHandler returns a handler that accepts deliveries signed with
// any of secrets. reg may be nil (no metrics); log may be nil.
func NewWebhookHandler(secrets []string, ingest Ingester, log *slog.Logger, reg prometheus.Registerer) *WebhookHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &webhookMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentbot_pagerduty_deliveries_total",
			Help: "PagerDuty webhook deliveries by event type and result (applied, duplicate, ignored, pending, bad_signature, bad_request, too_large, error).",
		}, []string{"type", "result"}),
		badSigs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentbot_pagerduty_signature_failures_total",
			Help: "PagerDuty deliveries refused for a missing or bad signature. Three in a row disable the subscription for 24 h.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.badSigs)
	}
	return &WebhookHandler{secrets: secrets, ingest: ingest, log: log, metrics: m}
}

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, "error", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.metrics.deliveries.WithLabelValues("", "too_large").Inc()
			h.log.Warn("pagerduty webhook: body over the limit refused", "limit_bytes", MaxBody, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusRequestEntityTooLarge, "error", fmt.Sprintf("body over %d bytes", MaxBody))
			return
		}
		writeJSON(w, http.StatusBadRequest, "error", "could not read body")
		return
	}
	if !VerifySignature(r.Header.Get("X-PagerDuty-Signature"), body, h.secrets) {
		h.metrics.badSigs.Inc()
		h.metrics.deliveries.WithLabelValues("", "bad_signature").Inc()
		reason := "signature does not match any configured secret"
		if r.Header.Get("X-PagerDuty-Signature") == "" {
			reason = "no X-PagerDuty-Signature header"
		}
		h.log.Error("PAGERDUTY WEBHOOK REFUSED: bad signature; check PAGERDUTY_WEBHOOK_SECRETS. PagerDuty disables a subscription after 3 dropped deliveries in a row",
			"reason", reason, "webhook_id", incidentbot.Clip(r.Header.Get("X-Webhook-Id")), "subscription", incidentbot.Clip(r.Header.Get("X-Webhook-Subscription")), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusUnauthorized, "error", "invalid signature")
		return
	}
	ev, err := DecodeWebhook(body)
	if err != nil {
		h.metrics.deliveries.WithLabelValues("", "bad_request").Inc()
		h.log.Warn("pagerduty webhook: malformed body", "err", err, "webhook_id", incidentbot.Clip(r.Header.Get("X-Webhook-Id")))
		writeJSON(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	typ := metricType(ev.Type)
	out, err := h.ingest.IngestPagerDuty(r.Context(), r.Header.Get("X-Webhook-Id"), ev)
	if err != nil {
		if incidentbot.ErrorCode(err) == incidentbot.EINVALID {
			h.metrics.deliveries.WithLabelValues(typ, "bad_request").Inc()
			h.log.Warn("pagerduty webhook: delivery refused as malformed", "reason", incidentbot.ErrorMessage(err), "webhook_id", incidentbot.Clip(r.Header.Get("X-Webhook-Id")))
			writeJSON(w, http.StatusBadRequest, "error", incidentbot.ErrorMessage(err))
			return
		}
		h.metrics.deliveries.WithLabelValues(typ, "error").Inc()
		h.log.Error("pagerduty webhook: could not record delivery; PagerDuty will retry", "err", err, "event_id", ev.ID, "type", ev.Type)
		writeJSON(w, http.StatusServiceUnavailable, "error", "could not record the delivery; retry")
		return
	}
	h.metrics.deliveries.WithLabelValues(typ, string(out)).Inc()
	// The lifecycle logs the outcome with the incident's ID.
	status := http.StatusAccepted
	if out != incidentbot.OutcomeApplied && out != incidentbot.OutcomePending {
		status = http.StatusOK
	}
	writeJSON(w, status, "status", string(out))
}

// metricType bounds the label's values to the handled types.
func metricType(t string) string {
	if incidentbot.HandlesPagerEvent(t) {
		return t
	}
	return "other"
}

func writeJSON(w http.ResponseWriter, status int, key, value string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{key: value})
	w.Write(append(b, '\n'))
}

// envelope is PagerDuty's v3 webhook envelope. go-pagerduty has no v3
// types (its WebhookPayload is the retired v2 format).
// https://developer.pagerduty.com/docs/webhooks/v3-overview/
type envelope struct {
	Event *struct {
		ID           string          `json:"id"`
		EventType    string          `json:"event_type"`
		ResourceType string          `json:"resource_type"`
		OccurredAt   string          `json:"occurred_at"`
		Agent        *reference      `json:"agent"`
		Data         json.RawMessage `json:"data"`
	} `json:"event"`
}

type reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

// incidentData is the v3 "incident" data object. Fields the bot does not
// use (conference_bridge, whose number is a string in the docs and a
// number elsewhere) are not decoded, so their type cannot fail a delivery.
type incidentData struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	HTMLURL   string      `json:"html_url"`
	Number    json.Number `json:"number"`
	Status    string      `json:"status"`
	Title     string      `json:"title"`
	CreatedAt string      `json:"created_at"`
	Urgency   string      `json:"urgency"`
	Service   *reference  `json:"service"`
	Assignees []reference `json:"assignees"`
	Priority  *reference  `json:"priority"`
	// ConferenceBridge is kept raw: its number is a string in the docs and
	// a number elsewhere, and neither may fail a delivery.
	ConferenceBridge json.RawMessage `json:"conference_bridge"`
}

// conferenceBridge reads a conference_bridge object leniently: a number
// as a string or a JSON number, a URL only when it is a string; anything
// else (null, another shape) is no bridge.
func conferenceBridge(raw json.RawMessage) (url, number string) {
	var b struct {
		URL    json.RawMessage `json:"conference_url"`
		Number json.RawMessage `json:"conference_number"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &b) != nil {
		return "", ""
	}
	str := func(v json.RawMessage) string {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String()
		}
		return ""
	}
	url, number = str(b.URL), str(b.Number)
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		url = "" // shown as a link: only a web address
	}
	return url, number
}

// referenceData is the shape of data objects that refer to an incident:
// incident_note, incident_responder, incident_status_update, and others.
type referenceData struct {
	Type     string     `json:"type"`
	Incident *reference `json:"incident"`
	Content  string     `json:"content"` // incident_note
	Message  string     `json:"message"` // incident_responder, incident_status_update
	User     *reference `json:"user"`    // incident_responder
}

// DecodeWebhook parses a v3 webhook body into a domain event. It fails on
// malformed JSON, a missing event ID or type, or, for event types the bot
// handles, data that names no incident. Unknown types decode to an event
// with only ID, Type and OccurredAt set.
func DecodeWebhook(body []byte) (incidentbot.PagerEvent, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return incidentbot.PagerEvent{}, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return incidentbot.PagerEvent{}, errors.New("malformed JSON: trailing data after the envelope")
	}
	e := env.Event
	if e == nil {
		return incidentbot.PagerEvent{}, errors.New(`not a v3 webhook: no "event" object`)
	}
	if e.ID == "" || e.EventType == "" {
		return incidentbot.PagerEvent{}, errors.New("event.id and event.event_type are required")
	}
	ev := incidentbot.PagerEvent{ID: e.ID, Type: e.EventType}
	if !incidentbot.HandlesPagerEvent(e.EventType) {
		// Ignored whatever else it carries: a 4xx here would count toward
		// PagerDuty disabling the subscription.
		return ev, nil
	}
	if e.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
		if err != nil {
			return incidentbot.PagerEvent{}, fmt.Errorf("event.occurred_at %q is not an RFC 3339 time", incidentbot.Clip(e.OccurredAt))
		}
		ev.OccurredAt = t.UTC()
	}
	if e.Agent != nil {
		ev.Agent = incidentbot.Person{ID: e.Agent.ID, Name: e.Agent.Summary}
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return incidentbot.PagerEvent{}, fmt.Errorf("%s event has no data", incidentbot.Clip(e.EventType))
	}
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(e.Data, &probe); err != nil {
		return incidentbot.PagerEvent{}, fmt.Errorf("event.data: %w", err)
	}
	if probe.Type == "incident" {
		var d incidentData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return incidentbot.PagerEvent{}, fmt.Errorf("event.data (incident): %w", err)
		}
		if d.ID == "" {
			return incidentbot.PagerEvent{}, errors.New("event.data.id (the incident) is required")
		}
		pi, err := d.domain()
		if err != nil {
			return incidentbot.PagerEvent{}, err
		}
		ev.IncidentID, ev.Incident = d.ID, pi
		return ev, nil
	}
	var d referenceData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return incidentbot.PagerEvent{}, fmt.Errorf("event.data (%s): %w", incidentbot.Clip(probe.Type), err)
	}
	if d.Incident == nil || d.Incident.ID == "" {
		return incidentbot.PagerEvent{}, fmt.Errorf("event.data (%s) names no incident", incidentbot.Clip(probe.Type))
	}
	ev.IncidentID = d.Incident.ID
	ev.Text = strings.TrimSpace(d.Content + d.Message)
	if d.User != nil && d.User.ID != "" {
		ev.Responder = &incidentbot.Person{ID: d.User.ID, Name: d.User.Summary}
	}
	return ev, nil
}

func (d incidentData) domain() (*incidentbot.PagerIncident, error) {
	pi := &incidentbot.PagerIncident{
		ID: d.ID, Title: d.Title, Status: d.Status, Urgency: d.Urgency, URL: d.HTMLURL,
	}
	if d.Number != "" {
		n, err := strconv.Atoi(string(d.Number))
		if err != nil {
			return nil, fmt.Errorf("event.data.number %q is not an integer", incidentbot.Clip(string(d.Number)))
		}
		pi.Number = n
	}
	if d.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, d.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("event.data.created_at %q is not an RFC 3339 time", incidentbot.Clip(d.CreatedAt))
		}
		pi.CreatedAt = t.UTC()
	}
	if d.Service != nil {
		pi.ServiceID, pi.ServiceName = d.Service.ID, d.Service.Summary
	}
	if d.Priority != nil {
		pi.Priority = d.Priority.Summary
	}
	for _, a := range d.Assignees {
		pi.Assignees = append(pi.Assignees, incidentbot.Person{ID: a.ID, Name: a.Summary})
	}
	pi.ConferenceURL, pi.ConferenceNumber = conferenceBridge(d.ConferenceBridge)
	return pi, nil
}
