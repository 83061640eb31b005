package slackcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/slack-go/slack"
)

// Client is the Slack Web API as the outbox worker needs it. It implements
// incidentbot.Chat. Errors are *incidentbot.Error: ETRANSIENT (with
// RetryAfter for 429) for rate limits, 5xx, timeouts and Slack's own
// transient error codes; EREJECTED, whose Message is Slack's error code,
// for every other ok:false answer.
type Client struct {
	api *slack.Client
	hc  *http.Client
	// apiScheme and apiHost are the configured API URL's: response_url and
	// upload URLs may point there besides Slack's own hosts.
	apiScheme, apiHost string
	// budget keeps calls inside Slack's rate tiers; nil: no limit.
	budget *Budget

	mu      sync.Mutex
	botUser string
	// scans are listings (FindChannel) cut short by the rate budget or an
	// error, by name sought: the next call goes on from their cursor. A
	// listing longer than one budget window of pages would otherwise start
	// over each time and never end.
	scans map[string]string
}

// NewClient returns a client with a bot token for the Web API at apiURL
// (Slack's "https://slack.com/api/", a GovSlack host, or a fake; the
// trailing slash is added when missing). hc may be nil: a client with a
// 10 s timeout is used.
func NewClient(token, apiURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	c := &Client{api: slack.New(token, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(hc)), hc: hc}
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		c.apiScheme, c.apiHost = u.Scheme, u.Host
	}
	return c
}

// responseURLAllowed reports whether a slash command's response_url may be
// used: https on hooks.slack.com, or the configured API URL's own scheme
// and host (a GovSlack host, or a fake). Anything else could send a reply,
// and the people's words in it, elsewhere.
func (c *Client) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return (u.Scheme == "https" && u.Host == "hooks.slack.com") || (u.Scheme == c.apiScheme && u.Host == c.apiHost)
}

// SetBudget makes the client keep its calls inside b (nil: no limit).
func (c *Client) SetBudget(b *Budget) { c.budget = b }

// take spends one call of method from the budget: waits briefly when the
// next call is close, else answers ETHROTTLED with the wait so the outbox
// can run other work meanwhile.
func (c *Client) take(ctx context.Context, method, key string) error {
	if c.budget == nil {
		return nil
	}
	for {
		wait := c.budget.Reserve(method, key)
		if wait == 0 {
			return nil
		}
		if wait > 250*time.Millisecond {
			return &incidentbot.Error{Code: incidentbot.ETHROTTLED, Message: method + ": held back by the rate budget", RetryAfter: wait}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: method + ": " + ctx.Err().Error(), Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// done classifies a call's error; a 429 pauses the method in the budget.
func (c *Client) done(ctx context.Context, method, key string, err error) error {
	if c.budget != nil {
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			c.budget.Pause(method, key, rl.RetryAfter)
		}
	}
	return classify(ctx, method, err)
}

// API returns the underlying slack-go client.
func (c *Client) API() *slack.Client { return c.api }

// transientCodes are ok:false errors that Slack documents as temporary.
// https://api.slack.com/web#evaluating_responses
var transientCodes = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
}

// classify turns a slack-go error into a domain error. Its text never
// carries the token (slack-go puts it in the body or a header).
func classify(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: method + ": " + ctx.Err().Error(), Err: ctx.Err()}
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: method + ": rate limited", RetryAfter: rl.RetryAfter, Err: err}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		code := incidentbot.EREJECTED
		if transientCodes[se.Err] {
			code = incidentbot.ETRANSIENT
		}
		return &incidentbot.Error{Code: code, Message: se.Err}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		// A 429 without Retry-After (slack-go reports it so): a rate limit
		// all the same, retried with the backoff.
		if sc.Code >= 500 || sc.Code == http.StatusRequestTimeout || sc.Code == http.StatusTooManyRequests {
			return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: fmt.Sprintf("%s: Slack answered %d", method, sc.Code)}
		}
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: fmt.Sprintf("%s: Slack answered %d", method, sc.Code)}
	}
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: method + ": request failed", Err: err}
}

// BotUserID returns the bot's user ID (auth.test), cached after the first
// success.
func (c *Client) BotUserID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.botUser
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	if err := c.take(ctx, "auth.test", ""); err != nil {
		return "", err
	}
	resp, err := c.api.AuthTestContext(ctx)
	c.budget.Done("auth.test", "")
	if err != nil {
		return "", c.done(ctx, "auth.test", "", err)
	}
	c.mu.Lock()
	c.botUser = resp.UserID
	c.mu.Unlock()
	return resp.UserID, nil
}

func channel(ch *slack.Channel) incidentbot.Channel {
	return incidentbot.Channel{
		ID: ch.ID, Name: ch.Name, Creator: ch.Creator, Archived: ch.IsArchived,
		Created: time.Unix(int64(ch.Created), 0).UTC(),
	}
}

// CreateChannel creates a channel (conversations.create), a private one
// (is_private) when private is set.
func (c *Client) CreateChannel(ctx context.Context, name string, private bool) (incidentbot.Channel, error) {
	if err := c.take(ctx, "conversations.create", ""); err != nil {
		return incidentbot.Channel{}, err
	}
	ch, err := c.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name, IsPrivate: private})
	c.budget.Done("conversations.create", "")
	if err != nil {
		return incidentbot.Channel{}, c.done(ctx, "conversations.create", "", err)
	}
	return channel(ch), nil
}

// FindChannel looks a channel up by exact name, archived ones included,
// paging through conversations.list: public channels, or the private ones
// the bot is in. A listing cut short (the rate budget, a 429) goes on from
// where it stopped at the next call for the same name.
func (c *Client) FindChannel(ctx context.Context, name string, private bool) (incidentbot.Channel, bool, error) {
	types := []string{"public_channel"}
	if private {
		types = []string{"private_channel"}
	}
	key := fmt.Sprintf("%t/%s", private, name)
	c.mu.Lock()
	params := &slack.GetConversationsParameters{Types: types, Limit: 1000, Cursor: c.scans[key]}
	delete(c.scans, key)
	c.mu.Unlock()
	// cut keeps where the listing got to, for the next call.
	cut := func(err error) (incidentbot.Channel, bool, error) {
		if params.Cursor != "" {
			c.mu.Lock()
			if c.scans == nil || len(c.scans) > 100 {
				c.scans = map[string]string{}
			}
			c.scans[key] = params.Cursor
			c.mu.Unlock()
		}
		return incidentbot.Channel{}, false, err
	}
	for {
		if err := c.take(ctx, "conversations.list", ""); err != nil {
			return cut(err)
		}
		chans, cursor, err := c.api.GetConversationsContext(ctx, params)
		c.budget.Done("conversations.list", "")
		if err != nil {
			return cut(c.done(ctx, "conversations.list", "", err))
		}
		for i := range chans {
			if chans[i].Name == name {
				return channel(&chans[i]), true, nil
			}
		}
		if cursor == "" {
			// The end: not listed (the next call starts from the top).
			return incidentbot.Channel{}, false, nil
		}
		params.Cursor = cursor
	}
}

// RenameChannel renames a channel (conversations.rename).
func (c *Client) RenameChannel(ctx context.Context, channelID, name string) (incidentbot.Channel, error) {
	if err := c.take(ctx, "conversations.rename", ""); err != nil {
		return incidentbot.Channel{}, err
	}
	ch, err := c.api.RenameConversationContext(ctx, channelID, name)
	c.budget.Done("conversations.rename", "")
	if err := c.done(ctx, "conversations.rename", "", err); err != nil {
		return incidentbot.Channel{}, err
	}
	return channel(ch), nil
}

// SetTopic sets a channel's topic.
func (c *Client) SetTopic(ctx context.Context, channelID, topic string) error {
	if err := c.take(ctx, "conversations.setTopic", ""); err != nil {
		return err
	}
	_, err := c.api.SetTopicOfConversationContext(ctx, channelID, topic)
	c.budget.Done("conversations.setTopic", "")
	return c.done(ctx, "conversations.setTopic", "", err)
}

// UserByEmail returns the Slack user with that e-mail address.
func (c *Client) UserByEmail(ctx context.Context, email string) (string, error) {
	if err := c.take(ctx, "users.lookupByEmail", ""); err != nil {
		return "", err
	}
	u, err := c.api.GetUserByEmailContext(ctx, email)
	c.budget.Done("users.lookupByEmail", "")
	if err != nil {
		return "", noSuchUser(c.done(ctx, "users.lookupByEmail", "", err))
	}
	return u.ID, nil
}

// noSuchUser makes Slack's answers about the person (no such user, not
// visible to the bot) ENOTFOUND; others (invalid_auth, token_revoked,
// missing_scope, ...) stay as they are: they say nothing about the person,
// and a lookup that failed so must not be kept as a fact.
func noSuchUser(err error) error {
	var ie *incidentbot.Error
	if errors.As(err, &ie) && ie.Code == incidentbot.EREJECTED {
		switch ie.Message {
		case "users_not_found", "user_not_found", "user_not_visible":
			return &incidentbot.Error{Code: incidentbot.ENOTFOUND, Message: ie.Message, Err: ie.Err}
		}
	}
	return err
}

// Invite adds users to a channel. Users already in it, and the bot itself,
// are not errors.
func (c *Client) Invite(ctx context.Context, channelID string, userIDs ...string) error {
	if err := c.take(ctx, "conversations.invite", ""); err != nil {
		return err
	}
	_, err := c.api.InviteUsersToConversationContext(ctx, channelID, userIDs...)
	c.budget.Done("conversations.invite", "")
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "already_in_channel" || se.Err == "cant_invite_self") {
		return nil
	}
	return c.done(ctx, "conversations.invite", "", err)
}

// Post posts a message rendered as Block Kit, with msg.Text as the
// notification fallback.
func (c *Client) Post(ctx context.Context, channelID string, msg incidentbot.Message) (incidentbot.Posted, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(Blocks(msg)...)}
	if msg.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(msg.ThreadTS))
		if msg.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	if err := c.take(ctx, "chat.postMessage", channelID); err != nil {
		return incidentbot.Posted{}, err
	}
	ch, ts, err := c.api.PostMessageContext(ctx, channelID, opts...)
	c.budget.Done("chat.postMessage", channelID)
	if err != nil {
		return incidentbot.Posted{}, c.done(ctx, "chat.postMessage", channelID, err)
	}
	return incidentbot.Posted{Channel: ch, TS: ts}, nil
}

// Update replaces a posted message.
func (c *Client) Update(ctx context.Context, at incidentbot.Posted, msg incidentbot.Message) error {
	if err := c.take(ctx, "chat.update", ""); err != nil {
		return err
	}
	_, _, _, err := c.api.UpdateMessageContext(ctx, at.Channel, at.TS, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(Blocks(msg)...))
	c.budget.Done("chat.update", "")
	return c.done(ctx, "chat.update", "", err)
}

// UserProfile returns a user's real name, display name and e-mail address
// (users.info; the e-mail needs the users:read.email scope). The legacy
// user name (name) is not returned: the bot never shows it.
func (c *Client) UserProfile(ctx context.Context, userID string) (incidentbot.SlackUser, error) {
	if err := c.take(ctx, "users.info", ""); err != nil {
		return incidentbot.SlackUser{}, err
	}
	u, err := c.api.GetUserInfoContext(ctx, userID)
	c.budget.Done("users.info", "")
	if err := c.done(ctx, "users.info", "", err); err != nil {
		return incidentbot.SlackUser{}, noSuchUser(err)
	}
	return incidentbot.SlackUser{
		ID: u.ID, RealName: incidentbot.CleanLine(u.Profile.RealName), DisplayName: incidentbot.CleanLine(u.Profile.DisplayName),
		Email: u.Profile.Email, Deleted: u.Deleted,
	}, nil
}

// Message reads one message (conversations.history) and its permalink.
func (c *Client) Message(ctx context.Context, channel, ts string) (incidentbot.SlackMessage, error) {
	if err := c.take(ctx, "conversations.history", ""); err != nil {
		return incidentbot.SlackMessage{}, err
	}
	h, err := c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Latest: ts, Inclusive: true, Limit: 1})
	c.budget.Done("conversations.history", "")
	if err != nil {
		return incidentbot.SlackMessage{}, c.done(ctx, "conversations.history", "", err)
	}
	if len(h.Messages) == 0 || h.Messages[0].Timestamp != ts {
		return incidentbot.SlackMessage{}, &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "message_not_found"}
	}
	m := h.Messages[0]
	if err := c.take(ctx, "chat.getPermalink", ""); err != nil {
		return incidentbot.SlackMessage{}, err
	}
	link, err := c.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	c.budget.Done("chat.getPermalink", "")
	if err != nil {
		return incidentbot.SlackMessage{}, c.done(ctx, "chat.getPermalink", "", err)
	}
	return incidentbot.SlackMessage{Channel: channel, TS: ts, Author: incidentbot.Person{ID: m.User}, Text: plain(m.Text), Permalink: link}, nil
}

// Respond posts an ephemeral answer to a slash command's response_url. The
// URL is used only when its host is hooks.slack.com or SLACK_API_URL's
// host; it is never part of an error (it is a bearer secret).
func (c *Client) Respond(ctx context.Context, responseURL string, msg incidentbot.Message) error {
	if !c.responseURLAllowed(responseURL) {
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "response_url is not on hooks.slack.com over https"}
	}
	body, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "text": msg.Text, "blocks": Blocks(msg)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "response_url is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "response_url: request failed"}
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: fmt.Sprintf("response_url answered %d", res.StatusCode)}
	}
	// Expired or used up (5 uses in 30 minutes): nothing will fix it.
	return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: fmt.Sprintf("response_url answered %d", res.StatusCode)}
}

// Upload shares a text file in a channel (files.getUploadURLExternal, the
// upload, files.completeUploadExternal) and returns its permalink
// (files.info).
func (c *Client) Upload(ctx context.Context, channelID, filename, title string, content []byte, comment string) (string, error) {
	for _, m := range []string{"files.getUploadURLExternal", "files.completeUploadExternal"} {
		if err := c.take(ctx, m, ""); err != nil {
			return "", err
		}
	}
	u, err := c.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{
		FileName: filename, FileSize: len(content), SnippetType: "markdown",
	})
	c.budget.Done("files.getUploadURLExternal", "")
	if err := c.done(ctx, "files.getUploadURLExternal", "", err); err != nil {
		c.budget.Done("files.completeUploadExternal", "") // taken, not made
		return "", err
	}
	// The content goes where Slack says, but only to Slack: a URL on
	// another host will not become right by retrying.
	if !c.uploadHostAllowed(u.UploadURL) {
		c.budget.Done("files.completeUploadExternal", "")
		return "", &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "files.getUploadURLExternal gave an upload URL on an unexpected host"}
	}
	if err := c.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: u.UploadURL, Content: string(content), Filename: filename}); err != nil {
		c.budget.Done("files.completeUploadExternal", "")
		return "", classify(ctx, "files.upload", err)
	}
	_, err = c.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID, Title: title}}, Channel: channelID, InitialComment: comment,
	})
	c.budget.Done("files.completeUploadExternal", "")
	if err := c.done(ctx, "files.completeUploadExternal", "", err); err != nil {
		return "", err
	}
	// The share is done: a permalink that cannot be read now (a rate
	// budget, a failure) is left out rather than sharing the file again.
	if c.take(ctx, "files.info", "") != nil {
		return "", nil
	}
	f, _, _, err := c.api.GetFileInfoContext(ctx, u.FileID, 0, 0)
	c.budget.Done("files.info", "")
	if c.done(ctx, "files.info", "", err) != nil {
		return "", nil
	}
	return f.Permalink, nil
}

// uploadHostAllowed reports whether an upload URL is Slack's: https on
// files.slack.com, or the configured API URL's own scheme and host.
func (c *Client) uploadHostAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return (u.Scheme == "https" && u.Host == "files.slack.com") || (u.Scheme == c.apiScheme && u.Host == c.apiHost)
}

// Pin pins a message (pins.add); already_pinned is no error.
func (c *Client) Pin(ctx context.Context, channelID, ts string) error {
	if err := c.take(ctx, "pins.add", ""); err != nil {
		return err
	}
	err := c.done(ctx, "pins.add", "", c.api.AddPinContext(ctx, channelID, slack.ItemRef{Channel: channelID, Timestamp: ts}))
	c.budget.Done("pins.add", "")
	if incidentbot.ErrorMessage(err) == "already_pinned" {
		return nil // a repeated job: the pin is there
	}
	return err
}

// OpenView opens a modal (views.open).
func (c *Client) OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	_, err := c.api.OpenViewContext(ctx, triggerID, view)
	return classify(ctx, "views.open", err)
}
