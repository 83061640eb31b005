package slackcmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
)

// MaxBody caps Slack request bodies.
const MaxBody = 1 << 20

// Service is what the Slack handlers need from the lifecycle.
type Service interface {
	Run(ctx context.Context, c incidentbot.Cmd) (incidentbot.Reply, error)
	IngestSlackEvent(ctx context.Context, eventID string, ev incidentbot.SlackEvent) (incidentbot.Outcome, error)
	// Notify answers a person later through a response_url (outbox).
	Notify(ctx context.Context, incidentID, responseURL, text string) error
}

// ViewOpener opens a modal; the one Slack call made inside a request,
// because its trigger_id expires 3 s after the click.
type ViewOpener interface {
	OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error
}

// Handler serves POST /slack/commands, /slack/interactions and
// /slack/events. Every request is verified (v0 signature over the raw
// body, 5-minute window) before anything is read from it; a failure is
// answered 401 with no detail.
type Handler struct {
	secret  string
	teamID  string
	svc     Service
	views   ViewOpener
	now     func() time.Time
	log     *slog.Logger
	refused *prometheus.CounterVec
	reqs    *prometheus.CounterVec
}

// HandlerConfig configures NewHandler. Now and Logger may be nil; Registerer
// may be nil (no metrics).
type HandlerConfig struct {
	SigningSecret string
	TeamID        string // "" accepts every workspace
	Service       Service
	Views         ViewOpener
	Now           func() time.Time
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// NewHandler returns the Slack request handlers.
func NewHandler(cfg HandlerConfig) *Handler {
	h := &Handler{secret: cfg.SigningSecret, teamID: cfg.TeamID, svc: cfg.Service, views: cfg.Views, now: cfg.Now, log: cfg.Logger}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_slack_requests_refused_total", Help: "Slack requests refused, by reason (signature, stale, too_large, team)."}, []string{"reason"})
	h.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_slack_requests_total", Help: "Slack requests handled, by endpoint and result."}, []string{"endpoint", "result"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.refused, h.reqs)
	}
	return h
}

// deliveryKey identifies a signed request for the lifecycle: a replay of
// it (the same signature, inside Slack's 5-minute window) is applied once.
// The signature's hex digits count in either case, as they verify.
func deliveryKey(r *http.Request, part int) string {
	sum := sha256.Sum256([]byte(strings.ToLower(r.Header.Get("X-Slack-Signature"))))
	key := "slack-request:" + hex.EncodeToString(sum[:16])
	if part > 0 {
		key += ":" + strconv.Itoa(part)
	}
	return key
}

// read returns the verified raw body, or answers the request and returns nil.
func (h *Handler) read(w http.ResponseWriter, r *http.Request) []byte {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refused.WithLabelValues("too_large").Inc()
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return nil
		}
		http.Error(w, "could not read body", http.StatusBadRequest)
		return nil
	}
	if err := VerifyRequest(h.secret, r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature"), body, h.now()); err != nil {
		reason := "signature"
		if errors.Is(err, ErrStale) {
			reason = "stale"
		}
		h.refused.WithLabelValues(reason).Inc()
		h.log.Warn("slack request refused", "path", r.URL.Path, "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return nil
	}
	return body
}

func (h *Handler) otherTeam(team string) bool {
	if h.teamID != "" && team != h.teamID {
		h.refused.WithLabelValues("team").Inc()
		return true
	}
	return false
}

// Commands serves the /incident slash command.
func (h *Handler) Commands(w http.ResponseWriter, r *http.Request) {
	body := h.read(w, r)
	if body == nil {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	answer := h.Command(r.Context(), commandFromForm(form), deliveryKey(r, 0))
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, answer)
}

// CommandPayload is a slash command invocation as Slack sends it: the form
// fields of a POST to the command URL, or the JSON payload of a Socket
// Mode slash_commands envelope (the same names).
type CommandPayload struct {
	TeamID      string `json:"team_id"`
	ChannelID   string `json:"channel_id"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	Command     string `json:"command"`
	Text        string `json:"text"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
}

func commandFromForm(form url.Values) CommandPayload {
	return CommandPayload{
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"), UserName: form.Get("user_name"),
		Command: form.Get("command"), Text: form.Get("text"), ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
	}
}

// Command runs a slash command, whichever transport brought it, and
// returns its answer (response_type and text; nil when the channel post
// says it all) once its effect is durable.
// key identifies the delivery (a signed request, a Socket Mode envelope):
// a redelivery is applied once and gets the first answer.
func (h *Handler) Command(ctx context.Context, p CommandPayload, key string) map[string]any {
	if h.otherTeam(p.TeamID) {
		return ephemeralAnswer("This incidentbot serves another Slack workspace.")
	}
	c, err := ParseCommand(p.Text, h.now())
	if err == nil && c.Name == "help" {
		h.reqs.WithLabelValues("commands", "help").Inc()
		return ephemeralAnswer(incidentbot.Help())
	}
	if err != nil {
		h.reqs.WithLabelValues("commands", "usage").Inc()
		return ephemeralAnswer(incidentbot.ErrorMessage(err))
	}
	c.ChannelID = p.ChannelID
	// user_name is Slack's legacy user name: never shown. The domain names
	// people from its directory (the profile's real name).
	c.Actor = incidentbot.Person{ID: p.UserID}
	c.ResponseURL = p.ResponseURL
	c.DeliveryKey = key
	reply, err := h.svc.Run(ctx, c)
	if err != nil {
		h.reqs.WithLabelValues("commands", incidentbot.ErrorCode(err)).Inc()
		if incidentbot.ErrorCode(err) == incidentbot.EINTERNAL {
			h.log.Error("slash command failed", "subcommand", c.Name, "incident", incidentbot.Clip(c.IncidentID), "err", err)
			return ephemeralAnswer("Sorry, that failed and nothing was recorded. Try again; if it keeps failing, check the bot's logs.")
		}
		return ephemeralAnswer(incidentbot.ErrorMessage(err))
	}
	h.reqs.WithLabelValues("commands", "ok").Inc()
	if reply.Text == "" {
		// The command's effect is visible in the channel: an empty answer
		// shows nothing more (no private confirmation besides the post).
		return nil
	}
	return map[string]any{"response_type": responseType(reply.InChannel), "text": reply.Text}
}

func ephemeralAnswer(text string) map[string]any {
	return map[string]any{"response_type": "ephemeral", "text": text}
}

func responseType(inChannel bool) string {
	if inChannel {
		return "in_channel"
	}
	return "ephemeral"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Modal identifiers.
const (
	updateCallbackID = "incident_update"
	blockStatus      = "status"
	blockMessage     = "message"
)

// Interactions serves buttons and modal submissions.
func (h *Handler) Interactions(w http.ResponseWriter, r *http.Request) {
	body := h.read(w, r)
	if body == nil {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "missing payload", http.StatusBadRequest)
		return
	}
	answer, err := h.Interaction(r.Context(), []byte(form.Get("payload")), func(part int) string { return deliveryKey(r, part) })
	if err != nil {
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, answer)
}

// Interaction handles an interaction payload (the JSON of a button click
// or a modal submission), whichever transport brought it, and returns the
// answer Slack wants in the response (nil for an empty 200; a submission's
// field errors otherwise), once its effect is durable. key gives the
// delivery key of each part (a block action's index from 1; 0 for a
// submission). It fails only on a payload that is not JSON.
func (h *Handler) Interaction(ctx context.Context, payload []byte, key func(part int) string) (map[string]any, error) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		return nil, err
	}
	if h.otherTeam(cb.Team.ID) {
		return nil, nil
	}
	actor := incidentbot.Person{ID: cb.User.ID} // user.name is the legacy user name
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		for i, a := range cb.ActionCallback.BlockActions {
			h.blockAction(ctx, cb, actor, a, key(i+1))
		}
	case slack.InteractionTypeViewSubmission:
		return h.viewSubmission(ctx, cb, actor, key(0)), nil
	}
	return nil, nil
}

func (h *Handler) blockAction(ctx context.Context, cb slack.InteractionCallback, actor incidentbot.Person, a *slack.BlockAction, key string) {
	incID := a.Value
	if err := incidentbot.CheckID("the button's incident", incID); err != nil {
		h.reqs.WithLabelValues("interactions", "bad_request").Inc()
		return
	}
	var name string
	switch a.ActionID {
	case incidentbot.ActionAcknowledge:
		name = "ack"
	case incidentbot.ActionResolve:
		name = "resolve"
	case incidentbot.ActionPostUpdate:
		// trigger_id expires 3 s after the click: the one in-request call.
		vctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		defer cancel()
		if err := h.views.OpenView(vctx, cb.TriggerID, updateModal(incID)); err != nil {
			h.log.Warn("views.open failed", "incident", incID, "err", err)
			h.notify(ctx, incID, cb.ResponseURL, "Could not open the update form ("+incidentbot.ErrorMessage(err)+"). Use `/incident update "+incID+" <message>` instead.")
		}
		h.reqs.WithLabelValues("interactions", "view_opened").Inc()
		return
	default:
		return
	}
	reply, err := h.svc.Run(ctx, incidentbot.Cmd{Name: name, IncidentID: incID, ChannelID: cb.Channel.ID, Actor: actor, DeliveryKey: key})
	h.reqs.WithLabelValues("interactions", orStr(incidentbot.ErrorCode(err), "ok")).Inc()
	switch {
	case reply.Replayed:
		// Applied and answered the first time.
	case err != nil:
		if incidentbot.ErrorCode(err) == incidentbot.EINTERNAL {
			h.log.Error("button failed", "incident", incidentbot.Clip(incID), "action", name, "err", err)
		}
		h.notify(ctx, incID, cb.ResponseURL, incidentbot.ErrorMessage(err))
	case !reply.InChannel && reply.Text != "":
		h.notify(ctx, incID, cb.ResponseURL, reply.Text)
	}
}

func (h *Handler) notify(ctx context.Context, incID, responseURL, text string) {
	if responseURL == "" {
		return
	}
	if err := h.svc.Notify(ctx, incID, responseURL, text); err != nil {
		h.log.Error("could not queue a reply", "incident", incID, "err", err)
	}
}

func (h *Handler) viewSubmission(ctx context.Context, cb slack.InteractionCallback, actor incidentbot.Person, key string) map[string]any {
	if cb.View.CallbackID != updateCallbackID {
		return nil
	}
	var vals map[string]map[string]slack.BlockAction
	if cb.View.State != nil { // a submission without a state has no fields
		vals = cb.View.State.Values
	}
	msg := strings.TrimSpace(vals[blockMessage][blockMessage].Value)
	st := vals[blockStatus][blockStatus].SelectedOption.Value
	c := incidentbot.Cmd{Name: "update", IncidentID: cb.View.PrivateMetadata, Actor: actor, Text: msg, DeliveryKey: key}
	if st != "" {
		c.Name, c.Status = "status", incidentbot.Status(st)
	}
	_, err := h.svc.Run(ctx, c)
	if err != nil {
		h.reqs.WithLabelValues("interactions", incidentbot.ErrorCode(err)).Inc()
		if incidentbot.ErrorCode(err) == incidentbot.EINTERNAL {
			h.log.Error("update submission failed", "incident", incidentbot.Clip(c.IncidentID), "err", err)
		}
		return map[string]any{"response_action": "errors", "errors": map[string]string{blockMessage: incidentbot.ErrorMessage(err)}}
	}
	h.reqs.WithLabelValues("interactions", "update").Inc()
	return nil
}

// updateModal is the "Post update" form.
func updateModal(incidentID string) slack.ModalViewRequest {
	opt := func(v, label string) *slack.OptionBlockObject {
		return slack.NewOptionBlockObject(v, slack.NewTextBlockObject(slack.PlainTextType, label, false, false), nil)
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, slack.NewTextBlockObject(slack.PlainTextType, "Keep the current status", false, false), blockStatus,
		opt("investigating", "Investigating"), opt("identified", "Identified"), opt("monitoring", "Monitoring"))
	statusBlock := slack.NewInputBlock(blockStatus, slack.NewTextBlockObject(slack.PlainTextType, "Status", false, false), nil, sel)
	statusBlock.Optional = true
	input := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "What is happening, what is next, when the next update comes", false, false), blockMessage)
	input.Multiline = true
	msgBlock := slack.NewInputBlock(blockMessage, slack.NewTextBlockObject(slack.PlainTextType, "Update", false, false), nil, input)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      updateCallbackID,
		PrivateMetadata: incidentID,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Update "+incidentID, false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Publish", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		Blocks:          slack.Blocks{BlockSet: []slack.Block{statusBlock, msgBlock}},
	}
}

// eventEnvelope is the Events API request body.
type eventEnvelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

type eventBody struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	User      string `json:"user"`
	Channel   string `json:"channel"`
	ChannelID string `json:"channel_id"`
	Reaction  string `json:"reaction"`
	DeletedTS string `json:"deleted_ts"`
	Item      struct {
		Type    string        `json:"type"`
		Channel string        `json:"channel"`
		TS      string        `json:"ts"`
		Message *eventMessage `json:"message"`
	} `json:"item"`
	Message *eventMessage `json:"message"`
}

type eventMessage struct {
	User      string `json:"user"`
	Username  string `json:"username"`
	Text      string `json:"text"`
	TS        string `json:"ts"`
	Permalink string `json:"permalink"`
}

// Events serves the Events API: url_verification, and pins, 📌 reactions,
// edits and deletions of pinned messages in incident channels. Slack
// retries (X-Slack-Retry-Num) are deduplicated on event_id.
func (h *Handler) Events(w http.ResponseWriter, r *http.Request) {
	body := h.read(w, r)
	if body == nil {
		return
	}
	var env eventEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	if env.Type == "url_verification" {
		writeJSON(w, map[string]string{"challenge": env.Challenge})
		return
	}
	switch status, msg := h.event(r.Context(), env); status {
	case http.StatusOK:
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, msg, status)
	}
}

// Event handles an Events API event_callback (the request body, or a
// Socket Mode events_api envelope's payload), whichever transport brought
// it. It returns nil once the event is durable (or is one the bot ignores,
// or is malformed: a redelivery would not fix it), and an error when it
// could not be recorded and should come again.
func (h *Handler) Event(ctx context.Context, payload []byte) error {
	var env eventEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		h.reqs.WithLabelValues("events", "bad_request").Inc()
		return nil
	}
	if status, msg := h.event(ctx, env); status == http.StatusServiceUnavailable {
		return errors.New(msg)
	}
	return nil
}

// event applies an event_callback and says how to answer it: 200, 400 with
// a reason, or 503 (could not record it; Slack retries).
func (h *Handler) event(ctx context.Context, env eventEnvelope) (int, string) {
	if env.Type != "event_callback" || h.otherTeam(env.TeamID) {
		return http.StatusOK, ""
	}
	var e eventBody
	if err := json.Unmarshal(env.Event, &e); err != nil || env.EventID == "" {
		return http.StatusBadRequest, "malformed event"
	}
	if err := incidentbot.CheckID("event_id", env.EventID); err != nil {
		h.reqs.WithLabelValues("events", "bad_request").Inc()
		return http.StatusBadRequest, incidentbot.ErrorMessage(err)
	}
	ev, ok := domainEvent(e)
	if !ok {
		return http.StatusOK, ""
	}
	out, err := h.svc.IngestSlackEvent(ctx, env.EventID, ev)
	if err != nil {
		if incidentbot.ErrorCode(err) == incidentbot.EINVALID {
			return http.StatusBadRequest, incidentbot.ErrorMessage(err)
		}
		h.log.Error("slack event could not be recorded; Slack will retry", "event_id", env.EventID, "err", err)
		return http.StatusServiceUnavailable, "could not record the event"
	}
	h.reqs.WithLabelValues("events", string(out)).Inc()
	return http.StatusOK, ""
}

func domainEvent(e eventBody) (incidentbot.SlackEvent, bool) {
	switch {
	case e.Type == "pin_added" && e.Item.Message != nil:
		m := e.Item.Message
		ch := orStr(e.ChannelID, e.Item.Channel)
		return incidentbot.SlackEvent{Kind: "pin", Channel: ch, TS: m.TS, By: incidentbot.Person{ID: e.User},
			Message: &incidentbot.SlackMessage{Channel: ch, TS: m.TS, Author: incidentbot.Person{ID: m.User}, Text: plain(m.Text), Permalink: m.Permalink}}, true
	case e.Type == "reaction_added" && e.Reaction == "pushpin" && e.Item.Type == "message":
		return incidentbot.SlackEvent{Kind: "reaction", Channel: e.Item.Channel, TS: e.Item.TS, By: incidentbot.Person{ID: e.User}}, true
	case e.Type == "message" && e.Subtype == "message_changed" && e.Message != nil:
		return incidentbot.SlackEvent{Kind: "edit", Channel: e.Channel, TS: e.Message.TS,
			Message: &incidentbot.SlackMessage{Channel: e.Channel, TS: e.Message.TS, Author: incidentbot.Person{ID: e.Message.User}, Text: plain(e.Message.Text)}}, true
	case e.Type == "message" && e.Subtype == "message_deleted":
		return incidentbot.SlackEvent{Kind: "delete", Channel: e.Channel, TS: e.DeletedTS}, true
	}
	return incidentbot.SlackEvent{}, false
}
