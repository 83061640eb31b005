package incidentbot

import "time"

// PagerDuty v3 webhook event types that the lifecycle handles. Other types
// are acknowledged with a 2xx and ignored.
const (
	EventTriggered             = "incident.triggered"
	EventAcknowledged          = "incident.acknowledged"
	EventUnacknowledged        = "incident.unacknowledged"
	EventResolved              = "incident.resolved"
	EventReopened              = "incident.reopened"
	EventEscalated             = "incident.escalated"
	EventReassigned            = "incident.reassigned"
	EventDelegated             = "incident.delegated"
	EventAnnotated             = "incident.annotated"
	EventPriorityUpdated       = "incident.priority_updated"
	EventResponderAdded        = "incident.responder.added"
	EventStatusUpdatePublished = "incident.status_update_published"
)

var handledEvents = map[string]bool{
	EventTriggered: true, EventAcknowledged: true, EventUnacknowledged: true,
	EventResolved: true, EventReopened: true, EventEscalated: true,
	EventReassigned: true, EventDelegated: true, EventAnnotated: true,
	EventPriorityUpdated: true, EventResponderAdded: true, EventStatusUpdatePublished: true,
}

// HandlesPagerEvent reports whether the lifecycle acts on a PagerDuty
// event type.
func HandlesPagerEvent(eventType string) bool { return handledEvents[eventType] }

// PagerEvent is a PagerDuty v3 webhook event in the domain's terms.
// IncidentID is always set for handled types; Incident is set when the
// event's data is the incident itself, and nil when it only refers to it
// (a note, a responder request, a status update).
type PagerEvent struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	Agent      Person         `json:"agent"`
	IncidentID string         `json:"incident_id"`
	Incident   *PagerIncident `json:"incident,omitempty"`
	// Text is the note content, the status update message, or the
	// responder request's message.
	Text string `json:"text,omitempty"`
	// Responder is the user asked to respond (responder.added).
	Responder *Person `json:"responder,omitempty"`
}

// PagerIncident is what PagerDuty tells about an incident, from a webhook's
// data or from its REST API.
type PagerIncident struct {
	ID          string    `json:"id"`
	Number      int       `json:"number"`
	Title       string    `json:"title"`
	Status      string    `json:"status"`
	Urgency     string    `json:"urgency"`
	Priority    string    `json:"priority"` // "P1".., "" when none
	ServiceID   string    `json:"service_id"`
	ServiceName string    `json:"service_name"`
	URL         string    `json:"url"`
	Assignees   []Person  `json:"assignees"`
	CreatedAt   time.Time `json:"created_at"`
	// StatusChangedAt is PagerDuty's last_status_change_at (REST only).
	StatusChangedAt time.Time `json:"status_changed_at,omitempty"`
}

// Outcome says what became of a delivery.
type Outcome string

// The outcomes.
const (
	OutcomeApplied   Outcome = "applied"   // recorded and acted on
	OutcomeDuplicate Outcome = "duplicate" // seen before; nothing changed
	OutcomeIgnored   Outcome = "ignored"   // a type the bot does not act on
	OutcomePending   Outcome = "pending"   // kept until its incident is known
)
