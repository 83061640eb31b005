package slackcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
)

// Socket Mode: the app opens a WebSocket to Slack (apps.connections.open
// with the app-level token) and receives slash commands, interactions and
// Events API payloads over it, so it needs no inbound port.
// https://api.slack.com/apis/socket-mode
//
// slack-go's socketmode client is not used: it runs one connection at a
// time, tearing the old one down before it dials the next, so envelopes
// Slack sends during a refresh wait for a redelivery; and it hands
// envelopes to the application before acknowledging them in a separate
// step that it does not tie to the effect. SocketClient dials the new
// connection when Slack asks for a refresh (or a connection goes quiet),
// waits for its hello, and only then closes the old one, after the
// envelopes in flight on it have been acknowledged. Each envelope is
// acknowledged, on the connection it came by, only after the Handler has
// committed its effect, with the answer in the acknowledgement's payload.

// SocketClient keeps Slack Socket Mode connections open and serves what
// arrives over them with a Handler. Its zero value is not usable: set
// AppToken, APIURL and Handler. Run blocks until its context ends.
type SocketClient struct {
	// AppToken is the app-level token (xapp-...) with connections:write.
	AppToken string
	// APIURL is Slack's Web API base URL (https://slack.com/api/).
	APIURL string
	// HTTPClient calls apps.connections.open; nil: a 10 s timeout client.
	HTTPClient *http.Client
	// Handler runs what the envelopes carry (the HTTP handlers' code).
	Handler *Handler
	// Logger may be nil.
	Logger *slog.Logger
	// PingEvery is how often the client pings Slack; a connection that
	// answers nothing (no pong, ping or message) for three times as long
	// is taken for dead and replaced (10 s when 0).
	PingEvery time.Duration
	// Backoff is the first wait after a failed connection attempt (1 s
	// when 0); it doubles, with jitter, up to 1 min.
	Backoff time.Duration
	// DebugReconnects adds debug_reconnects=true to the WebSocket URL:
	// Slack then asks for a refresh every few minutes instead of hours.
	DebugReconnects bool

	metrics *socketMetrics
}

type socketMetrics struct {
	connections prometheus.Gauge
	reconnects  *prometheus.CounterVec
	envelopes   *prometheus.CounterVec
	ackSeconds  *prometheus.HistogramVec
}

// Register adds the client's metrics to reg.
func (c *SocketClient) Register(reg prometheus.Registerer) {
	m := &socketMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "incidentbot_slack_socket_connections", Help: "Slack Socket Mode connections open (hello received)."}),
		reconnects:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_slack_socket_reconnects_total", Help: "Slack Socket Mode connections replaced, by reason (refresh_requested, warning, dead, dropped, other disconnect reasons)."}, []string{"reason"}),
		envelopes:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_slack_socket_envelopes_total", Help: "Slack Socket Mode envelopes by type and result (acked, retry: left unacknowledged so Slack redelivers, bad)."}, []string{"type", "result"}),
		ackSeconds:  prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "incidentbot_slack_socket_ack_seconds", Help: "Time from an envelope's arrival to its acknowledgement (Slack wants it within 3 s).", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"type"}),
	}
	reg.MustRegister(m.connections, m.reconnects, m.envelopes, m.ackSeconds)
	c.metrics = m
}

func (c *SocketClient) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *SocketClient) pingEvery() time.Duration {
	if c.PingEvery > 0 {
		return c.PingEvery
	}
	return 10 * time.Second
}

// Run keeps one connection open (two while one replaces the other) until
// ctx ends, then closes them after the envelopes in flight are answered.
// It returns ctx's error, or an error for a token Slack refuses for good.
func (c *SocketClient) Run(ctx context.Context) error {
	api := slack.New("", slack.OptionAppLevelToken(c.AppToken), slack.OptionAPIURL(c.APIURL), slack.OptionHTTPClient(c.httpClient()))
	var cur *socketConn
	var closing sync.WaitGroup
	defer func() {
		if cur != nil {
			cur.shutdown()
		}
		closing.Wait()
	}()
	wait := time.Duration(0)
	for {
		if cur == nil {
			if wait > 0 && !sleepCtx(ctx, wait) {
				return ctx.Err()
			}
			next, err := c.connect(ctx, api)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if permanent(err) {
					c.log().Error("SLACK SOCKET MODE REFUSED: check SLACK_APP_TOKEN (an app-level xapp- token with connections:write, Socket Mode enabled in the app's settings)", "err", err)
					return err
				}
				wait = c.nextBackoff(wait)
				c.log().Warn("slack socket mode: could not connect; will try again", "err", err, "retry_in", wait.String())
				continue
			}
			cur, wait = next, 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reason := <-cur.replace:
			// Refresh asked for, or the connection went quiet: the new
			// one is open (hello received) before the old one closes.
			c.count(reason)
			c.log().Info("slack socket mode: replacing the connection", "reason", reason)
			next, err := c.connect(ctx, api)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.log().Warn("slack socket mode: could not open the replacement; keeping the old connection while it lasts", "err", err)
				wait = c.nextBackoff(wait)
				go cur.requeue(reason, wait)
				continue
			}
			old := cur
			cur, wait = next, 0
			closing.Add(1)
			go func() { defer closing.Done(); old.shutdown() }()
		case <-cur.done:
			c.count("dropped")
			c.log().Warn("slack socket mode: connection dropped; reconnecting", "err", cur.err())
			cur, wait = nil, c.nextBackoff(0)/4
		}
	}
}

func (c *SocketClient) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (c *SocketClient) nextBackoff(prev time.Duration) time.Duration {
	first := c.Backoff
	if first <= 0 {
		first = time.Second
	}
	d := min(max(2*prev, first), time.Minute)
	return d - time.Duration(rand.Int64N(int64(d)/5+1)) // up to 20% less
}

func (c *SocketClient) count(reason string) {
	if c.metrics != nil {
		c.metrics.reconnects.WithLabelValues(reason).Inc()
	}
}

// permanent reports whether apps.connections.open refused the token itself.
func permanent(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "invalid_auth", "not_authed", "not_allowed_token_type", "account_inactive", "token_revoked", "missing_scope":
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// helloTimeout bounds the wait for a new connection's hello.
const helloTimeout = 10 * time.Second

// connect opens a connection and waits for its hello.
func (c *SocketClient) connect(ctx context.Context, api *slack.Client) (*socketConn, error) {
	octx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	_, wsURL, err := api.StartSocketModeContext(octx)
	if err != nil {
		return nil, fmt.Errorf("apps.connections.open: %w", err)
	}
	if c.DebugReconnects {
		sep := "?"
		if strings.Contains(wsURL, "?") {
			sep = "&"
		}
		wsURL += sep + "debug_reconnects=true"
	}
	dialer := websocket.Dialer{HandshakeTimeout: helloTimeout, Proxy: http.ProxyFromEnvironment}
	ws, res, err := dialer.DialContext(octx, wsURL, nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		// The URL carries a one-time ticket: never log it.
		return nil, fmt.Errorf("dial the Socket Mode WebSocket: %w", errors.Unwrap(err))
	}
	sc := &socketConn{c: c, ws: ws, replace: make(chan string, 1), done: make(chan struct{}), hello: make(chan struct{})}
	ws.SetReadLimit(MaxBody)
	go sc.read()
	select {
	case <-sc.hello:
	case <-sc.done:
		return nil, fmt.Errorf("connection closed before hello: %w", sc.err())
	case <-octx.Done():
		sc.close()
		return nil, fmt.Errorf("no hello within %s", helloTimeout)
	}
	go sc.keepalive()
	if c.metrics != nil {
		c.metrics.connections.Inc()
	}
	return sc, nil
}

// socketConn is one Socket Mode WebSocket connection.
type socketConn struct {
	c  *SocketClient
	ws *websocket.Conn

	writeMu sync.Mutex // gorilla allows one writer at a time

	replace   chan string   // a reason to replace this connection (buffered 1)
	done      chan struct{} // closed when the read loop ends
	hello     chan struct{}
	helloOnce sync.Once
	closeOnce sync.Once
	readErr   error
	mu        sync.Mutex
	lastHeard time.Time
	// inflight counts envelopes being handled: the connection closes only
	// once they are acknowledged on it.
	inflight int
}

func (sc *socketConn) track(delta int) {
	sc.mu.Lock()
	sc.inflight += delta
	sc.mu.Unlock()
}

func (sc *socketConn) busy() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.inflight > 0
}

func (sc *socketConn) err() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.readErr
}

func (sc *socketConn) heard() {
	sc.mu.Lock()
	sc.lastHeard = time.Now()
	sc.mu.Unlock()
}

// askReplace asks Run to replace this connection (once; later reasons are
// dropped while one is pending).
func (sc *socketConn) askReplace(reason string) {
	select {
	case sc.replace <- reason:
	default:
	}
}

// requeue asks again after wait (a replacement that failed to open).
func (sc *socketConn) requeue(reason string, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		sc.askReplace(reason)
	case <-sc.done:
	}
}

// envelope is a Socket Mode message from Slack.
type envelope struct {
	Type                   string          `json:"type"`
	EnvelopeID             string          `json:"envelope_id"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
	Reason                 string          `json:"reason"` // disconnect
}

func (sc *socketConn) read() {
	defer close(sc.done)
	defer func() {
		if sc.c.metrics != nil {
			select {
			case <-sc.hello:
				sc.c.metrics.connections.Dec()
			default:
			}
		}
	}()
	sc.heard()
	sc.ws.SetPingHandler(func(data string) error {
		sc.heard()
		sc.writeMu.Lock()
		defer sc.writeMu.Unlock()
		return sc.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	sc.ws.SetPongHandler(func(string) error { sc.heard(); return nil })
	for {
		_, msg, err := sc.ws.ReadMessage()
		if err != nil {
			sc.mu.Lock()
			sc.readErr = err
			sc.mu.Unlock()
			return
		}
		sc.heard()
		var env envelope
		if err := json.Unmarshal(msg, &env); err != nil {
			sc.c.log().Warn("slack socket mode: unreadable message ignored", "err", err)
			continue
		}
		switch env.Type {
		case "hello":
			sc.helloOnce.Do(func() { close(sc.hello) })
		case "disconnect":
			// refresh_requested (every few hours), warning (just before
			// it), link_disabled (Socket Mode turned off), ...
			sc.askReplace(orStr(env.Reason, "disconnect"))
		case "slash_commands", "interactive", "events_api":
			sc.track(1)
			go func() {
				defer sc.track(-1)
				sc.serve(env, time.Now())
			}()
		default:
			if env.EnvelopeID != "" {
				// Acknowledged so Slack does not redeliver what the bot
				// cannot use.
				sc.ack(env.EnvelopeID, nil)
			}
		}
	}
}

// keepalive pings Slack and replaces a connection that has gone quiet.
func (sc *socketConn) keepalive() {
	every := sc.c.pingEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-sc.done:
			return
		case <-t.C:
		}
		sc.mu.Lock()
		quiet := time.Since(sc.lastHeard)
		sc.mu.Unlock()
		if quiet > 3*every {
			sc.askReplace("dead")
			return
		}
		sc.writeMu.Lock()
		err := sc.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(every))
		sc.writeMu.Unlock()
		if err != nil {
			sc.askReplace("dead")
			return
		}
	}
}

// serve handles one envelope and acknowledges it once its effect is
// durable, with the answer as the acknowledgement's payload. An event that
// could not be recorded is left unacknowledged: Slack redelivers it.
func (sc *socketConn) serve(env envelope, arrived time.Time) {
	h := sc.c.Handler
	// The context is the connection's lifetime plus Slack's 3 s: an answer
	// later than that is redelivered anyway.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	result := "acked"
	defer func() {
		// A panic here would end the process (net/http recovers its
		// handlers' panics; this goroutine is ours): the envelope is left
		// unacknowledged instead, and logged.
		if p := recover(); p != nil {
			result = "bad"
			sc.c.log().Error("slack socket mode: handling an envelope panicked; left unacknowledged", "type", env.Type, "envelope_id", incidentbot.Clip(env.EnvelopeID), "panic", fmt.Sprint(p))
		}
		if m := sc.c.metrics; m != nil {
			m.envelopes.WithLabelValues(env.Type, result).Inc()
			if result == "acked" {
				m.ackSeconds.WithLabelValues(env.Type).Observe(time.Since(arrived).Seconds())
			}
		}
	}()
	if err := incidentbot.CheckID("envelope_id", env.EnvelopeID); err != nil || env.EnvelopeID == "" {
		result = "bad"
		sc.c.log().Warn("slack socket mode: envelope with a bad envelope_id ignored", "envelope_id", incidentbot.Clip(env.EnvelopeID))
		return
	}
	// A redelivery keeps its envelope_id: the delivery key makes it apply
	// once and get the first answer.
	key := func(part int) string {
		k := "slack-envelope:" + env.EnvelopeID
		if part > 0 {
			k += fmt.Sprintf(":%d", part)
		}
		return k
	}
	var answer any
	switch env.Type {
	case "slash_commands":
		var p CommandPayload
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			result = "bad"
			answer = ephemeralAnswer("Could not read that command.")
			break
		}
		if a := h.Command(ctx, p, key(0)); a != nil {
			answer = a
		}
	case "interactive":
		a, err := h.Interaction(ctx, env.Payload, key)
		if err != nil {
			result = "bad"
		}
		if a != nil {
			answer = a
		}
	case "events_api":
		if err := h.Event(ctx, env.Payload); err != nil {
			result = "retry"
			return
		}
	}
	if !env.AcceptsResponsePayload && env.Type != "interactive" {
		answer = nil
	}
	if err := sc.ack(env.EnvelopeID, answer); err != nil {
		result = "retry"
		sc.c.log().Warn("slack socket mode: acknowledgement not sent; Slack will redeliver", "envelope_id", env.EnvelopeID, "err", err)
	}
}

// ack sends an envelope's acknowledgement on this connection.
func (sc *socketConn) ack(id string, payload any) error {
	msg := map[string]any{"envelope_id": id}
	if payload != nil {
		msg["payload"] = payload
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	sc.writeMu.Lock()
	defer sc.writeMu.Unlock()
	sc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return sc.ws.WriteMessage(websocket.TextMessage, b)
}

// shutdown closes the connection once the envelopes in flight on it are
// acknowledged (at most 5 s), with a close frame.
func (sc *socketConn) shutdown() {
	for deadline := time.Now().Add(5 * time.Second); sc.busy() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	sc.writeMu.Lock()
	_ = sc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	sc.writeMu.Unlock()
	select {
	case <-sc.done:
	case <-time.After(2 * time.Second):
	}
	sc.close()
}

func (sc *socketConn) close() {
	sc.closeOnce.Do(func() { sc.ws.Close() })
}
