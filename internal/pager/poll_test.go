package pager_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

// logIngester is a handwritten LogIngester: it keeps the events and the
// cursor as one transaction would, and can fail a call.
type logIngester struct {
	mu     sync.Mutex
	cursor string
	seen   map[string]bool
	events []incidentbot.PagerEvent
	calls  int
	failAt int // the call (1-based) that fails; 0: none
}

func (f *logIngester) IngestPagerDutyLog(_ context.Context, evs []incidentbot.PagerEvent, cursor string) ([]incidentbot.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.failAt {
		return nil, errors.New("store down")
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	outs := make([]incidentbot.Outcome, len(evs))
	for i, ev := range evs {
		if f.seen[ev.ID] {
			outs[i] = incidentbot.OutcomeDuplicate
			continue
		}
		f.seen[ev.ID] = true
		f.events = append(f.events, ev)
		outs[i] = incidentbot.OutcomeApplied
	}
	f.cursor = cursor
	return outs, nil
}

func (f *logIngester) Cursor(context.Context, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor, nil
}

// clock is a manual clock shared by the fake and the poller.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustFake(t *testing.T, clk *clock) *pagerfake.Server {
	t.Helper()
	srv := pagerfake.New()
	t.Cleanup(srv.Close)
	srv.SetClock(clk.Now)
	srv.AddUser(pagerfake.User{ID: "PUSER01", Name: "Ada Lovelace", Email: "ada@example.com"})
	srv.AddUser(pagerfake.User{ID: "PUSER02", Name: "Grace Hopper", Email: "grace@example.com"})
	return srv
}

func newPoller(srv *pagerfake.Server, ing pager.LogIngester, clk *clock) *pager.Poller {
	return &pager.Poller{Source: pager.NewClient(srv.Token(), srv.URL(), nil), Ingest: ing, Every: 15 * time.Second, Now: clk.Now}
}

// TestPoller_Poll_EachLogEntryBecomesTheWebhooksEvent plays one incident's
// life in the fake PagerDuty (through the REST API, as the bot and people
// do, and as PagerDuty does by itself), polls its log with the real
// go-pagerduty client, and compares every event with what the webhook
// decoder makes of the v3 webhook PagerDuty sends for the same happening.
func TestPoller_Poll_EachLogEntryBecomesTheWebhooksEvent(t *testing.T) {
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 250e6, time.UTC)}
	srv := mustFake(t, clk)
	ing := &logIngester{cursor: "2025-06-01T08:59:00Z"}
	p := newPoller(srv, ing, clk)
	ctx := context.Background()
	step := func() { clk.Add(1700 * time.Millisecond) }

	inc := srv.AddIncident(pagerfake.Incident{Title: "Checkout is down", AssigneeIDs: []string{"PUSER01"}, PriorityName: "P3"})
	step()
	pd := pager.NewClient(srv.Token(), srv.URL(), nil)
	if err := pd.SetStatus(ctx, "ada@example.com", inc.ID, "acknowledged"); err != nil {
		t.Fatal(err)
	}
	step()
	if err := pd.AddNote(ctx, "grace@example.com", inc.ID, "Rolling back 4.2"); err != nil {
		t.Fatal(err)
	}
	step()
	srv.Unacknowledge(inc.ID)
	step()
	srv.Escalate(inc.ID, "PUSER02")
	step()
	srv.Reassign(inc.ID, "PUSER02", "PUSER01")
	step()
	srv.SetPriority(inc.ID, "PUSER01", "P1")
	step()
	srv.RequestResponder(inc.ID, "PUSER01", "PUSER02", "Need the database on call")
	step()
	if err := pd.SetStatus(ctx, "ada@example.com", inc.ID, "resolved"); err != nil {
		t.Fatal(err)
	}
	step()
	srv.Reopen(inc.ID, "PUSER02")
	step()

	if err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	log := srv.LogEntries(inc.ID)
	var want []incidentbot.PagerEvent
	for _, e := range log {
		wh, ok := srv.WebhookFor(e.ID)
		if !ok {
			continue // the first assignment: no webhook
		}
		ev, err := pager.DecodeWebhook(wh.JSON())
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	if len(ing.events) != len(want) {
		t.Fatalf("got %d events from %d log entries, want %d (one per webhook)", len(ing.events), len(log), len(want))
	}
	for i, got := range ing.events {
		w := want[i]
		what := fmt.Sprintf("event %d (%s)", i, w.Type)
		typ := w.Type
		if typ == incidentbot.EventReopened {
			typ = incidentbot.EventTriggered // the log has no reopen type: the lifecycle reads a late trigger as one
		}
		if got.Type != typ {
			t.Errorf("%s: type %s, want %s", what, got.Type, typ)
		}
		if got.IncidentID != w.IncidentID || got.Agent.ID != w.Agent.ID || got.Text != w.Text {
			t.Errorf("%s: incident %s agent %+v text %q; the webhook's: %s %+v %q", what, got.IncidentID, got.Agent, got.Text, w.IncidentID, w.Agent, w.Text)
		}
		if got.OccurredAt.Unix() != w.OccurredAt.Unix() {
			t.Errorf("%s: at %s, the webhook's %s: not the same second", what, got.OccurredAt, w.OccurredAt)
		}
		if (got.Responder == nil) != (w.Responder == nil) || (got.Responder != nil && got.Responder.ID != w.Responder.ID) {
			t.Errorf("%s: responder %+v, the webhook's %+v", what, got.Responder, w.Responder)
		}
		if (got.Incident == nil) != (w.Incident == nil) {
			t.Fatalf("%s: incident data %+v, the webhook's %+v", what, got.Incident, w.Incident)
		}
		if g, wi := got.Incident, w.Incident; g != nil {
			ids := func(ps []incidentbot.Person) (out []string) {
				for _, p := range ps {
					out = append(out, p.ID)
				}
				return out
			}
			if g.ID != wi.ID || g.Title != wi.Title || g.Number != wi.Number || g.ServiceID != wi.ServiceID || g.Urgency != wi.Urgency || g.URL != wi.URL {
				t.Errorf("%s: incident %+v, the webhook's %+v", what, g, wi)
			}
			if w.Type != incidentbot.EventReopened && g.Status != wi.Status {
				t.Errorf("%s: status %s, the webhook's %s", what, g.Status, wi.Status)
			}
			if w.Type == incidentbot.EventPriorityUpdated && g.Priority != wi.Priority {
				t.Errorf("%s: priority %q, the webhook's %q", what, g.Priority, wi.Priority)
			}
			switch w.Type {
			case incidentbot.EventTriggered, incidentbot.EventEscalated, incidentbot.EventReassigned:
				if !slices.Equal(ids(g.Assignees), ids(wi.Assignees)) {
					t.Errorf("%s: assignees %v, the webhook's %v", what, ids(g.Assignees), ids(wi.Assignees))
				}
			}
		}
	}
	if got, want := ing.cursor, clk.Now().Truncate(time.Second).Format(time.RFC3339); got != want {
		t.Errorf("cursor = %s, want now (%s)", got, want)
	}
}

// TestPoller_Poll_PagesThroughAWindowAndWaitsOutA429 reads 230 entries
// over three pages, after a 429 whose Retry-After the error carries.
func TestPoller_Poll_PagesThroughAWindowAndWaitsOutA429(t *testing.T) {
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	srv := mustFake(t, clk)
	ing := &logIngester{cursor: "2025-06-01T08:59:59Z"}
	p := newPoller(srv, ing, clk)
	for i := range 230 {
		srv.AddIncident(pagerfake.Incident{Title: fmt.Sprintf("page %d", i)})
		clk.Add(100 * time.Millisecond)
	}
	clk.Add(time.Second)
	srv.Inject("GET", "/log_entries", pagerfake.Fault{Times: 1, Status: 429, RetryAfter: 7})
	err := p.Poll(context.Background())
	if got := incidentbot.RetryAfter(err); got != 7*time.Second || incidentbot.ErrorCode(err) != incidentbot.ETRANSIENT {
		t.Fatalf("Poll after a 429 = %v (retry after %s), want a transient error asking for 7s", err, got)
	}
	if ing.cursor != "2025-06-01T08:59:59Z" || len(ing.events) != 0 {
		t.Fatalf("a failed read moved the cursor to %s / applied %d events", ing.cursor, len(ing.events))
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(ing.events) != 230 {
		t.Fatalf("applied %d triggers, want 230", len(ing.events))
	}
	for i := 1; i < len(ing.events); i++ {
		if ing.events[i].OccurredAt.Before(ing.events[i-1].OccurredAt) {
			t.Fatalf("event %d applied before an older one", i)
		}
	}
	pages := 0
	for _, c := range srv.CallsTo("GET", "/log_entries") {
		if c.Status == 200 {
			pages++
			if c.Query.Get("limit") != "100" || c.Query.Get("include[]") != "incidents" || c.Query.Get("until") == "" {
				t.Errorf("request %v: want limit=100, include[]=incidents and a fixed until", c.Query)
			}
		}
	}
	if pages != 3 {
		t.Errorf("read %d pages, want 3 (230 entries at 100 a page)", pages)
	}
}

// TestPoller_Poll_AFailedBatchKeepsTheCursorBeforeIt: the cursor moves
// with each batch's transaction, so after a failure the next poll goes on
// from the first entry not applied, and a poll that re-reads the overlap
// applies nothing twice.
func TestPoller_Poll_AFailedBatchKeepsTheCursorBeforeIt(t *testing.T) {
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	srv := mustFake(t, clk)
	ing := &logIngester{cursor: "2025-06-01T08:59:59Z", failAt: 2}
	p := newPoller(srv, ing, clk)
	p.Batch = 10
	for i := range 25 {
		srv.AddIncident(pagerfake.Incident{Title: fmt.Sprintf("page %d", i)})
		clk.Add(time.Second)
	}
	if err := p.Poll(context.Background()); err == nil {
		t.Fatal("Poll with a failing store succeeded")
	}
	if len(ing.events) != 10 || ing.cursor != ing.events[9].OccurredAt.Add(time.Second).Format(time.RFC3339) {
		t.Fatalf("after the failed second batch: %d events, cursor %s; want 10 and the time of the 11th", len(ing.events), ing.cursor)
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Add(15 * time.Second)
	if err := p.Poll(context.Background()); err != nil { // re-reads the last minute
		t.Fatal(err)
	}
	if len(ing.events) != 25 {
		t.Errorf("applied %d, want each of the 25 once", len(ing.events))
	}
}

// TestPoller_Poll_HalvesAWindowTooLargeToPage: PagerDuty's offset paging
// ends at 10,000; a window over the limit is read in halves.
func TestPoller_Poll_HalvesAWindowTooLargeToPage(t *testing.T) {
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	srv := mustFake(t, clk)
	ing := &logIngester{cursor: "2025-06-01T09:00:00Z"}
	p := newPoller(srv, ing, clk)
	p.MaxEntries, p.Overlap = 100, time.Second
	for i := range 300 {
		srv.AddIncident(pagerfake.Incident{Title: fmt.Sprintf("page %d", i)})
		clk.Add(time.Second)
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(ing.events) != 300 {
		t.Errorf("applied %d, want 300", len(ing.events))
	}
}

// FuzzClient_LogEntries: whatever a server answers to GET /log_entries,
// the client returns a page or an error, never a panic (go-pagerduty's
// Channel decoder asserts channel.type is a string), and every entry it
// returns with an event names its incident.
func FuzzClient_LogEntries(f *testing.F) {
	f.Add([]byte(`{"log_entries":[{"id":"Q1","type":"trigger_log_entry","created_at":"2025-06-01T09:00:00Z","incident":{"id":"P1","incident_number":1,"title":"t"},"channel":{"type":"api"}}],"more":false}`))
	f.Add([]byte(`{"log_entries":[{"id":"Q2","type":"annotate_log_entry","incident":{"id":"P1"},"channel":{"type":7}}]}`))
	f.Add([]byte(`{"log_entries":[{"id":"Q3","type":"priority_change_log_entry","incident":{"id":"P1","title":"x"},"channel":{"type":"website","new_priority":"P1"}}]}`))
	f.Add([]byte(`{"log_entries":[{"type":"acknowledge_log_entry","incident":{"id":""},"assignees":[1]}]}`))
	f.Add([]byte(`not json`))
	var body []byte
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	f.Cleanup(srv.Close)
	c := pager.NewClient("tok", srv.URL, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		body = b
		mu.Unlock()
		page, err := c.LogEntries(context.Background(), time.Unix(0, 0), time.Unix(60, 0), 0)
		if err != nil {
			return
		}
		for _, e := range page.Entries {
			if e.Event.Type != "" && e.Event.IncidentID == "" {
				t.Errorf("entry %+v: an event with no incident", e)
			}
		}
	})
}

// TestPoller_Poll_RespectsPagerDutysRateLimit: past the limit the fake
// answers 429 with ratelimit-reset as PagerDuty does; the poll stops and
// asks to wait that long, and the next one, in a new window, applies
// everything once.
func TestPoller_Poll_RespectsPagerDutysRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	srv := mustFake(t, clk)
	ing := &logIngester{cursor: "2025-06-01T08:59:59Z"}
	p := newPoller(srv, ing, clk)
	for i := range 250 {
		srv.AddIncident(pagerfake.Incident{Title: fmt.Sprintf("page %d", i)})
	}
	clk.Add(time.Second)
	srv.SetRateLimit(2, time.Minute) // three pages are needed
	err := p.Poll(context.Background())
	if got := incidentbot.RetryAfter(err); got != time.Minute {
		t.Fatalf("Poll past the limit = %v (retry after %s), want the 60 s of ratelimit-reset", err, got)
	}
	if len(ing.events) != 0 {
		t.Fatalf("a window read in part applied %d events", len(ing.events))
	}
	calls := srv.CallsTo("GET", "/log_entries")
	if last := calls[len(calls)-1]; last.Status != 429 {
		t.Errorf("last call answered %d, want 429", last.Status)
	}
	clk.Add(time.Minute)
	srv.SetRateLimit(10, time.Minute)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(ing.events) != 250 {
		t.Errorf("applied %d, want 250", len(ing.events))
	}
}
