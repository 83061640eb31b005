// Package slackfake is a fake of the Slack Web API served over real HTTP on
// 127.0.0.1. It keeps users, channels and messages in memory, applies Slack's
// validation rules and error names, records every call, and can inject faults
// (rate limits, 5xx answers, delays, lost responses) so that the real slack-go
// client can be tested against it:
//
//	srv := slackfake.New()
//	defer srv.Close()
//	api := slack.New(srv.Token, slack.OptionAPIURL(srv.URL()))
//
// # Conventions shared with pagerfake and statuspagefake
//
//   - [New] starts a fake on 127.0.0.1 with a random port and panics if it
//     cannot listen, like httptest.NewServer; [NewAt] listens on a chosen
//     address and returns the error instead. [Server.URL] is what to give
//     the client; [Server.Close] stops it, ends injected delays and may be
//     called more than once.
//   - [Server.Inject] queues a [Fault] for the requests it matches (here:
//     an API method, "" for any). A request takes the oldest fault that
//     matches it; one with Times 0 applies until [Server.ClearFaults]. Fault's fields mean
//     the same in the three fakes: Times, Status, RetryAfter, Delay,
//     AfterEffect (perform the request, then lose its answer) and Hangup
//     (close the connection without an answer); Error is Slack's own
//     ({"ok":false,"error":...}). Here faults are played after the token is
//     checked. [Server.SetChaos] adds random faults on top.
//   - [Server.Calls] and [Server.CallsTo] return the call log.
//   - [Server.Reset] forgets the call log, the faults and the chaos but keeps
//     the stored data (users, channels, messages, views, files) and the
//     settings (token, clock, registered methods, the OnCall hook).
//
// It is ordinary code (no testing import) so that end-to-end tests and the
// demo command can use it too.
package slackfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// Defaults of the fake workspace and its bot.
const (
	// DefaultToken is the bot token accepted unless Server.Token is changed.
	DefaultToken = "xoxb-test-token"
	// DefaultBotUserID is the bot's user ID.
	DefaultBotUserID = "UBOT"
	// DefaultBotID is the bot's bot ID.
	DefaultBotID = "BBOT"
	// DefaultBotName is the bot's user name, as auth.test reports it.
	DefaultBotName = "incidentbot"
	// DefaultTeamID is the workspace ID.
	DefaultTeamID = "T0001"
	// DefaultTeamName is the workspace name.
	DefaultTeamName = "Incident Bot Test"
	// DefaultTeamDomain is the workspace subdomain used in URLs.
	DefaultTeamDomain = "incidentbot-test"
	// DefaultAppID is the app's ID (api_app_id).
	DefaultAppID = "A0001"
	// DefaultUserTZ is the time zone users.info reports for a user without one.
	DefaultUserTZ = "America/Los_Angeles"
)

// Phases passed to the OnCall hook.
const (
	// PhaseBefore is reported when a request arrives, before anything else.
	PhaseBefore = "before"
	// PhaseAfterEffect is reported after a method changed the fake's state
	// and before the answer is written.
	PhaseAfterEffect = "after-effect"
)

const maxBody = 10 << 20

// Server is a running fake of the Slack Web API. The exported fields
// configure it; set them before the first request and do not change them
// while requests are in flight.
type Server struct {
	// Token is the only bot token accepted (default DefaultToken).
	Token string
	// BotUserID is the user ID of the bot (default "UBOT").
	BotUserID string
	// BotID is the bot ID of the bot (default "BBOT").
	BotID string
	// BotName is the user name of the bot (default "incidentbot").
	BotName string
	// TeamID is the workspace ID (default "T0001").
	TeamID string
	// TeamName is the workspace name reported by auth.test.
	TeamName string
	// TeamDomain is the workspace subdomain used in URLs and permalinks.
	TeamDomain string
	// AppID is the app's ID reported in opened views (default DefaultAppID).
	AppID string
	// AppToken is the app-level token (xapp-) apps.connections.open
	// accepts (default DefaultAppToken); it opens Socket Mode connections
	// and nothing else.
	AppToken string
	// Socket configures the Socket Mode side; see SocketOptions.
	Socket SocketOptions
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time

	hs      *http.Server
	ln      net.Listener
	baseURL string
	rootURL string
	closing chan struct{}
	once    sync.Once

	connMu sync.Mutex
	active map[net.Conn]bool // connections with a request being served

	mu       sync.Mutex
	users    []User
	channels []*Channel // in creation (ID) order
	messages map[string][]*Message
	nextChan int
	lastTS   int64 // microseconds of the last message ts handed out
	calls    []Call
	faults   fakefault.Queue[Fault]
	chaos    Chaos
	rng      *rand.Rand
	hook     func(method, phase string)
	custom   map[string]MethodFunc

	userGroups  map[string][]string
	triggers    map[string]*trigger
	nextTrigger int
	views       []View
	nextView    int
	externalIDs map[string]bool
	respURLs    map[string]*responseURL // by token
	responses   []Response

	uploads        map[string]*upload // by file ID
	uploadTokens   map[string]*upload // by upload URL token, until completed
	completedFiles []*upload          // in completion order
	nextFile       int

	sock socketState
}

// Call is one request the fake received, as recorded in the call log.
type Call struct {
	// Method is the API method, e.g. "chat.postMessage".
	Method string
	// Params holds the request parameters (query, form or flattened JSON
	// body: top-level strings as they are, other values as compact JSON),
	// without the token.
	Params url.Values
	// Token is the token the request carried, if any.
	Token string
	// At is when the request arrived, by the server's clock.
	At time.Time
	// Status is the HTTP status answered; 0 when the client went away first
	// or a Fault hung up.
	Status int
	// OK reports whether the answer was {"ok":true}.
	OK bool
	// Error is the Slack error answered, the HTTP status text for a non-JSON
	// answer, the context error when the client went away, or "hangup" when
	// a Fault closed the connection.
	Error string
	// Injected reports whether a Fault or Chaos shaped the answer.
	Injected bool
}

// Fault describes a failure injected into calls of one method, or of all.
// A Fault with only Times set does nothing (the call is served normally)
// but is used up like any other.
type Fault struct {
	// Times is how many calls the fault affects; 0 means every call until
	// ClearFaults or Reset.
	Times int
	// Status is the HTTP status answered, e.g. 429, 500 or 503.
	Status int
	// RetryAfter is the Retry-After header in seconds sent with a 429.
	RetryAfter int
	// Error, when set, makes the fake answer HTTP 200 {"ok":false,"error":Error}
	// (or that body with Status, when Status is also set).
	Error string
	// Delay is slept before answering; the sleep ends early when the client
	// goes away or the server closes, and then nothing more is performed or
	// answered.
	Delay time.Duration
	// AfterEffect performs the method's effect first, then sleeps Delay and
	// answers the failure (the lost-response case). Without Status, Error or
	// Hangup the normal answer follows the delay.
	AfterEffect bool
	// Hangup closes the connection without an answer (after Delay, and after
	// the effect with AfterEffect): the client sees a transport error.
	Hangup bool
}

// Chaos describes random failures applied to every call that no Fault
// affects. Rates are probabilities in [0, 1].
type Chaos struct {
	// Rate429 is the share of calls answered 429 ratelimited.
	Rate429 float64
	// RetryAfter is the Retry-After, in seconds, of those 429 answers.
	RetryAfter int
	// Rate5xx is the share of calls answered 500, 502, 503 or 504 without
	// performing the method.
	Rate5xx float64
	// RateLost is the share of calls that perform the method and then
	// answer 503 (the caller never learns about the effect).
	RateLost float64
	// Latency is the upper bound of a random delay added to every call.
	Latency time.Duration
	// Seed seeds the random source, so a run can be repeated.
	Seed int64
}

// MethodFunc implements an extra API method registered with Handle. It gets
// the request parameters and returns the fields of the answer besides "ok",
// or a Slack error name.
type MethodFunc func(params url.Values) (fields map[string]any, slackErr string)

// New starts a fake on 127.0.0.1 with a random port. It panics if it cannot
// listen, like httptest.NewServer.
func New() *Server {
	s, err := NewAt("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("slackfake: %v", err))
	}
	return s
}

// NewAt starts a fake listening on addr, e.g. "127.0.0.1:8089".
func NewAt(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Token:      DefaultToken,
		BotUserID:  DefaultBotUserID,
		BotID:      DefaultBotID,
		BotName:    DefaultBotName,
		TeamID:     DefaultTeamID,
		TeamName:   DefaultTeamName,
		TeamDomain: DefaultTeamDomain,
		AppID:      DefaultAppID,
		AppToken:   DefaultAppToken,
		Socket:     SocketOptions{AckTimeout: 3 * time.Second, Retries: 3, RefreshGrace: 2 * time.Second, PingEvery: 5 * time.Second},
		baseURL:    "http://" + ln.Addr().String() + "/api/",
		rootURL:    "http://" + ln.Addr().String(),
		closing:    make(chan struct{}),
		ln:         ln,
		active:     map[net.Conn]bool{},
		messages:   map[string][]*Message{},
		custom:     map[string]MethodFunc{},
	}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	go func() { _ = s.hs.Serve(ln) }()
	return s, nil
}

// URL returns the base API URL with its trailing slash, for
// slack.OptionAPIURL, e.g. "http://127.0.0.1:PORT/api/".
func (s *Server) URL() string { return s.baseURL }

// Close wakes delayed requests, waits briefly (at most 5 s) for requests in
// flight to be answered and stops the server. It may be called more than
// once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.closeSockets()
		s.hs.SetKeepAlivesEnabled(false)
		_ = s.ln.Close()
		// What Shutdown does, but without waiting for connections a client
		// dialed and never used: Shutdown gives those 5 s (net/http treats
		// StateNew as busy), which made Close slow after concurrent calls.
		deadline := time.Now().Add(5 * time.Second)
		for s.busy() && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		_ = s.hs.Close()
	})
}

// trackConn keeps the set of connections with a request being served (from
// its first byte until its answer is written).
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if state == http.StateActive {
		s.active[c] = true
	} else {
		delete(s.active, c)
	}
}

func (s *Server) busy() bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.active) > 0
}

// Inject adds a fault to the calls of method ("" for every method: an
// outage, such as Inject("", Fault{Status: 503}) until ClearFaults). A
// call takes the oldest fault that matches it; one with Times 0 applies
// until ClearFaults. Faults are played after the token is checked.
func (s *Server) Inject(method string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(method, "", f.Times, f)
}

// ClearFaults removes all injected faults, the unlimited ones included.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Clear()
}

// SetChaos applies c to every later call; the zero Chaos turns chaos off.
func (s *Server) SetChaos(c Chaos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = c
	s.rng = rand.New(rand.NewSource(c.Seed))
}

// OnCall sets a hook called with the method and PhaseBefore or
// PhaseAfterEffect during each request; nil removes it. The hook runs in the
// request's goroutine without locks held, so it may block or use the
// Server's accessors.
func (s *Server) OnCall(f func(method, phase string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// Handle registers an extra method, or replaces a built-in one. f runs
// without the Server's lock held.
func (s *Server) Handle(method string, f MethodFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.custom[method] = f
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	return s.CallsTo("")
}

// CallsTo returns the logged calls of method, oldest first ("" for all).
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = cloneValues(c.Params)
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the call log, every injected fault, the chaos and the
// Socket Mode acknowledgement problems; users,
// channels, messages, views, files and the settings (token, clock, methods
// registered with Handle, the OnCall hook) stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.faults.Clear()
	s.chaos = Chaos{}
	s.rng = nil
	s.sock.mu.Lock()
	s.sock.problems = nil
	s.sock.mu.Unlock()
}

// reply is what a method handler answers.
type reply struct {
	fields map[string]any
	err    string
}

func ok(fields map[string]any) reply { return reply{fields: fields} }
func fail(code string) reply         { return reply{err: code} }

// decision is what faults and chaos make of one call.
type decision struct {
	delay       time.Duration
	status      int
	retryAfter  int
	err         string
	afterEffect bool
	hangup      bool
	injected    bool
}

func (d decision) fails() bool { return (d.status != 0 && d.status != http.StatusOK) || d.err != "" }

// ServeHTTP answers one Web API request, a POST to a response URL made by
// NewResponseURL, or a POST to an upload URL handed out by
// files.getUploadURLExternal; the Server is an http.Handler, so it can also
// be mounted elsewhere.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, responsePath) {
		s.serveResponse(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, uploadPath) {
		s.serveUpload(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, socketPath) {
		s.serveSocket(w, r)
		return
	}
	call := Call{Method: strings.TrimPrefix(r.URL.Path, "/api/"), At: s.now()}
	params, token, perr := readParams(r)
	call.Params, call.Token = params, token

	s.runHook(call.Method, PhaseBefore)
	run, known := s.lookup(call.Method)
	switch {
	case !known:
		s.answer(w, &call, http.StatusNotFound, reply{err: "unknown_method"}, 0)
		return
	case token == "":
		s.answer(w, &call, http.StatusOK, fail("not_authed"), 0)
		return
	case s.tokenError(call.Method, token) != "":
		s.answer(w, &call, http.StatusOK, fail(s.tokenError(call.Method, token)), 0)
		return
	case perr != "":
		s.answer(w, &call, http.StatusOK, fail(perr), 0)
		return
	}

	d := s.decide(call.Method)
	call.Injected = d.injected
	if !d.afterEffect {
		if !s.sleep(r.Context(), d.delay, &call) {
			return
		}
		if d.hangup {
			s.hangup(w, &call)
			return
		}
		if d.fails() {
			s.answerFault(w, &call, d)
			return
		}
	}
	rep := run(params)
	s.runHook(call.Method, PhaseAfterEffect)
	if d.afterEffect {
		if !s.sleep(r.Context(), d.delay, &call) {
			return
		}
		if d.hangup {
			s.hangup(w, &call)
			return
		}
		if d.fails() {
			s.answerFault(w, &call, d)
			return
		}
	}
	s.answer(w, &call, http.StatusOK, rep, 0)
}

// lookup finds the handler of method: a custom one runs unlocked, a
// built-in one under the Server's lock.
func (s *Server) lookup(method string) (func(url.Values) reply, bool) {
	s.mu.Lock()
	f, isCustom := s.custom[method]
	s.mu.Unlock()
	if isCustom {
		return func(p url.Values) reply {
			fields, code := f(p)
			return reply{fields: fields, err: code}
		}, true
	}
	h, builtin := methods[method]
	if !builtin {
		return nil, false
	}
	return func(p url.Values) reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		return h(s, p)
	}, true
}

// takeFault uses the oldest fault matching method once. The caller holds
// s.mu.
func (s *Server) takeFault(method string) (Fault, bool) { return s.faults.Take(method, "") }

// decide takes the next fault of method or, without one, rolls the chaos dice.
func (s *Server) decide(method string) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d decision
	if f, ok := s.takeFault(method); ok {
		d = decision{delay: f.Delay, status: f.Status, retryAfter: f.RetryAfter, err: f.Error,
			afterEffect: f.AfterEffect, hangup: f.Hangup, injected: true}
	} else if s.rng != nil {
		c := s.chaos
		switch roll := s.rng.Float64(); {
		case roll < c.Rate429:
			d = decision{status: http.StatusTooManyRequests, retryAfter: c.RetryAfter, injected: true}
		case roll < c.Rate429+c.Rate5xx:
			codes := []int{500, 502, 503, 504}
			d = decision{status: codes[s.rng.Intn(len(codes))], injected: true}
		case roll < c.Rate429+c.Rate5xx+c.RateLost:
			d = decision{status: http.StatusServiceUnavailable, afterEffect: true, injected: true}
		}
	}
	if s.rng != nil && s.chaos.Latency > 0 {
		d.delay += time.Duration(s.rng.Int63n(int64(s.chaos.Latency) + 1))
	}
	return d
}

// sleep waits d; it reports false (and logs the call) when the client went
// away or the server is closing.
func (s *Server) sleep(ctx context.Context, d time.Duration, call *Call) bool {
	if fakefault.Sleep(ctx, d, s.closing) {
		return true
	}
	call.Error = "server closing"
	if err := ctx.Err(); err != nil {
		call.Error = err.Error()
	}
	s.record(*call)
	return false
}

// hangup logs the call and closes its connection without an answer.
func (s *Server) hangup(w http.ResponseWriter, call *Call) {
	call.Error = "hangup"
	s.record(*call)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // no connection to hijack: abort the answer
}

// answerFault writes the failure a decision asks for.
func (s *Server) answerFault(w http.ResponseWriter, call *Call, d decision) {
	switch {
	case d.status == http.StatusTooManyRequests:
		s.answer(w, call, d.status, fail("ratelimited"), d.retryAfter)
	case d.status >= 400 && d.err == "":
		call.Status, call.Error = d.status, http.StatusText(d.status)
		s.record(*call)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(d.status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", d.status, http.StatusText(d.status))
	case d.status >= 400:
		s.answer(w, call, d.status, fail(d.err), 0)
	default:
		s.answer(w, call, http.StatusOK, fail(d.err), 0)
	}
}

// answer logs the call, then writes a JSON answer (logging first, so a
// client that got the answer always finds its call in the log).
func (s *Server) answer(w http.ResponseWriter, call *Call, status int, rep reply, retryAfter int) {
	body := map[string]any{}
	for k, v := range rep.fields {
		body[k] = v
	}
	body["ok"] = rep.err == ""
	if rep.err != "" {
		body["error"] = rep.err
	}
	call.Status, call.OK, call.Error = status, rep.err == "", rep.err
	s.record(*call)

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *Server) runHook(method, phase string) {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h != nil {
		h(method, phase)
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// readParams collects the query, form or JSON body parameters and the token
// (Authorization: Bearer, then the token parameter). The third result is a
// Slack error name when the body cannot be read.
func readParams(r *http.Request) (url.Values, string, string) {
	params := url.Values{}
	perr := ""
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		perr = "invalid_form_data"
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
	case ct == "application/json":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			perr = "invalid_json"
		}
		for k, raw := range m {
			var str string
			if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
				params.Set(k, str)
				continue
			}
			var buf bytes.Buffer
			if json.Compact(&buf, raw) == nil {
				raw = buf.Bytes()
			}
			params.Set(k, string(raw))
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			perr = "invalid_form_data"
		}
		params = form
	}
	for k, vs := range r.URL.Query() {
		if _, set := params[k]; !set {
			params[k] = vs
		}
	}
	token := params.Get("token")
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(auth, "Bearer "))
	}
	params.Del("token")
	return params, token, perr
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
