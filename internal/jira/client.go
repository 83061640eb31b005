// Package jira is Jira Cloud for action items: a small client of the
// platform REST API v3 (no maintained Go client is served here), written
// against Atlassian's published OpenAPI document for it
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/; the
// operations used are listed in testdata/openapi-operations.json, an
// excerpt checked by the tests). jirafake/ is a fake of those operations.
//
// It creates an issue per action item (POST /rest/api/3/issue, the
// description in Atlassian Document Format), assigns it to the Jira user
// found by the owner's e-mail (GET /rest/api/3/user/search), moves it to
// done through the transition into the done status category (GET and POST
// /rest/api/3/issue/{key}/transitions), and reads the bot's issues changed
// since a time with JQL (GET /rest/api/3/search/jql, the enhanced search
// that replaced /rest/api/3/search).
package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// DefaultIssueType is the issue type created when none is configured.
const DefaultIssueType = "Task"

// Priorities maps an action item's priority to the Jira priority it is
// created with (Jira's default priority scheme: Highest, High, Medium, Low,
// Lowest). A project whose scheme lacks the name gets the issue without a
// priority (and the description says which was meant).
var Priorities = map[string]string{"p1": "Highest", "p2": "High", "p3": "Medium"}

// Client talks to one Jira Cloud site for one project. It implements
// incidentbot.Tracker. Errors are *incidentbot.Error: ETRANSIENT for 429
// (RetryAfter from Retry-After), 5xx, 408, 409, timeouts and transport
// failures; EREJECTED for other 4xx, with Jira's errorMessages and errors
// in the message. The API token is sent only in the Authorization header
// and never appears in an error.
type Client struct {
	site, email, token, project, issueType string
	hc                                     *http.Client
	// Now is the clock for relative JQL times; nil means time.Now.
	Now func() time.Time
}

// NewClient returns a client for a site ("https://acme.atlassian.net"),
// authenticated as email with an API token (basic auth, as Jira Cloud
// wants for API tokens), creating issues of issueType ("" means Task) in
// project (a key, such as OPS). hc may be nil: a client with a 10 s
// timeout is used.
func NewClient(site, email, token, project, issueType string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if issueType == "" {
		issueType = DefaultIssueType
	}
	return &Client{site: strings.TrimRight(site, "/"), email: email, token: token, project: project, issueType: issueType, hc: hc}
}

// Name is incidentbot.TrackerJira.
func (c *Client) Name() string { return incidentbot.TrackerJira }

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// issue is what is read of an issue (IssueBean with the fields asked for).
type issue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Summary string   `json:"summary"`
		Labels  []string `json:"labels"`
		Updated string   `json:"updated"`
		Status  *status  `json:"status"`
	} `json:"fields"`
}

type status struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	StatusCategory struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"statusCategory"`
}

// readFields are the fields every read asks for.
const readFields = "summary,status,labels,updated"

// jiraTime is how Jira writes times ("2025-10-14T03:15:00.000+0000").
const jiraTime = "2006-01-02T15:04:05.000-0700"

func (c *Client) tracked(is issue) incidentbot.TrackerIssue { return trackedIssue(c.site, is) }

// trackedIssue is what Jira says of one of the bot's issues on site.
func trackedIssue(site string, is issue) incidentbot.TrackerIssue {
	out := incidentbot.TrackerIssue{Key: is.Key, URL: strings.TrimRight(site, "/") + "/browse/" + url.PathEscape(is.Key)}
	out.IncidentID, out.N, _ = incidentbot.ItemOfLabels(is.Fields.Labels)
	if st := is.Fields.Status; st != nil {
		out.Status, out.Done = st.Name, st.StatusCategory.Key == "done"
	}
	if t, err := time.Parse(jiraTime, is.Fields.Updated); err == nil {
		out.UpdatedAt = t.UTC()
	} else if t, err := time.Parse(time.RFC3339, is.Fields.Updated); err == nil {
		out.UpdatedAt = t.UTC()
	}
	return out
}

// jqlString quotes a JQL value.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// searchPage is SearchAndReconcileResults.
type searchPage struct {
	Issues        []issue `json:"issues"`
	NextPageToken string  `json:"nextPageToken"`
	IsLast        bool    `json:"isLast"`
}

// maxPages bounds one search: 20 pages of 100.
const maxPages = 20

// search returns the issues of a JQL query, every page.
func (c *Client) search(ctx context.Context, jql string) ([]issue, error) {
	var all []issue
	token := ""
	for range maxPages {
		q := url.Values{"jql": {jql}, "fields": {readFields}, "maxResults": {"100"}}
		if token != "" {
			q.Set("nextPageToken", token)
		}
		var page searchPage
		if err := c.do(ctx, "search issues", http.MethodGet, "/rest/api/3/search/jql?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Issues...)
		// The last page may have no nextPageToken and no isLast (JRACLOUD-92184).
		if page.IsLast || page.NextPageToken == "" || len(page.Issues) == 0 {
			return all, nil
		}
		token = page.NextPageToken
	}
	return all, nil
}

// find returns the issue an earlier create made for an item, if any.
func (c *Client) find(ctx context.Context, it incidentbot.TrackerItem) (*issue, error) {
	jql := fmt.Sprintf("project = %s AND labels = %s AND labels = %s", jqlString(c.project), jqlString(it.IncidentID), jqlString(incidentbot.ItemLabel(it.IncidentID, it.N)))
	found, err := c.search(ctx, jql)
	if err != nil {
		return nil, err
	}
	for i := range found {
		if id, n, ok := incidentbot.ItemOfLabels(found[i].Fields.Labels); ok && id == it.IncidentID && n == it.N {
			return &found[i], nil
		}
	}
	return nil, nil
}

// user is what is read of a user.
type user struct {
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"`
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
	Active       bool   `json:"active"`
}

// userByEmail returns the account ID of the active Jira user with that
// e-mail address, "" when there is none. The search matches e-mail
// addresses even where a user's privacy settings hide them from the
// answer: a single active person found is taken to be them.
func (c *Client) userByEmail(ctx context.Context, email string) (string, error) {
	var users []user
	q := url.Values{"query": {email}, "maxResults": {"10"}}
	if err := c.do(ctx, "find user", http.MethodGet, "/rest/api/3/user/search?"+q.Encode(), nil, &users); err != nil {
		return "", err
	}
	var people []user
	for _, u := range users {
		if !u.Active || (u.AccountType != "" && u.AccountType != "atlassian") {
			continue
		}
		if strings.EqualFold(u.EmailAddress, email) {
			return u.AccountID, nil
		}
		if u.EmailAddress == "" {
			people = append(people, u)
		}
	}
	if len(people) == 1 {
		return people[0].AccountID, nil
	}
	return "", nil
}

// Create makes the item's issue in the project, unless an earlier attempt
// made it (found by its labels: incidentbot, the incident's, the item's).
// The owner becomes the assignee when a Jira user has their e-mail
// address; a priority, due date or assignee the project refuses (not on
// its create screen, not in its scheme, not assignable) is left out, and
// the description says so.
func (c *Client) Create(ctx context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	if found, err := c.find(ctx, it); err != nil {
		return incidentbot.TrackerIssue{}, err
	} else if found != nil {
		return c.tracked(*found), nil
	}
	var accountID, unassigned string
	if it.OwnerEmail != "" {
		id, err := c.userByEmail(ctx, it.OwnerEmail)
		if err != nil {
			return incidentbot.TrackerIssue{}, err
		}
		accountID = id
		if id == "" {
			unassigned = "no Jira user has " + it.OwnerName + "'s e-mail address"
		}
	} else if it.OwnerName != "" {
		unassigned = "no e-mail address is known for " + it.OwnerName
	}
	fields := map[string]any{
		"project":   map[string]string{"key": c.project},
		"issuetype": map[string]string{"name": c.issueType},
		"summary":   it.Summary(),
		"labels":    it.Labels(),
	}
	if p, ok := Priorities[it.Priority]; ok {
		fields["priority"] = map[string]string{"name": p}
	}
	if it.Due != "" {
		fields["duedate"] = it.Due
	}
	if accountID != "" {
		fields["assignee"] = map[string]string{"accountId": accountID}
	}
	var dropped []string
	for attempt := 0; ; attempt++ {
		fields["description"] = Description(it, unassigned, dropped)
		body, err := json.Marshal(map[string]any{"fields": fields})
		if err != nil {
			return incidentbot.TrackerIssue{}, &incidentbot.Error{Code: incidentbot.EINTERNAL, Message: "jira: encode issue", Err: err}
		}
		var created struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		err = c.do(ctx, "create issue", http.MethodPost, "/rest/api/3/issue", body, &created)
		var refused *refusal
		if errors.As(err, &refused) && attempt == 0 {
			// Optional fields the project refuses are left out, once.
			again := false
			for _, f := range []string{"priority", "duedate", "assignee"} {
				if _, bad := refused.errors[f]; bad && fields[f] != nil {
					delete(fields, f)
					dropped = append(dropped, f)
					again = true
				}
			}
			if _, bad := refused.errors["assignee"]; bad && accountID != "" {
				unassigned = "Jira refused " + it.OwnerName + " as assignee"
			}
			if again {
				continue
			}
		}
		if err != nil {
			return incidentbot.TrackerIssue{}, err
		}
		if created.Key == "" {
			return incidentbot.TrackerIssue{}, &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "jira: create issue: the answer has no issue key"}
		}
		out := incidentbot.TrackerIssue{Key: created.Key, URL: c.site + "/browse/" + url.PathEscape(created.Key), IncidentID: it.IncidentID, N: it.N, Unassigned: unassigned}
		return out, nil
	}
}

// transition is IssueTransition, as far as it is read.
type transition struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	IsAvailable *bool  `json:"isAvailable"`
	To          status `json:"to"`
}

// Close moves an issue to done: the first available transition into a
// status of the done category. An issue done already is left alone; one
// with no such transition is an EREJECTED error saying so.
func (c *Client) Close(ctx context.Context, key string) (incidentbot.TrackerIssue, error) {
	var is issue
	if err := c.do(ctx, "read issue", http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(key)+"?fields="+readFields, nil, &is); err != nil {
		return incidentbot.TrackerIssue{}, err
	}
	cur := c.tracked(is)
	if cur.Done {
		return cur, nil
	}
	var ts struct {
		Transitions []transition `json:"transitions"`
	}
	if err := c.do(ctx, "list transitions", http.MethodGet, "/rest/api/3/issue/"+url.PathEscape(key)+"/transitions", nil, &ts); err != nil {
		return incidentbot.TrackerIssue{}, err
	}
	for _, t := range ts.Transitions {
		if t.To.StatusCategory.Key != "done" || (t.IsAvailable != nil && !*t.IsAvailable) {
			continue
		}
		body, _ := json.Marshal(map[string]any{"transition": map[string]string{"id": t.ID}})
		if err := c.do(ctx, "transition issue", http.MethodPost, "/rest/api/3/issue/"+url.PathEscape(key)+"/transitions", body, nil); err != nil {
			return incidentbot.TrackerIssue{}, err
		}
		cur.Done, cur.Status = true, t.To.Name
		return cur, nil
	}
	return incidentbot.TrackerIssue{}, incidentbot.Errorf(incidentbot.EREJECTED, "jira: %s has no transition into a done status that the bot's user may make", key)
}

// Changed returns the bot's issues in the project updated at or after
// since, oldest first. The JQL time is relative (updated >= -Nm): an
// absolute one would be read in the Jira user's time zone.
func (c *Client) Changed(ctx context.Context, since time.Time) ([]incidentbot.TrackerIssue, error) {
	mins := int(math.Ceil(c.now().Sub(since).Minutes())) + 1
	if mins < 1 {
		mins = 1
	}
	jql := fmt.Sprintf("project = %s AND labels = %s AND updated >= -%dm ORDER BY updated ASC", jqlString(c.project), jqlString(incidentbot.TrackerLabel), mins)
	found, err := c.search(ctx, jql)
	if err != nil {
		return nil, err
	}
	out := make([]incidentbot.TrackerIssue, 0, len(found))
	for _, is := range found {
		if t := c.tracked(is); t.IncidentID != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// refusal is a 4xx answer's ErrorCollection, kept to retry without the
// fields it names.
type refusal struct {
	status   int
	messages []string
	errors   map[string]string
}

func (r *refusal) Error() string { return fmt.Sprintf("jira answered %d", r.status) }

// errorCollection is Jira's error document.
type errorCollection struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

// text is the collection in one line: "message; field: message".
func (e errorCollection) text() string {
	parts := append([]string(nil), e.ErrorMessages...)
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+e.Errors[k])
	}
	s := strings.Join(parts, "; ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// do sends one request and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.site+path, rd)
	if err != nil {
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "jira: " + op + ": bad request URL (JIRA_URL)"}
	}
	req.SetBasicAuth(c.email, c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	code := res.StatusCode
	if code >= 200 && code < 300 {
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "jira: " + op + ": unreadable answer"}
			}
		}
		return nil
	}
	var ec errorCollection
	_ = json.Unmarshal(data, &ec) // a body that is not an ErrorCollection says nothing more
	detail := c.redact(ec.text())
	if detail != "" {
		detail = ": " + detail
	}
	msg := fmt.Sprintf("jira: %s: Jira answered %d%s", op, code, detail)
	switch {
	case code == http.StatusTooManyRequests:
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: fmt.Sprintf("jira: %s: rate limited (429)", op), RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusConflict:
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: msg, RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	case code == http.StatusUnauthorized:
		msg = fmt.Sprintf("jira: %s: Jira refused the credentials (401): check JIRA_EMAIL and JIRA_API_TOKEN", op)
	case code == http.StatusForbidden:
		msg = fmt.Sprintf("jira: %s: the bot's Jira user may not do this (403)%s", op, detail)
	}
	return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: msg, Err: &refusal{status: code, messages: ec.ErrorMessages, errors: ec.Errors}}
}

// transportError classifies a failed round trip; its cause is kept with
// the token redacted (the URL never holds it).
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "jira: " + op + ": " + ctx.Err().Error(), Err: ctx.Err()}
	}
	msg := "jira: " + op + ": request failed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "jira: " + op + ": timed out"
	}
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: msg, Err: errors.New(c.redact(err.Error()))}
}

func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); zero
// when there is none.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
