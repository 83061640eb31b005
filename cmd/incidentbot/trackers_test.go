package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/github/githubfake"
	"github.com/incidentbot/incidentbot/internal/jira/jirafake"
)

// trackedItem is an action item as GET /api/incidents/{id} shows it.
type trackedItem struct {
	N       int    `json:"n"`
	Text    string `json:"text"`
	Status  string `json:"status"`
	Due     string `json:"due"`
	Tracked []struct {
		Tracker string `json:"tracker"`
		Key     string `json:"key"`
		URL     string `json:"url"`
		Status  string `json:"status"`
		Done    bool   `json:"done"`
	} `json:"tracked"`
}

func (h *harness) actionItems(id string) []trackedItem {
	h.t.Helper()
	var got struct {
		Actions []trackedItem `json:"action_items"`
	}
	if code := h.api("/api/incidents/"+id, &got); code != http.StatusOK {
		h.t.Fatalf("GET %s: %d", id, code)
	}
	return got.Actions
}

// An incident with three action items (an owner Jira knows, one it does
// not, one with a due date and no owner), both trackers on: Jira down for
// a while and a GitHub create whose answer is lost; one item done from
// Slack, a restart, another done in Jira; the postmortem shows the keys
// and the trackers' statuses.
func TestTrackers_ActionItems_BothWaysThroughJiraAndGitHub(t *testing.T) {
	h := prepareHarness(t, nil)
	jf, gf := jirafake.New(), githubfake.New()
	t.Cleanup(jf.Close)
	t.Cleanup(gf.Close)
	jf.AddUser(jirafake.User{AccountID: "acc-alice", DisplayName: "Alice Chen", Email: "alice@example.com"})
	h.cfg.JiraURL, h.cfg.JiraEmail, h.cfg.JiraAPIToken, h.cfg.JiraProject = jf.URL(), jf.Email(), jf.Token(), "OPS"
	h.cfg.GitHubToken, h.cfg.GitHubRepository, h.cfg.GitHubAPIURL = gf.Token(), gf.Repository(), gf.URL()
	h.trackerPoll = 100 * time.Millisecond
	h.start()
	_, ch := h.paged("PTRK1")

	// Jira is down: the incident goes on, the issues wait.
	jf.Inject("", "", jirafake.Fault{Status: 503})
	gf.Inject("POST", "/repos/acme/ops/issues", githubfake.Fault{Times: 1, AfterEffect: true, Hangup: true})
	h.command("UALICE", ch, "action Add a canary for the payment config <@UALICE> p1")
	h.command("UALICE", ch, "action Page on pool saturation <@UBOB> p3")
	h.command("UALICE", ch, "action Write the pool runbook due:2099-11-01")
	h.command("UBOB", ch, "note still investigating while Jira is down")
	waitFor(t, "the note posted while Jira is down", func() bool {
		for _, m := range h.slack.Messages(ch) {
			if strings.Contains(renderBlocks(m), "still investigating") {
				return true
			}
		}
		return false
	})
	waitFor(t, "GitHub issues", func() bool { return len(gf.Issues()) == 3 })
	if n := len(jf.Issues()); n != 0 {
		t.Fatalf("%d Jira issues while it is down", n)
	}
	jf.ClearFaults()
	h.waitIdle()

	issues := jf.Issues()
	if len(issues) != 3 {
		t.Fatalf("%d Jira issues, want 3", len(issues))
	}
	if len(gf.Issues()) != 3 {
		t.Fatalf("%d GitHub issues, want 3 (the lost create found again)", len(gf.Issues()))
	}
	byItem := map[string]jirafake.Issue{}
	for _, is := range issues {
		for _, l := range is.Labels {
			byItem[l] = is
		}
	}
	one, two, three := byItem["INC-1-action-1"], byItem["INC-1-action-2"], byItem["INC-1-action-3"]
	if one.Assignee != "acc-alice" || one.Priority != "Highest" || !strings.Contains(one.Summary, "Add a canary") {
		t.Errorf("item 1 in Jira = %+v", one)
	}
	if two.Assignee != "" || two.Priority != "Medium" || !strings.Contains(string(two.Description), "no Jira user has Bob Martinez") {
		t.Errorf("item 2 in Jira = %+v", two)
	}
	if three.Due != "2099-11-01" || !strings.Contains(string(three.Description), "slack.com/app_redirect?channel="+ch) {
		t.Errorf("item 3 in Jira = %+v %s", three, three.Description)
	}
	if gh, _ := gf.Issue(1); !strings.Contains(gh.Body, "Alice Chen") {
		t.Errorf("GitHub #1 body:\n%s", gh.Body)
	}

	// Done from Slack: both trackers' issues close.
	h.command("UALICE", ch, "action done 1")
	h.waitIdle()
	if is, _ := jf.Issue(one.Key); is.Status != "Done" {
		t.Errorf("%s is %s after done in Slack", one.Key, is.Status)
	}
	items := h.actionItems("INC-1")
	var ghOne int
	for _, tr := range items[0].Tracked {
		if tr.Tracker == "github" {
			ghOne = map[string]int{"#1": 1, "#2": 2, "#3": 3}[tr.Key]
		}
	}
	if gh, _ := gf.Issue(ghOne); gh.State != "closed" || gh.StateReason != "completed" {
		t.Errorf("GitHub issue of item 1 = %+v", gh)
	}

	h.restart()

	// Done in Jira: the item, its GitHub issue, the timeline follow.
	if err := jf.SetStatus(two.Key, "Done"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "item 2 done from Jira", func() bool { return h.actionItems("INC-1")[1].Status == "done" })
	h.waitIdle()
	items = h.actionItems("INC-1")
	for _, tr := range items[1].Tracked {
		if !tr.Done {
			t.Errorf("item 2's %s issue %s not done: %+v", tr.Tracker, tr.Key, tr)
		}
	}
	if items[2].Status != "open" || len(items[2].Tracked) != 2 {
		t.Errorf("item 3 = %+v", items[2])
	}
	tl := h.timeline("INC-1")
	found := false
	for _, e := range tl.Timeline {
		found = found || strings.Contains(e.Text, "Action item 2 done in Jira ("+two.Key+")")
	}
	if !found {
		t.Errorf("no timeline entry for item 2 done in Jira")
	}

	md := h.get(t, "/api/incidents/INC-1/postmortem.md")
	for _, want := range []string{
		"| Tracker |", "[" + one.Key + "](" + jf.URL() + "/browse/" + one.Key + ") (Done)",
		"[" + three.Key + "](" + jf.URL() + "/browse/" + three.Key + ") (To Do)", "(open)", "(closed)",
		"Action items tracked in: Jira (OPS), GitHub",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("postmortem lacks %q", want)
		}
	}
	html := h.get(t, "/api/incidents/INC-1/postmortem.html")
	if !strings.Contains(html, `<a href="`+jf.URL()+"/browse/"+two.Key+`">`+two.Key+`</a> (Done)`) {
		t.Errorf("HTML postmortem lacks %s's link", two.Key)
	}

	r := h.command("UBOB", ch, "followups")
	if !strings.Contains(r.Text, "Open action items (1, 0 overdue)") || !strings.Contains(r.Text, "Write the pool runbook") || !strings.Contains(r.Text, three.Key) {
		t.Errorf("followups = %q", r.Text)
	}
	for _, c := range jf.Calls() {
		if strings.Contains(string(c.Body), jf.Token()) {
			t.Errorf("a Jira request body carries the token")
		}
	}
}

// postWebhook posts a tracker's delivery (as its fake builds it) to the
// bot's path and returns the answer's status and body.
func (h *harness) postWebhook(path string, body []byte, header http.Header) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.m.URL()+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func (h *harness) postGitHubWebhook(hook githubfake.Webhook) (int, string) {
	h.t.Helper()
	return h.postWebhook("/webhooks/github", hook.Body, hook.Header)
}

// With GITHUB_WEBHOOK_SECRET set, an issue closed on GitHub is reflected
// when its signed webhook arrives, not at the next poll (an hour away
// here): the item is done, on the timeline once whatever the redeliveries;
// a reopen makes it open again; a forged delivery changes nothing. Without
// the secret the endpoint does not exist.
func TestTrackers_GitHubWebhook_ReflectsACloseAtOnce(t *testing.T) {
	h := prepareHarness(t, nil)
	gf := githubfake.New()
	t.Cleanup(gf.Close)
	const secret = "gh-hook-secret-91c2"
	h.cfg.GitHubToken, h.cfg.GitHubRepository, h.cfg.GitHubAPIURL = gf.Token(), gf.Repository(), gf.URL()
	h.cfg.GitHubWebhookSecret = secret
	h.trackerPoll = time.Hour
	h.start()
	_, ch := h.paged("PGHW1")
	h.command("UALICE", ch, "action Add a canary for the payment config <@UALICE> p1")
	waitFor(t, "the GitHub issue", func() bool { return len(gf.Issues()) == 1 })
	h.waitIdle()

	if err := gf.CloseIssue(1, "completed"); err != nil {
		t.Fatal(err)
	}
	forged, _ := gf.IssuesWebhook("closed", 1, "0b0c1e00-0000-4000-8000-000000000001", "not the secret")
	if code, _ := h.postGitHubWebhook(forged); code != http.StatusUnauthorized {
		t.Errorf("forged delivery answered %d, want 401", code)
	}
	if got := h.actionItems("INC-1")[0].Status; got != "open" {
		t.Fatalf("item after a forged delivery: %s", got)
	}
	closed, _ := gf.IssuesWebhook("closed", 1, "0b0c1e00-0000-4000-8000-000000000002", secret)
	for i, want := range []string{"applied", "duplicate"} {
		if code, body := h.postGitHubWebhook(closed); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("delivery %d: %d %s, want 200 %s", i+1, code, body, want)
		}
	}
	items := h.actionItems("INC-1")
	if items[0].Status != "done" || len(items[0].Tracked) != 1 || !items[0].Tracked[0].Done || items[0].Tracked[0].Status != "closed" {
		t.Fatalf("item after the webhook = %+v", items[0])
	}
	doneEntries := 0
	for _, e := range h.timeline("INC-1").Timeline {
		if strings.Contains(e.Text, "Action item 1 done in GitHub (#1)") {
			doneEntries++
		}
	}
	if doneEntries != 1 {
		t.Errorf("%d timeline entries for the close, want 1", doneEntries)
	}

	if err := gf.ReopenIssue(1); err != nil {
		t.Fatal(err)
	}
	reopened, _ := gf.IssuesWebhook("reopened", 1, "0b0c1e00-0000-4000-8000-000000000003", secret)
	if code, body := h.postGitHubWebhook(reopened); code != http.StatusOK {
		t.Fatalf("reopened: %d %s", code, body)
	}
	if got := h.actionItems("INC-1")[0].Status; got != "open" {
		t.Errorf("item after the reopen: %s", got)
	}

	// Without the secret there is no endpoint.
	h.cfg.GitHubWebhookSecret = ""
	h.restart()
	if code, _ := h.postGitHubWebhook(closed); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("without GITHUB_WEBHOOK_SECRET the endpoint answered %d, want 404", code)
	}
}

func (h *harness) postJiraWebhook(hook jirafake.Webhook) int {
	h.t.Helper()
	code, _ := h.postWebhook("/webhooks/jira", hook.Body, hook.Header)
	return code
}

// With JIRA_WEBHOOK_SECRET set, an issue moved to Done in Jira is
// reflected when the admin webhook's signed delivery arrives (the poll an
// hour away): the item is done, and its GitHub issue is closed; Jira's
// retry of the delivery changes nothing more; a forged one nothing at all.
func TestTrackers_JiraWebhook_ReflectsDoneAtOnce(t *testing.T) {
	h := prepareHarness(t, nil)
	jf, gf := jirafake.New(), githubfake.New()
	t.Cleanup(jf.Close)
	t.Cleanup(gf.Close)
	const secret = "jira-hook-secret-44ab"
	h.cfg.JiraURL, h.cfg.JiraEmail, h.cfg.JiraAPIToken, h.cfg.JiraProject = jf.URL(), jf.Email(), jf.Token(), "OPS"
	h.cfg.JiraWebhookSecret = secret
	h.cfg.GitHubToken, h.cfg.GitHubRepository, h.cfg.GitHubAPIURL = gf.Token(), gf.Repository(), gf.URL()
	h.trackerPoll = time.Hour
	h.start()
	_, ch := h.paged("PJRW1")
	h.command("UALICE", ch, "action Write the pool runbook")
	waitFor(t, "the Jira and GitHub issues", func() bool { return len(jf.Issues()) == 1 && len(gf.Issues()) == 1 })
	h.waitIdle()
	key := jf.Issues()[0].Key
	if err := jf.SetStatus(key, "Done"); err != nil {
		t.Fatal(err)
	}
	forged, _ := jf.IssueUpdatedWebhook(key, "To Do", "7f6c1e00-0000-4000-8000-000000000001", "not the secret")
	if code := h.postJiraWebhook(forged); code != http.StatusUnauthorized {
		t.Errorf("forged delivery answered %d, want 401", code)
	}
	if got := h.actionItems("INC-1")[0].Status; got != "open" {
		t.Fatalf("item after a forged delivery: %s", got)
	}
	done, _ := jf.IssueUpdatedWebhook(key, "To Do", "7f6c1e00-0000-4000-8000-000000000002", secret)
	for i := range 2 { // Jira retries under the same identifier
		if code := h.postJiraWebhook(done); code != http.StatusOK {
			t.Fatalf("delivery %d answered %d", i+1, code)
		}
	}
	if got := h.actionItems("INC-1")[0].Status; got != "done" {
		t.Fatalf("item after the webhook: %s", got)
	}
	h.waitIdle()
	if gh, _ := gf.Issue(1); gh.State != "closed" {
		t.Errorf("the item's GitHub issue after done in Jira: %+v", gh)
	}
	entries := 0
	for _, e := range h.timeline("INC-1").Timeline {
		if strings.Contains(e.Text, "Action item 1 done in Jira ("+key+")") {
			entries++
		}
	}
	if entries != 1 {
		t.Errorf("%d timeline entries for the done, want 1", entries)
	}
}
