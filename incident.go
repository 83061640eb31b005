package incidentbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Incident is one incident, from the page (or declaration) to resolution.
// Phase timestamps are nil until the incident first reaches that phase and
// keep that first time afterwards.
type Incident struct {
	ID         string   `json:"id"` // "INC-<n>"
	Number     int      `json:"number"`
	Title      string   `json:"title"`
	PublicName string   `json:"public_name,omitempty"`
	Severity   Severity `json:"severity"`
	// SeveritySetBy is the person who last set the severity by hand; while
	// it is set, PagerDuty's priority_updated no longer changes it.
	SeveritySetBy string `json:"severity_set_by,omitempty"`
	Status        Status `json:"status"`
	// StatusAt is when the event that set Status occurred. An event that
	// occurred earlier (a late, out-of-order delivery) is recorded on the
	// timeline but does not move the status back.
	StatusAt time.Time `json:"status_at"`

	Service   string     `json:"service"`
	PagerDuty *PagerLink `json:"pagerduty,omitempty"`
	Assignees []Person   `json:"assignees,omitempty"`

	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name,omitempty"`
	// ChannelFailed is set when the channel could not be created for good;
	// jobs that need the channel then fail instead of waiting.
	ChannelFailed bool `json:"channel_failed,omitempty"`
	// Announcement is the incident's post in the stakeholder channel.
	Announcement *Posted `json:"announcement,omitempty"`

	OpenedAt        time.Time  `json:"opened_at"` // detected: paged or declared
	ImpactStartedAt *time.Time `json:"impact_started_at"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at"`
	IdentifiedAt    *time.Time `json:"identified_at"`
	MitigatedAt     *time.Time `json:"mitigated_at"`
	ResolvedAt      *time.Time `json:"resolved_at"`

	// Problems are side effects that failed for good (a Slack ok:false, a
	// job that outlived its retries), kept so people see them.
	Problems  []Problem `json:"problems,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PagerLink is the PagerDuty incident an incident came from.
type PagerLink struct {
	ID        string `json:"id"`
	Number    int    `json:"number,omitempty"`
	URL       string `json:"url,omitempty"`
	Urgency   string `json:"urgency,omitempty"`
	Priority  string `json:"priority,omitempty"`
	ServiceID string `json:"service_id,omitempty"`
}

// Person is someone who acts on an incident: a Slack user, a PagerDuty
// user, or the bot. ID is the system's own user ID ("" for the bot).
type Person struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Problem is a side effect that failed for good.
type Problem struct {
	At      time.Time `json:"at"`
	Job     JobKind   `json:"job"`
	Message string    `json:"message"`
}

// IncidentID returns "INC-<n>".
func IncidentID(n int) string { return "INC-" + strconv.Itoa(n) }

// ParseIncidentID reads "INC-<n>" (any case) and returns n.
func ParseIncidentID(s string) (int, bool) {
	if len(s) < 5 || !strings.EqualFold(s[:4], "INC-") {
		return 0, false
	}
	n, err := strconv.Atoi(s[4:])
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// Display returns the person's name, else their ID, else "incidentbot".
func (p Person) Display() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.ID != "":
		return p.ID
	}
	return "incidentbot"
}

// setFirst sets *dst to t when it is unset or later than t: phase times
// keep the first time the phase was reached, whatever order events arrive in.
func setFirst(dst **time.Time, t time.Time) {
	if *dst == nil || t.Before(**dst) {
		v := t
		*dst = &v
	}
}

// Topic returns the channel topic: severity, title and the PagerDuty link.
func (inc *Incident) Topic() string {
	t := fmt.Sprintf("%s %s: %s", strings.ToUpper(string(inc.Severity)), inc.ID, inc.Title)
	if inc.PagerDuty != nil && inc.PagerDuty.URL != "" {
		t += " | " + inc.PagerDuty.URL
	}
	// Slack caps topics at 250 characters.
	if r := []rune(t); len(r) > 250 {
		t = string(r[:249]) + "…"
	}
	return t
}
