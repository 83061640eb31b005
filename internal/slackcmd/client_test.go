package slackcmd_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/slackcmd"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

func newTestClient(t *testing.T) (*slackfake.Server, *slackcmd.Client) {
	t.Helper()
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	return fake, slackcmd.NewClient(slackfake.DefaultToken, fake.URL(), nil)
}

// A response_url is used only over https on hooks.slack.com, or on the
// configured API URL's own scheme and host: never plain http elsewhere.
func TestClient_Respond_OnlyOnSlacksHosts(t *testing.T) {
	fake, c := newTestClient(t)
	var reached atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer other.Close()
	u, err := url.Parse(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"http://hooks.slack.com/commands/T1/1/x",
		other.URL + "/commands/T1/1/x",
		"https://" + u.Host + "/commands/T1/1/x",
		"ftp://hooks.slack.com/x",
	} {
		err := c.Respond(context.Background(), bad, incidentbot.Message{Text: "secret plans"})
		if incidentbot.ErrorCode(err) != incidentbot.EREJECTED {
			t.Errorf("Respond(%s) = %v, want EREJECTED", bad, err)
		}
	}
	if reached.Load() != 0 {
		t.Errorf("a refused response_url was called %d times", reached.Load())
	}
	good := fake.NewResponseURL()
	if err := c.Respond(context.Background(), good, incidentbot.Message{Text: "ok"}); err != nil {
		t.Errorf("Respond on the API host: %v", err)
	}
}

// An upload URL on a host that is not Slack's is refused for good (no
// retry can fix it), and nothing is sent there.
func TestClient_Upload_UnexpectedUploadHostIsPermanent(t *testing.T) {
	fake, c := newTestClient(t)
	var reached atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer other.Close()
	fake.Handle("files.getUploadURLExternal", func(url.Values) (map[string]any, string) {
		return map[string]any{"upload_url": other.URL + "/upload/v1/abc", "file_id": "F123"}, ""
	})
	ch := fake.CreateChannelDirect("inc-1-db", "UBOT", false)
	_, err := c.Upload(context.Background(), ch.ID, "2025-11-03-INC-1.md", "Postmortem draft", []byte("# Draft"), "the draft")
	if incidentbot.ErrorCode(err) != incidentbot.EREJECTED || incidentbot.IsTransient(err) || !strings.Contains(incidentbot.ErrorMessage(err), "unexpected host") {
		t.Errorf("Upload = %v, want a permanent error about the host", err)
	}
	if reached.Load() != 0 {
		t.Errorf("the content went to the other host %d times", reached.Load())
	}
}

// Every call that took a slot of the rate budget gives it back when its
// answer comes, success or not: the budget counts a call until its answer
// (Slack counts it on arrival), and a slot never given back would count
// from its sending only.
func TestClient_EveryCallMarksItsBudgetSlotDone(t *testing.T) {
	_, c := newTestClient(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := slackcmd.NewBudget(1, func() time.Time { return now })
	c.SetBudget(b)
	ctx := context.Background()
	ch, err := c.CreateChannel(ctx, "inc-1-budget", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, ch.ID, incidentbot.Message{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"conversations.create", "chat.postMessage"} {
		key := ""
		if m == "chat.postMessage" {
			key = ch.ID
		}
		if n := b.InFlight(m, key); n != 0 {
			t.Errorf("%s: %d calls still in flight after their answers", m, n)
		}
	}
}
