package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
