package pagerfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sign returns the X-PagerDuty-Signature header value for body: one
// "v1=<hex HMAC-SHA256 of body>" per secret, comma-separated without spaces,
// as PagerDuty sends while a subscription's secret rotates (go-pagerduty's
// webhookv3.VerifySignature does not trim spaces). No secrets give "".
func Sign(body []byte, secrets ...string) string {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		sigs = append(sigs, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, ",")
}

// Ref is a v3 reference object (user_reference, incident_reference,
// service_reference...). All five fields are always rendered, as in
// PagerDuty's samples.
type Ref struct {
	// HTMLURL is the object's web page.
	HTMLURL string `json:"html_url"`
	// ID is the object's ID.
	ID string `json:"id"`
	// Self is the object's REST API URL.
	Self string `json:"self"`
	// Summary is the object's name (a user's name, an incident's title).
	Summary string `json:"summary"`
	// Type is the reference type, such as "user_reference".
	Type string `json:"type"`
}

// UserRef returns the user_reference of a user, summarised by name, with the
// fake's URLs; use it as an Event's Agent.
func UserRef(id, name string) Ref {
	return Ref{HTMLURL: webURL + "/users/" + id, ID: id, Self: apiURL + "/users/" + id, Summary: name, Type: "user_reference"}
}

// IncidentRef returns the incident_reference of an incident, summarised by
// its title, with the fake's URLs.
func IncidentRef(id, title string) Ref {
	return Ref{HTMLURL: webURL + "/incidents/" + id, ID: id, Self: apiURL + "/incidents/" + id, Summary: title, Type: "incident_reference"}
}

// ServiceRef returns the service_reference of a service, summarised by its
// name, with the fake's URLs.
func ServiceRef(id, name string) Ref {
	return Ref{HTMLURL: webURL + "/services/" + id, ID: id, Self: apiURL + "/services/" + id, Summary: name, Type: "service_reference"}
}

func escalationPolicyRef(id, name string) Ref {
	return Ref{HTMLURL: webURL + "/escalation_policies/" + id, ID: id, Self: apiURL + "/escalation_policies/" + id, Summary: name, Type: "escalation_policy_reference"}
}

// Event is a v3 webhook event, rendered by JSON as PagerDuty's envelope
// {"event":{...}}.
type Event struct {
	// ID is event.id; "" gets a fresh random UUID on every JSON call.
	ID string
	// Type is event.event_type, such as "incident.triggered"; the part before
	// the first dot is event.resource_type.
	Type string
	// OccurredAt is event.occurred_at; zero means now.
	OccurredAt time.Time
	// Agent is who caused the event (a user_reference, or a
	// service_reference for a triggered incident); nil renders null.
	Agent *Ref
	// Client is event.client.name; "" means "PagerDuty" when Agent is set
	// and a null client otherwise, as in PagerDuty's samples.
	Client string
	// Data is event.data, such as IncidentData's or NoteData's result.
	Data any
}

type envelopeJSON struct {
	Event eventJSON `json:"event"`
}

type eventJSON struct {
	ID           string      `json:"id"`
	EventType    string      `json:"event_type"`
	ResourceType string      `json:"resource_type"`
	OccurredAt   string      `json:"occurred_at"`
	Agent        *Ref        `json:"agent"`
	Client       *clientJSON `json:"client"`
	Data         any         `json:"data"`
}

type clientJSON struct {
	Name string `json:"name"`
}

// JSON renders the event in PagerDuty's v3 envelope, with occurred_at in
// RFC 3339 UTC with milliseconds. It panics if Data cannot be marshalled to
// JSON, which is a programming error.
func (e Event) JSON() []byte {
	id := e.ID
	if id == "" {
		id = newUUID()
	}
	at := e.OccurredAt
	if at.IsZero() {
		at = time.Now()
	}
	resource, _, _ := strings.Cut(e.Type, ".")
	var client *clientJSON
	switch {
	case e.Client != "":
		client = &clientJSON{Name: e.Client}
	case e.Agent != nil:
		client = &clientJSON{Name: "PagerDuty"}
	}
	b, err := json.Marshal(envelopeJSON{Event: eventJSON{
		ID:           id,
		EventType:    e.Type,
		ResourceType: resource,
		OccurredAt:   at.UTC().Format("2006-01-02T15:04:05.000Z"),
		Agent:        e.Agent,
		Client:       client,
		Data:         e.Data,
	}})
	if err != nil {
		panic(fmt.Sprintf("pagerfake: event %s: %v", e.Type, err))
	}
	return b
}

// IncidentData returns the v3 "incident" data object of inc, with every key of
// PagerDuty's sample (data.incident.json) and the defaults documented on
// Incident; priority and conference_bridge are null when unset. Assignees are
// summarised by their IDs: Server.IncidentData summarises them by name.
func IncidentData(inc Incident) map[string]any {
	return incidentData(inc, func(id string) string { return id })
}

func incidentData(inc Incident, nameOf func(string) string) map[string]any {
	inc = inc.withDefaults()
	if inc.CreatedAt.IsZero() {
		inc.CreatedAt = time.Now()
	}
	assignees := []Ref{}
	for _, id := range inc.AssigneeIDs {
		assignees = append(assignees, UserRef(id, nameOf(id)))
	}
	teams := []Ref{}
	if inc.TeamID != "" {
		teams = append(teams, Ref{HTMLURL: webURL + "/teams/" + inc.TeamID, ID: inc.TeamID, Self: apiURL + "/teams/" + inc.TeamID, Summary: inc.TeamName, Type: "team_reference"})
	}
	var prio any
	if inc.PriorityID != "" {
		prio = Ref{HTMLURL: webURL + "/account/incident_priorities", ID: inc.PriorityID, Self: apiURL + "/priorities/" + inc.PriorityID, Summary: inc.PriorityName, Type: "priority_reference"}
	}
	return map[string]any{
		"id":                inc.ID,
		"type":              "incident",
		"self":              apiURL + "/incidents/" + inc.ID,
		"html_url":          inc.HTMLURL,
		"number":            inc.Number,
		"status":            inc.Status,
		"incident_key":      inc.IncidentKey,
		"created_at":        rfc3339(inc.CreatedAt),
		"reopened_at":       timeOrNull(inc.ReopenedAt),
		"title":             inc.Title,
		"incident_type":     map[string]any{"name": inc.IncidentType},
		"service":           ServiceRef(inc.ServiceID, inc.ServiceName),
		"assignees":         assignees,
		"escalation_policy": escalationPolicyRef(inc.EscalationPolicyID, inc.EscalationPolicyName),
		"teams":             teams,
		"priority":          prio,
		"urgency":           inc.Urgency,
		"conference_bridge": conferenceBridge(inc),
		"resolve_reason":    nil,
	}
}

// NoteData returns the v3 "incident_note" data object (event
// incident.annotated), shaped like data.incident_note.json.
func NoteData(incidentID, incidentTitle, noteID, content string) map[string]any {
	return map[string]any{
		"incident": IncidentRef(incidentID, incidentTitle),
		"id":       noteID,
		"content":  content,
		"trimmed":  false,
		"type":     "incident_note",
	}
}

// ResponderData returns the v3 "incident_responder" data object (events
// incident.responder.added and incident.responder.replied), shaped like
// data.incident_responder.json. state is "pending" when empty (PagerDuty
// also sends "joined" and "declined"); the escalation policy is the default
// one of Incident.
func ResponderData(incidentID, incidentTitle, userID, userName, message, state string) map[string]any {
	if state == "" {
		state = "pending"
	}
	return map[string]any{
		"incident":          IncidentRef(incidentID, incidentTitle),
		"user":              UserRef(userID, userName),
		"escalation_policy": escalationPolicyRef("PEPFAKE", "Default"),
		"message":           message,
		"state":             state,
		"type":              "incident_responder",
	}
}

// StatusUpdateData returns the v3 "incident_status_update" data object
// (event incident.status_update_published), shaped like
// data.incident_status_update.json.
func StatusUpdateData(incidentID, incidentTitle, updateID, message string) map[string]any {
	return map[string]any{
		"incident": IncidentRef(incidentID, incidentTitle),
		"id":       updateID,
		"message":  message,
		"trimmed":  false,
		"type":     "incident_status_update",
	}
}

// ErrRejected is wrapped by SendUntilAccepted's error when the receiver
// answered a status PagerDuty does not retry (a 4xx other than 429, or a
// 3xx).
var ErrRejected = errors.New("webhook rejected")

// Sender delivers v3 webhooks the way PagerDuty does. Its URL must be set;
// the zero values of the other fields are usable.
type Sender struct {
	// URL is the receiver's endpoint, such as
	// "http://127.0.0.1:8080/webhooks/pagerduty".
	URL string
	// Secrets sign each delivery (see Sign); none sends no signature header.
	Secrets []string
	// Client sends the requests; nil uses a client with a 5-second timeout,
	// the time PagerDuty gives a receiver to answer.
	Client *http.Client
}

var defaultSenderClient = &http.Client{Timeout: 5 * time.Second}

// Send posts body once with PagerDuty's headers: Content-Type,
// X-PagerDuty-Signature, X-Webhook-Id (webhookID, or a fresh random one when
// empty), X-Webhook-Subscription and User-Agent. It returns the status the
// receiver answered, whatever it is; err is non-nil only when no answer
// arrived (transport error, timeout, ctx done).
func (s *Sender) Send(ctx context.Context, webhookID string, body []byte) (status int, err error) {
	if webhookID == "" {
		webhookID = newUUID()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("pagerfake: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	req.Header.Set("X-Webhook-Id", webhookID)
	req.Header.Set("X-Webhook-Subscription", "PSUBFAKE")
	if sig := Sign(body, s.Secrets...); sig != "" {
		req.Header.Set("X-PagerDuty-Signature", sig)
	}
	client := s.Client
	if client == nil {
		client = defaultSenderClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("pagerfake: webhook delivery %s: %w", webhookID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// SendEvent sends ev.JSON() once under a fresh webhook ID; see Send.
func (s *Sender) SendEvent(ctx context.Context, ev Event) (status int, err error) {
	return s.Send(ctx, "", ev.JSON())
}

// SendUntilAccepted delivers body like PagerDuty: every attempt carries the
// same X-Webhook-Id (a fresh random one when webhookID is empty); transport
// errors, timeouts, 5xx and 429 are retried after backoff, doubling up to 32
// times backoff (backoff <= 0 means 100ms); a 2xx returns its status and a
// nil error; any other status is given up at once and returned with an error
// wrapping ErrRejected. When ctx is done first, it returns the status of the
// last attempt (0 if that got no answer) and an error wrapping ctx.Err().
func (s *Sender) SendUntilAccepted(ctx context.Context, webhookID string, body []byte, backoff time.Duration) (status int, err error) {
	if webhookID == "" {
		webhookID = newUUID()
	}
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	wait := backoff
	for attempt := 1; ; attempt++ {
		status, err = s.Send(ctx, webhookID, body)
		switch {
		case err == nil && status >= 200 && status < 300:
			return status, nil
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			return status, fmt.Errorf("pagerfake: webhook delivery %s: %w: HTTP %d", webhookID, ErrRejected, status)
		}
		last := err
		if last == nil {
			last = fmt.Errorf("HTTP %d", status)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, fmt.Errorf("pagerfake: webhook delivery %s not accepted after %d attempts (last: %v): %w", webhookID, attempt, last, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 32*backoff)
	}
}

// newUUID returns a random version 4 UUID, the form of PagerDuty's webhook
// and event IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
