package pagerfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// DefaultToken is the API token a new Server accepts until SetToken changes it.
const DefaultToken = "pd-test-token"

// webURL is the base of the html_url links the fake hands out, for incidents,
// users and services alike, so that the REST API and the webhook builders
// agree on every incident's URL.
const webURL = "https://fake.pagerduty.com"

// apiURL is the base of the self links in webhook payloads, which are built
// without a Server (the REST fake uses its own URL instead).
const apiURL = "https://api.pagerduty.com"

// maxBody bounds what the fake reads of a request body.
const maxBody = 10 << 20

// Server is a fake of PagerDuty's REST API v2 listening on a real local port.
// Its zero value is not usable: create one with New or NewAt and Close it when
// done. All its methods are safe for concurrent use.
type Server struct {
	url      string
	mux      *http.ServeMux
	srv      *http.Server
	served   chan struct{} // closed when Serve returns
	done     chan struct{} // closed by Close, to cut injected delays short
	stopOnce sync.Once
	inflight sync.WaitGroup // handlers running; Add only under mu while !closed

	mu         sync.Mutex
	closed     bool
	token      string
	clock      func() time.Time
	users      map[string]*User
	userOrder  []string
	incidents  map[string]*incidentRecord
	incOrder   []string
	priorities []priority
	oncalls    []OnCall
	// policies are the escalation policies by ID, in policyOrder;
	// responderRequests every responder request made.
	policies          map[string]*EscalationPolicy
	policyOrder       []string
	responderRequests []ResponderRequest
	calls             []*Call
	faults            fakefault.Queue[Fault]
	seq               map[string]int
	lastNumber        int
	// rate limit (SetRateLimit): at most rateN requests per rateWindow
	rateN      int
	rateWindow time.Duration
	rateStart  time.Time
	rateUsed   int
}

// Call is one request the Server received, recorded in arrival order.
type Call struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, without the query.
	Path string
	// Query is the decoded query string.
	Query url.Values
	// From is the From header (the acting user's e-mail), "" when absent.
	From string
	// Body is the raw request body.
	Body []byte
	// Status is the HTTP status answered; 0 while the request is in flight,
	// or when no answer was written (the client went away during an injected
	// delay, or a Fault hung up).
	Status int
	// Injected reports whether a Fault shaped the answer.
	Injected bool
	// At is when the request arrived, by the Server's clock.
	At time.Time
}

// New starts a Server on 127.0.0.1 with a free port, accepting DefaultToken.
// It panics if it cannot listen, as httptest.NewServer does.
func New() *Server {
	s, err := NewAt("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("pagerfake: %v", err))
	}
	return s
}

// NewAt is New on a chosen address (such as "127.0.0.1:9090" for a demo that
// wants a stable URL). It returns the error of net.Listen.
func NewAt(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{
		url:       "http://" + ln.Addr().String(),
		served:    make(chan struct{}),
		done:      make(chan struct{}),
		token:     DefaultToken,
		clock:     time.Now,
		users:     map[string]*User{},
		incidents: map[string]*incidentRecord{},
		seq:       map[string]int{},
	}
	s.policies = map[string]*EscalationPolicy{"PEPFAKE": {ID: "PEPFAKE", Name: "Default"}}
	s.policyOrder = []string{"PEPFAKE"}
	for _, p := range []string{"P1", "P2", "P3", "P4", "P5"} {
		s.priorities = append(s.priorities, priority{ID: priorityID(p), Name: p})
	}
	s.mux = s.routes()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // always ErrServerClosed after Close
	}()
	return s, nil
}

// URL returns the base URL of the fake, such as "http://127.0.0.1:41234",
// without a trailing slash: pass it to pagerduty.WithAPIEndpoint.
func (s *Server) URL() string { return s.url }

// Close stops the Server: it stops listening, closes every connection, cuts
// injected delays short and waits for the handlers still running. Close is
// idempotent.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		// Close, not Shutdown: Shutdown waits up to 5 s for connections a
		// client dialed but never used (net/http treats StateNew as busy).
		_ = s.srv.Close()
		<-s.served
		s.inflight.Wait()
	})
}

// SetToken changes the API token the Server accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Token returns the API token the Server accepts (DefaultToken unless
// SetToken changed it).
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetClock replaces the Server's clock (time.Now by default), which stamps
// calls, notes, status updates, acknowledgements and incidents added without
// a CreatedAt. now is called with the Server's lock held: it must not call
// back into the Server.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

// Calls returns a copy of every call received so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = copyCall(*c)
	}
	return out
}

// CallsTo returns the calls whose method is method ("" for any) and whose
// path starts with pathPrefix, in arrival order.
func (s *Server) CallsTo(method, pathPrefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if (method == "" || strings.EqualFold(method, c.Method)) && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, copyCall(*c))
		}
	}
	return out
}

// Reset forgets the calls recorded so far and every injected fault; users,
// incidents, notes, on-call entries, the token and the clock stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.faults.Clear()
}

func copyCall(c Call) Call {
	c.Query = cloneValues(c.Query)
	c.Body = bytes.Clone(c.Body)
	return c
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

// ServeHTTP records the call, applies any injected fault, checks the token and
// dispatches to the REST handlers. It is exported so that the fake can also be
// mounted on another server or exercised with httptest.NewRecorder.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "Service Unavailable", 2000)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", 2001, err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	call := &Call{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  cloneValues(r.URL.Query()),
		From:   r.Header.Get("From"),
		Body:   body,
		At:     s.clock(),
	}
	s.calls = append(s.calls, call)
	token := s.token
	s.mu.Unlock()

	rec := &fakefault.StatusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		call.Status = rec.Status
		s.mu.Unlock()
	}()

	serve := func(w http.ResponseWriter) {
		if !authorized(r.Header.Get("Authorization"), token) {
			writeError(w, http.StatusUnauthorized, "Unauthorized", 2006)
			return
		}
		if !s.rateAllow(w) {
			writeError(w, http.StatusTooManyRequests, "Rate Limit Exceeded", 2020)
			return
		}
		s.mux.ServeHTTP(w, r)
	}
	if f, ok := s.takeFault(r.Method, r.URL.Path); ok {
		s.mu.Lock()
		call.Injected = true
		s.mu.Unlock()
		s.applyFault(rec, r, f, serve)
		return
	}
	serve(rec)
}

// authorized accepts the two forms PagerDuty accepts: an API token
// ("Token token=..."), which go-pagerduty's NewClient sends, and an OAuth
// bearer token, which it sends WithOAuth.
func authorized(header, token string) bool {
	if token == "" {
		return false
	}
	if v, ok := strings.CutPrefix(header, "Token token="); ok {
		return v == token
	}
	if v, ok := strings.CutPrefix(header, "Bearer "); ok {
		return v == token
	}
	return false
}

// routes builds the REST route table; anything else is answered with
// PagerDuty's JSON 404.
func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /users", s.listUsers)
	m.HandleFunc("GET /users/{id}", s.getUser)
	m.HandleFunc("GET /incidents", s.listIncidents)
	m.HandleFunc("PUT /incidents", s.manageIncidents)
	m.HandleFunc("GET /incidents/{id}", s.getIncident)
	m.HandleFunc("PUT /incidents/{id}", s.updateIncident)
	m.HandleFunc("GET /incidents/{id}/notes", s.listNotes)
	m.HandleFunc("POST /incidents/{id}/notes", s.createNote)
	m.HandleFunc("POST /incidents/{id}/status_updates", s.createStatusUpdate)
	m.HandleFunc("GET /incidents/{id}/log_entries", s.listIncidentLogEntries)
	m.HandleFunc("GET /log_entries", s.listLogEntries)
	m.HandleFunc("GET /log_entries/{id}", s.getLogEntry)
	m.HandleFunc("POST /incidents/{id}/responder_requests", s.createResponderRequest)
	m.HandleFunc("GET /escalation_policies", s.listEscalationPolicies)
	m.HandleFunc("GET /oncalls", s.listOnCalls)
	m.HandleFunc("GET /priorities", s.listPriorities)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeNotFound(w) })
	return m
}

// apiError is PagerDuty's error document.
type apiError struct {
	Error apiErrorObject `json:"error"`
}

type apiErrorObject struct {
	Message string   `json:"message"`
	Code    int      `json:"code"`
	Errors  []string `json:"errors,omitempty"`
}

// writeError answers PagerDuty's JSON error document; go-pagerduty decodes it
// into an APIError only because of the application/json Content-Type.
func writeError(w http.ResponseWriter, status int, message string, code int, errs ...string) {
	writeJSON(w, status, apiError{Error: apiErrorObject{Message: message, Code: code, Errors: errs}})
}

func writeNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Not Found", 2100)
}

func writeInvalid(w http.ResponseWriter, errs ...string) {
	writeError(w, http.StatusBadRequest, "Invalid Input Provided", 2001, errs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"Internal Server Error","code":2000}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request body, answering 400 on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeInvalid(w, "Request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// requester resolves the From header to a known user, as PagerDuty does for
// every write. It answers 400 and returns false when the header is missing or
// names no user. The caller holds s.mu.
func (s *Server) requester(w http.ResponseWriter, r *http.Request) (*User, bool) {
	from := strings.TrimSpace(r.Header.Get("From"))
	if from == "" {
		writeInvalid(w, "From header is required")
		return nil, false
	}
	for _, id := range s.userOrder {
		if u := s.users[id]; strings.EqualFold(u.Email, from) {
			return u, true
		}
	}
	writeInvalid(w, "Requester User Not Found")
	return nil, false
}

// nextID returns a PagerDuty-looking ID, such as "PNT0001", unique per
// Server. The caller holds s.mu.
func (s *Server) nextID(prefix string) string {
	s.seq[prefix]++
	return fmt.Sprintf("%s%04d", prefix, s.seq[prefix])
}

// page parses offset and limit the way PagerDuty does (limit defaults to 25
// and is capped at 100). It answers 400 and returns false on a bad value.
func page(w http.ResponseWriter, q url.Values) (offset, limit int, ok bool) {
	offset, limit = 0, 25
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeInvalid(w, "Offset must be a non-negative integer")
			return 0, 0, false
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeInvalid(w, "Limit must be a positive integer")
			return 0, 0, false
		}
		limit = n
	}
	return offset, min(limit, 100), true
}

// timeRange parses the since and until parameters (RFC 3339 or a bare
// date), answering 400 and returning false on a bad value; an absent one is
// the zero time.
func timeRange(w http.ResponseWriter, q url.Values) (since, until time.Time, ok bool) {
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, true
			}
		}
		writeInvalid(w, "Invalid '"+name+"' Parameter Value")
		return time.Time{}, false
	}
	if since, ok = parse("since"); !ok {
		return
	}
	until, ok = parse("until")
	return
}

// listPage slices n items at offset/limit and builds the pagination fields
// of a list answer; total is null unless the query asks for total=true.
func listPage(q url.Values, n, offset, limit int) (lo, hi int, fields map[string]any) {
	lo, hi = min(offset, n), min(offset+limit, n)
	fields = map[string]any{"limit": limit, "offset": offset, "more": hi < n, "total": nil}
	if q.Get("total") == "true" {
		fields["total"] = n
	}
	return lo, hi, fields
}

// multi returns a repeatable query parameter, accepting both "name[]"
// (go-pagerduty's form) and "name".
func multi(q url.Values, name string) []string {
	return append(append([]string(nil), q[name+"[]"]...), q[name]...)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// timeOrNull renders a zero time as JSON null.
func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return rfc3339(t)
}

// SetRateLimit makes the Server limit requests as PagerDuty's REST API
// does: at most n authenticated requests per window (PagerDuty: 960 a
// minute per key), each answer carrying ratelimit-limit,
// ratelimit-remaining and ratelimit-reset (seconds until the window
// resets), and the requests beyond the limit answered 429 "Rate Limit
// Exceeded" (code 2020) with those headers and no Retry-After.
// https://support.pagerduty.com/docs/rest-api-rate-limits
// n <= 0 turns the limit off.
func (s *Server) SetRateLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateN, s.rateWindow, s.rateStart, s.rateUsed = n, window, time.Time{}, 0
}

// rateAllow counts one request against the limit and sets the headers; it
// reports false when the request is over the limit.
func (s *Server) rateAllow(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rateN <= 0 {
		return true
	}
	now := s.clock()
	if s.rateStart.IsZero() || !now.Before(s.rateStart.Add(s.rateWindow)) {
		s.rateStart, s.rateUsed = now, 0
	}
	reset := int(s.rateStart.Add(s.rateWindow).Sub(now).Seconds() + 0.999)
	h := w.Header()
	h.Set("ratelimit-limit", strconv.Itoa(s.rateN))
	h.Set("ratelimit-reset", strconv.Itoa(max(reset, 1)))
	if s.rateUsed >= s.rateN {
		h.Set("ratelimit-remaining", "0")
		return false
	}
	s.rateUsed++
	h.Set("ratelimit-remaining", strconv.Itoa(s.rateN-s.rateUsed))
	return true
}
