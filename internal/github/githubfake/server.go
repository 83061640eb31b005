// Package githubfake fakes the part of GitHub's REST API that incidentbot
// uses, over real HTTP on 127.0.0.1, answering as GitHub's REST reference
// describes (https://docs.github.com/rest/issues):
//
//	POST  /repos/{owner}/{repo}/issues           create (201); unknown labels are created
//	GET   /repos/{owner}/{repo}/issues           list: labels (all of), state, since, sort, direction, per_page, page (Link header)
//	GET   /repos/{owner}/{repo}/issues/{number}  one issue
//	PATCH /repos/{owner}/{repo}/issues/{number}  edit: state, state_reason, title, body, labels
//	GET   /repos/{owner}/{repo}/labels           the repository's labels
//	POST  /repos/{owner}/{repo}/labels           create a label (422 already_exists)
//	GET   /search/issues                         q with repo:, label:, is:issue|pr, is:open|closed, state:, updated:>=DATE
//
// Like the service it takes "Authorization: Bearer <token>" (or "token
// <token>"; 401 "Bad credentials" otherwise), answers {"message",
// "documentation_url"} errors (404 for a repository the token cannot see,
// 403 "Resource not accessible by personal access token" for a read-only
// token, 410 when issues are off, 422 "Validation Failed" with errors[]),
// sends the primary rate limit's x-ratelimit-* headers on every answer
// (403 with x-ratelimit-remaining 0 past SetRateLimit's budget), and plays
// the secondary rate limit on content-creating requests (POST, PATCH)
// past SetSecondaryLimit's rate: 403 with Retry-After and GitHub's
// documented message and documentation_url, which go-github reads as an
// AbuseRateLimitError.
//
// # Conventions shared with the other fakes
//
// New/NewAt, URL, Close, Inject(method, pathPrefix, Fault) with the shared
// Fault fields (played before the token is checked; SecondaryRateLimit
// answers as the secondary limit does), ClearFaults, Reset (the call log,
// faults and rate counters; issues and settings stay), Calls and
// CallsTo(method, pathPrefix).
package githubfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// DefaultToken and DefaultRepository are New's.
const (
	DefaultToken      = "ghp_fakeTokenForTests0000000000000000"
	DefaultRepository = "acme/ops"
)

const docsSecondary = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

// SecondaryMessage is GitHub's documented text for the secondary limit.
const SecondaryMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID."

// Issue is an issue as the fake stores it.
type Issue struct {
	Number      int
	Title, Body string
	Labels      []string
	State       string // open, closed
	StateReason string // completed, not_planned, reopened, ""
	Created     time.Time
	Updated     time.Time
	Closed      time.Time
	PullRequest bool
}

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	Status       int
	Injected     bool
	At           time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	token     string
	owner     string
	repo      string
	closing   chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	now           func() time.Time
	readOnly      bool
	issuesOff     bool
	issues        []*Issue
	labels        []string
	calls         []*Call
	faults        fakefault.Queue[Fault]
	rateLimit     int // requests per hour; 0: 5000
	used          int
	secondaryN    int
	secondaryWin  time.Duration
	contentWrites []time.Time
}

// New starts a fake for DefaultToken and DefaultRepository on 127.0.0.1
// with a random port; it panics if it cannot listen.
func New() *Server {
	s, err := NewAt("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("githubfake: %v", err))
	}
	return s
}

// NewAt is New on a chosen address.
func NewAt(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	owner, repo, _ := strings.Cut(DefaultRepository, "/")
	s := &Server{token: DefaultToken, owner: owner, repo: repo, closing: make(chan struct{}), now: time.Now}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// URL is the API root to give the client (GITHUB_API_URL).
func (s *Server) URL() string { return s.srv.URL }

// Token is the token the fake accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Repository is the repository it serves, "owner/name".
func (s *Server) Repository() string { return s.owner + "/" + s.repo }

// Close stops the server; it may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// SetClock sets the fake's clock.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetReadOnly makes the token read-only: writes get 403.
func (s *Server) SetReadOnly(ro bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly = ro
}

// SetIssuesDisabled turns the repository's issues off (410).
func (s *Server) SetIssuesDisabled(off bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issuesOff = off
}

// SetRateLimit sets the primary limit's budget (requests until the
// reset, an hour away); 0 means GitHub's 5000.
func (s *Server) SetRateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit, s.used = n, 0
}

// SetSecondaryLimit allows at most n content-creating requests (POST,
// PATCH) within window; past it the secondary limit answers. 0 turns it
// off.
func (s *Server) SetSecondaryLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondaryN, s.secondaryWin, s.contentWrites = n, window, nil
}

// Issues returns copies of the stored issues, oldest first.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.issues))
	for i, is := range s.issues {
		out[i] = *is
		out[i].Labels = slices.Clone(is.Labels)
	}
	return out
}

// Issue returns a copy of one issue.
func (s *Server) Issue(number int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if number < 1 || number > len(s.issues) {
		return Issue{}, false
	}
	out := *s.issues[number-1]
	out.Labels = slices.Clone(out.Labels)
	return out, true
}

// CloseIssue closes an issue as a person does on GitHub (reason
// completed or not_planned).
func (s *Server) CloseIssue(number int, reason string) error {
	return s.setState(number, "closed", reason)
}

// ReopenIssue reopens an issue as a person does on GitHub.
func (s *Server) ReopenIssue(number int) error { return s.setState(number, "open", "reopened") }

func (s *Server) setState(number int, state, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if number < 1 || number > len(s.issues) {
		return fmt.Errorf("githubfake: no issue #%d", number)
	}
	is := s.issues[number-1]
	is.State, is.StateReason, is.Updated = state, reason, s.now().UTC()
	if state == "closed" {
		is.Closed = is.Updated
	} else {
		is.Closed = time.Time{}
	}
	return nil
}

// Reset forgets the call log, the faults and the rate counters; issues,
// labels and settings stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.used, s.contentWrites = nil, 0, nil
	s.faults.Clear()
}

// Calls returns the call log, oldest first.
func (s *Server) Calls() []Call { return s.CallsTo("", "") }

// CallsTo returns the calls whose method is method ("" for any) and whose
// path starts with pathPrefix.
func (s *Server) CallsTo(method, pathPrefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if (method == "" || strings.EqualFold(method, c.Method)) && strings.HasPrefix(c.Path, pathPrefix) {
			cp := *c
			cp.Body = bytes.Clone(c.Body)
			out = append(out, cp)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(code)})
}

func writeSecondary(w http.ResponseWriter, retryAfter int) {
	if retryAfter <= 0 {
		retryAfter = 60
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusForbidden, map[string]string{"message": SecondaryMessage, "documentation_url": docsSecondary})
}

func writeValidation(w http.ResponseWriter, resource, field, code string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/issues/issues",
		"errors": []map[string]string{{"resource": resource, "field": field, "code": code}}, "status": "422",
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	sw := &fakefault.StatusWriter{ResponseWriter: w}
	call := &Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, At: time.Now()}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		call.Status = sw.Status
		s.mu.Unlock()
	}()
	serve := func(w http.ResponseWriter, r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.route(w, r)
	}
	if f, ok := s.takeFault(r.Method, r.URL.Path); ok {
		s.mu.Lock()
		call.Injected = true
		s.mu.Unlock()
		s.play(sw, r, f, serve)
		return
	}
	serve(sw, r)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	s.mu.Lock()
	good := ok && tok == s.token
	s.mu.Unlock()
	if !good {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	limit := s.rateLimit
	if limit == 0 {
		limit = 5000
	}
	reset := now.Truncate(time.Hour).Add(time.Hour)
	s.used++
	remaining := max(limit-s.used, 0)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(min(s.used, limit)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if s.used > limit {
		writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.")
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && s.secondaryN > 0 {
		keep := s.contentWrites[:0]
		for _, t := range s.contentWrites {
			if now.Sub(t) < s.secondaryWin {
				keep = append(keep, t)
			}
		}
		s.contentWrites = keep
		if len(keep) >= s.secondaryN {
			writeSecondary(w, int(s.secondaryWin/time.Second))
			return
		}
		s.contentWrites = append(s.contentWrites, now)
	}
	p := r.URL.Path
	if p == "/search/issues" && r.Method == http.MethodGet {
		s.search(w, r)
		return
	}
	rest, ok := strings.CutPrefix(p, "/repos/"+s.owner+"/"+s.repo+"/")
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	write := r.Method != http.MethodGet
	if write && s.readOnly {
		writeError(w, http.StatusForbidden, "Resource not accessible by personal access token")
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case parts[0] == "issues" && s.issuesOff:
		writeError(w, http.StatusGone, "Issues are disabled for this repo")
	case len(parts) == 1 && parts[0] == "issues" && r.Method == http.MethodPost:
		s.create(w, r, now)
	case len(parts) == 1 && parts[0] == "issues" && r.Method == http.MethodGet:
		s.list(w, r)
	case len(parts) == 2 && parts[0] == "issues":
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 1 || n > len(s.issues) {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		is := s.issues[n-1]
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.view(is))
		case http.MethodPatch:
			s.edit(w, r, is, now)
		default:
			writeError(w, http.StatusNotFound, "Not Found")
		}
	case len(parts) == 1 && parts[0] == "labels" && r.Method == http.MethodGet:
		list := []map[string]any{}
		for i, l := range s.labels {
			list = append(list, labelView(i, l))
		}
		writeJSON(w, http.StatusOK, list)
	case len(parts) == 1 && parts[0] == "labels" && r.Method == http.MethodPost:
		var doc struct {
			Name string `json:"name"`
		}
		if json.NewDecoder(r.Body).Decode(&doc) != nil || doc.Name == "" {
			writeValidation(w, "Label", "name", "missing_field")
			return
		}
		if s.hasLabel(doc.Name) {
			writeValidation(w, "Label", "name", "already_exists")
			return
		}
		s.labels = append(s.labels, doc.Name)
		writeJSON(w, http.StatusCreated, labelView(len(s.labels)-1, doc.Name))
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) hasLabel(name string) bool {
	return slices.ContainsFunc(s.labels, func(l string) bool { return strings.EqualFold(l, name) })
}

func labelView(i int, name string) map[string]any {
	return map[string]any{"id": 1000 + i, "node_id": fmt.Sprintf("LA_%d", 1000+i), "name": name, "color": "ededed", "default": false}
}

type issueDoc struct {
	Title       *string   `json:"title"`
	Body        *string   `json:"body"`
	Labels      *[]string `json:"labels"`
	State       *string   `json:"state"`
	StateReason *string   `json:"state_reason"`
	Assignees   *[]string `json:"assignees"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, now time.Time) {
	var doc issueDoc
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if doc.Title == nil || strings.TrimSpace(*doc.Title) == "" {
		writeValidation(w, "Issue", "title", "missing_field")
		return
	}
	if len(*doc.Title) > 256 {
		writeValidation(w, "Issue", "title", "invalid")
		return
	}
	if doc.Assignees != nil && len(*doc.Assignees) > 0 {
		writeValidation(w, "Issue", "assignees", "invalid") // the fake's repository has no collaborators
		return
	}
	is := &Issue{Number: len(s.issues) + 1, Title: *doc.Title, State: "open", Created: now, Updated: now}
	if doc.Body != nil {
		is.Body = *doc.Body
	}
	if doc.Labels != nil {
		s.setLabels(is, *doc.Labels)
	}
	s.issues = append(s.issues, is)
	writeJSON(w, http.StatusCreated, s.view(is))
}

// setLabels sets an issue's labels, creating those the repository lacks
// (as GitHub does for a user with push access).
func (s *Server) setLabels(is *Issue, labels []string) {
	is.Labels = nil
	for _, l := range labels {
		if !s.hasLabel(l) {
			s.labels = append(s.labels, l)
		}
		if !slices.Contains(is.Labels, l) {
			is.Labels = append(is.Labels, l)
		}
	}
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request, is *Issue, now time.Time) {
	var doc issueDoc
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if doc.State != nil && *doc.State != "open" && *doc.State != "closed" {
		writeValidation(w, "Issue", "state", "invalid")
		return
	}
	if doc.StateReason != nil && !slices.Contains([]string{"completed", "not_planned", "reopened"}, *doc.StateReason) {
		writeValidation(w, "Issue", "state_reason", "invalid")
		return
	}
	if doc.Title != nil {
		is.Title = *doc.Title
	}
	if doc.Body != nil {
		is.Body = *doc.Body
	}
	if doc.Labels != nil {
		s.setLabels(is, *doc.Labels)
	}
	if doc.State != nil && *doc.State != is.State {
		is.State = *doc.State
		if is.State == "closed" {
			is.Closed, is.StateReason = now, "completed"
		} else {
			is.Closed, is.StateReason = time.Time{}, "reopened"
		}
	}
	if doc.StateReason != nil {
		is.StateReason = *doc.StateReason
	}
	is.Updated = now
	writeJSON(w, http.StatusOK, s.view(is))
}

// view is an issue as GitHub answers it.
func (s *Server) view(is *Issue) map[string]any {
	base := s.srv.URL + "/repos/" + s.owner + "/" + s.repo
	labels := []map[string]any{}
	for _, l := range is.Labels {
		labels = append(labels, labelView(slices.Index(s.labels, l), l))
	}
	v := map[string]any{
		"id": 100000 + is.Number, "node_id": fmt.Sprintf("I_kw%d", is.Number), "number": is.Number,
		"url": fmt.Sprintf("%s/issues/%d", base, is.Number), "repository_url": base,
		"html_url": fmt.Sprintf("https://github.com/%s/%s/issues/%d", s.owner, s.repo, is.Number),
		"title":    is.Title, "body": is.Body, "state": is.State, "state_reason": nullable(is.StateReason),
		"labels": labels, "assignees": []any{}, "assignee": nil, "comments": 0, "locked": false,
		"user":       map[string]any{"login": "incidentbot[bot]", "id": 1, "type": "Bot"},
		"created_at": is.Created.Format(time.RFC3339), "updated_at": is.Updated.Format(time.RFC3339), "closed_at": nil,
	}
	if !is.Closed.IsZero() {
		v["closed_at"] = is.Closed.Format(time.RFC3339)
	}
	if is.PullRequest {
		v["pull_request"] = map[string]any{"url": fmt.Sprintf("%s/pulls/%d", base, is.Number)}
	}
	return v
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// paging reads per_page (default 30, at most 100) and page (from 1).
func paging(q url.Values) (perPage, page int) {
	perPage, page = 30, 1
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	return perPage, page
}

// link writes the Link header of a listing.
func link(w http.ResponseWriter, r *http.Request, page, perPage, total int) {
	last := max((total+perPage-1)/perPage, 1)
	var parts []string
	mk := func(p int, rel string) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u := *r.URL
		u.RawQuery = q.Encode()
		parts = append(parts, fmt.Sprintf("<http://%s%s>; rel=%q", r.Host, u.RequestURI(), rel))
	}
	if page < last {
		mk(page+1, "next")
		mk(last, "last")
	}
	if page > 1 {
		mk(1, "first")
		mk(page-1, "prev")
	}
	if len(parts) > 0 {
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if !slices.Contains([]string{"open", "closed", "all"}, state) {
		writeValidation(w, "Issue", "state", "invalid")
		return
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeValidation(w, "Issue", "since", "invalid")
			return
		}
		since = t
	}
	var want []string
	if v := q.Get("labels"); v != "" {
		want = strings.Split(v, ",")
	}
	var found []*Issue
	for _, is := range s.issues {
		if (state != "all" && is.State != state) || (!since.IsZero() && is.Updated.Before(since)) {
			continue
		}
		if !all(want, func(l string) bool { return slices.Contains(is.Labels, l) }) {
			continue
		}
		found = append(found, is)
	}
	sortIssues(found, q.Get("sort"), q.Get("direction"))
	perPage, page := paging(q)
	link(w, r, page, perPage, len(found))
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < len(found) && len(out) < perPage; i++ {
		out = append(out, s.view(found[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func all(list []string, f func(string) bool) bool {
	for _, x := range list {
		if !f(x) {
			return false
		}
	}
	return true
}

func sortIssues(list []*Issue, by, dir string) {
	key := func(is *Issue) time.Time { return is.Created }
	if by == "updated" {
		key = func(is *Issue) time.Time { return is.Updated }
	}
	slices.SortStableFunc(list, func(a, b *Issue) int {
		c := key(a).Compare(key(b))
		if c == 0 {
			c = a.Number - b.Number
		}
		if dir != "asc" {
			c = -c // GitHub's default direction is desc
		}
		return c
	})
}

// search serves GET /search/issues for the qualifiers the fake knows.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if strings.TrimSpace(q) == "" {
		writeValidation(w, "Search", "q", "missing")
		return
	}
	var match []func(*Issue) bool
	for _, term := range strings.Fields(q) {
		k, v, ok := strings.Cut(term, ":")
		v = strings.Trim(v, `"`)
		switch {
		case !ok:
			t := strings.ToLower(strings.Trim(term, `"`))
			match = append(match, func(is *Issue) bool {
				return strings.Contains(strings.ToLower(is.Title), t) || strings.Contains(strings.ToLower(is.Body), t)
			})
		case k == "repo":
			if v != s.owner+"/"+s.repo {
				match = append(match, func(*Issue) bool { return false })
			}
		case k == "label":
			match = append(match, func(is *Issue) bool { return slices.Contains(is.Labels, v) })
		case k == "is" && (v == "issue" || v == "pr"):
			pr := v == "pr"
			match = append(match, func(is *Issue) bool { return is.PullRequest == pr })
		case (k == "is" || k == "state") && (v == "open" || v == "closed"):
			match = append(match, func(is *Issue) bool { return is.State == v })
		case k == "updated" && strings.HasPrefix(v, ">="):
			t, err := parseDate(strings.TrimPrefix(v, ">="))
			if err != nil {
				writeValidation(w, "Search", "q", "invalid")
				return
			}
			match = append(match, func(is *Issue) bool { return !is.Updated.Before(t) })
		default:
			writeValidation(w, "Search", "q", "invalid")
			return
		}
	}
	var found []*Issue
	for _, is := range s.issues {
		ok := true
		for _, m := range match {
			ok = ok && m(is)
		}
		if ok {
			found = append(found, is)
		}
	}
	sortIssues(found, r.URL.Query().Get("sort"), r.URL.Query().Get("order"))
	perPage, page := paging(r.URL.Query())
	link(w, r, page, perPage, len(found))
	items := []map[string]any{}
	for i := (page - 1) * perPage; i < len(found) && len(items) < perPage; i++ {
		items = append(items, s.view(found[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(found), "incomplete_results": false, "items": items})
}

func parseDate(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", v)
}

// SetToken changes the token the fake accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Webhook is a repository webhook delivery as GitHub sends it: the body
// and the headers (X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256
// when secret is set, Content-Type).
type Webhook struct {
	Body   []byte
	Header http.Header
}

// IssuesWebhook is the "issues" event GitHub sends for issue number as it
// is now, with action ("closed", "reopened", ...): the issue as the REST
// API shows it, the repository and the sender, signed with secret
// (HMAC-SHA256 of the body, "sha256=" and hex). delivery is its
// X-GitHub-Delivery (a GUID on GitHub).
func (s *Server) IssuesWebhook(action string, number int, delivery, secret string) (Webhook, error) {
	s.mu.Lock()
	if number < 1 || number > len(s.issues) {
		s.mu.Unlock()
		return Webhook{}, fmt.Errorf("githubfake: no issue #%d", number)
	}
	issue := s.view(s.issues[number-1])
	full := s.owner + "/" + s.repo
	s.mu.Unlock()
	body, err := json.Marshal(map[string]any{
		"action": action,
		"issue":  issue,
		"repository": map[string]any{
			"id": 1296269, "name": s.repo, "full_name": full, "private": true,
			"owner":    map[string]any{"login": s.owner, "type": "Organization"},
			"html_url": "https://github.com/" + full,
		},
		"sender": map[string]any{"login": "octocat", "id": 583231, "type": "User"},
	})
	if err != nil {
		return Webhook{}, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/044aadd")
	h.Set("X-GitHub-Event", "issues")
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-GitHub-Hook-ID", "292430182")
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return Webhook{Body: body, Header: h}, nil
}
