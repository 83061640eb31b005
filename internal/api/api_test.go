package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/api"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

func mustAPI(t *testing.T, token string) http.Handler {
	t.Helper()
	db := storetest.MustOpen(t)
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for i := range 5 {
			n, err := tx.NextIncidentNumber()
			if err != nil {
				return err
			}
			st := incidentbot.StatusTriggered
			if i%2 == 0 {
				st = incidentbot.StatusResolved
			}
			if err := tx.PutIncident(&incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n, Status: st, PagerDuty: &incidentbot.PagerLink{ID: "P" + incidentbot.IncidentID(n)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := &incidentbot.Service{Store: db}
	return api.New(db, svc, db, token, nil)
}

func get(t *testing.T, h http.Handler, path, token string, v any) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if v != nil && rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, rec.Body)
		}
	}
	return rec.Code
}

type page struct {
	Incidents []struct {
		ID          string `json:"id"`
		PagerDutyID string `json:"pagerduty_id"`
		Status      string `json:"status"`
	} `json:"incidents"`
	NextCursor string `json:"next_cursor"`
}

func TestAPI_Incidents_PagesNewestFirst(t *testing.T) {
	h := mustAPI(t, "tok")
	var p page
	if code := get(t, h, "/api/incidents?limit=2", "tok", &p); code != 200 || len(p.Incidents) != 2 || p.Incidents[0].ID != "INC-5" || p.NextCursor != "4" {
		t.Fatalf("first page: %d %+v", code, p)
	}
	var p2 page
	get(t, h, "/api/incidents?limit=2&cursor="+p.NextCursor, "tok", &p2)
	if len(p2.Incidents) != 2 || p2.Incidents[0].ID != "INC-3" {
		t.Errorf("second page: %+v", p2)
	}
	var last page
	get(t, h, "/api/incidents?limit=2&cursor=2", "tok", &last)
	if len(last.Incidents) != 1 || last.NextCursor != "" {
		t.Errorf("last page: %+v", last)
	}
	var open page
	get(t, h, "/api/incidents?status=open", "tok", &open)
	if len(open.Incidents) != 2 || open.Incidents[0].PagerDutyID != "PINC-4" {
		t.Errorf("open: %+v", open)
	}
}

func TestAPI_Errors(t *testing.T) {
	h := mustAPI(t, "tok")
	for path, want := range map[string]int{
		"/api/incidents?limit=0":      400,
		"/api/incidents?limit=x":      400,
		"/api/incidents?status=maybe": 400,
		"/api/incidents?cursor=zz":    400,
		"/api/incidents/INC-99":       404,
		"/api/incidents/PNOPE":        404,
		"/api/incidents/PINC-2":       200,
		"/api/backup":                 200,
	} {
		if got := get(t, h, path, "tok", nil); got != want {
			t.Errorf("GET %s = %d, want %d", path, got, want)
		}
	}
	if got := get(t, h, "/api/incidents", "wrong", nil); got != 401 {
		t.Errorf("wrong token = %d", got)
	}
	if got := get(t, h, "/api/incidents", "", nil); got != 401 {
		t.Errorf("no token = %d", got)
	}
	if got := get(t, mustAPI(t, ""), "/api/incidents", "", nil); got != 404 {
		t.Errorf("API without a token configured = %d, want 404", got)
	}
}

// The draft in its three formats, each with its content type; the HTML
// one tells the browser it fetches nothing and runs nothing; all need the
// admin token.
func TestAPI_Postmortem_ThreeFormats(t *testing.T) {
	h := mustAPI(t, "tok")
	for path, want := range map[string]string{
		"/api/incidents/INC-1/postmortem.md":    "text/markdown; charset=utf-8",
		"/api/incidents/INC-1/postmortem.json":  "application/json",
		"/api/incidents/PINC-1/postmortem.html": "text/html; charset=utf-8",
	} {
		if code := get(t, h, path, "", nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d", path, code)
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %q, want 200 %q", path, rec.Code, rec.Header().Get("Content-Type"), want)
		}
		if strings.HasSuffix(path, ".html") {
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
				!strings.HasPrefix(rec.Body.String(), "<!DOCTYPE html>") || !strings.Contains(rec.Header().Get("Content-Disposition"), "-INC-1.html") {
				t.Errorf("GET %s: headers %v", path, rec.Header())
			}
		}
	}
	if code := get(t, h, "/api/incidents/INC-99/postmortem.html", "tok", nil); code != http.StatusNotFound {
		t.Errorf("unknown incident: %d", code)
	}
}

// GET /api/outbox shows the runner's view beside the stored jobs: a lane's
// first job past its due time (as the runner holds it) and not running is
// overdue, most overdue first; a stored job the runner does not hold is
// unheld; a running job, one behind its lane's first and one not due yet
// are neither. A runner that is not active (a PostgreSQL follower) lists
// nothing; without a view there is no runner section.
func TestAPI_Outbox_RunnerView(t *testing.T) {
	db := storetest.MustOpen(t)
	now := time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for _, lane := range []string{"INC-1", "INC-1", "INC-2", "INC-3", "INC-4", "INC-5"} {
			j := &incidentbot.Job{Kind: incidentbot.JobPost, Lane: lane, IncidentID: lane, CreatedAt: now, NextAt: now, Attempts: 2, LastError: "chat.postMessage: Slack answered 503",
				ResponseURL: "https://hooks.slack.com/commands/T1/secret"}
			if err := tx.Enqueue(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(db, &incidentbot.Service{Store: db}, db, "tok", nil)
	view := api.RunnerView{Active: true, Now: now, Running: 1, Jobs: map[uint64]api.RunnerJob{
		1: {Lane: "INC-1", Head: true, DueAt: now.Add(-3 * time.Second)}, // overdue
		2: {Lane: "INC-1"},                                               // behind job 1
		3: {Lane: "INC-2", Head: true, Running: true},                    // running
		4: {Lane: "INC-3", Head: true, DueAt: now.Add(time.Second)},      // waits
		5: {Lane: "INC-4", Head: true, DueAt: now.Add(-5 * time.Second)}, // overdue longer
		// 6 is stored, not held
	}}
	h.SetRunner(func() api.RunnerView { return view })
	type outbox struct {
		Pending int `json:"pending"`
		Runner  *struct {
			Active  bool `json:"active"`
			Running int  `json:"running"`
			Held    int  `json:"held"`
			Overdue []struct {
				ID         uint64    `json:"id"`
				Kind       string    `json:"kind"`
				IncidentID string    `json:"incident_id"`
				Lane       string    `json:"lane"`
				DueAt      time.Time `json:"due_at"`
				Overdue    float64   `json:"overdue_seconds"`
				Attempts   int       `json:"attempts"`
				LastError  string    `json:"last_error"`
			} `json:"overdue"`
			Unheld []uint64 `json:"unheld"`
		} `json:"runner"`
	}
	var out outbox
	if code := get(t, h, "/api/outbox", "tok", &out); code != 200 {
		t.Fatalf("GET /api/outbox = %d", code)
	}
	r := out.Runner
	if out.Pending != 6 || r == nil || !r.Active || r.Running != 1 || r.Held != 5 {
		t.Fatalf("outbox: %+v", out)
	}
	if len(r.Overdue) != 2 || r.Overdue[0].ID != 5 || r.Overdue[0].Overdue != 5 || r.Overdue[1].ID != 1 || r.Overdue[1].Overdue != 3 {
		t.Errorf("overdue %+v, want jobs 5 (5 s) and 1 (3 s)", r.Overdue)
	} else if o := r.Overdue[1]; o.Kind != "post" || o.IncidentID != "INC-1" || o.Lane != "INC-1" || !o.DueAt.Equal(now.Add(-3*time.Second)) ||
		o.Attempts != 2 || o.LastError != "chat.postMessage: Slack answered 503" {
		t.Errorf("overdue job 1: %+v", o)
	}
	if len(r.Unheld) != 1 || r.Unheld[0] != 6 {
		t.Errorf("unheld %v, want [6]", r.Unheld)
	}

	view = api.RunnerView{Now: now}
	out = outbox{}
	if code := get(t, h, "/api/outbox", "tok", &out); code != 200 {
		t.Fatalf("GET /api/outbox = %d", code)
	}
	if r := out.Runner; r == nil || r.Active || r.Held != 0 || len(r.Overdue) != 0 || len(r.Unheld) != 0 || out.Pending != 6 {
		t.Errorf("inactive runner: %+v", out.Runner)
	}

	h.SetRunner(nil)
	out = outbox{}
	if code := get(t, h, "/api/outbox", "tok", &out); code != 200 {
		t.Fatalf("GET /api/outbox = %d", code)
	}
	if out.Runner != nil || out.Pending != 6 {
		t.Errorf("without a runner view: %+v", out)
	}
}
