package incidentbot

import "time"

// JobKind names an outbox job. Persisted as this string.
type JobKind string

// The job kinds.
const (
	JobCreateChannel JobKind = "create_channel"
	JobSetTopic      JobKind = "set_topic"
	JobInvite        JobKind = "invite"
	JobPost          JobKind = "post"
	JobAnnounce      JobKind = "announce"
	JobFetchIncident JobKind = "fetch_incident"
	// JobUpdateAnnouncement refreshes the stakeholder post in place.
	JobUpdateAnnouncement JobKind = "update_announcement"
	// JobRespond answers a person through a slash command's response_url.
	JobRespond JobKind = "respond"
	// JobFetchMessage reads a message pinned with a reaction, for the timeline.
	JobFetchMessage JobKind = "fetch_message"
	JobPagerAck     JobKind = "pagerduty_ack"
	JobPagerResolve JobKind = "pagerduty_resolve"
	JobPagerNote    JobKind = "pagerduty_note"
	// JobPostmortem drafts, exports and posts the postmortem.
	JobPostmortem JobKind = "postmortem"
	// JobPublishStatuspage sends an incident's public state to Statuspage.
	JobPublishStatuspage JobKind = "publish_statuspage"
	// JobAnnounceDigest posts one stakeholder message for a storm's pages.
	JobAnnounceDigest JobKind = "announce_digest"
	// JobPublishSite rewrites the static status site.
	JobPublishSite JobKind = "publish_site"
	// JobKickoff posts the incident channel's kickoff message, or updates
	// it in place with what the incident is now.
	JobKickoff JobKind = "kickoff"
	// JobPin pins the kickoff message.
	JobPin JobKind = "pin"
	// JobAnnounceResolved tells the stakeholder thread (and the channel)
	// that the incident is resolved, with its duration and the postmortem
	// draft.
	JobAnnounceResolved JobKind = "announce_resolved"
	// JobLookupPerson asks Slack (and PagerDuty) who a user ID is, for the
	// people directory.
	JobLookupPerson JobKind = "lookup_person"
	// JobRenameChannel renames the incident channel after its title.
	JobRenameChannel JobKind = "rename_channel"
	// JobPage asks PagerDuty for more responders (/incident page).
	JobPage JobKind = "page"
	// JobTrackerCreate makes an action item's issue in a tracker (Jira,
	// GitHub), or finds the one an earlier attempt made.
	JobTrackerCreate JobKind = "tracker_create"
	// JobTrackerClose moves an action item's issue in a tracker to done.
	JobTrackerClose JobKind = "tracker_close"
	// JobFollowups posts the weekly list of overdue action items to the
	// stakeholder channel.
	JobFollowups JobKind = "followups"
)

// Job is one side effect waiting to be performed: a Slack or PagerDuty
// call. Jobs of one Lane run one at a time in ID order (so the messages of
// a channel keep their order); lanes run side by side.
type Job struct {
	ID         uint64    `json:"id"`
	Kind       JobKind   `json:"kind"`
	IncidentID string    `json:"incident_id,omitempty"`
	Lane       string    `json:"lane"`
	CreatedAt  time.Time `json:"created_at"`
	NextAt     time.Time `json:"next_at"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	// FailedAt is set on dead letters.
	FailedAt *time.Time `json:"failed_at,omitempty"`

	// Payload, by kind.
	ChannelName string   `json:"channel_name,omitempty"` // create_channel
	Invitee     *Person  `json:"invitee,omitempty"`      // invite: a PagerDuty user
	Message     *Message `json:"message,omitempty"`      // post, announce
	Channel     string   `json:"channel,omitempty"`      // announce: target channel
	PagerID     string   `json:"pager_id,omitempty"`     // fetch_incident, pagerduty_*
	SlackUser   string   `json:"slack_user,omitempty"`   // invite; the actor of pagerduty_*
	Text        string   `json:"text,omitempty"`         // pagerduty_note
	// ResponseURL is a slash command's reply URL. It is a bearer secret:
	// never logged or shown by the API.
	ResponseURL string `json:"response_url,omitempty"`
	TS          string `json:"ts,omitempty"`        // fetch_message: the message
	PersonID    string `json:"person_id,omitempty"` // lookup_person: a Slack or PagerDuty user ID
	EventID     string `json:"event_id,omitempty"`
	Tracker     string `json:"tracker,omitempty"` // tracker_*: "jira" or "github"
	N           int    `json:"n,omitempty"`       // tracker_*: the action item's number
	// Notice marks a post that reports a problem: if it fails too, it is
	// not reported again.
	Notice bool `json:"notice,omitempty"`
	// Unlisted counts the attempts of a create_channel job that found its
	// name taken but not listed yet (asked about again before the next name
	// is tried): on its own, since Attempts also counts unrelated failures.
	Unlisted int `json:"unlisted,omitempty"`
}

// lanes: per-incident channel order, and side lanes whose retries must not
// hold the channel's messages back.
func laneChannel(incID string) string   { return incID }
func laneInvite(incID string) string    { return incID + "/invite" }
func laneAnnounce(incID string) string  { return incID + "/announce" }
func lanePager(pdID string) string      { return "pagerduty/" + pdID }
func lanePagerDuty(incID string) string { return incID + "/pagerduty" }

// needsChannel reports whether a job can only run once the incident's
// channel exists.
func (j *Job) needsChannel() bool {
	switch j.Kind {
	case JobSetTopic, JobInvite, JobPost, JobAnnounce, JobUpdateAnnouncement, JobKickoff, JobPin, JobAnnounceResolved, JobRenameChannel:
		return true
	case JobRespond:
		return j.Message == nil // "the channel is ready" waits for it
	}
	return false
}
