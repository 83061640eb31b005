package incidentbot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action items where teams track work: each action item becomes one issue
// in every configured tracker (Jira Cloud, GitHub Issues), created through
// the outbox; "done" travels both ways: /incident action done closes the
// tracker's issue, and an issue done or reopened in the tracker is read
// back by a poll (Service.SyncTracker) onto the item, the timeline and the
// postmortem.

// Tracker is an issue tracker the action items are tracked in. Errors are
// *Error: ETRANSIENT (retry, honouring RetryAfter) or EREJECTED (the
// tracker refused for good: no permission, unknown project or user; the
// message says which, and never carries a credential).
type Tracker interface {
	// Name is the tracker's stable name, persisted with each issue:
	// TrackerJira or TrackerGitHub.
	Name() string
	// Create makes the issue of an action item and returns it. It first
	// looks for the issue an earlier attempt made (by the incident's label
	// and the item's number), so that a create whose answer was lost is
	// found again, never made twice.
	Create(ctx context.Context, it TrackerItem) (TrackerIssue, error)
	// Close moves an issue to done (Jira: the transition into the done
	// status category; GitHub: closed as completed) and returns it as it
	// is then. An issue done already is no error.
	Close(ctx context.Context, key string) (TrackerIssue, error)
	// Changed returns the bot's issues updated at or after since (the
	// tracker's own clock; callers overlap), oldest first. An issue whose
	// labels do not name an incident and an item is left out.
	Changed(ctx context.Context, since time.Time) ([]TrackerIssue, error)
}

// TrackerObserver applies what a tracker's webhook reports, once per
// delivery (Service.ObserveTracker): the handlers of POST /webhooks/github
// and POST /webhooks/jira call it.
type TrackerObserver interface {
	ObserveTracker(ctx context.Context, tracker, deliveryKey string, issues []TrackerIssue) (Outcome, int, error)
}

// The trackers' names.
const (
	TrackerJira   = "jira"
	TrackerGitHub = "github"
)

// TrackerTitle is how a tracker is named to people ("Jira", "GitHub").
func TrackerTitle(name string) string {
	switch name {
	case TrackerJira:
		return "Jira"
	case TrackerGitHub:
		return "GitHub"
	}
	return name
}

// TrackerItem is what a tracker's issue is made of: the action item, its
// owner as the people directory knows them, and links to the incident,
// its channel and its postmortem.
type TrackerItem struct {
	IncidentID    string
	IncidentTitle string
	N             int
	Text          string
	// Priority is p1, p2 or p3; each tracker maps it to its own (see
	// docs/trackers.md).
	Priority string
	// Due is YYYY-MM-DD, "" for none.
	Due string
	// OwnerName and OwnerEmail name the owner ("" when there is none, or
	// the directory has no e-mail address for them).
	OwnerName, OwnerEmail string
	// Links are the incident's, its channel's and its postmortem's, in
	// that order, each only when known.
	Links []TrackerLink
}

// TrackerLink is a labelled link in an issue's description.
type TrackerLink struct {
	Label string // "Incident", "Slack channel", "Postmortem"
	Text  string
	URL   string // "" when there is nothing to link to
}

// Labels are the labels a tracker's issue of this item carries: the bot's
// own, the incident's, and the item's (the incident's label and the
// item's number), by which a lost create is found again and a changed
// issue is mapped back to its item.
func (it TrackerItem) Labels() []string {
	return []string{TrackerLabel, it.IncidentID, ItemLabel(it.IncidentID, it.N)}
}

// TrackerLabel marks every issue the bot makes.
const TrackerLabel = "incidentbot"

// ItemLabel is the label of an incident's action item n: "INC-12-action-3".
func ItemLabel(incidentID string, n int) string {
	return incidentID + "-action-" + strconv.Itoa(n)
}

// ParseItemLabel reads a label made by ItemLabel.
func ParseItemLabel(label string) (incidentID string, n int, ok bool) {
	i := strings.LastIndex(label, "-action-")
	if i < 0 {
		return "", 0, false
	}
	if _, valid := ParseIncidentID(label[:i]); !valid {
		return "", 0, false
	}
	n, err := strconv.Atoi(label[i+len("-action-"):])
	if err != nil || n <= 0 || strconv.Itoa(n) != label[i+len("-action-"):] {
		return "", 0, false
	}
	return strings.ToUpper(label[:3]) + label[3:i], n, true
}

// ItemOfLabels finds the action item a list of labels names.
func ItemOfLabels(labels []string) (incidentID string, n int, ok bool) {
	for _, l := range labels {
		if id, n, ok := ParseItemLabel(l); ok {
			return id, n, true
		}
	}
	return "", 0, false
}

// Summary is the issue's title: the item's text, after the incident and
// the item's number.
func (it TrackerItem) Summary() string {
	s := fmt.Sprintf("[%s #%d] %s", it.IncidentID, it.N, CleanLine(it.Text))
	// Jira caps summaries at 255 characters; GitHub at 256.
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return s
}

// TrackerIssue is an action item's issue as a tracker has it.
type TrackerIssue struct {
	// Key is the tracker's name for it: "OPS-123", "#45".
	Key string
	URL string
	// IncidentID and N are the item the issue's labels name.
	IncidentID string
	N          int
	// Done is whether the issue is done: Jira's done status category,
	// GitHub's closed (as completed, or not planned).
	Done bool
	// Status is the tracker's own word for its state: Jira's status name
	// ("In Progress"), GitHub's "open" or "closed".
	Status    string
	UpdatedAt time.Time
	// Unassigned says why an owner was not made the assignee ("" when they
	// were, or there is no owner).
	Unassigned string
}

// TrackedIssue is an action item's issue in one tracker, as the bot last
// knew it.
type TrackedIssue struct {
	Tracker string `json:"tracker"`
	Key     string `json:"key"`
	URL     string `json:"url,omitempty"`
	// Status is the tracker's word for the issue's state when last read.
	Status string `json:"status"`
	// Done is whether the tracker had the issue done when last read or
	// changed by the bot: a read that differs is a change made in the
	// tracker.
	Done     bool      `json:"done"`
	SyncedAt time.Time `json:"synced_at"`
	// UpdatedAt is the tracker's time of the newest state applied (its
	// issue's updated time): an older one (a webhook retried after a later
	// change, a replay) is not applied over it.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// TrackedIn returns the item's issue in a tracker, nil when it has none
// yet.
func (a *ActionItem) TrackedIn(tracker string) *TrackedIssue {
	for i := range a.Tracked {
		if a.Tracked[i].Tracker == tracker {
			return &a.Tracked[i]
		}
	}
	return nil
}
