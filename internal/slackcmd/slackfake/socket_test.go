package slackfake_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// dialSocket opens a Socket Mode connection with slack-go's
// apps.connections.open and a plain WebSocket, and reads its hello.
func dialSocket(t *testing.T, srv *slackfake.Server) *websocket.Conn {
	t.Helper()
	api := slack.New("", slack.OptionAppLevelToken(srv.AppToken), slack.OptionAPIURL(srv.URL()))
	_, u, err := api.StartSocketModeContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	var hello map[string]any
	if err := ws.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("first message %v (%v), want hello", hello, err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(u, nil); err == nil {
		t.Error("a used ticket opened a second connection")
	}
	return ws
}

// TestServer_SocketMode_TokensAsSlackChecksThem: apps.connections.open
// takes the app-level token only; the app-level token calls nothing else.
func TestServer_SocketMode_TokensAsSlackChecksThem(t *testing.T) {
	srv := slackfake.New()
	defer srv.Close()
	ctx := context.Background()
	if _, _, err := slack.New("", slack.OptionAppLevelToken(srv.Token), slack.OptionAPIURL(srv.URL())).StartSocketModeContext(ctx); err == nil || !strings.Contains(err.Error(), "not_allowed_token_type") {
		t.Errorf("apps.connections.open with the bot token = %v, want not_allowed_token_type", err)
	}
	if _, _, err := slack.New("", slack.OptionAppLevelToken("xapp-wrong"), slack.OptionAPIURL(srv.URL())).StartSocketModeContext(ctx); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("apps.connections.open with an unknown token = %v, want invalid_auth", err)
	}
	if _, err := slack.New(srv.AppToken, slack.OptionAPIURL(srv.URL())).AuthTestContext(ctx); err == nil || !strings.Contains(err.Error(), "not_allowed_token_type") {
		t.Errorf("auth.test with the app-level token = %v, want not_allowed_token_type", err)
	}
}

// TestServer_SocketMode_RedeliversUntilAcknowledgedAndChecksAcks: an
// envelope is delivered again with retry_attempt and retry_reason until it
// is acknowledged; bad acknowledgements are reported.
func TestServer_SocketMode_RedeliversUntilAcknowledgedAndChecksAcks(t *testing.T) {
	srv := slackfake.New()
	defer srv.Close()
	srv.Socket.AckTimeout = 100 * time.Millisecond
	ws := dialSocket(t, srv)
	e := srv.SocketEvent("Ev1", slackfake.ReactionAddedEvent("U1", "C1", "1700000000.000100", "pushpin"))
	var got []map[string]any
	for len(got) < 2 {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if got[0]["envelope_id"] != e.ID || got[0]["type"] != "events_api" || got[0]["retry_attempt"] != 0.0 || got[0]["accepts_response_payload"] != false {
		t.Errorf("first delivery %v", got[0])
	}
	if got[1]["envelope_id"] != e.ID || got[1]["retry_attempt"] != 1.0 || got[1]["retry_reason"] != "timeout" {
		t.Errorf("redelivery %v, want retry_attempt 1, retry_reason timeout", got[1])
	}
	var payload struct {
		Type    string `json:"type"`
		EventID string `json:"event_id"`
	}
	raw, _ := json.Marshal(got[1]["payload"])
	if json.Unmarshal(raw, &payload) != nil || payload.Type != "event_callback" || payload.EventID != "Ev1" {
		t.Errorf("payload %s, want the event_callback", raw)
	}
	// A payload where none is accepted, and an unknown envelope.
	if err := ws.WriteJSON(map[string]any{"envelope_id": e.ID, "payload": map[string]any{"text": "hi"}}); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"envelope_id": "nope"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := e.Wait(ctx)
	if err != nil || a.Attempt != 1 {
		t.Fatalf("Wait = %+v, %v; want the ack of attempt 1", a, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(srv.SocketProblems()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p := srv.SocketProblems(); len(p) != 2 || !strings.Contains(p[0], "does not accept") || !strings.Contains(p[1], "unknown envelope") {
		t.Errorf("problems %q, want the payload and the unknown envelope", p)
	}
	never := srv.SocketCommand(slackfake.CommandRequest{Text: "help", UserID: "U1", ChannelID: "C1"})
	if _, err := never.Wait(ctx); err == nil || never.Deliveries() != 4 {
		t.Errorf("an envelope never acknowledged: %v after %d deliveries, want a failure after 4 (3 retries)", err, never.Deliveries())
	}
}

// TestServer_SocketMode_RefreshClosesTheConnectionAfterTheGrace: after
// refresh_requested the connection gets no new envelope and closes.
func TestServer_SocketMode_RefreshClosesTheConnectionAfterTheGrace(t *testing.T) {
	srv := slackfake.New()
	defer srv.Close()
	srv.Socket.RefreshGrace = 50 * time.Millisecond
	ws := dialSocket(t, srv)
	srv.SocketDisconnect("refresh_requested")
	var m map[string]any
	if err := ws.ReadJSON(&m); err != nil || m["type"] != "disconnect" || m["reason"] != "refresh_requested" {
		t.Fatalf("message %v (%v), want the disconnect", m, err)
	}
	srv.SocketCommand(slackfake.CommandRequest{Text: "help", UserID: "U1", ChannelID: "C1"})
	if err := ws.ReadJSON(&m); err == nil {
		t.Errorf("got %v on a refreshed connection; want it closed with nothing more", m)
	}
}
