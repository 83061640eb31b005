package slackcmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackcmd"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"
)

// socketService is a handwritten lifecycle for the handlers: it applies a
// command once per delivery key (a redelivery waits for the first and gets
// its answer, as the store's transaction makes it), records events once
// per event ID, and can be slowed or made to fail.
type socketService struct {
	mu       sync.Mutex
	keys     map[string]*sync.Mutex
	answers  map[string]incidentbot.Reply
	applied  []incidentbot.Cmd
	events   map[string]bool
	slow     time.Duration // the first Run of each key takes this long
	failNext int           // IngestSlackEvent calls that fail
}

func newSocketService() *socketService {
	return &socketService{keys: map[string]*sync.Mutex{}, answers: map[string]incidentbot.Reply{}, events: map[string]bool{}}
}

func (f *socketService) Run(_ context.Context, c incidentbot.Cmd) (incidentbot.Reply, error) {
	f.mu.Lock()
	l := f.keys[c.DeliveryKey]
	if l == nil {
		l = &sync.Mutex{}
		f.keys[c.DeliveryKey] = l
	}
	f.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	f.mu.Lock()
	if r, ok := f.answers[c.DeliveryKey]; ok && c.DeliveryKey != "" {
		f.mu.Unlock()
		r.Replayed = true
		return r, nil
	}
	slow := f.slow
	f.mu.Unlock()
	time.Sleep(slow)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, c)
	r := incidentbot.Reply{Text: "Noted: " + c.Text, InChannel: true}
	f.answers[c.DeliveryKey] = r
	return r, nil
}

func (f *socketService) IngestSlackEvent(_ context.Context, eventID string, _ incidentbot.SlackEvent) (incidentbot.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return "", incidentbot.Errorf(incidentbot.ETRANSIENT, "store down")
	}
	if f.events[eventID] {
		return incidentbot.OutcomeDuplicate, nil
	}
	f.events[eventID] = true
	return incidentbot.OutcomeApplied, nil
}

func (f *socketService) Notify(context.Context, string, string, string) error { return nil }

func (f *socketService) appliedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

type socketRig struct {
	slack  *slackfake.Server
	svc    *socketService
	client *slackcmd.SocketClient
	reg    *prometheus.Registry
	done   chan error
	cancel context.CancelFunc
}

// mustSocket runs a SocketClient against a fake Slack until the test ends.
func mustSocket(t *testing.T, tune func(*slackfake.Server, *slackcmd.SocketClient)) *socketRig {
	t.Helper()
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	srv.AddUser("U1", "ada", "ada@example.com")
	svc := newSocketService()
	reg := prometheus.NewRegistry()
	api := slackcmd.NewClient(srv.Token, srv.URL(), nil)
	h := slackcmd.NewHandler(slackcmd.HandlerConfig{Service: svc, Views: api, Registerer: reg})
	c := &slackcmd.SocketClient{AppToken: srv.AppToken, APIURL: srv.URL(), Handler: h, Backoff: 20 * time.Millisecond}
	c.Register(reg)
	if tune != nil {
		tune(srv, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &socketRig{slack: srv, svc: svc, client: c, reg: reg, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("SocketClient.Run did not return after its context ended")
		}
		if p := srv.SocketProblems(); len(p) > 0 {
			t.Errorf("acknowledgements Slack would not accept: %v", p)
		}
	})
	r.waitConnections(t, 1)
	return r
}

func (r *socketRig) waitConnections(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if open, _ := r.slack.SocketConnections(); open == n {
			return
		}
		if time.Now().After(deadline) {
			open, _ := r.slack.SocketConnections()
			t.Fatalf("%d connections open, want %d", open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wait(t *testing.T, e *slackfake.Envelope) slackfake.Ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func answerText(t *testing.T, a slackfake.Ack) string {
	t.Helper()
	var m struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(a.Payload, &m); err != nil {
		t.Fatalf("ack payload %s: %v", a.Payload, err)
	}
	return m.Text
}

// TestSocketClient_Command_AcknowledgedWithItsAnswerAfterItsEffect: a
// slash command over Socket Mode runs the HTTP handler's code; its
// acknowledgement comes once the command is applied and carries the
// answer.
func TestSocketClient_Command_AcknowledgedWithItsAnswerAfterItsEffect(t *testing.T) {
	r := mustSocket(t, nil)
	r.svc.slow = 50 * time.Millisecond
	e := r.slack.SocketCommand(slackfake.CommandRequest{Text: "note INC-1 disk at 95%", UserID: "U1", ChannelID: "C1"})
	a := wait(t, e)
	if got := r.svc.appliedCount(); got != 1 {
		t.Fatalf("acknowledged with %d commands applied, want 1", got)
	}
	if got := answerText(t, a); got != "Noted: disk at 95%" {
		t.Errorf("the acknowledgement's answer = %q", got)
	}
	if a.After < 50*time.Millisecond {
		t.Errorf("acknowledged %s after delivery, before the 50ms effect finished", a.After)
	}
	if c := r.svc.applied[0]; c.Name != "note" || c.Actor.ID != "U1" || !strings.HasPrefix(c.DeliveryKey, "slack-envelope:"+e.ID) {
		t.Errorf("command %+v: want note by U1 keyed on the envelope_id", c)
	}
	if e.Deliveries() != 1 {
		t.Errorf("%d deliveries, want 1", e.Deliveries())
	}
}

// TestSocketClient_Redelivery_AppliedOnceWithTheFirstAnswer: Slack
// redelivers an envelope not acknowledged in time; the redelivery keeps
// its envelope_id, so the command applies once and both acknowledgements
// carry its answer.
func TestSocketClient_Redelivery_AppliedOnceWithTheFirstAnswer(t *testing.T) {
	r := mustSocket(t, func(s *slackfake.Server, _ *slackcmd.SocketClient) { s.Socket.AckTimeout = 150 * time.Millisecond })
	r.svc.slow = 400 * time.Millisecond
	e := r.slack.SocketCommand(slackfake.CommandRequest{Text: "note INC-1 slow store", UserID: "U1", ChannelID: "C1"})
	a := wait(t, e)
	if e.Deliveries() < 2 {
		t.Fatalf("%d deliveries; the test needs a redelivery", e.Deliveries())
	}
	deadline := time.Now().Add(3 * time.Second)
	for e.Acks() < e.Deliveries() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.svc.appliedCount(); got != 1 {
		t.Errorf("applied %d times over %d deliveries, want once", got, e.Deliveries())
	}
	if got := answerText(t, a); got != "Noted: slow store" {
		t.Errorf("answer %q", got)
	}
}

// TestSocketClient_Refresh_NewConnectionOpensBeforeTheOldCloses: on
// refresh_requested the client opens a second connection, and envelopes
// sent throughout are all acknowledged once.
func TestSocketClient_Refresh_NewConnectionOpensBeforeTheOldCloses(t *testing.T) {
	r := mustSocket(t, func(s *slackfake.Server, _ *slackcmd.SocketClient) { s.Socket.RefreshGrace = 300 * time.Millisecond })
	var envs []*slackfake.Envelope
	for i := range 20 {
		if i == 5 {
			r.slack.SocketDisconnect("refresh_requested")
		}
		envs = append(envs, r.slack.SocketCommand(slackfake.CommandRequest{Text: "note INC-1 step", UserID: "U1", ChannelID: "C1"}))
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range envs {
		if a := wait(t, e); e.Deliveries() != 1 || a.Attempt != 0 {
			t.Errorf("envelope %s: %d deliveries, acked attempt %d; want one delivery", e.ID, e.Deliveries(), a.Attempt)
		}
	}
	if _, most := r.slack.SocketConnections(); most != 2 {
		t.Errorf("at most %d connections at once; the replacement must open before the old one closes", most)
	}
	r.waitConnections(t, 1)
	if got := r.svc.appliedCount(); got != 20 {
		t.Errorf("applied %d, want 20", got)
	}
	if got := testutil.ToFloat64(mustCounter(t, r.reg, "incidentbot_slack_socket_reconnects_total", "refresh_requested")); got != 1 {
		t.Errorf("reconnects{refresh_requested} = %v, want 1", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return 0 })
}

// TestSocketClient_Drop_ReconnectsAndGetsWhatWasSentMeanwhile: after a
// network drop the client reconnects; an envelope sent while no connection
// was open arrives on the new one.
func TestSocketClient_Drop_ReconnectsAndGetsWhatWasSentMeanwhile(t *testing.T) {
	r := mustSocket(t, nil)
	r.slack.SocketDrop()
	e := r.slack.SocketCommand(slackfake.CommandRequest{Text: "note INC-1 after the drop", UserID: "U1", ChannelID: "C1"})
	wait(t, e)
	if got := r.svc.appliedCount(); got != 1 {
		t.Errorf("applied %d, want 1", got)
	}
	if len(r.slack.CallsTo("apps.connections.open")) < 2 {
		t.Error("no second apps.connections.open after the drop")
	}
}

// TestSocketClient_DeadConnection_Replaced: a link that stops answering
// pings is replaced; what Slack sends meanwhile arrives on the new one.
func TestSocketClient_DeadConnection_Replaced(t *testing.T) {
	r := mustSocket(t, func(_ *slackfake.Server, c *slackcmd.SocketClient) { c.PingEvery = 50 * time.Millisecond })
	r.slack.SocketStall(time.Minute)
	e := r.slack.SocketCommand(slackfake.CommandRequest{Text: "note INC-1 dead link", UserID: "U1", ChannelID: "C1"})
	a := wait(t, e)
	if a.Conn != 2 {
		t.Errorf("acknowledged on connection %d, want the replacement (2)", a.Conn)
	}
}

// TestSocketClient_EventNotRecorded_LeftForRedelivery: an event the store
// could not record is not acknowledged, so Slack delivers it again.
func TestSocketClient_EventNotRecorded_LeftForRedelivery(t *testing.T) {
	r := mustSocket(t, func(s *slackfake.Server, _ *slackcmd.SocketClient) { s.Socket.AckTimeout = 100 * time.Millisecond })
	r.svc.failNext = 1
	e := r.slack.SocketEvent("Ev1", slackfake.ReactionAddedEvent("U1", "C1", "1700000000.000100", "pushpin"))
	a := wait(t, e)
	if a.Attempt != 1 || len(a.Payload) != 0 {
		t.Errorf("acknowledged attempt %d with payload %s; want the redelivery (1), no payload", a.Attempt, a.Payload)
	}
	if !r.svc.events["Ev1"] {
		t.Error("the event was never recorded")
	}
}

// TestSocketClient_PostUpdateButton_OpensTheModalInTime: the button's
// trigger_id is used (views.open) before the envelope is acknowledged,
// within Slack's 3 s.
func TestSocketClient_PostUpdateButton_OpensTheModalInTime(t *testing.T) {
	r := mustSocket(t, nil)
	p := slackfake.BlockActionPayload("U1", "C1", "1700000000.000100", incidentbot.ActionPostUpdate, "INC-1", "")
	e := r.slack.SocketInteraction(p)
	wait(t, e)
	views := r.slack.Views()
	if len(views) != 1 || views[0].TriggerID != p["trigger_id"] {
		t.Fatalf("views %+v: want one opened with the click's trigger_id", views)
	}
}

// TestSocketClient_BotTokenGiven_RefusedForGood: a bot token where the
// app-level token belongs is refused by apps.connections.open, and Run
// stops with that error instead of retrying forever.
func TestSocketClient_BotTokenGiven_RefusedForGood(t *testing.T) {
	srv := slackfake.New()
	defer srv.Close()
	h := slackcmd.NewHandler(slackcmd.HandlerConfig{Service: newSocketService()})
	c := &slackcmd.SocketClient{AppToken: srv.Token, APIURL: srv.URL(), Handler: h, Backoff: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Run(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not_allowed_token_type") {
		t.Fatalf("Run with a bot token = %v, want not_allowed_token_type at once", err)
	}
	if strings.Contains(err.Error(), srv.Token) {
		t.Error("the error repeats the token")
	}
}

// FuzzHandler_EnvelopePayloads: whatever payload a Socket Mode envelope
// carries, the handler functions both transports share answer without a
// panic, and every answer can be sent back as JSON.
func FuzzHandler_EnvelopePayloads(f *testing.F) {
	f.Add([]byte(`{"team_id":"T1","channel_id":"C1","user_id":"U1","text":"note INC-1 hi","command":"/incident"}`))
	f.Add([]byte(`{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},"actions":[{"action_id":"incident_update","value":"INC-1"}],"trigger_id":"x"}`))
	f.Add([]byte(`{"type":"view_submission","view":{"callback_id":"incident_update","private_metadata":"INC-1","state":{"values":{"message":{"message":{"value":" "}}}}}}`))
	f.Add([]byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"pin_added","item":{"message":{"ts":"1.2","text":"x"}}}}`))
	f.Add([]byte(`[]`))
	h := slackcmd.NewHandler(slackcmd.HandlerConfig{Service: newSocketService(), Views: viewsFunc(func() error { return errors.New("no views here") })})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ctx := context.Background()
		var p slackcmd.CommandPayload
		if json.Unmarshal(payload, &p) == nil {
			if _, err := json.Marshal(h.Command(ctx, p, "slack-envelope:fuzz")); err != nil {
				t.Errorf("command answer: %v", err)
			}
		}
		if a, err := h.Interaction(ctx, payload, func(int) string { return "slack-envelope:fuzz" }); err == nil {
			if _, err := json.Marshal(a); err != nil {
				t.Errorf("interaction answer: %v", err)
			}
		}
		_ = h.Event(ctx, payload)
	})
}

type viewsFunc func() error

func (f viewsFunc) OpenView(context.Context, string, slack.ModalViewRequest) error { return f() }
