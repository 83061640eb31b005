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
	// TitleSetBy is the person who last renamed the incident in Slack;
	// while it is set, PagerDuty's title no longer changes it.
	TitleSetBy string `json:"title_set_by,omitempty"`
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
	// Invited are the Slack users the bot invited to the channel: a later
	// invitation of one of them is not sent again.
	Invited []string `json:"invited,omitempty"`
	// ChannelFailed is set when the channel could not be created for good;
	// jobs that need the channel then fail instead of waiting.
	ChannelFailed bool `json:"channel_failed,omitempty"`
	// Kickoff is the first message in the incident channel, pinned and kept
	// true in place; KickoffState and TopicState fingerprint what the
	// kickoff and the topic last showed, so that a change of any of it
	// (title, status, severity, roles, assignees, links) refreshes them.
	Kickoff      *Posted `json:"kickoff,omitempty"`
	KickoffState string  `json:"kickoff_state,omitempty"`
	TopicState   string  `json:"topic_state,omitempty"`
	// Announcement is the incident's post in the stakeholder channel;
	// InDigest marks an incident announced in a storm digest.
	Announcement *Posted `json:"announcement,omitempty"`
	InDigest     bool    `json:"in_digest,omitempty"`
	// Told is what the stakeholder thread was last told (severity,
	// commander, resolution, title): a change of any of it is a reply
	// there, whichever path made it.
	Told *Told `json:"told,omitempty"`
	// RecordedAt is when the bot opened its record (OpenedAt is PagerDuty's).
	RecordedAt time.Time `json:"recorded_at"`

	OpenedAt        time.Time  `json:"opened_at"` // detected: paged or declared
	ImpactStartedAt *time.Time `json:"impact_started_at"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at"`
	IdentifiedAt    *time.Time `json:"identified_at"`
	MitigatedAt     *time.Time `json:"mitigated_at"`
	ResolvedAt      *time.Time `json:"resolved_at"`
	// ImpactEndedAt is when impact ended, as recorded with /incident
	// mitigated; it wins over MitigatedAt (the first monitoring) wherever
	// the end of impact is meant.
	ImpactEndedAt *time.Time `json:"impact_ended_at,omitempty"`
	// AffectedPercent is the share of users or requests affected (0 < p ≤
	// 100), recorded with /incident affected; nil when nobody said.
	AffectedPercent *float64 `json:"affected_percent,omitempty"`

	// Roles maps "commander", "comms" and "scribe" to who holds them.
	Roles map[Role]Person `json:"roles,omitempty"`
	// Impact, RootCause and Summary are the latest recorded texts (the
	// timeline keeps every version).
	Impact    string       `json:"impact,omitempty"`
	RootCause string       `json:"root_cause,omitempty"`
	Summary   string       `json:"summary,omitempty"`
	Actions   []ActionItem `json:"action_items,omitempty"`
	// LastUpdateAt is when the last status update was published, and
	// NextUpdateDue when the next one is due (nil: no cadence).
	LastUpdateAt  *time.Time `json:"last_update_at"`
	NextUpdateDue *time.Time `json:"next_update_due"`
	// ShownPublicly is set once the incident's severity made it public: it
	// then stays on the public pages, with its new impact, when its
	// severity drops (customers saw it; it does not vanish).
	ShownPublicly bool `json:"shown_publicly,omitempty"`
	// Publications maps a public publisher ("statuspage") to the incident's
	// ID there.
	Publications map[string]string `json:"publications,omitempty"`
	// Echoes are PagerDuty events the bot expects back for its own actions
	// (an acknowledgement made in Slack): they change nothing when they come.
	Echoes []Echo `json:"echoes,omitempty"`
	// PostmortemPosted is the last draft posted to the channel.
	PostmortemPosted *PostedDraft `json:"postmortem_posted,omitempty"`
	// DeclaredBy is who declared an incident that did not come from a page.
	DeclaredBy *Person `json:"declared_by,omitempty"`
	// Private marks an incident declared private: its channel is private,
	// it is never announced in the stakeholder channel or a digest, and it
	// never reaches a public status page, whatever its severity.
	Private bool `json:"private,omitempty"`
	// ResponderRequests are the responders paged through PagerDuty from
	// Slack: who asked for whom.
	ResponderRequests []ResponderRequest `json:"responder_requests,omitempty"`

	// Problems are side effects that failed for good (a Slack ok:false, a
	// job that outlived its retries), kept so people see them.
	Problems  []Problem `json:"problems,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Told is what an incident's stakeholder thread has been told.
type Told struct {
	Severity  Severity `json:"severity"`
	Commander *Person  `json:"commander,omitempty"`
	Resolved  bool     `json:"resolved,omitempty"`
	Title     string   `json:"title"`
}

// PagerLink is the PagerDuty incident an incident came from.
type PagerLink struct {
	ID     string `json:"id"`
	Number int    `json:"number,omitempty"`
	// Title is the PagerDuty incident's own title (the incident's Title
	// may have been renamed in Slack).
	Title string `json:"title,omitempty"`
	URL   string `json:"url,omitempty"`
	// ConferenceURL and ConferenceNumber are PagerDuty's conference
	// bridge, when it has one.
	ConferenceURL    string `json:"conference_url,omitempty"`
	ConferenceNumber string `json:"conference_number,omitempty"`
	Urgency          string `json:"urgency,omitempty"`
	Priority         string `json:"priority,omitempty"`
	// PriorityAt is when the priority last applied was set in PagerDuty:
	// an older change delivered late does not undo a newer one.
	PriorityAt time.Time `json:"priority_at,omitzero"`
	ServiceID  string    `json:"service_id,omitempty"`
}

// Person is someone who acts on an incident: a Slack user, a PagerDuty
// user, or the bot. ID is the system's own user ID ("" for the bot).
type Person struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Role is an incident role. Persisted as this string.
type Role string

// The roles.
const (
	RoleCommander Role = "commander"
	RoleComms     Role = "comms"
	RoleScribe    Role = "scribe"
)

// Roles lists the roles in the order they are shown.
var Roles = []Role{RoleCommander, RoleComms, RoleScribe}

// ActionItem is a follow-up recorded with /incident action.
type ActionItem struct {
	N         int        `json:"n"`
	Text      string     `json:"text"`
	Owner     *Person    `json:"owner,omitempty"`
	Priority  string     `json:"priority"` // p1, p2, p3
	Due       string     `json:"due,omitempty"`
	Status    string     `json:"status"` // open, done
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	// Tracked are the item's issues in the trackers (Jira, GitHub), as the
	// bot last knew them.
	Tracked []TrackedIssue `json:"tracked,omitempty"`
}

// ResponderRequest is one /incident page: who asked PagerDuty for whom
// (a user or an escalation policy), and who PagerDuty paged.
type ResponderRequest struct {
	At     time.Time `json:"at"`
	By     Person    `json:"by"`
	Target string    `json:"target"` // the person's or the escalation policy's name
	// Responders are the users PagerDuty notified.
	Responders []Person `json:"responders,omitempty"`
	Message    string   `json:"message,omitempty"`
}

// PostedDraft records a postmortem draft posted to the channel.
type PostedDraft struct {
	Fingerprint string    `json:"fingerprint"`
	At          time.Time `json:"at"`
	File        string    `json:"file,omitempty"`
	// Permalink links to the draft as it was shared in the channel ("" when
	// it was posted as a message instead).
	Permalink string `json:"permalink,omitempty"`
}

// Problem is a side effect that failed for good.
type Problem struct {
	At      time.Time `json:"at"`
	Job     JobKind   `json:"job"`
	Message string    `json:"message"`
}

// ImpactEnd returns when impact ended: the time recorded with /incident
// mitigated, else the first time the incident reached monitoring, else nil.
func (inc *Incident) ImpactEnd() *time.Time {
	if inc.ImpactEndedAt != nil {
		return inc.ImpactEndedAt
	}
	return inc.MitigatedAt
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

// Topic returns the channel topic: severity, title, roles and the
// PagerDuty link.
func (inc *Incident) Topic() string {
	t := fmt.Sprintf("%s %s: %s", strings.ToUpper(string(inc.Severity)), inc.ID, inc.Title)
	for _, r := range Roles {
		if p, ok := inc.Roles[r]; ok {
			t += fmt.Sprintf(" | %s: %s", r, p.Display())
		}
	}
	if inc.PagerDuty != nil && inc.PagerDuty.URL != "" {
		t += " | " + inc.PagerDuty.URL
	}
	// Slack caps topics at 250 characters.
	if r := []rune(t); len(r) > 250 {
		t = string(r[:249]) + "…"
	}
	return t
}
