package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of the requests Slack sends to an app.
const (
	// HeaderTimestamp carries the request's unix time in seconds.
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	// HeaderSignature carries "v0=" and the hex HMAC-SHA256 of the request.
	HeaderSignature = "X-Slack-Signature"
	// HeaderRetryNum carries the number of an Events API retry (1, 2, 3).
	HeaderRetryNum = "X-Slack-Retry-Num"
	// HeaderRetryReason carries why Slack retries, e.g. "http_timeout".
	HeaderRetryReason = "X-Slack-Retry-Reason"
)

// DefaultVerificationToken is the (deprecated) verification token the
// AppClient puts in the requests it sends.
const DefaultVerificationToken = "fakeVerificationToken000"

// Paths under AppClient.BaseURL that the AppClient posts to.
const (
	// CommandsPath receives slash commands.
	CommandsPath = "/slack/commands"
	// InteractionsPath receives interaction payloads.
	InteractionsPath = "/slack/interactions"
	// EventsPath receives Events API requests.
	EventsPath = "/slack/events"
)

const (
	formContentType = "application/x-www-form-urlencoded"
	jsonContentType = "application/json"
	slackUserAgent  = "Slackbot 1.0 (+https://api.slack.com/robots)"
)

// SignRequest signs a request body with Slack's v0 scheme: the HMAC-SHA256,
// keyed with the signing secret, of "v0:<unix ts>:<body>". It returns the
// values of the X-Slack-Request-Timestamp and X-Slack-Signature headers.
func SignRequest(secret string, ts time.Time, body []byte) (timestampHeader, signatureHeader string) {
	timestampHeader = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestampHeader + ":"))
	mac.Write(body)
	return timestampHeader, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// AppClient sends an app the signed requests Slack sends: slash commands,
// interactions and Events API callbacks. Its methods return the app's HTTP
// status and body; err reports only a failure to get an answer.
type AppClient struct {
	// BaseURL is the app's root URL, e.g. "http://127.0.0.1:8080"; the
	// CommandsPath, InteractionsPath and EventsPath are appended to it.
	BaseURL string
	// SigningSecret is the app's signing secret.
	SigningSecret string
	// TeamID is the workspace ID sent; "" means Slack's, or DefaultTeamID.
	TeamID string
	// TeamDomain is the workspace subdomain sent; "" means Slack's, or
	// DefaultTeamDomain.
	TeamDomain string
	// APIAppID is the app ID sent; "" means Slack's, or DefaultAppID.
	APIAppID string
	// BotUserID is the bot user in the events' authorizations; "" means
	// Slack's, or DefaultBotUserID.
	BotUserID string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Now is the clock requests are signed with; nil means time.Now.
	Now func() time.Time
	// Skew is added to the clock when signing, e.g. -6*time.Minute to send
	// requests outside Slack's five-minute window.
	Skew time.Duration
	// Slack, when set, is the fake workspace the requests come from: it
	// issues the trigger IDs and response URLs that requests lack and
	// supplies channel and user names and the message of a block action.
	Slack *Server
}

// CommandRequest is a slash command invocation.
type CommandRequest struct {
	// Command is the command, default "/incident".
	Command string
	// Text is what the user typed after the command.
	Text string
	// UserID is the ID of the user who ran the command.
	UserID string
	// UserName is the user's name; "" means the name in Slack, if any.
	UserName string
	// ChannelID is the channel the command was run in.
	ChannelID string
	// ChannelName is the channel's name; "" means the name in Slack, if any.
	ChannelName string
	// TeamID is the workspace ID; "" means the client's.
	TeamID string
	// ResponseURL is the response URL; "" means one issued by Slack, if set.
	ResponseURL string
	// TriggerID is the trigger ID; "" means one issued by Slack, if set.
	TriggerID string
}

// Command posts a slash command to BaseURL+CommandsPath, form-encoded with
// the fields Slack sends.
func (c *AppClient) Command(ctx context.Context, req CommandRequest) (status int, body []byte, err error) {
	form := c.commandFields(req)
	return c.post(ctx, CommandsPath, formContentType, []byte(form.Encode()), time.Time{}, "", nil)
}

// commandFields are the fields Slack sends with a slash command (the form
// of a request, the JSON payload of a Socket Mode envelope).
func (c *AppClient) commandFields(req CommandRequest) url.Values {
	if req.Command == "" {
		req.Command = "/incident"
	}
	if req.TeamID == "" {
		req.TeamID = c.teamID()
	}
	if s := c.Slack; s != nil {
		if req.TriggerID == "" {
			req.TriggerID = s.NewTriggerID()
		}
		if req.ResponseURL == "" {
			req.ResponseURL = s.NewResponseURL()
		}
		if ch, found := s.Channel(req.ChannelID); found && req.ChannelName == "" {
			req.ChannelName = ch.Name
		}
		if req.UserName == "" {
			req.UserName = s.userName(req.UserID)
		}
	}
	return url.Values{
		"token":                 {DefaultVerificationToken},
		"team_id":               {req.TeamID},
		"team_domain":           {c.teamDomain()},
		"channel_id":            {req.ChannelID},
		"channel_name":          {req.ChannelName},
		"user_id":               {req.UserID},
		"user_name":             {req.UserName},
		"command":               {req.Command},
		"text":                  {req.Text},
		"api_app_id":            {c.appID()},
		"is_enterprise_install": {"false"},
		"response_url":          {req.ResponseURL},
		"trigger_id":            {req.TriggerID},
	}
}

// Interaction posts an interaction payload to BaseURL+InteractionsPath as
// the form field "payload". payload is JSON text (string, []byte,
// json.RawMessage) or a value to marshal, e.g. from BlockActionPayload.
// With Slack set, a map payload is completed in place first: an empty
// trigger_id (and, for block_actions, response_url) is issued, and a block
// action gets the channel name and the message it was clicked on.
func (c *AppClient) Interaction(ctx context.Context, payload any) (status int, body []byte, err error) {
	var raw []byte
	switch p := payload.(type) {
	case string:
		raw = []byte(p)
	case []byte:
		raw = p
	case json.RawMessage:
		raw = p
	case map[string]any:
		c.complete(p)
		raw, err = json.Marshal(p)
	default:
		raw, err = json.Marshal(p)
	}
	if err != nil {
		return 0, nil, err
	}
	form := url.Values{"payload": {string(raw)}}
	return c.post(ctx, InteractionsPath, formContentType, []byte(form.Encode()), time.Time{}, "", nil)
}

// Event posts an event_callback envelope around event (e.g. from
// PinAddedEvent) to BaseURL+EventsPath. eventID "" gets a random ID; pass
// the same ID with retryNum 1, 2, ... to send Slack's retries, which carry
// X-Slack-Retry-Num and X-Slack-Retry-Reason: http_timeout.
func (c *AppClient) Event(ctx context.Context, eventID string, event map[string]any, retryNum int) (status int, body []byte, err error) {
	raw, err := json.Marshal(c.eventCallback(eventID, event))
	if err != nil {
		return 0, nil, err
	}
	var hdr http.Header
	if retryNum > 0 {
		hdr = http.Header{}
		hdr.Set(HeaderRetryNum, strconv.Itoa(retryNum))
		hdr.Set(HeaderRetryReason, "http_timeout")
	}
	return c.post(ctx, EventsPath, jsonContentType, raw, time.Time{}, "", hdr)
}

// eventCallback is the event_callback envelope Slack wraps an event in
// (the body of an Events API request, the payload of an events_api
// envelope); eventID "" gets a random ID.
func (c *AppClient) eventCallback(eventID string, event map[string]any) map[string]any {
	if eventID == "" {
		eventID = "Ev" + strings.ToUpper(randomHex(5))
	}
	eventTime := c.now().Unix()
	if ts, _ := event["event_ts"].(string); ts != "" {
		if micros, valid := parseTS(ts); valid {
			eventTime = micros / 1e6
		}
	}
	typ, _ := event["type"].(string)
	channel, _ := event["channel"].(string)
	if channel == "" {
		channel, _ = event["channel_id"].(string)
	}
	ctxJSON, _ := json.Marshal(map[string]string{"et": typ, "tid": c.teamID(), "aid": c.appID(), "cid": channel})
	return map[string]any{
		"token":      DefaultVerificationToken,
		"team_id":    c.teamID(),
		"api_app_id": c.appID(),
		"event":      event,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": eventTime,
		"authorizations": []map[string]any{{
			"enterprise_id": nil, "team_id": c.teamID(), "user_id": c.botUserID(),
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + base64.RawURLEncoding.EncodeToString(ctxJSON),
	}
}

// URLVerification posts the url_verification request Slack sends when the
// events URL is configured; the app must answer the challenge.
func (c *AppClient) URLVerification(ctx context.Context, challenge string) (status int, body []byte, err error) {
	raw, err := json.Marshal(map[string]string{
		"token": DefaultVerificationToken, "challenge": challenge, "type": "url_verification",
	})
	if err != nil {
		return 0, nil, err
	}
	return c.post(ctx, EventsPath, jsonContentType, raw, time.Time{}, "", nil)
}

// Raw posts body to BaseURL+path with Slack's headers, signed at ts (the
// zero time means the client's clock plus Skew). A non-empty signature is
// sent instead of the right one, to test rejection.
func (c *AppClient) Raw(ctx context.Context, path, contentType string, body []byte, ts time.Time, signature string) (status int, respBody []byte, err error) {
	return c.post(ctx, path, contentType, body, ts, signature, nil)
}

func (c *AppClient) post(ctx context.Context, path, contentType string, body []byte, ts time.Time, signature string, hdr http.Header) (int, []byte, error) {
	if ts.IsZero() {
		ts = c.now().Add(c.Skew)
	}
	tsHeader, sig := SignRequest(c.SigningSecret, ts, body)
	if signature != "" {
		sig = signature
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + "/" + strings.TrimPrefix(path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", slackUserAgent)
	req.Header.Set("Accept", "application/json,*/*")
	req.Header.Set(HeaderTimestamp, tsHeader)
	req.Header.Set(HeaderSignature, sig)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, respBody, err
}

// complete fills what Slack would know into a map payload.
func (c *AppClient) complete(p map[string]any) {
	s := c.Slack
	if s == nil {
		return
	}
	if id, _ := p["trigger_id"].(string); id == "" {
		p["trigger_id"] = s.NewTriggerID()
	}
	if p["type"] != "block_actions" {
		return
	}
	if u, _ := p["response_url"].(string); u == "" {
		p["response_url"] = s.NewResponseURL()
	}
	container, _ := p["container"].(map[string]any)
	channelID, _ := container["channel_id"].(string)
	ts, _ := container["message_ts"].(string)
	if ch, _ := p["channel"].(map[string]any); ch != nil && ch["name"] == "" {
		if channel, found := s.Channel(channelID); found {
			ch["name"] = channel.Name
		}
	}
	if user, _ := p["user"].(map[string]any); user != nil {
		if name := s.userName(fmtString(user["id"])); name != "" {
			user["username"], user["name"] = name, name
		}
	}
	if _, has := p["message"]; !has && ts != "" {
		if m, found := s.message(channelID, ts); found {
			p["message"] = messageFields(&m, s.TeamID)
		}
	}
}

func fmtString(v any) string {
	str, _ := v.(string)
	return str
}

func (c *AppClient) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *AppClient) teamID() string {
	return pick(c.TeamID, func(s *Server) string { return s.TeamID }, c.Slack, DefaultTeamID)
}

func (c *AppClient) teamDomain() string {
	return pick(c.TeamDomain, func(s *Server) string { return s.TeamDomain }, c.Slack, DefaultTeamDomain)
}

func (c *AppClient) appID() string {
	return pick(c.APIAppID, func(s *Server) string { return s.AppID }, c.Slack, DefaultAppID)
}

func (c *AppClient) botUserID() string {
	return pick(c.BotUserID, func(s *Server) string { return s.BotUserID }, c.Slack, DefaultBotUserID)
}

// pick returns the first non-empty of v, field of srv and def.
func pick(v string, field func(*Server) string, srv *Server, def string) string {
	if v != "" {
		return v
	}
	if srv != nil {
		if f := field(srv); f != "" {
			return f
		}
	}
	return def
}

// userName returns the name of a user known to the fake, "" if unknown.
func (s *Server) userName(id string) string {
	if id == s.BotUserID {
		return s.BotName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.ID == id {
			return u.Name
		}
	}
	return ""
}

// message returns a copy of the message of channel and ts.
func (s *Server) message(channelID, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findMessage(channelID, ts); m != nil {
		return *m, true
	}
	return Message{}, false
}
