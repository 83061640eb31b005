package statuspage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/statuspage"
)

// countingSource is a Source that counts its reads.
type countingSource struct {
	reads atomic.Int64
	mu    sync.Mutex
	incs  []incidentbot.PublicIncident
}

func (s *countingSource) PublicIncidents(context.Context, time.Time) ([]incidentbot.PublicIncident, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incs, nil
}

func (s *countingSource) set(incs ...incidentbot.PublicIncident) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incs = incs
}

func publicIncident(name string, at time.Time) incidentbot.PublicIncident {
	return incidentbot.PublicIncident{ID: "INC-1", Name: name, Service: "Checkout", Severity: incidentbot.Sev1, Impact: "critical",
		Status: incidentbot.StatusInvestigating, StartedAt: at, UpdatedAt: at, ImpactFrom: at, Updates: []incidentbot.PublicUpdate{}}
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPage_RequestsAreServedFromTheRenderingNotTheSource(t *testing.T) {
	src := &countingSource{}
	now := time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)
	src.set(publicIncident("Checkout errors", now))
	p := &statuspage.Page{Source: src, Now: func() time.Time { return now }, Rate: 1e6, Burst: 1e6}
	for _, path := range []string{"/status", "/status.json", "/status.atom", "/status", "/status.json"} {
		rec := get(t, p, path)
		if rec.Code != http.StatusOK || (path != "/status.atom" && !strings.Contains(rec.Body.String(), "Checkout errors")) {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("5 requests read the source %d times, want once (the first rendering)", n)
	}
	// A change of public state replaces the rendering: no request reads.
	if err := p.PublishSite(context.Background(), []incidentbot.PublicIncident{publicIncident("Checkout errors resolved soon", now)}, now); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, p, "/status"); !strings.Contains(rec.Body.String(), "Checkout errors resolved soon") {
		t.Errorf("after PublishSite the page still shows the old rendering")
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("the source was read %d times, want still once", n)
	}
}

func TestPage_ETagAndNotModified(t *testing.T) {
	src := &countingSource{}
	now := time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)
	src.set(publicIncident("Checkout errors", now))
	p := &statuspage.Page{Source: src, Now: func() time.Time { return now }, Rate: 1e6, Burst: 1e6}
	first := get(t, p, "/status.json")
	tag := first.Header().Get("ETag")
	if tag == "" || first.Header().Get("Cache-Control") != "public, max-age=15" {
		t.Fatalf("headers %v: want an ETag and Cache-Control public, max-age=15", first.Header())
	}
	if rec := get(t, p, "/status.json", "If-None-Match", tag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match with the current tag: %d with %d bytes, want 304 and none", rec.Code, rec.Body.Len())
	}
	if rec := get(t, p, "/status", "If-None-Match", tag); rec.Code != http.StatusOK {
		t.Errorf("the JSON's tag on the HTML page: %d, want 200 (each file has its own tag)", rec.Code)
	}
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, p, "/status.json", "If-None-Match", tag); rec.Code != http.StatusNotModified {
		t.Errorf("a refresh with nothing changed changed the tag (%d)", rec.Code)
	}
	src.set(publicIncident("Checkout errors, now identified", now))
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, p, "/status.json", "If-None-Match", tag); rec.Code != http.StatusOK {
		t.Errorf("after a change the old tag still matched (%d)", rec.Code)
	}
}

func TestPage_BeyondItsRate_RequestsWaitThenAreShed(t *testing.T) {
	src := &countingSource{}
	now := time.Now().UTC()
	src.set(publicIncident("Checkout errors", now))
	p := &statuspage.Page{Source: src, Rate: 10, Burst: 2, MaxWait: 150 * time.Millisecond, MaxWaiting: 100}
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Ten at once: 2 from the burst, 1 more within the wait (the rate gives
	// one every 100 ms), the rest shed at once.
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := get(t, p, "/status").Code
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusOK] < 2 || codes[http.StatusOK] > 4 || codes[http.StatusServiceUnavailable] < 6 {
		t.Errorf("answers %v: want 2–4 served (burst, then what the rate allows within the wait) and the rest 503", codes)
	}
	rec := get(t, p, "/status")
	if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
		t.Error("a shed request carries no Retry-After")
	}
	if _, shed, _ := p.Stats(); shed == 0 {
		t.Error("Stats counts no shed request")
	}
}

func TestPage_PublishSiteWritesTheStaticSite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	now := time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)
	p := &statuspage.Page{Source: &countingSource{}, Dir: statuspage.Dir{Path: dir}}
	if err := p.PublishSite(context.Background(), []incidentbot.PublicIncident{publicIncident("Checkout errors", now)}, now); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "status.json", "status.atom"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f != "status.atom" && !strings.Contains(string(b), "Checkout errors") {
			t.Errorf("%s does not show the incident", f)
		}
	}
	// A refresh (every replica's timer) renders the page only: the files
	// are the publish job's.
	if err := os.Remove(filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); !os.IsNotExist(err) {
		t.Errorf("Refresh wrote the static site (%v)", err)
	}
}
