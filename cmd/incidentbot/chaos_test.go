package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// Slack misbehaving: 5% of calls answered 429 with Retry-After, a window of
// 503s, slow answers. Afterwards everything queued is delivered, each
// channel in order.
func TestChaos_SlackMisbehaves_EverythingDeliveredInOrder(t *testing.T) {
	h := newHarness(t)
	h.slack.SetChaos(slackfake.Chaos{Rate429: 0.05, RetryAfter: 0, Latency: 15 * time.Millisecond, Seed: 7})
	const incidents, notes = 12, 6
	for i := range incidents {
		id := fmt.Sprintf("PCHAOS%02d", i)
		inc := h.pd.AddIncident(pagerfake.Incident{ID: id, Title: "chaos " + id, CreatedAt: t0})
		h.deliver("W-"+id, h.incidentEvent("incident.triggered", t0, inc))
		if i == incidents/2 {
			// A window of 503s on posts, in the middle of the flow.
			h.slack.Inject("chat.postMessage", slackfake.Fault{Times: 25, Status: 503})
		}
		for n := range notes {
			ev := h.ev("incident.annotated", t0.Add(time.Duration(n+1)*time.Minute), pagerfake.NoteData(id, inc.Title, fmt.Sprintf("N%d", n), fmt.Sprintf("%s note %d", id, n)))
			ev.ID = id + "-" + ev.ID
			h.deliver(fmt.Sprintf("W-%s-%d", id, n), ev)
		}
	}
	h.waitIdle()
	var got429, got503 int
	for _, c := range h.slack.Calls() {
		switch c.Status {
		case http.StatusTooManyRequests:
			got429++
		case http.StatusServiceUnavailable:
			got503++
		}
	}
	if got429 == 0 || got503 < 25 {
		t.Fatalf("chaos did not happen: %d 429s, %d 503s", got429, got503)
	}
	for i := range incidents {
		id := fmt.Sprintf("PCHAOS%02d", i)
		inc := h.timeline(id)
		var texts []string
		for _, m := range h.slack.Messages(inc.ChannelID) {
			texts = append(texts, m.Text)
		}
		all := strings.Join(texts, "\n")
		last := -1
		for n := range notes {
			at := strings.Index(all, fmt.Sprintf("%s note %d", id, n))
			if at < 0 {
				t.Errorf("%s: note %d never posted", id, n)
				continue
			}
			if at < last {
				t.Errorf("%s: note %d out of order", id, n)
			}
			last = at
		}
		if len(inc.Problems) > 0 {
			t.Errorf("%s: problems %+v (transient errors must be retried, not dead-lettered)", id, inc.Problems)
		}
	}
	t.Logf("Slack answered 429 %d times and 503 %d times; all %d notes delivered in order", got429, got503, incidents*notes)
}

// With INCIDENTBOT_ADMIN_ADDR set, /metrics and /api/* are served only on
// the admin listener.
func TestMain_AdminAddr_MovesMetricsAndAPI(t *testing.T) {
	h := newHarness(t)
	h.cfg.AdminAddr = "127.0.0.1:0"
	h.restart()
	if h.m.AdminURL() == h.m.URL() {
		t.Fatal("no separate admin listener")
	}
	for _, tc := range []struct {
		base, path string
		want       int
	}{
		{h.m.URL(), "/metrics", 404}, {h.m.URL(), "/api/incidents", 404}, {h.m.URL(), "/healthz", 200}, {h.m.URL(), "/status", 200},
		{h.m.AdminURL(), "/metrics", 200}, {h.m.AdminURL(), "/healthz", 200},
	} {
		res, err := http.Get(tc.base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("GET %s%s = %d, want %d", tc.base, tc.path, res.StatusCode, tc.want)
		}
	}
	if code := h.api("/api/incidents", nil); code != 200 {
		t.Errorf("admin API on the admin listener = %d", code)
	}
}
