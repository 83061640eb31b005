package incidentbot

import "time"

// EntryKind says what a timeline entry records. Persisted as this string.
type EntryKind string

// The timeline entry kinds.
const (
	EntryPaged           EntryKind = "paged"
	EntryDeclared        EntryKind = "declared"
	EntryAcknowledged    EntryKind = "acknowledged"
	EntryUnacknowledged  EntryKind = "unacknowledged"
	EntryEscalated       EntryKind = "escalated"
	EntryReassigned      EntryKind = "reassigned"
	EntryDelegated       EntryKind = "delegated"
	EntryResponderAdded  EntryKind = "responder_added"
	EntryNote            EntryKind = "note"
	EntryStatusUpdate    EntryKind = "status_update"
	EntrySeverityChanged EntryKind = "severity_changed"
	EntryPriorityChanged EntryKind = "priority_changed"
	EntryResolved        EntryKind = "resolved"
	EntryReopened        EntryKind = "reopened"
	EntryProblem         EntryKind = "problem"
	EntryRoleAssigned    EntryKind = "role_assigned"
	EntryImpactStarted   EntryKind = "impact_started"
	EntryMitigated       EntryKind = "mitigated"
	EntryAffected        EntryKind = "affected"
	EntryImpact          EntryKind = "impact"
	EntryRootCause       EntryKind = "root_cause"
	EntryActionItem      EntryKind = "action_item"
	EntryPublicName      EntryKind = "public_name"
	EntryPinned          EntryKind = "pinned"
	EntryRetracted       EntryKind = "retracted"
	EntryCadenceMissed   EntryKind = "cadence_missed"
	// EntryRenamed records a new title (/incident title).
	EntryRenamed EntryKind = "renamed"
	// EntryResponderRequested records responders paged from Slack
	// (/incident page): who asked for whom.
	EntryResponderRequested EntryKind = "responder_requested"
)

// Source says where a timeline entry came from.
type Source string

// The sources.
const (
	SourcePagerDuty Source = "pagerduty"
	SourceSlack     Source = "slack"
	SourceBot       Source = "bot"
)

// Entry is one line of an incident's timeline. The timeline is
// append-only: Seq orders entries as they were recorded, At is when the
// thing happened (PagerDuty's occurred_at for PagerDuty events, the time a
// backdated note or /incident started names).
type Entry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    EntryKind `json:"kind"`
	Actor   Person    `json:"actor"`
	Source  Source    `json:"source"`
	Text    string    `json:"text"`
	EventID string    `json:"event_id,omitempty"`
	// Status is the status an update announced (status_update entries).
	Status Status `json:"status,omitempty"`
	// Ref identifies the Slack message a pinned entry copies (its ts), and
	// Permalink links to it.
	Ref       string `json:"ref,omitempty"`
	Permalink string `json:"permalink,omitempty"`
	// Supersedes is the Seq of an earlier entry this one corrects (an edited
	// pinned message) or retracts (a deleted one).
	Supersedes uint64 `json:"supersedes,omitempty"`
	// Severity and PreviousSeverity are the severity a severity_changed
	// entry set and the one before it.
	Severity         Severity `json:"severity,omitempty"`
	PreviousSeverity Severity `json:"previous_severity,omitempty"`
	// Role and Subject are the role a role_assigned entry gave and to whom.
	Role    Role    `json:"role,omitempty"`
	Subject *Person `json:"subject,omitempty"`
	// RecordedAt is when an entry whose At names another time (a backdated
	// note, an impact start or end) was typed; nil when it is At.
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
}

// Current returns the timeline as it now reads: entries superseded by a
// correction are replaced by it, retracted ones and retractions dropped.
func Current(tl []Entry) []Entry {
	replaced := map[uint64]bool{}
	for _, e := range tl {
		if e.Supersedes != 0 {
			replaced[e.Supersedes] = true
		}
	}
	out := make([]Entry, 0, len(tl))
	for _, e := range tl {
		if replaced[e.Seq] || e.Kind == EntryRetracted {
			continue
		}
		out = append(out, e)
	}
	return out
}
