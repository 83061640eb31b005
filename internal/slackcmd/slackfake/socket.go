package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode, as Slack runs it (https://api.slack.com/apis/socket-mode):
// apps.connections.open, called with the app-level token, answers a
// one-time WebSocket URL; the connection starts with a hello; Slack sends
// envelopes (slash_commands, interactive, events_api) with an envelope_id,
// a payload, accepts_response_payload and, on a redelivery, retry_attempt
// and retry_reason; the app acknowledges each with {"envelope_id": ...}
// (and a payload where accepted); an envelope not acknowledged in time is
// delivered again, to the same or another connection of the app; every few
// hours Slack sends {"type": "disconnect", "reason": "refresh_requested"}
// and closes the connection soon after ("warning" comes before it).

// DefaultAppToken is the app-level token a new Server accepts.
const DefaultAppToken = "xapp-1-A0001-1-fakeapptoken"

// socketPath is where the fake's Socket Mode WebSocket URLs point.
const socketPath = "/link/"

// SocketOptions configures the fake's Socket Mode side.
type SocketOptions struct {
	// AckTimeout is how long an envelope waits for its acknowledgement
	// before it is delivered again (Slack: 3 s).
	AckTimeout time.Duration
	// Retries is how many redeliveries an envelope gets (Slack: 3); after
	// the last one times out, Envelope.Wait reports the failure.
	Retries int
	// RefreshGrace is how long a connection stays open after its
	// refresh_requested disconnect, before the fake closes it.
	RefreshGrace time.Duration
	// PingEvery is how often the fake pings each connection (0: never).
	PingEvery time.Duration
}

// Ack is an envelope's acknowledgement as the fake received it.
type Ack struct {
	// Payload is the acknowledgement's payload (nil when it had none).
	Payload json.RawMessage
	// Attempt is the retry_attempt of the delivery that was acknowledged
	// first (0 for the first delivery).
	Attempt int
	// Conn is the number of the connection it came on (1, 2, ...).
	Conn int
	// After is the time from the envelope's first delivery to the ack.
	After time.Duration
}

// Envelope is one envelope sent over Socket Mode, to wait for its
// acknowledgement.
type Envelope struct {
	// ID is its envelope_id.
	ID string
	// Type is slash_commands, interactive or events_api.
	Type string

	srv     *Server
	payload json.RawMessage
	accepts bool

	mu         sync.Mutex
	deliveries int
	first      time.Time
	ack        *Ack
	acks       int
	failed     bool
	done       chan struct{}
	timer      *time.Timer
}

// Wait returns the envelope's first acknowledgement, or an error when ctx
// ends first or every delivery went unacknowledged.
func (e *Envelope) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-e.done:
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ack == nil {
		return Ack{}, fmt.Errorf("slackfake: envelope %s (%s) was never acknowledged in %d deliveries", e.ID, e.Type, e.deliveries)
	}
	return *e.ack, nil
}

// Deliveries returns how many times the envelope was sent (1 plus its
// redeliveries).
func (e *Envelope) Deliveries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.deliveries
}

// Acks returns how many acknowledgements arrived for it (a redelivery that
// was acknowledged too counts again).
func (e *Envelope) Acks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.acks
}

// socketConn is one app connection.
type socketConn struct {
	n       int
	ws      *websocket.Conn
	writeMu sync.Mutex
	closed  chan struct{}
	once    sync.Once
	// guarded by socketState.mu
	hello         bool
	disconnecting bool
	stalledUntil  time.Time
}

func (c *socketConn) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *socketConn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

// socketState is the fake's Socket Mode bookkeeping.
type socketState struct {
	mu        sync.Mutex
	tickets   map[string]bool
	conns     []*socketConn
	nextConn  int
	maxOpen   int
	envelopes map[string]*Envelope
	pending   []*Envelope // waiting for a connection
	problems  []string
	closed    bool
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

// appsConnectionsOpen answers apps.connections.open (the token was checked:
// only the app-level token reaches here).
func (s *Server) appsConnectionsOpen(url.Values) reply {
	ticket := randomHex(16)
	st := &s.sock
	st.mu.Lock()
	if st.tickets == nil {
		st.tickets = map[string]bool{}
	}
	st.tickets[ticket] = true
	st.mu.Unlock()
	u := strings.Replace(s.rootURL, "http://", "ws://", 1) + socketPath + "?ticket=" + ticket + "&app_id=" + s.AppID
	return ok(map[string]any{"url": u})
}

// tokenError is the Slack error for a call's token ("" when it fits):
// apps.connections.open takes the app-level token only, every other
// method the bot token only.
func (s *Server) tokenError(method, token string) string {
	switch {
	case method == "apps.connections.open" && token == s.AppToken:
		return ""
	case method == "apps.connections.open" && (token == s.Token || strings.HasPrefix(token, "xoxb-") || strings.HasPrefix(token, "xoxp-")):
		return "not_allowed_token_type"
	case method != "apps.connections.open" && token == s.Token:
		return ""
	case method != "apps.connections.open" && token == s.AppToken:
		return "not_allowed_token_type"
	}
	return "invalid_auth"
}

// serveSocket upgrades a request carrying a fresh ticket to a Socket Mode
// connection and runs it.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	st := &s.sock
	ticket := r.URL.Query().Get("ticket")
	st.mu.Lock()
	valid := st.tickets[ticket] && !st.closed
	delete(st.tickets, ticket) // one use
	st.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	st.mu.Lock()
	st.nextConn++
	c := &socketConn{n: st.nextConn, ws: ws, closed: make(chan struct{})}
	st.conns = append(st.conns, c)
	open := 0
	for _, o := range st.conns {
		select {
		case <-o.closed:
		default:
			open++
		}
	}
	st.maxOpen = max(st.maxOpen, open)
	st.mu.Unlock()
	go s.socketPings(c)
	err = c.write(map[string]any{
		"type": "hello", "num_connections": open,
		"debug_info":      map[string]any{"host": fmt.Sprintf("applink-fake-%d", c.n), "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": s.AppID},
	})
	if err == nil {
		st.mu.Lock()
		c.hello = true
		pending := st.pending
		st.pending = nil
		st.mu.Unlock()
		for _, e := range pending {
			s.deliver(e, false)
		}
	}
	s.socketRead(c)
}

// socketRead reads a connection's acknowledgements until it closes. While
// the connection is stalled, what arrives is lost and pings go
// unanswered, as on a dead network path.
func (s *Server) socketRead(c *socketConn) {
	defer c.close()
	c.ws.SetPingHandler(func(data string) error {
		if s.stalled(c) {
			return nil
		}
		return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			// What was in flight on it is delivered again when its timer
			// fires, on another connection.
			return
		}
		if s.stalled(c) {
			continue
		}
		s.receiveAck(c, msg)
	}
}

func (s *Server) stalled(c *socketConn) bool {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return time.Now().Before(c.stalledUntil)
}

// receiveAck checks and records one acknowledgement.
func (s *Server) receiveAck(c *socketConn, msg []byte) {
	st := &s.sock
	var a struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	problem := func(format string, args ...any) {
		st.mu.Lock()
		st.problems = append(st.problems, fmt.Sprintf(format, args...))
		st.mu.Unlock()
	}
	if err := json.Unmarshal(msg, &a); err != nil || a.EnvelopeID == "" {
		problem("connection %d: not an acknowledgement (no envelope_id): %.200s", c.n, msg)
		return
	}
	st.mu.Lock()
	e := st.envelopes[a.EnvelopeID]
	st.mu.Unlock()
	if e == nil {
		problem("connection %d: acknowledgement of an unknown envelope %s", c.n, a.EnvelopeID)
		return
	}
	if len(a.Payload) > 0 && string(a.Payload) != "null" {
		if !e.accepts {
			problem("envelope %s (%s): acknowledged with a payload it does not accept", e.ID, e.Type)
		} else if msg := checkAckPayload(e.Type, a.Payload); msg != "" {
			problem("envelope %s (%s): %s", e.ID, e.Type, msg)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.acks++
	if e.ack != nil || e.failed {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.ack = &Ack{Payload: append(json.RawMessage(nil), a.Payload...), Attempt: e.deliveries - 1, Conn: c.n, After: time.Since(e.first)}
	close(e.done)
}

// checkAckPayload checks an acknowledgement's payload as Slack reads it:
// a slash command's is a message (text or blocks, response_type
// in_channel or ephemeral); a view submission's is a response_action.
func checkAckPayload(typ string, p json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil {
		return "the payload is not a JSON object"
	}
	switch typ {
	case "slash_commands":
		if _, t := m["text"]; !t {
			if _, b := m["blocks"]; !b {
				return "a slash command's answer needs text or blocks"
			}
		}
		if rt, has := m["response_type"]; has && string(rt) != `"in_channel"` && string(rt) != `"ephemeral"` {
			return "response_type is " + string(rt) + ", want in_channel or ephemeral"
		}
	case "interactive":
		if _, has := m["response_action"]; !has {
			return "an interaction's answer needs response_action"
		}
	}
	return ""
}

// socketPings pings a connection every Socket.PingEvery, as Slack does.
func (s *Server) socketPings(c *socketConn) {
	if s.Socket.PingEvery <= 0 {
		return
	}
	t := time.NewTicker(s.Socket.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-s.closing:
			return
		case <-t.C:
		}
		s.sock.mu.Lock()
		stalled := time.Now().Before(c.stalledUntil)
		s.sock.mu.Unlock()
		if !stalled {
			_ = c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
		}
	}
}

// newEnvelope registers an envelope and delivers it.
func (s *Server) newEnvelope(typ string, payload any, accepts bool) *Envelope {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("slackfake: envelope payload: %v", err))
	}
	e := &Envelope{ID: newEnvelopeID(), Type: typ, srv: s, payload: raw, accepts: accepts, done: make(chan struct{})}
	st := &s.sock
	st.mu.Lock()
	if st.envelopes == nil {
		st.envelopes = map[string]*Envelope{}
	}
	st.envelopes[e.ID] = e
	st.mu.Unlock()
	s.deliver(e, false)
	return e
}

// newEnvelopeID is shaped like Slack's (a UUID).
func newEnvelopeID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// deliver sends e on the newest connection that takes envelopes (hello
// sent, no disconnect sent, not stalled), or keeps it until one opens; a
// redelivery carries retry_attempt and retry_reason "timeout".
func (s *Server) deliver(e *Envelope, retry bool) {
	st := &s.sock
	e.mu.Lock()
	if e.ack != nil || e.failed {
		e.mu.Unlock()
		return
	}
	if retry || e.deliveries == 0 {
		e.deliveries++
	}
	attempt := e.deliveries - 1
	if e.first.IsZero() {
		e.first = time.Now()
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(s.Socket.AckTimeout, func() { s.timeout(e) })
	e.mu.Unlock()

	st.mu.Lock()
	var conn *socketConn
	for i := len(st.conns) - 1; i >= 0; i-- {
		c := st.conns[i]
		select {
		case <-c.closed:
			continue
		default:
		}
		if c.hello && !c.disconnecting && !time.Now().Before(c.stalledUntil) {
			conn = c
			break
		}
	}
	if conn == nil {
		st.pending = append(st.pending, e)
		st.mu.Unlock()
		return
	}
	st.mu.Unlock()
	msg := map[string]any{
		"envelope_id": e.ID, "type": e.Type, "payload": e.payload,
		"accepts_response_payload": e.accepts, "retry_attempt": attempt, "retry_reason": "",
	}
	if attempt > 0 {
		msg["retry_reason"] = "timeout"
	}
	if err := conn.write(msg); err != nil {
		conn.close()
	}
}

// timeout redelivers an unacknowledged envelope, or gives it up after
// Socket.Retries redeliveries.
func (s *Server) timeout(e *Envelope) {
	e.mu.Lock()
	if e.ack != nil || e.failed {
		e.mu.Unlock()
		return
	}
	if e.deliveries > s.Socket.Retries {
		e.failed = true
		close(e.done)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	s.deliver(e, true)
}

// SocketCommand sends a slash command over Socket Mode (a slash_commands
// envelope with the fields the HTTP request would carry, as JSON; its
// acknowledgement may carry the answer).
func (s *Server) SocketCommand(req CommandRequest) *Envelope {
	c := &AppClient{Slack: s}
	fields := c.commandFields(req)
	payload := map[string]string{}
	for k := range fields {
		payload[k] = fields.Get(k)
	}
	return s.newEnvelope("slash_commands", payload, true)
}

// SocketInteraction sends an interaction payload (from BlockActionPayload
// or ViewSubmissionPayload, completed as AppClient.Interaction does) in an
// interactive envelope; a view submission's acknowledgement may carry a
// response_action.
func (s *Server) SocketInteraction(payload map[string]any) *Envelope {
	(&AppClient{Slack: s}).complete(payload)
	return s.newEnvelope("interactive", payload, payload["type"] == "view_submission")
}

// SocketEvent sends an Events API event (from PinAddedEvent and the like)
// in an events_api envelope around its event_callback; eventID "" gets a
// random one.
func (s *Server) SocketEvent(eventID string, event map[string]any) *Envelope {
	return s.newEnvelope("events_api", (&AppClient{Slack: s}).eventCallback(eventID, event), false)
}

// SocketDisconnect sends a disconnect with reason (refresh_requested,
// warning, link_disabled) on every open connection. After
// refresh_requested a connection takes no new envelopes and is closed
// Socket.RefreshGrace later.
func (s *Server) SocketDisconnect(reason string) {
	st := &s.sock
	st.mu.Lock()
	var conns []*socketConn
	for _, c := range st.conns {
		select {
		case <-c.closed:
			continue
		default:
		}
		if reason == "refresh_requested" {
			c.disconnecting = true
		}
		conns = append(conns, c)
	}
	st.mu.Unlock()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": fmt.Sprintf("applink-fake-%d", c.n)}})
		if reason == "refresh_requested" {
			c := c
			time.AfterFunc(s.Socket.RefreshGrace, func() {
				c.writeMu.Lock()
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "refresh"), time.Now().Add(time.Second))
				c.writeMu.Unlock()
				c.close()
			})
		}
	}
}

// SocketDrop closes every connection without a close frame (a network
// drop).
func (s *Server) SocketDrop() {
	st := &s.sock
	st.mu.Lock()
	conns := append([]*socketConn(nil), st.conns...)
	st.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.UnderlyingConn().Close()
		c.close()
	}
}

// SocketStall makes every open connection a dead link for d: nothing is
// delivered on it or read from it (pings go unanswered), as when a network
// path dies without closing.
func (s *Server) SocketStall(d time.Duration) {
	st := &s.sock
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.conns {
		c.stalledUntil = time.Now().Add(d)
	}
}

// SocketConnections returns how many connections are open now and the
// most that were open at once.
func (s *Server) SocketConnections() (open, most int) {
	st := &s.sock
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.conns {
		select {
		case <-c.closed:
		default:
			open++
		}
	}
	return open, st.maxOpen
}

// SocketProblems returns what was wrong with the acknowledgements
// received: not JSON, no or an unknown envelope_id, a payload where none
// is accepted, or a payload Slack would refuse.
func (s *Server) SocketProblems() []string {
	st := &s.sock
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.problems...)
}

// closeSockets ends every connection and timer (Close).
func (s *Server) closeSockets() {
	st := &s.sock
	st.mu.Lock()
	st.closed = true
	conns := append([]*socketConn(nil), st.conns...)
	envs := st.envelopes
	st.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	for _, e := range envs {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
		}
		e.mu.Unlock()
	}
}
