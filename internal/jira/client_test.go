package jira_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/jira"
	"github.com/incidentbot/incidentbot/internal/jira/jirafake"
)

func newClient(t *testing.T) (*jira.Client, *jirafake.Server) {
	t.Helper()
	f := jirafake.New()
	t.Cleanup(f.Close)
	f.AddUser(jirafake.User{AccountID: "acc-alice", DisplayName: "Alice Chen", Email: "alice@example.com"})
	f.AddUser(jirafake.User{AccountID: "acc-bob", DisplayName: "Bob Martinez", Email: "bob@example.com", HideEmail: true})
	c := jira.NewClient(f.URL(), f.Email(), f.Token(), "OPS", "", nil)
	t.Cleanup(func() { checkAgainstSpec(t, f.Calls()) })
	return c, f
}

func item(n int) incidentbot.TrackerItem {
	return incidentbot.TrackerItem{
		IncidentID: "INC-7", IncidentTitle: "Checkout errors", N: n, Text: "Add a canary for the payment config",
		Priority: "p1", Due: "2025-11-01", OwnerName: "Alice Chen", OwnerEmail: "alice@example.com",
		Links: []incidentbot.TrackerLink{
			{Label: "Incident", Text: "INC-7: Checkout errors", URL: "https://acme.pagerduty.com/incidents/PABC"},
			{Label: "Slack channel", Text: "#inc-7-checkout", URL: "https://slack.com/app_redirect?channel=C7"},
			{Label: "Postmortem", Text: "drafted in the incident channel at resolution"},
		},
	}
}

func TestClient_Create_AssignsTheOwnerFoundByEmail(t *testing.T) {
	c, f := newClient(t)
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	if is.Key != "OPS-1" || is.URL != f.URL()+"/browse/OPS-1" || is.Unassigned != "" {
		t.Fatalf("issue = %+v", is)
	}
	got, ok := f.Issue("OPS-1")
	if !ok {
		t.Fatal("no issue stored")
	}
	if got.Assignee != "acc-alice" || got.Priority != "Highest" || got.Due != "2025-11-01" || got.IssueType != "Task" {
		t.Errorf("stored = %+v", got)
	}
	if want := []string{"incidentbot", "INC-7", "INC-7-action-1"}; strings.Join(got.Labels, ",") != strings.Join(want, ",") {
		t.Errorf("labels = %v, want %v", got.Labels, want)
	}
	if got.Summary != "[INC-7 #1] Add a canary for the payment config" {
		t.Errorf("summary = %q", got.Summary)
	}
	desc := string(got.Description)
	for _, want := range []string{`"type":"doc"`, `"href":"https://acme.pagerduty.com/incidents/PABC"`, `"href":"https://slack.com/app_redirect?channel=C7"`, "Alice Chen", "2025-11-01", "P1"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %s: %s", want, desc)
		}
	}
}

func TestClient_Create_OwnerUnknownToJiraIsUnassigned(t *testing.T) {
	c, f := newClient(t)
	it := item(2)
	it.OwnerName, it.OwnerEmail = "Carol Diaz", "carol@example.com"
	is, err := c.Create(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(is.Unassigned, "no Jira user has Carol Diaz's e-mail address") {
		t.Errorf("unassigned = %q", is.Unassigned)
	}
	got, _ := f.Issue(is.Key)
	if got.Assignee != "" || !strings.Contains(string(got.Description), "unassigned") {
		t.Errorf("stored = %+v", got)
	}
}

func TestClient_Create_OwnerWithHiddenEmailIsFoundBySearch(t *testing.T) {
	c, f := newClient(t)
	it := item(3)
	it.OwnerName, it.OwnerEmail = "Bob Martinez", "bob@example.com"
	is, err := c.Create(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Issue(is.Key); got.Assignee != "acc-bob" {
		t.Errorf("assignee = %q, want acc-bob", got.Assignee)
	}
}

func TestClient_Create_LostAnswerIsFoundAgain(t *testing.T) {
	c, f := newClient(t)
	f.Inject("POST", "/rest/api/3/issue", jirafake.Fault{Times: 1, AfterEffect: true, Hangup: true})
	if _, err := c.Create(context.Background(), item(1)); !incidentbot.IsTransient(err) {
		t.Fatalf("first attempt: %v, want a transient error", err)
	}
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Issues()); n != 1 || is.Key != "OPS-1" {
		t.Fatalf("%d issues, key %s; want one, OPS-1", n, is.Key)
	}
	if n := len(f.CallsTo("POST", "/rest/api/3/issue")); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

func TestClient_Create_FieldNotOnTheScreenIsLeftOut(t *testing.T) {
	c, f := newClient(t)
	f.RefuseField("OPS", "duedate")
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Issue(is.Key)
	if got.Due != "" || got.Priority != "Highest" || !strings.Contains(string(got.Description), "refused the duedate") {
		t.Errorf("stored = %+v", got)
	}
	if n := len(f.CallsTo("POST", "/rest/api/3/issue")); n != 2 {
		t.Errorf("%d creates, want 2 (refused, then without the due date)", n)
	}
}

func TestClient_Create_UnknownProjectIsRejected(t *testing.T) {
	f := jirafake.New()
	defer f.Close()
	c := jira.NewClient(f.URL(), f.Email(), f.Token(), "NOPE", "", nil)
	_, err := c.Create(context.Background(), item(1))
	if incidentbot.ErrorCode(err) != incidentbot.EREJECTED || !strings.Contains(err.Error(), "does not exist for the field 'project'") {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_Create_NoPermissionIsRejected(t *testing.T) {
	c, f := newClient(t)
	f.DenyCreate("OPS")
	_, err := c.Create(context.Background(), item(1))
	if incidentbot.ErrorCode(err) != incidentbot.EREJECTED || !strings.Contains(incidentbot.ErrorMessage(err), "may not do this (403)") {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_BadCredentials_NeverShowTheToken(t *testing.T) {
	f := jirafake.New()
	defer f.Close()
	c := jira.NewClient(f.URL(), f.Email(), "wrong-secret-token", "OPS", "", nil)
	_, err := c.Create(context.Background(), item(1))
	if incidentbot.ErrorCode(err) != incidentbot.EREJECTED || !strings.Contains(err.Error(), "JIRA_API_TOKEN") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-token") {
		t.Fatal("the error shows the token")
	}
}

func TestClient_RateLimited_IsTransientWithRetryAfter(t *testing.T) {
	c, f := newClient(t)
	f.Inject("GET", "/rest/api/3/search/jql", jirafake.Fault{Times: 1, Status: 429, RetryAfter: 7})
	_, err := c.Create(context.Background(), item(1))
	if !incidentbot.IsTransient(err) || incidentbot.RetryAfter(err) != 7*time.Second {
		t.Fatalf("err = %v (retry after %v), want transient, 7s", err, incidentbot.RetryAfter(err))
	}
	f.Inject("", "", jirafake.Fault{Times: 1, Status: 503})
	if _, err := c.Create(context.Background(), item(1)); !incidentbot.IsTransient(err) {
		t.Fatalf("503: %v, want transient", err)
	}
}

func TestClient_Close_TakesTheTransitionIntoDone(t *testing.T) {
	c, f := newClient(t)
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Close(context.Background(), is.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done || got.Status != "Done" {
		t.Errorf("closed = %+v", got)
	}
	if st, _ := f.Issue(is.Key); st.Status != "Done" {
		t.Errorf("stored status %q", st.Status)
	}
	before := len(f.CallsTo("POST", "/rest/api/3/issue/"))
	if _, err := c.Close(context.Background(), is.Key); err != nil {
		t.Fatal(err)
	}
	if after := len(f.CallsTo("POST", "/rest/api/3/issue/")); after != before {
		t.Errorf("closing a done issue transitioned it again (%d → %d)", before, after)
	}
}

func TestClient_Close_WithoutPermissionIsRejected(t *testing.T) {
	c, f := newClient(t)
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	f.DenyTransition("OPS")
	if _, err := c.Close(context.Background(), is.Key); incidentbot.ErrorCode(err) != incidentbot.EREJECTED {
		t.Fatalf("err = %v, want rejected", err)
	}
}

func TestClient_Changed_ReadsDoneAndReopenedIssues(t *testing.T) {
	c, f := newClient(t)
	now := time.Date(2025, 10, 14, 9, 0, 0, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	c.Now = func() time.Time { return now }
	a, _ := c.Create(context.Background(), item(1))
	b, _ := c.Create(context.Background(), item(2))
	now = now.Add(30 * time.Minute)
	if err := f.SetStatus(a.Key, "Done"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetStatus(b.Key, "In Progress"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Changed(context.Background(), now.Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("changed = %+v, want both", got)
	}
	byKey := map[string]incidentbot.TrackerIssue{got[0].Key: got[0], got[1].Key: got[1]}
	if x := byKey[a.Key]; !x.Done || x.Status != "Done" || x.IncidentID != "INC-7" || x.N != 1 || !x.UpdatedAt.Equal(now) {
		t.Errorf("done issue = %+v", x)
	}
	if x := byKey[b.Key]; x.Done || x.Status != "In Progress" || x.N != 2 {
		t.Errorf("in-progress issue = %+v", x)
	}
	now = now.Add(10 * time.Minute)
	if got, err := c.Changed(context.Background(), now.Add(-2*time.Minute)); err != nil || len(got) != 0 {
		t.Errorf("nothing changed since: %+v, %v", got, err)
	}
}

func TestClient_Changed_PagesThroughResults(t *testing.T) {
	c, f := newClient(t)
	for n := 1; n <= 130; n++ {
		if _, err := c.Create(context.Background(), item(n)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Changed(context.Background(), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 130 {
		t.Fatalf("%d issues, want 130", len(got))
	}
	if n := len(f.CallsTo("GET", "/rest/api/3/search/jql")); n < 2 {
		t.Errorf("%d searches", n)
	}
}

// spec is the excerpt of Atlassian's OpenAPI document in testdata.
type spec struct {
	Paths map[string]map[string]struct {
		Parameters  map[string]string `json:"parameters"`
		RequestBody *struct {
			Properties []string `json:"properties"`
		} `json:"requestBody"`
	} `json:"paths"`
}

// checkAgainstSpec fails the test for a request the published API does
// not have: an unknown operation, a query parameter it does not declare,
// a body property outside its schema.
func checkAgainstSpec(t *testing.T, calls []jirafake.Call) {
	t.Helper()
	b, err := os.ReadFile("testdata/openapi-operations.json")
	if err != nil {
		t.Fatal(err)
	}
	var sp spec
	if err := json.Unmarshal(b, &sp); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		matched := false
		for tmpl, ops := range sp.Paths {
			re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$")
			if !re.MatchString(c.Path) {
				continue
			}
			op, ok := ops[strings.ToLower(c.Method)]
			if !ok {
				continue
			}
			matched = true
			for name := range c.Query {
				if op.Parameters[name] != "query" {
					t.Errorf("%s %s: query parameter %q is not in the API", c.Method, c.Path, name)
				}
			}
			if op.RequestBody != nil && len(c.Body) > 0 {
				var body map[string]json.RawMessage
				if err := json.Unmarshal(c.Body, &body); err != nil {
					t.Errorf("%s %s: body is not a JSON object", c.Method, c.Path)
				}
				for k := range body {
					if !contains(op.RequestBody.Properties, k) {
						t.Errorf("%s %s: body property %q is not in the API", c.Method, c.Path, k)
					}
				}
			}
		}
		if !matched {
			t.Errorf("%s %s is not an operation of the API", c.Method, c.Path)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
