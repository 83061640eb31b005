// Package jirafake fakes the part of Jira Cloud's platform REST API v3 that
// incidentbot uses, over real HTTP on 127.0.0.1, answering as Atlassian's
// OpenAPI document describes (../testdata/openapi-operations.json):
//
//	POST /rest/api/3/issue                      create (201 {id, key, self})
//	GET  /rest/api/3/issue/{key}                one issue (?fields=)
//	GET  /rest/api/3/issue/{key}/transitions    the transitions from its status
//	POST /rest/api/3/issue/{key}/transitions    perform one (204)
//	GET  /rest/api/3/search/jql                 JQL enhanced search (nextPageToken)
//	POST /rest/api/3/search/jql                 the same, the query in the body
//	GET  /rest/api/3/user/search                users by e-mail or name prefix
//	GET  /rest/api/3/search                     410: removed from Jira Cloud
//
// Like the service it wants basic auth (the e-mail and API token; 401
// otherwise), answers errors as an ErrorCollection ({"errorMessages":
// [...], "errors": {"field": "..."}}) with Jira's own texts (a project
// that does not exist, a summary missing, a description that is not an
// Atlassian Document, labels with spaces, an unknown priority or issue
// type, a user who cannot be assigned, a field not on the create screen),
// and understands the JQL the bot writes: clauses joined by AND on
// project, labels, updated (>= a relative "-Nm"/"-Nh"/"-Nd" or a date),
// statusCategory, and ORDER BY updated or created; anything else is Jira's
// 400 "Error in the JQL Query". Its workflow is Jira's simplified one:
// To Do (new), In Progress (indeterminate) and Done (done), every status
// reachable from every other. SetStatus moves an issue as a person in Jira
// does; SetSearchLag makes the search eventually consistent, as Jira's is.
//
// # Conventions shared with the other fakes
//
// New/NewAt, URL, Close, Inject(method, pathPrefix, Fault) with the shared
// Fault fields (played before the credentials are checked), ClearFaults,
// Reset (the call log and faults; issues, users and settings stay), Calls
// and CallsTo(method, pathPrefix).
package jirafake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// DefaultEmail and DefaultToken are New's credentials.
const (
	DefaultEmail = "bot@example.com"
	DefaultToken = "jira-api-token-fake"
)

// User is a Jira user.
type User struct {
	AccountID   string
	DisplayName string
	Email       string
	// Inactive users are not found by the user search.
	Inactive bool
	// HideEmail plays the user's privacy setting: the search still matches
	// their e-mail address but does not answer it.
	HideEmail bool
	// NotAssignable users are refused as assignee.
	NotAssignable bool
}

// Issue is an issue as the fake stores it.
type Issue struct {
	ID, Key, Project, IssueType string
	Summary                     string
	// Description is the ADF document as sent.
	Description json.RawMessage
	Labels      []string
	Priority    string
	Due         string
	Assignee    string // account ID
	Status      string
	Created     time.Time
	Updated     time.Time
}

type statusDef struct {
	id, name, category string
	categoryID         int
	transition         string // the ID of the transition into it
}

// The simplified workflow.
var workflow = []statusDef{
	{id: "10000", name: "To Do", category: "new", categoryID: 2, transition: "11"},
	{id: "3", name: "In Progress", category: "indeterminate", categoryID: 4, transition: "21"},
	{id: "10001", name: "Done", category: "done", categoryID: 3, transition: "31"},
}

func statusNamed(name string) (statusDef, bool) {
	for _, s := range workflow {
		if strings.EqualFold(s.name, name) {
			return s, true
		}
	}
	return statusDef{}, false
}

type project struct {
	key, id    string
	issueTypes []string
	seq        int
	// refused are fields not on its create screen.
	refused                map[string]bool
	noCreate, noTransition bool
}

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	// Status is the answer's HTTP status (0: none was written).
	Status   int
	Injected bool
	At       time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv          *httptest.Server
	email, token string
	closing      chan struct{}
	closeOnce    sync.Once

	mu         sync.Mutex
	now        func() time.Time
	lag        time.Duration
	projects   map[string]*project
	priorities []string
	users      []User
	issues     []*Issue
	calls      []*Call
	faults     fakefault.Queue[Fault]
	nextID     int
}

// New starts a fake with the default credentials and project OPS (issue
// types Task and Bug) on 127.0.0.1 with a random port; it panics if it
// cannot listen, like httptest.NewServer.
func New() *Server {
	s, err := NewAt("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("jirafake: %v", err))
	}
	return s
}

// NewAt is New on a chosen address.
func NewAt(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{email: DefaultEmail, token: DefaultToken, closing: make(chan struct{}), now: time.Now, nextID: 10000,
		projects: map[string]*project{}, priorities: []string{"Highest", "High", "Medium", "Low", "Lowest"}}
	s.AddProject("OPS", "Task", "Bug")
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

// URL is the site to give the client (JIRA_URL).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server; it may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Email and Token are the credentials the fake accepts.
func (s *Server) Email() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.email
}

// Token is the API token the fake accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetClock sets the fake's clock (issue times, relative JQL).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetSearchLag hides issues created or changed less than d ago from
// searches (Jira's search is eventually consistent); 0 turns it off.
func (s *Server) SetSearchLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = d
}

// AddProject adds a project with its issue types.
func (s *Server) AddProject(key string, issueTypes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[key] = &project{key: key, id: strconv.Itoa(10000 + len(s.projects)), issueTypes: issueTypes, refused: map[string]bool{}}
}

// RefuseField takes a field off a project's create screen: a create that
// sets it is refused (400) with Jira's "cannot be set" error.
func (s *Server) RefuseField(projectKey, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[projectKey]; p != nil {
		p.refused[field] = true
	}
}

// DenyCreate and DenyTransition take the bot's user's Create issues or
// Transition issues permission in a project away.
func (s *Server) DenyCreate(projectKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[projectKey]; p != nil {
		p.noCreate = true
	}
}

// DenyTransition takes the bot's Transition issues permission away.
func (s *Server) DenyTransition(projectKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[projectKey]; p != nil {
		p.noTransition = true
	}
}

// SetPriorities replaces the priority scheme's names.
func (s *Server) SetPriorities(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.priorities = names
}

// AddUser adds a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, u)
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
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(key)
	if is == nil {
		return Issue{}, false
	}
	out := *is
	out.Labels = slices.Clone(is.Labels)
	return out, true
}

// SetStatus moves an issue to a status ("To Do", "In Progress", "Done"),
// as a person does in Jira.
func (s *Server) SetStatus(key, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(key)
	st, ok := statusNamed(status)
	if is == nil || !ok {
		return fmt.Errorf("jirafake: no issue %s or status %q", key, status)
	}
	is.Status, is.Updated = st.name, s.now().UTC()
	return nil
}

// Reset forgets the call log and every fault; issues, users, projects and
// settings stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
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

func (s *Server) find(key string) *Issue {
	for _, is := range s.issues {
		if strings.EqualFold(is.Key, key) || is.ID == key {
			return is
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErrors answers an ErrorCollection.
func writeErrors(w http.ResponseWriter, code int, messages []string, errs map[string]string) {
	if messages == nil {
		messages = []string{}
	}
	if errs == nil {
		errs = map[string]string{}
	}
	writeJSON(w, code, map[string]any{"errorMessages": messages, "errors": errs})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, []string{"The request body could not be read."}, nil)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
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
	email, token, ok := r.BasicAuth()
	s.mu.Lock()
	good := ok && email == s.email && token == s.token
	s.mu.Unlock()
	if !good {
		writeErrors(w, http.StatusUnauthorized, []string{"Client must be authenticated to access this resource."}, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.Path
	switch {
	case p == "/rest/api/3/issue" && r.Method == http.MethodPost:
		s.create(w, r)
	case p == "/rest/api/3/search/jql" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.search(w, r)
	case p == "/rest/api/3/search":
		writeErrors(w, http.StatusGone, []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}, nil)
	case p == "/rest/api/3/user/search" && r.Method == http.MethodGet:
		s.userSearch(w, r)
	case strings.HasPrefix(p, "/rest/api/3/issue/"):
		rest := strings.TrimPrefix(p, "/rest/api/3/issue/")
		key, sub, _ := strings.Cut(rest, "/")
		is := s.find(key)
		if is == nil {
			writeErrors(w, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
			return
		}
		switch {
		case sub == "" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, s.view(is, fieldList(r.URL.Query().Get("fields"), true)))
		case sub == "transitions" && r.Method == http.MethodGet:
			s.transitions(w, is)
		case sub == "transitions" && r.Method == http.MethodPost:
			s.transition(w, r, is)
		default:
			writeErrors(w, http.StatusMethodNotAllowed, []string{"Method Not Allowed"}, nil)
		}
	default:
		writeErrors(w, http.StatusNotFound, []string{"Not Found"}, nil)
	}
}

// fieldList reads a fields parameter; all is what no parameter means.
func fieldList(v string, all bool) map[string]bool {
	out := map[string]bool{}
	if v == "" {
		if all {
			out["*all"] = true
		}
		return out
	}
	for _, f := range strings.Split(v, ",") {
		out[strings.TrimSpace(f)] = true
	}
	return out
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var doc struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || doc.Fields == nil {
		writeErrors(w, http.StatusBadRequest, []string{"Unexpected character or missing fields in the request body."}, nil)
		return
	}
	f := doc.Fields
	errs := map[string]string{}
	var ref struct {
		Key       string `json:"key"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		AccountID string `json:"accountId"`
	}
	get := func(name string) bool {
		ref = struct {
			Key       string `json:"key"`
			ID        string `json:"id"`
			Name      string `json:"name"`
			AccountID string `json:"accountId"`
		}{}
		raw, ok := f[name]
		return ok && json.Unmarshal(raw, &ref) == nil
	}
	var proj *project
	if get("project") {
		for _, p := range s.projects {
			if p.key == ref.Key || (ref.ID != "" && p.id == ref.ID) {
				proj = p
			}
		}
	}
	if proj == nil {
		errs["project"] = "valid project is required"
		writeErrors(w, http.StatusBadRequest, nil, errs)
		return
	}
	if proj.noCreate {
		writeErrors(w, http.StatusForbidden, []string{"You do not have permission to create issues in this project."}, nil)
		return
	}
	is := &Issue{Project: proj.key, Status: workflow[0].name}
	if !get("issuetype") || !slices.Contains(proj.issueTypes, ref.Name) {
		errs["issuetype"] = "Specify a valid issue type"
	} else {
		is.IssueType = ref.Name
	}
	if raw, ok := f["summary"]; !ok || json.Unmarshal(raw, &is.Summary) != nil || strings.TrimSpace(is.Summary) == "" {
		errs["summary"] = "You must specify a summary of the issue."
	} else if len([]rune(is.Summary)) > 255 {
		errs["summary"] = "Summary must be less than 255 characters."
	}
	for name := range f {
		if proj.refused[name] {
			errs[name] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", name)
		}
	}
	if raw, ok := f["description"]; ok && errs["description"] == "" {
		if msg := checkADF(raw); msg != "" {
			if msg == notADF {
				errs["description"] = notADF
			} else {
				writeErrors(w, http.StatusBadRequest, []string{"INVALID_INPUT"}, nil)
				return
			}
		}
		is.Description = bytes.Clone(raw)
	}
	if raw, ok := f["labels"]; ok && errs["labels"] == "" {
		if err := json.Unmarshal(raw, &is.Labels); err != nil {
			errs["labels"] = "Labels must be a list of strings."
		}
		for _, l := range is.Labels {
			if strings.ContainsAny(l, " \t\n") {
				errs["labels"] = fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
			} else if len(l) > 255 {
				errs["labels"] = "The label must not exceed 255 characters."
			}
		}
	}
	if _, ok := f["priority"]; ok && errs["priority"] == "" {
		if !get("priority") || !slices.Contains(s.priorities, ref.Name) {
			errs["priority"] = "The priority selected is invalid."
		} else {
			is.Priority = ref.Name
		}
	}
	if raw, ok := f["duedate"]; ok && errs["duedate"] == "" {
		var d string
		if json.Unmarshal(raw, &d) != nil {
			errs["duedate"] = "Error parsing date string."
		} else if _, err := time.Parse("2006-01-02", d); err != nil {
			errs["duedate"] = "Error parsing date string: " + d
		} else {
			is.Due = d
		}
	}
	if _, ok := f["assignee"]; ok && errs["assignee"] == "" && get("assignee") && ref.AccountID != "" {
		var u *User
		for i := range s.users {
			if s.users[i].AccountID == ref.AccountID {
				u = &s.users[i]
			}
		}
		switch {
		case u == nil:
			errs["assignee"] = "Specified user does not exist or you do not have required permissions"
		case u.NotAssignable || u.Inactive:
			errs["assignee"] = fmt.Sprintf("User '%s' cannot be assigned issues.", u.AccountID)
		default:
			is.Assignee = u.AccountID
		}
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, nil, errs)
		return
	}
	proj.seq++
	s.nextID++
	now := s.now().UTC()
	is.ID, is.Key, is.Created, is.Updated = strconv.Itoa(s.nextID), fmt.Sprintf("%s-%d", proj.key, proj.seq), now, now
	s.issues = append(s.issues, is)
	writeJSON(w, http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": s.srv.URL + "/rest/api/3/issue/" + is.ID})
}

// notADF is Jira's answer to a description that is not a document.
const notADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"

// checkADF checks the shape of an ADF document: notADF for a value that
// is not a document at all, another message for one Jira refuses as
// INVALID_INPUT (an empty text, an unknown node), "" when it is fine.
func checkADF(raw json.RawMessage) string {
	var d struct {
		Type    string            `json:"type"`
		Version int               `json:"version"`
		Content []json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Type != "doc" {
		return notADF
	}
	if d.Version != 1 {
		return "version"
	}
	for _, c := range d.Content {
		if msg := checkNode(c, 0); msg != "" {
			return msg
		}
	}
	return ""
}

var adfNodes = map[string]bool{"paragraph": true, "text": true, "bulletList": true, "orderedList": true, "listItem": true, "heading": true, "hardBreak": true, "rule": true, "codeBlock": true, "blockquote": true}
var adfMarks = map[string]bool{"strong": true, "em": true, "link": true, "code": true, "strike": true, "underline": true}

func checkNode(raw json.RawMessage, depth int) string {
	if depth > 20 {
		return "too deep"
	}
	var n struct {
		Type    string            `json:"type"`
		Text    *string           `json:"text"`
		Content []json.RawMessage `json:"content"`
		Marks   []struct {
			Type  string `json:"type"`
			Attrs struct {
				Href string `json:"href"`
			} `json:"attrs"`
		} `json:"marks"`
	}
	if json.Unmarshal(raw, &n) != nil || !adfNodes[n.Type] {
		return "node"
	}
	if n.Type == "text" && (n.Text == nil || *n.Text == "") {
		return "empty text"
	}
	for _, m := range n.Marks {
		if !adfMarks[m.Type] || (m.Type == "link" && m.Attrs.Href == "") {
			return "mark"
		}
	}
	for _, c := range n.Content {
		if msg := checkNode(c, depth+1); msg != "" {
			return msg
		}
	}
	return ""
}

// view is an issue as Jira answers it (IssueBean), with the fields asked
// for.
func (s *Server) view(is *Issue, fields map[string]bool) map[string]any {
	all := fields["*all"] || fields["*navigable"]
	want := func(f string) bool { return all || fields[f] }
	st, _ := statusNamed(is.Status)
	out := map[string]any{"id": is.ID, "key": is.Key, "self": s.srv.URL + "/rest/api/3/issue/" + is.ID}
	fs := map[string]any{}
	if want("summary") {
		fs["summary"] = is.Summary
	}
	if want("labels") {
		fs["labels"] = append([]string{}, is.Labels...)
	}
	if want("updated") {
		fs["updated"] = is.Updated.Format("2006-01-02T15:04:05.000-0700")
	}
	if want("created") {
		fs["created"] = is.Created.Format("2006-01-02T15:04:05.000-0700")
	}
	if want("status") {
		fs["status"] = statusView(st)
	}
	if want("duedate") {
		fs["duedate"] = nullable(is.Due)
	}
	if want("priority") {
		if is.Priority == "" {
			fs["priority"] = nil
		} else {
			fs["priority"] = map[string]string{"name": is.Priority}
		}
	}
	if want("assignee") {
		if is.Assignee == "" {
			fs["assignee"] = nil
		} else {
			fs["assignee"] = map[string]any{"accountId": is.Assignee, "accountType": "atlassian", "active": true}
		}
	}
	if want("description") {
		fs["description"] = is.Description
	}
	if len(fs) > 0 {
		out["fields"] = fs
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func statusView(st statusDef) map[string]any {
	return map[string]any{"id": st.id, "name": st.name, "statusCategory": map[string]any{"id": st.categoryID, "key": st.category, "name": categoryName(st.category)}}
}

func categoryName(key string) string {
	switch key {
	case "new":
		return "To Do"
	case "indeterminate":
		return "In Progress"
	}
	return "Done"
}

func (s *Server) transitions(w http.ResponseWriter, is *Issue) {
	list := []map[string]any{}
	if p := s.projects[is.Project]; p == nil || !p.noTransition {
		for _, st := range workflow {
			if st.name == is.Status {
				continue
			}
			list = append(list, map[string]any{"id": st.transition, "name": st.name, "hasScreen": false, "isAvailable": true, "isGlobal": true, "isInitial": false, "isConditional": false, "to": statusView(st)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"transitions": list})
}

func (s *Server) transition(w http.ResponseWriter, r *http.Request, is *Issue) {
	var doc struct {
		Transition *struct {
			ID string `json:"id"`
		} `json:"transition"`
	}
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || doc.Transition == nil || doc.Transition.ID == "" {
		writeErrors(w, http.StatusBadRequest, []string{"Missing 'transition' identifier"}, nil)
		return
	}
	if p := s.projects[is.Project]; p != nil && p.noTransition {
		writeErrors(w, http.StatusBadRequest, []string{"You do not have permission to transition this issue."}, nil)
		return
	}
	for _, st := range workflow {
		if st.transition == doc.Transition.ID && st.name != is.Status {
			is.Status, is.Updated = st.name, s.now().UTC()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeErrors(w, http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", doc.Transition.ID)}, nil)
}

func (s *Server) userSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("query")))
	if q == "" && r.URL.Query().Get("accountId") == "" {
		writeErrors(w, http.StatusBadRequest, []string{"One of 'accountId', 'query' or 'property' must be provided."}, nil)
		return
	}
	list := []map[string]any{}
	for _, u := range s.users {
		if u.Inactive {
			continue
		}
		if id := r.URL.Query().Get("accountId"); id != "" && u.AccountID != id {
			continue
		}
		if q != "" && !strings.HasPrefix(strings.ToLower(u.Email), q) && !strings.HasPrefix(strings.ToLower(u.DisplayName), q) {
			continue
		}
		v := map[string]any{"accountId": u.AccountID, "accountType": "atlassian", "displayName": u.DisplayName, "active": true, "self": s.srv.URL + "/rest/api/3/user?accountId=" + u.AccountID}
		if !u.HideEmail {
			v["emailAddress"] = u.Email
		}
		list = append(list, v)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	jql, fields, maxResults, token := q.Get("jql"), q.Get("fields"), q.Get("maxResults"), q.Get("nextPageToken")
	if r.Method == http.MethodPost {
		var body struct {
			JQL           string   `json:"jql"`
			Fields        []string `json:"fields"`
			MaxResults    *int     `json:"maxResults"`
			NextPageToken string   `json:"nextPageToken"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeErrors(w, http.StatusBadRequest, []string{"Invalid request payload. Refer to the REST API documentation and try again."}, nil)
			return
		}
		jql, fields, token = body.JQL, strings.Join(body.Fields, ","), body.NextPageToken
		if body.MaxResults != nil {
			maxResults = strconv.Itoa(*body.MaxResults)
		}
	}
	query, msg := parseJQL(jql, s.now().UTC())
	if msg != "" {
		writeErrors(w, http.StatusBadRequest, []string{msg}, nil)
		return
	}
	for _, key := range query.projects {
		if s.projects[key] == nil {
			writeErrors(w, http.StatusBadRequest, []string{fmt.Sprintf("The value '%s' does not exist for the field 'project'.", key)}, nil)
			return
		}
	}
	limit := 50
	if n, err := strconv.Atoi(maxResults); err == nil && n > 0 {
		limit = min(n, 5000)
	}
	offset := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			writeErrors(w, http.StatusBadRequest, []string{"The provided next page token is invalid or expired."}, nil)
			return
		}
		offset = n
	}
	visibleBefore := s.now().UTC().Add(-s.lag)
	var found []*Issue
	for _, is := range s.issues {
		if s.lag > 0 && is.Updated.After(visibleBefore) {
			continue // not indexed yet
		}
		if query.match(is) {
			found = append(found, is)
		}
	}
	query.sort(found)
	fl := fieldList(fields, false)
	page := []map[string]any{}
	for i := offset; i < len(found) && len(page) < limit; i++ {
		page = append(page, s.view(found[i], fl))
	}
	out := map[string]any{"issues": page, "isLast": offset+len(page) >= len(found)}
	if offset+len(page) < len(found) {
		out["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + len(page))))
	}
	writeJSON(w, http.StatusOK, out)
}

// SetCredentials changes the e-mail and API token the fake accepts.
func (s *Server) SetCredentials(email, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.email, s.token = email, token
}

// Webhook is an admin webhook delivery as Jira Cloud sends it: the body
// and the headers (X-Atlassian-Webhook-Identifier, X-Hub-Signature when the
// webhook has a secret, Content-Type).
type Webhook struct {
	Body   []byte
	Header http.Header
}

// IssueUpdatedWebhook is the jira:issue_updated delivery Jira sends after
// the issue key's status changed from fromStatus to the one it has now:
// the issue with all its fields, the user and the changelog item, signed
// with secret ("sha256=" and the hex HMAC-SHA256 of the body; none when
// secret is ""). delivery is its X-Atlassian-Webhook-Identifier, the same
// on Jira's retries of it.
func (s *Server) IssueUpdatedWebhook(key, fromStatus, delivery, secret string) (Webhook, error) {
	s.mu.Lock()
	is := s.find(key)
	from, ok := statusNamed(fromStatus)
	if is == nil || !ok {
		s.mu.Unlock()
		return Webhook{}, fmt.Errorf("jirafake: no issue %s or status %q", key, fromStatus)
	}
	to, _ := statusNamed(is.Status)
	view := s.view(is, map[string]bool{"*all": true})
	at := is.Updated
	s.mu.Unlock()
	body, err := json.Marshal(map[string]any{
		"timestamp":             at.UnixMilli(),
		"webhookEvent":          "jira:issue_updated",
		"issue_event_type_name": "issue_generic",
		"user":                  map[string]any{"accountId": "acc-person", "accountType": "atlassian", "displayName": "A Person", "active": true},
		"issue":                 view,
		"changelog": map[string]any{"id": "10400", "items": []map[string]any{{
			"field": "status", "fieldtype": "jira", "fieldId": "status",
			"from": from.id, "fromString": from.name, "to": to.id, "toString": to.name,
		}}},
	})
	if err != nil {
		return Webhook{}, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("User-Agent", "Atlassian Webhook HTTP Client")
	h.Set("X-Atlassian-Webhook-Identifier", delivery)
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		h.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return Webhook{Body: body, Header: h}, nil
}
