package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func TestSignRequest_MatchesSlacksDocumentedExample(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	ts, sig := slackfake.SignRequest(secret, time.Unix(1531420618, 0), []byte(body))
	if ts != "1531420618" || sig != "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503" {
		t.Fatalf("SignRequest = %q, %q", ts, sig)
	}
}

func TestSignRequest_IsAcceptedBySlackGo(t *testing.T) {
	body := []byte(`{"type":"event_callback"}`)
	ts, sig := slackfake.SignRequest(secret, time.Now(), body)
	h := http.Header{}
	h.Set(slackfake.HeaderTimestamp, ts)
	h.Set(slackfake.HeaderSignature, sig)
	sv, err := slack.NewSecretsVerifier(h, secret)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sv.Write(body)
	if err := sv.Ensure(); err != nil {
		t.Fatal(err)
	}
}

// received is one request the test app accepted.
type received struct {
	path        string
	header      http.Header
	command     slack.SlashCommand
	interaction slack.InteractionCallback
	event       slackevents.EventsAPIEvent
}

// testApp is an app's inbound endpoints built with slack-go: it verifies
// signatures and parses commands, interactions and events.
type testApp struct {
	mu   sync.Mutex
	reqs []received
	// onCommand, when set, runs for each accepted command.
	onCommand func(slack.SlashCommand)
}

func (a *testApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, secret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	_, _ = sv.Write(body)
	if err := sv.Ensure(); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rec := received{path: r.URL.Path, header: r.Header.Clone()}
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch r.URL.Path {
	case slackfake.CommandsPath:
		if rec.command, err = slack.SlashCommandParse(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if a.onCommand != nil {
			a.onCommand(rec.command)
		}
	case slackfake.InteractionsPath:
		if rec.interaction, err = slack.InteractionCallbackParse(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case slackfake.EventsPath:
		if rec.event, err = slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if rec.event.Type == slackevents.URLVerification {
			var v slackevents.ChallengeResponse
			if err := json.Unmarshal(body, &v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, v.Challenge)
		}
	default:
		http.NotFound(w, r)
		return
	}
	a.mu.Lock()
	a.reqs = append(a.reqs, rec)
	a.mu.Unlock()
}

func (a *testApp) last(t *testing.T) received {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		t.Fatal("the app accepted no request")
	}
	return a.reqs[len(a.reqs)-1]
}

func newApp(t *testing.T) (*testApp, *slackfake.Server, *slackfake.AppClient) {
	t.Helper()
	app := &testApp{}
	hs := httptest.NewServer(app)
	t.Cleanup(hs.Close)
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	return app, srv, &slackfake.AppClient{BaseURL: hs.URL, SigningSecret: secret, Slack: srv}
}

func TestAppClient_Command_IsASignedSlashCommand(t *testing.T) {
	app, srv, c := newApp(t)
	api := slack.New(slackfake.DefaultToken, slack.OptionAPIURL(srv.URL()))
	srv.AddUser("U1", "alice", "alice@example.com")
	ch := srv.CreateChannelDirect("general", "U1", false)
	ctx := context.Background()
	// The app answers like an incident bot: a modal through the trigger and
	// an acknowledgement through the response URL.
	appErr := make(chan error, 1)
	app.onCommand = func(cmd slack.SlashCommand) {
		_, err := api.OpenViewContext(ctx, cmd.TriggerID, modal("Declare"))
		if err == nil {
			err = slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "Opening the form"})
		}
		appErr <- err
	}

	status, body, err := c.Command(ctx, slackfake.CommandRequest{Text: "declare db down", UserID: "U1", ChannelID: ch.ID})
	if err != nil || status != http.StatusOK {
		t.Fatalf("status %d, body %q, err %v", status, body, err)
	}
	if err := <-appErr; err != nil {
		t.Fatalf("the app's answer: %v", err)
	}
	cmd := app.last(t).command
	if cmd.Command != "/incident" || cmd.Text != "declare db down" || cmd.UserID != "U1" || cmd.UserName != "alice" ||
		cmd.ChannelID != ch.ID || cmd.ChannelName != "general" || cmd.TeamID != "T0001" || cmd.TeamDomain != "incidentbot-test" ||
		cmd.APIAppID != "A0001" || cmd.Token == "" || cmd.TriggerID == "" || cmd.ResponseURL == "" {
		t.Fatalf("command = %+v", cmd)
	}
	if views := srv.Views(); len(views) != 1 || views[0].TriggerID != cmd.TriggerID {
		t.Fatalf("views = %+v", views)
	}
	if rs := srv.Responses(cmd.ResponseURL); len(rs) != 1 || rs[0].Text != "Opening the form" {
		t.Fatalf("responses = %+v", rs)
	}
	if ua := app.last(t).header.Get("User-Agent"); !strings.HasPrefix(ua, "Slackbot") {
		t.Fatalf("User-Agent %q", ua)
	}
}

func TestAppClient_StaleOrBadSignature_IsRefused(t *testing.T) {
	_, _, c := newApp(t)
	ctx := context.Background()
	c.Skew = -6 * time.Minute
	status, body, err := c.Command(ctx, slackfake.CommandRequest{UserID: "U1", ChannelID: "C1"})
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(string(body), "timestamp") {
		t.Fatalf("stale: %d %q %v", status, body, err)
	}
	c.Skew = 0
	status, _, err = c.Raw(ctx, slackfake.EventsPath, "application/json", []byte(`{}`), time.Time{}, "v0=deadbeef")
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d %v", status, err)
	}
	status, _, err = c.Raw(ctx, slackfake.EventsPath, "application/json", []byte(`{"type":"url_verification","challenge":"c"}`), time.Now().Add(-4*time.Minute), "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("4 minutes old, right signature: %d %v", status, err)
	}
}

func TestAppClient_Interactions_ParseWithSlackGo(t *testing.T) {
	app, srv, c := newApp(t)
	api := slack.New(slackfake.DefaultToken, slack.OptionAPIURL(srv.URL()))
	srv.AddUser("U1", "alice", "alice@example.com")
	ch, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, ts, err := api.PostMessage(ch.ID, slack.MsgOptionText("SEV1: db down", false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	p := slackfake.BlockActionPayload("U1", ch.ID, ts, "ack", "INC-1", "")
	if status, body, err := c.Interaction(ctx, p); err != nil || status != http.StatusOK {
		t.Fatalf("block action: %d %q %v", status, body, err)
	}
	cb := app.last(t).interaction
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U1" || cb.User.Name != "alice" || cb.Team.ID != "T0001" ||
		cb.Channel.ID != ch.ID || cb.Channel.Name != "inc-1" || cb.Container.Type != "message" || cb.Container.MessageTs != ts ||
		cb.Container.ChannelID != ch.ID || cb.Message.Text != "SEV1: db down" || cb.TriggerID == "" ||
		cb.ResponseURL != p["response_url"] || !strings.Contains(cb.ResponseURL, "/response/") {
		t.Fatalf("block action = %+v", cb)
	}
	acts := cb.ActionCallback.BlockActions
	if len(acts) != 1 || acts[0].ActionID != "ack" || acts[0].Value != "INC-1" || acts[0].Type != "button" ||
		acts[0].BlockID == "" || acts[0].ActionTs == "" {
		t.Fatalf("actions = %+v", acts)
	}

	sub := slackfake.ViewSubmissionPayload("U1", "declare_incident", ch.ID, map[string]map[string]any{
		"title":    {"title_input": slackfake.TextInputValue("DB down")},
		"severity": {"sev": slackfake.StaticSelectValue("sev1")},
		"lead":     {"lead": slackfake.UsersSelectValue("U1")},
	})
	if status, body, err := c.Interaction(ctx, sub); err != nil || status != http.StatusOK {
		t.Fatalf("view submission: %d %q %v", status, body, err)
	}
	cb = app.last(t).interaction
	v := cb.View.State.Values
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != "declare_incident" || cb.View.PrivateMetadata != ch.ID ||
		cb.View.ID == "" || cb.User.ID != "U1" || v["title"]["title_input"].Value != "DB down" ||
		v["severity"]["sev"].SelectedOption.Value != "sev1" || v["lead"]["lead"].SelectedUser != "U1" {
		t.Fatalf("view submission = %+v", cb)
	}

	if status, _, err := c.Interaction(ctx, `{"type":"shortcut","callback_id":"declare","trigger_id":"1.2.3"}`); err != nil || status != http.StatusOK {
		t.Fatalf("raw payload: %d %v", status, err)
	}
	if cb := app.last(t).interaction; cb.Type != slack.InteractionTypeShortcut || cb.TriggerID != "1.2.3" {
		t.Fatalf("raw payload = %+v", cb)
	}
}

func TestAppClient_Events_ParseWithSlackGo(t *testing.T) {
	app, _, c := newApp(t)
	ctx := context.Background()
	msg := slackfake.Message{Channel: "C0000001", TS: "1714564800.000100", User: "UBOT", BotID: "BBOT", Text: "Incident summary"}

	status, body, err := c.URLVerification(ctx, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
	if err != nil || status != http.StatusOK || string(body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification: %d %q %v", status, body, err)
	}

	if status, body, err := c.Event(ctx, "Ev01", slackfake.PinAddedEvent("U1", "C0000001", msg), 0); err != nil || status != http.StatusOK {
		t.Fatalf("pin_added: %d %q %v", status, body, err)
	}
	rec := app.last(t)
	cb, isCallback := rec.event.Data.(*slackevents.EventsAPICallbackEvent)
	pin, isPin := rec.event.InnerEvent.Data.(*slackevents.PinAddedEvent)
	if !isCallback || !isPin || cb.EventID != "Ev01" || cb.TeamID != "T0001" || cb.APIAppID != "A0001" || cb.EventTime == 0 ||
		len(cb.Authorizations) != 1 || cb.Authorizations[0].UserID != "UBOT" || !cb.Authorizations[0].IsBot {
		t.Fatalf("envelope = %+v", rec.event.Data)
	}
	if pin.User != "U1" || pin.Channel != "C0000001" || pin.Item.Type != "message" || pin.Item.Message == nil ||
		pin.Item.Message.Text != "Incident summary" || pin.Item.Message.Timestamp != msg.TS || pin.EventTimestamp == "" {
		t.Fatalf("pin_added = %+v", pin)
	}
	if rec.header.Get(slackfake.HeaderRetryNum) != "" {
		t.Fatal("first delivery carries a retry header")
	}

	if _, _, err := c.Event(ctx, "Ev01", slackfake.ReactionAddedEvent("U1", "C0000001", msg.TS, "eyes"), 2); err != nil {
		t.Fatal(err)
	}
	rec = app.last(t)
	react, isReaction := rec.event.InnerEvent.Data.(*slackevents.ReactionAddedEvent)
	if !isReaction || react.Reaction != "eyes" || react.Item.Channel != "C0000001" || react.Item.Timestamp != msg.TS ||
		rec.header.Get(slackfake.HeaderRetryNum) != "2" || rec.header.Get(slackfake.HeaderRetryReason) != "http_timeout" {
		t.Fatalf("reaction_added = %+v, headers %v", rec.event.InnerEvent.Data, rec.header)
	}

	edited := msg
	edited.Text = "Incident summary (resolved)"
	if _, _, err := c.Event(ctx, "", slackfake.MessageChangedEvent("C0000001", edited, "Incident summary"), 0); err != nil {
		t.Fatal(err)
	}
	rec = app.last(t)
	changed, isMessage := rec.event.InnerEvent.Data.(*slackevents.MessageEvent)
	if !isMessage || changed.SubType != "message_changed" || changed.Channel != "C0000001" || changed.Message == nil ||
		changed.Message.Text != edited.Text || changed.Message.Timestamp != msg.TS || changed.Message.Edited == nil ||
		changed.PreviousMessage == nil || changed.PreviousMessage.Text != "Incident summary" || !strings.HasPrefix(rec.event.Data.(*slackevents.EventsAPICallbackEvent).EventID, "Ev") {
		t.Fatalf("message_changed = %+v", rec.event.InnerEvent.Data)
	}

	if _, _, err := c.Event(ctx, "Ev03", slackfake.MessageDeletedEvent("C0000001", msg.TS), 0); err != nil {
		t.Fatal(err)
	}
	deleted, isMessage := app.last(t).event.InnerEvent.Data.(*slackevents.MessageEvent)
	if !isMessage || deleted.SubType != "message_deleted" || deleted.DeletedTimeStamp != msg.TS || deleted.Channel != "C0000001" {
		t.Fatalf("message_deleted = %+v", app.last(t).event.InnerEvent.Data)
	}
}
