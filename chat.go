package incidentbot

import (
	"context"
	"time"
)

// Chat is what the outbox worker needs from Slack. Errors are *Error with
// ETRANSIENT (retry, honouring RetryAfter) or EREJECTED (Slack said no for
// good; Message carries Slack's error code, e.g. "channel_not_found").
type Chat interface {
	// BotUserID returns the bot's own user ID.
	BotUserID(ctx context.Context) (string, error)
	// CreateChannel creates a channel, a private one when private is set.
	// A taken name is an EREJECTED error whose message is "name_taken".
	CreateChannel(ctx context.Context, name string, private bool) (Channel, error)
	// FindChannel looks a channel up by exact name, archived ones included,
	// among the public channels or (private) the private ones the bot is in.
	FindChannel(ctx context.Context, name string, private bool) (Channel, bool, error)
	// RenameChannel renames a channel; a taken name is an EREJECTED error
	// whose message is "name_taken".
	RenameChannel(ctx context.Context, channelID, name string) (Channel, error)
	// SetTopic sets a channel's topic.
	SetTopic(ctx context.Context, channelID, topic string) error
	// UserByEmail returns the Slack user ID with that e-mail address; no
	// such user is an ENOTFOUND error (any other failure, such as a revoked
	// token or a missing scope, says nothing about the person).
	UserByEmail(ctx context.Context, email string) (string, error)
	// Invite adds users to a channel; users already in it are no error.
	Invite(ctx context.Context, channelID string, userIDs ...string) error
	// Post posts a message to a channel (an ID, or a "#name") and returns
	// where it landed.
	Post(ctx context.Context, channel string, msg Message) (Posted, error)
	// Update replaces a posted message.
	Update(ctx context.Context, at Posted, msg Message) error
	// UserProfile returns a Slack user's names and e-mail address
	// (users.info); an unknown or invisible user is an ENOTFOUND error.
	UserProfile(ctx context.Context, userID string) (SlackUser, error)
	// Respond answers through a slash command's response_url.
	Respond(ctx context.Context, responseURL string, msg Message) error
	// Upload shares a text file in a channel with a comment and returns
	// the file's permalink.
	Upload(ctx context.Context, channelID, filename, title string, content []byte, comment string) (string, error)
	// Pin pins a message; one pinned already is no error.
	Pin(ctx context.Context, channelID, ts string) error
	// Message reads one message and its permalink.
	Message(ctx context.Context, channel, ts string) (SlackMessage, error)
}

// Channel is a Slack channel as the bot sees it.
type Channel struct {
	ID       string
	Name     string
	Creator  string
	Created  time.Time
	Archived bool
}

// Posted is where a message landed: the channel's ID and the message's
// timestamp (its ID in Slack).
type Posted struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	// Digest marks a storm digest shared by several incidents: it is not
	// updated in place for any one of them.
	Digest bool `json:"digest,omitempty"`
}

// Message is what the bot says, independent of Block Kit: the Slack
// adapter renders it. Text is the plain fallback (notifications, screen
// readers) and must stand alone.
type Message struct {
	Text    string   `json:"text"`
	Header  string   `json:"header,omitempty"`
	Body    string   `json:"body,omitempty"`   // mrkdwn, already escaped
	Fields  []Field  `json:"fields,omitempty"` // short label/value pairs
	Context string   `json:"context,omitempty"`
	Actions []Action `json:"actions,omitempty"`
	// ThreadTS makes the message a reply in that thread.
	ThreadTS string `json:"thread_ts,omitempty"`
	// Broadcast also shows a thread reply in the channel (reply_broadcast).
	Broadcast bool `json:"broadcast,omitempty"`
}

// Field is a label and a value shown side by side.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Action is a button.
type Action struct {
	ID    string `json:"id"`    // action_id
	Text  string `json:"text"`  // label
	Value string `json:"value"` // incident ID
	Style string `json:"style,omitempty"`
	// Confirm asks for confirmation with this text before acting.
	Confirm string `json:"confirm,omitempty"`
}

// SlackMessage is a Slack message as the timeline copies it.
type SlackMessage struct {
	Channel   string
	TS        string
	Author    Person
	Text      string
	Permalink string
}
