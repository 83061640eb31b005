package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
)

// newPostgresHarness is the end-to-end harness on a PostgreSQL schema of
// its own instead of a bbolt file.
func newPostgresHarness(t *testing.T) *harness {
	t.Helper()
	url := pgtest.SchemaURL(t)
	h := prepareHarness(t, nil)
	h.cfg.DatabaseURL = url
	h.leaseTTL = 2 * time.Second
	h.start()
	return h
}

func leaderOf(t *testing.T, m *Main) bool {
	t.Helper()
	return strings.Contains(getText(t, m.AdminURL()+"/metrics"), "\nincidentbot_leader 1\n")
}

// getText GETs url and returns the body.
func getText(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two replicas on one database take the same page at once (each delivery
// copy to either replica): one incident, one channel, one kickoff; one
// replica leads; both are ready; backups are pg_dump's job. When the
// leader stops, the other takes over and opens the next page's channel.
func TestPostgres_TwoReplicas_OneChannelAndFailover(t *testing.T) {
	h := newPostgresHarness(t)
	second := h.open()
	sendTo := []*pagerfake.Sender{h.send, {URL: second.URL() + "/webhooks/pagerduty", Secrets: []string{webhookSecret}}}
	inc := h.incident("PDUP")
	body := h.incidentEvent("incident.triggered", t0, inc).JSON()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "W-same"
			if i%3 == 1 {
				id = fmt.Sprintf("W-other-%d", i)
			}
			if status, err := sendTo[i%2].Send(context.Background(), id, body); err != nil || status/100 != 2 {
				t.Errorf("delivery %d: %d %v", i, status, err)
			}
		}()
	}
	wg.Wait()
	h.waitIdle()
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	h.api("/api/incidents", &list)
	if len(list.Incidents) != 1 || len(h.slack.CallsTo("conversations.create")) != 1 {
		t.Fatalf("%d incidents, %d conversations.create calls; want 1 and 1", len(list.Incidents), len(h.slack.CallsTo("conversations.create")))
	}
	if len(list.Incidents) == 1 && list.Incidents[0].ID != "INC-1" {
		t.Errorf("incident %s, want INC-1", list.Incidents[0].ID)
	}
	var leader, follower *Main
	waitFor(t, "one leader", func() bool {
		a, b := leaderOf(t, h.m), leaderOf(t, second)
		switch {
		case a && !b:
			leader, follower = h.m, second
		case b && !a:
			leader, follower = second, h.m
		default:
			return false
		}
		return true
	})
	for _, m := range []*Main{h.m, second} {
		res, err := http.Get(m.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("readyz = %d, want 200 on every replica", res.StatusCode)
		}
		req, err := http.NewRequest("GET", m.AdminURL()+"/api/backup", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body) // the status is checked
		res.Body.Close()
		if res.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "pg_dump") {
			t.Errorf("GET /api/backup = %d %s, want 501 naming pg_dump", res.StatusCode, b)
		}
	}
	// The leader stops (a rolling update): the follower takes the lease
	// and runs the next page's jobs, whichever replica took the page.
	start := time.Now()
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	next := h.incident("PNEXT")
	fs := &pagerfake.Sender{URL: follower.URL() + "/webhooks/pagerduty", Secrets: []string{webhookSecret}}
	if status, err := fs.Send(context.Background(), "W-next", h.incidentEvent("incident.triggered", t0, next).JSON()); err != nil || status/100 != 2 {
		t.Fatalf("delivery to the survivor: %d %v", status, err)
	}
	waitFor(t, "the survivor to open the second channel", func() bool { return len(h.slack.CallsTo("conversations.create")) == 2 })
	if !leaderOf(t, follower) {
		t.Error("the survivor does not report incidentbot_leader 1")
	}
	t.Logf("second channel opened %v after the leader stopped", time.Since(start).Round(time.Millisecond))
}

// A note on the follower reaches the channel through the leader's runner
// without waiting for its rescan: the follower's commit notifies.
func TestPostgres_FollowerCommit_WakesTheLeader(t *testing.T) {
	h := newPostgresHarness(t)
	second := h.open()
	inc := h.incident("PWAKE")
	if code := h.deliver("W1", h.incidentEvent("incident.triggered", t0, inc)); code/100 != 2 {
		t.Fatalf("trigger: %d", code)
	}
	h.waitIdle()
	waitFor(t, "a leader", func() bool { return leaderOf(t, h.m) != leaderOf(t, second) })
	follower := second
	if leaderOf(t, second) {
		follower = h.m
	}
	posts := len(h.slack.CallsTo("chat.postMessage"))
	fs := &pagerfake.Sender{URL: follower.URL() + "/webhooks/pagerduty", Secrets: []string{webhookSecret}}
	start := time.Now()
	note := h.ev("incident.annotated", t0.Add(time.Minute), pagerfake.NoteData("PWAKE", inc.Title, "N1", "db failover started"))
	if status, err := fs.Send(context.Background(), "W2", note.JSON()); err != nil || status/100 != 2 {
		t.Fatalf("note to the follower: %d %v", status, err)
	}
	waitFor(t, "the note's post", func() bool { return len(h.slack.CallsTo("chat.postMessage")) > posts })
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the note was posted %v after the follower took it: not woken (the rescan is 5 s)", d)
	}
}

// Every replica's public page follows the store: a follower, which runs no
// publish job, renders its page again on its own (it rendered once before
// the page, and served that forever when nothing refreshed it).
func TestPostgres_FollowerStatusPageFollowsTheLeader(t *testing.T) {
	url := pgtest.SchemaURL(t)
	h := prepareHarness(t, nil)
	h.cfg.DatabaseURL = url
	h.leaseTTL = 2 * time.Second
	h.statusRefresh = 100 * time.Millisecond
	h.start()
	second := h.open()
	get := func(m *Main) string { t.Helper(); return getText(t, m.URL()+"/status.json") }
	for _, m := range []*Main{h.m, second} {
		if body := get(m); strings.Contains(body, "INC-1") {
			t.Fatalf("before any page, /status.json shows INC-1: %s", body)
		}
	}
	inc := h.incident("PSTATUS")
	inc.Title = "Checkout is down"
	if code := h.deliver("W-status-1", h.incidentEvent("incident.triggered", t0, inc)); code/100 != 2 {
		t.Fatalf("delivery answered %d", code)
	}
	h.waitIdle()
	for i, m := range []*Main{h.m, second} {
		waitFor(t, fmt.Sprintf("replica %d (leading: %v) to show INC-1 on /status.json", i+1, leaderOf(t, m)), func() bool {
			return strings.Contains(get(m), "INC-1")
		})
	}
}
