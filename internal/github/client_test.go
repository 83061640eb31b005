package github_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/github"
	"github.com/incidentbot/incidentbot/internal/github/githubfake"
)

func newClient(t *testing.T) (*github.Client, *githubfake.Server) {
	t.Helper()
	f := githubfake.New()
	t.Cleanup(f.Close)
	c, err := github.NewClient(f.Token(), f.Repository(), f.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func item(n int) incidentbot.TrackerItem {
	return incidentbot.TrackerItem{
		IncidentID: "INC-7", N: n, Text: "Add a canary for @everyone's [config](http://x)", Priority: "p2", Due: "2025-11-01",
		OwnerName: "Alice Chen", OwnerEmail: "alice@example.com",
		Links: []incidentbot.TrackerLink{{Label: "Incident", Text: "INC-7: Checkout errors"}, {Label: "Slack channel", Text: "#inc-7", URL: "https://slack.com/app_redirect?channel=C7"}},
	}
}

func TestClient_Create_LabelsTheIncidentAndNamesTheOwner(t *testing.T) {
	c, f := newClient(t)
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	if is.Key != "#1" || is.URL != "https://github.com/acme/ops/issues/1" || is.Done || is.Status != "open" {
		t.Fatalf("issue = %+v", is)
	}
	got, _ := f.Issue(1)
	if want := "incidentbot,INC-7,INC-7-action-1,priority: P2"; strings.Join(got.Labels, ",") != want {
		t.Errorf("labels = %v, want %s", got.Labels, want)
	}
	for _, want := range []string{"Alice Chen (alice\\@example\\.com)", "[\\#inc\\-7](<https://slack.com/app_redirect?channel=C7>)", "2025\\-11\\-01", "\\@everyone", "\\[config\\]\\(http\\://x\\)"} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, got.Body)
		}
	}
}

func TestClient_Create_LostAnswerIsFoundAgain(t *testing.T) {
	c, f := newClient(t)
	f.Inject("POST", "/repos/acme/ops/issues", githubfake.Fault{Times: 1, AfterEffect: true, Status: 502})
	if _, err := c.Create(context.Background(), item(1)); !incidentbot.IsTransient(err) {
		t.Fatalf("first attempt: %v, want transient", err)
	}
	is, err := c.Create(context.Background(), item(1))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Issues()); n != 1 || is.Key != "#1" {
		t.Fatalf("%d issues, key %s", n, is.Key)
	}
}

func TestClient_SecondaryRateLimit_IsTransientWithRetryAfter(t *testing.T) {
	c, f := newClient(t)
	f.SetSecondaryLimit(1, 45*time.Second)
	if _, err := c.Create(context.Background(), item(1)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Create(context.Background(), item(2))
	if !incidentbot.IsTransient(err) || incidentbot.RetryAfter(err) != 45*time.Second || !strings.Contains(err.Error(), "secondary rate limit") {
		t.Fatalf("err = %v (retry after %v)", err, incidentbot.RetryAfter(err))
	}
}

func TestClient_PrimaryRateLimit_WaitsForTheReset(t *testing.T) {
	c, f := newClient(t)
	f.SetRateLimit(1)
	_, err := c.Create(context.Background(), item(1)) // the lookup spends the budget
	if !incidentbot.IsTransient(err) || incidentbot.RetryAfter(err) <= 0 {
		t.Fatalf("err = %v, want transient with a wait", err)
	}
}

func TestClient_Refusals_AreRejected(t *testing.T) {
	for name, set := range map[string]func(*githubfake.Server){
		"read-only token": func(f *githubfake.Server) { f.SetReadOnly(true) },
		"issues off":      func(f *githubfake.Server) { f.SetIssuesDisabled(true) },
	} {
		t.Run(name, func(t *testing.T) {
			c, f := newClient(t)
			set(f)
			if _, err := c.Create(context.Background(), item(1)); incidentbot.ErrorCode(err) != incidentbot.EREJECTED {
				t.Fatalf("err = %v, want rejected", err)
			}
		})
	}
	f := githubfake.New()
	defer f.Close()
	c, _ := github.NewClient("ghp_wrongSecretToken", "acme/nope", f.URL(), nil)
	_, err := c.Create(context.Background(), item(1))
	if incidentbot.ErrorCode(err) != incidentbot.EREJECTED || !strings.Contains(err.Error(), "GITHUB_TOKEN") || strings.Contains(err.Error(), "ghp_wrongSecretToken") {
		t.Fatalf("bad token: %v", err)
	}
	c, _ = github.NewClient(f.Token(), "acme/nope", f.URL(), nil)
	if _, err := c.Create(context.Background(), item(1)); incidentbot.ErrorCode(err) != incidentbot.EREJECTED || !strings.Contains(err.Error(), "acme/nope") {
		t.Fatalf("unknown repository: %v", err)
	}
}

func TestClient_Close_ClosesAsCompleted(t *testing.T) {
	c, f := newClient(t)
	if _, err := c.Create(context.Background(), item(1)); err != nil {
		t.Fatal(err)
	}
	is, err := c.Close(context.Background(), "#1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Issue(1)
	if !is.Done || got.State != "closed" || got.StateReason != "completed" {
		t.Fatalf("closed = %+v, stored %+v", is, got)
	}
	var sent map[string]string
	patches := f.CallsTo("PATCH", "/repos/acme/ops/issues/1")
	if len(patches) != 1 || json.Unmarshal(patches[0].Body, &sent) != nil || sent["state"] != "closed" || sent["state_reason"] != "completed" {
		t.Fatalf("patches = %+v", patches)
	}
	if _, err := c.Close(context.Background(), "#1"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.CallsTo("PATCH", "")); n != 1 {
		t.Errorf("closing a closed issue sent %d edits", n)
	}
}

func TestClient_Changed_ReadsClosedAndReopened(t *testing.T) {
	c, f := newClient(t)
	now := time.Date(2025, 10, 14, 9, 0, 0, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	for n := 1; n <= 3; n++ {
		if _, err := c.Create(context.Background(), item(n)); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	if err := f.CloseIssue(2, "completed"); err != nil {
		t.Fatal(err)
	}
	if err := f.CloseIssue(3, "not_planned"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Changed(context.Background(), now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != "#2" || !got[0].Done || got[0].N != 2 || got[1].Status != "closed as not planned" {
		t.Fatalf("changed = %+v", got)
	}
}

func TestFake_SearchIssues_AnswersAsGitHub(t *testing.T) {
	c, f := newClient(t)
	for n := 1; n <= 2; n++ {
		if _, err := c.Create(context.Background(), item(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.CloseIssue(1, "completed"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.URL()+"/search/issues?q=repo:acme/ops+label:incidentbot+is:open+is:issue", nil)
	req.Header.Set("Authorization", "Bearer "+f.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		TotalCount int `json:"total_count"`
		Items      []struct {
			Number int `json:"number"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.TotalCount != 1 || out.Items[0].Number != 2 || res.Header.Get("X-RateLimit-Remaining") == "" {
		t.Fatalf("search = %+v, headers %v", out, res.Header)
	}
}
