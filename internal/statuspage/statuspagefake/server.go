// Package statuspagefake fakes Atlassian Statuspage's REST API for tests
// and demos, over real HTTP on 127.0.0.1.
//
// It serves, under URL() (which ends in /v1, like
// https://api.statuspage.io/v1):
//
//	POST  /pages/{page_id}/incidents             create (201)
//	PATCH /pages/{page_id}/incidents/{id}        update (200; PUT too)
//	GET   /pages/{page_id}/incidents             list, newest first
//	GET   /pages/{page_id}/incidents/unresolved  those not resolved, newest first
//	GET   /pages/{page_id}/incidents/{id}        one incident
//
// The lists take page (from 1) and per_page (default and at most 100).
// Like the service it requires "Authorization: OAuth <key>" (401
// otherwise), answers 404 for another page or an unknown incident, allows
// one request per second per key (a second one within the second gets 429
// with "Retry-After: 1"), answers 400 for a body that is not JSON or has no
// incident, and 422 for a status outside
// investigating|identified|monitoring|resolved, an impact_override
// outside none|minor|major|critical, a blank name or a metadata whose
// top-level values are not all objects. An incident's metadata is stored
// and answered back (a PATCH with metadata replaces it). Errors are JSON:
// {"error": "..."}.
//
// # Conventions shared with slackfake and pagerfake
//
//   - [New] starts a fake on 127.0.0.1 with a random port and panics if it
//     cannot listen, like httptest.NewServer; [NewAt] listens on a chosen
//     address and returns the error instead. [Server.URL] is what to give
//     the client; [Server.Close] stops it, ends injected delays and may be
//     called more than once.
//   - [Server.Inject] queues a [Fault] for the requests it matches (here:
//     an HTTP method, "" for any). A request takes the oldest matching
//     fault; one with Times 0 applies until [Server.ClearFaults]. Fault's
//     fields mean the same in the three fakes: Times, Status, RetryAfter,
//     Delay, AfterEffect (perform the request, then lose its answer) and
//     Hangup (close the connection without an answer). Here faults are
//     played after the key and the rate limit are checked.
//   - [Server.Calls] and [Server.CallsTo] return the call log.
//   - [Server.Reset] forgets the call log and the faults but keeps the
//     stored data (incidents) and the settings (key, page, interval).
//
// The fake is normal (non-test) code: it never imports package testing.
package statuspagefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// Update is one incident update the fake stored.
type Update struct {
	Status string
	Body   string
	At     time.Time
	// Notified is whether subscribers were notified of it: the request's
	// deliver_notifications, true when it was left out (Statuspage's
	// default).
	Notified bool
}

// Incident is an incident as the fake stores it.
type Incident struct {
	ID       string
	Name     string
	Status   string
	Impact   string
	Metadata map[string]any // as sent; nil when none was
	Updates  []Update       // oldest first
}

// Server is the fake Statuspage. Its methods are safe for concurrent use.
type Server struct {
	srv            *httptest.Server
	apiKey, pageID string
	closing        chan struct{} // closed by Close, to cut injected delays short
	closeOnce      sync.Once

	mu        sync.Mutex
	interval  time.Duration
	lastByKey map[string]time.Time
	calls     []*Call
	faults    fakefault.Queue[Fault]
	incidents []*Incident
	seq       int
}

// New starts a fake for one API key and one page on 127.0.0.1 with a
// random port. It panics if it cannot listen, like httptest.NewServer.
func New(apiKey, pageID string) *Server {
	s, err := NewAt("127.0.0.1:0", apiKey, pageID)
	if err != nil {
		panic(fmt.Sprintf("statuspagefake: %v", err))
	}
	return s
}

// NewAt is New on a chosen address, such as "127.0.0.1:8095"; it returns
// the error of net.Listen.
func NewAt(addr, apiKey, pageID string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{apiKey: apiKey, pageID: pageID, interval: time.Second, lastByKey: map[string]time.Time{}, closing: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// URL is the API root to give the client, ending in /v1.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server: it ends injected delays and waits for the
// requests in flight. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// SetInterval changes the per-key rate limit (1 s by default; 0 turns it
// off).
func (s *Server) SetInterval(d time.Duration) {
	s.mu.Lock()
	s.interval = d
	s.mu.Unlock()
}

// RateLimited is how many requests of the call log got a 429 from the
// rate limit (injected faults not counted).
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.RateLimited {
			n++
		}
	}
	return n
}

// Incidents returns copies of the stored incidents, oldest first.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, len(s.incidents))
	for i, inc := range s.incidents {
		out[i] = *inc
		out[i].Metadata = cloneMetadata(inc.Metadata)
		out[i].Updates = slices.Clone(inc.Updates)
	}
	return out
}

func cloneMetadata(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("statuspagefake: metadata: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("statuspagefake: metadata: %v", err))
	}
	return out
}

// maxBody bounds what the fake reads of a request body; past 1 MiB the
// JSON decoder refuses it (400).
const maxBody = 10 << 20

var statuses = map[string]bool{"investigating": true, "identified": true, "monitoring": true, "resolved": true}
var impacts = map[string]bool{"none": true, "minor": true, "major": true, "critical": true}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body could not be read")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &fakefault.StatusWriter{ResponseWriter: w}
	call := &Call{Method: r.Method, Path: r.URL.Path, Body: body, At: time.Now()}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		call.Status = sw.Status
		s.mu.Unlock()
	}()

	f, ok := s.admit(sw, r, call)
	if !ok {
		return
	}
	if f == nil {
		s.routeLocked(sw, r)
		return
	}
	s.play(sw, r, *f)
}

// admit checks the key and the rate limit, answering 401 or 429 itself
// (ok false), and takes the fault the request is to play, if any.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, call *Call) (f *Fault, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	key, hasKey := strings.CutPrefix(auth, "OAuth ")
	if !hasKey || key == "" || key != s.apiKey {
		writeError(w, http.StatusUnauthorized, "Couldn't authenticate you")
		return nil, false
	}
	now := call.At
	if last, seen := s.lastByKey[key]; seen && s.interval > 0 && now.Sub(last) < s.interval {
		call.RateLimited = true
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((s.interval+time.Second-1)/time.Second))))
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded")
		return nil, false
	}
	s.lastByKey[key] = now
	if f, found := s.takeFault(r.Method); found {
		call.Injected = true
		return &f, true
	}
	return nil, true
}

// routeLocked serves the request under the lock.
func (s *Server) routeLocked(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route(w, r, time.Now())
}

// route serves one request that passed the key, the rate limit and the
// faults.
func (s *Server) route(w http.ResponseWriter, r *http.Request, now time.Time) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/pages/")
	if !ok {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] != s.pageID {
		writeError(w, http.StatusNotFound, "Page not found")
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "incidents" && r.Method == http.MethodPost:
		s.create(w, r, now)
	case len(parts) == 2 && parts[1] == "incidents" && r.Method == http.MethodGet:
		s.list(w, r, func(*Incident) bool { return true })
	case len(parts) == 3 && parts[1] == "incidents" && parts[2] == "unresolved" && r.Method == http.MethodGet:
		s.list(w, r, func(inc *Incident) bool { return inc.Status != "resolved" })
	case len(parts) == 3 && parts[1] == "incidents":
		inc := s.find(parts[2])
		if inc == nil {
			writeError(w, http.StatusNotFound, "Record not found")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.view(inc))
		case http.MethodPatch, http.MethodPut:
			s.update(w, r, inc, now)
		default:
			writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		}
	default:
		writeError(w, http.StatusNotFound, "Not found")
	}
}

// list answers the incidents keep accepts, newest first, one page of
// them.
func (s *Server) list(w http.ResponseWriter, r *http.Request, keep func(*Incident) bool) {
	q := r.URL.Query()
	page, perPage := 1, 100
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 && n < 100 {
		perPage = n
	}
	list := make([]map[string]any, 0, perPage)
	skip := (page - 1) * perPage
	for i := len(s.incidents) - 1; i >= 0 && len(list) < perPage; i-- {
		if !keep(s.incidents[i]) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		list = append(list, s.view(s.incidents[i]))
	}
	writeJSON(w, http.StatusOK, list)
}

type incidentDoc struct {
	Incident *struct {
		Name                 *string                    `json:"name"`
		Status               *string                    `json:"status"`
		ImpactOverride       *string                    `json:"impact_override"`
		Body                 *string                    `json:"body"`
		DeliverNotifications *bool                      `json:"deliver_notifications"`
		Metadata             map[string]json.RawMessage `json:"metadata"`
	} `json:"incident"`
}

// metadata is the document's metadata as stored, or a 422 when one of its
// top-level values is not an object.
func metadata(raw map[string]json.RawMessage) (map[string]any, bool) {
	if raw == nil {
		return nil, true
	}
	m := make(map[string]any, len(raw))
	for k, v := range raw {
		var obj map[string]any
		if err := json.Unmarshal(v, &obj); err != nil || obj == nil {
			return nil, false
		}
		m[k] = obj
	}
	return m, true
}

func decode(w http.ResponseWriter, r *http.Request) (incidentDoc, bool) {
	var doc incidentDoc
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&doc); err != nil || doc.Incident == nil {
		writeError(w, http.StatusBadRequest, "incident is missing or not valid JSON")
		return doc, false
	}
	in := doc.Incident
	if in.Status != nil && !statuses[*in.Status] {
		writeError(w, http.StatusUnprocessableEntity, "Status is not included in the list")
		return doc, false
	}
	if in.ImpactOverride != nil && !impacts[*in.ImpactOverride] {
		writeError(w, http.StatusUnprocessableEntity, "Impact override is not included in the list")
		return doc, false
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Name can't be blank")
		return doc, false
	}
	if _, ok := metadata(in.Metadata); !ok {
		writeError(w, http.StatusUnprocessableEntity, "Metadata values must be objects")
		return doc, false
	}
	return doc, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, now time.Time) {
	doc, ok := decode(w, r)
	if !ok {
		return
	}
	in := doc.Incident
	if in.Name == nil {
		writeError(w, http.StatusUnprocessableEntity, "Name can't be blank")
		return
	}
	s.seq++
	inc := &Incident{ID: fmt.Sprintf("fake%06d", s.seq), Name: *in.Name, Status: "investigating", Impact: "none"}
	if in.Status != nil {
		inc.Status = *in.Status
	}
	if in.ImpactOverride != nil {
		inc.Impact = *in.ImpactOverride
	}
	inc.Metadata, _ = metadata(in.Metadata)
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	inc.Updates = append(inc.Updates, Update{Status: inc.Status, Body: body, At: now.UTC(), Notified: notify(in.DeliverNotifications)})
	s.incidents = append(s.incidents, inc)
	writeJSON(w, http.StatusCreated, s.view(inc))
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, inc *Incident, now time.Time) {
	doc, ok := decode(w, r)
	if !ok {
		return
	}
	in := doc.Incident
	changed := false
	if in.Name != nil {
		inc.Name = *in.Name
	}
	if in.ImpactOverride != nil {
		inc.Impact = *in.ImpactOverride
	}
	if in.Metadata != nil {
		inc.Metadata, _ = metadata(in.Metadata)
	}
	if in.Status != nil && *in.Status != inc.Status {
		inc.Status = *in.Status
		changed = true
	}
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	// Statuspage adds an incident update when there is a body or the
	// status changes.
	if body != "" || changed {
		inc.Updates = append(inc.Updates, Update{Status: inc.Status, Body: body, At: now.UTC(), Notified: notify(in.DeliverNotifications)})
	}
	writeJSON(w, http.StatusOK, s.view(inc))
}

func notify(deliver *bool) bool { return deliver == nil || *deliver }

func (s *Server) find(id string) *Incident {
	for _, inc := range s.incidents {
		if inc.ID == id {
			return inc
		}
	}
	return nil
}

// view is the incident as Statuspage answers it (the fields a client
// reads).
func (s *Server) view(inc *Incident) map[string]any {
	ups := make([]map[string]any, 0, len(inc.Updates))
	for i := len(inc.Updates) - 1; i >= 0; i-- {
		u := inc.Updates[i]
		ups = append(ups, map[string]any{
			"id": fmt.Sprintf("%s-u%d", inc.ID, i+1), "incident_id": inc.ID, "status": u.Status,
			"body": u.Body, "created_at": u.At.Format(time.RFC3339Nano), "display_at": u.At.Format(time.RFC3339Nano),
			"deliver_notifications": u.Notified,
		})
	}
	v := map[string]any{
		"id": inc.ID, "page_id": s.pageID, "name": inc.Name, "status": inc.Status,
		"impact": inc.Impact, "impact_override": inc.Impact, "incident_updates": ups,
		"created_at": inc.Updates[0].At.Format(time.RFC3339), "resolved_at": nil,
		"shortlink": "http://stspg.io/" + inc.ID, "metadata": cloneMetadata(inc.Metadata),
	}
	if inc.Metadata == nil {
		v["metadata"] = map[string]any{}
	}
	if inc.Status == "resolved" {
		v["resolved_at"] = inc.Updates[len(inc.Updates)-1].At.Format(time.RFC3339)
	}
	return v
}
