package statuspage_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/statuspage"
	"github.com/incidentbot/incidentbot/internal/statuspage/statuspagefake"
)

const apiKey = "sp-key-6f1d3c0ffee"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func domainError(t *testing.T, err error) *incidentbot.Error {
	t.Helper()
	var e *incidentbot.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *incidentbot.Error", err, err)
	}
	return e
}

func TestCreateThenTwoUpdatesMapStatusAndImpactWithoutEverHittingTheRateLimit(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = time.Second

	pi := incidentbot.PublicIncident{
		ID: "INC-3", Name: "API errors", Severity: incidentbot.Sev1, Impact: "critical",
		Status: incidentbot.StatusInvestigating, Updates: []incidentbot.PublicUpdate{},
	}
	start := time.Now()
	ref, err := c.Publish(ctx(t), pi, "")
	if err != nil {
		t.Fatal(err)
	}
	if ref == "" {
		t.Fatal("no Statuspage id")
	}

	pi.Status, pi.Impact, pi.Severity = incidentbot.StatusIdentified, "major", incidentbot.Sev2
	pi.Updates = []incidentbot.PublicUpdate{
		{ID: "INC-3-2", At: start.Add(time.Minute), Status: incidentbot.StatusIdentified, Text: "A bad deploy; rolling back."},
		{ID: "INC-3-1", At: start, Status: incidentbot.StatusInvestigating, Text: "Looking into it."},
	}
	if got, err := c.Publish(ctx(t), pi, ref); err != nil || got != ref {
		t.Fatalf("update = %q, %v", got, err)
	}
	pi.Status = incidentbot.StatusResolved
	pi.Updates = append([]incidentbot.PublicUpdate{{ID: "INC-3-resolved", At: start.Add(2 * time.Minute), Status: incidentbot.StatusResolved, Text: "This incident has been resolved."}}, pi.Updates...)
	if _, err := c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("three requests took %v: they were not spaced 1 s apart", d)
	}
	if n := fake.RateLimited(); n != 0 {
		t.Errorf("%d requests got a 429", n)
	}
	incs := fake.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents on the page", len(incs))
	}
	inc := incs[0]
	if inc.ID != ref || inc.Name != "API errors" || inc.Status != "resolved" || inc.Impact != "major" {
		t.Errorf("incident = %+v", inc)
	}
	want := []statuspagefake.Update{
		{Status: "investigating", Body: "We are investigating this issue."},
		{Status: "identified", Body: "A bad deploy; rolling back."},
		{Status: "resolved", Body: "This incident has been resolved."},
	}
	if len(inc.Updates) != len(want) {
		t.Fatalf("updates = %+v", inc.Updates)
	}
	for i, w := range want {
		if inc.Updates[i].Status != w.Status || inc.Updates[i].Body != w.Body {
			t.Errorf("update %d = %+v, want %+v", i, inc.Updates[i], w)
		}
	}
}

func TestTheFakeRateLimitsASecondRequestWithinASecond(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = 0
	pi := incidentbot.PublicIncident{ID: "INC-1", Name: "x", Impact: "minor", Status: incidentbot.StatusInvestigating}
	if _, err := c.Publish(ctx(t), pi, ""); err != nil {
		t.Fatal(err)
	}
	_, err := c.Publish(ctx(t), pi, "")
	e := domainError(t, err)
	if e.Code != incidentbot.ETRANSIENT || e.RetryAfter != time.Second || fake.RateLimited() != 1 {
		t.Fatalf("second request: %+v, rate limited %d", e, fake.RateLimited())
	}
}

func TestAnInjected429SurfacesAsTransientWithItsRetryAfter(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	fake.Inject(statuspagefake.Fault{Status: http.StatusTooManyRequests, Times: 1, RetryAfter: 30})
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x", Impact: "minor"}, "")
	e := domainError(t, err)
	if e.Code != incidentbot.ETRANSIENT || e.RetryAfter != 30*time.Second || incidentbot.RetryAfter(err) != 30*time.Second {
		t.Fatalf("error = %+v", e)
	}
	if len(fake.Incidents()) != 0 {
		t.Fatal("a rate-limited create created an incident")
	}
}

func TestA5xxIsTransient(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	fake.Inject(statuspagefake.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || !incidentbot.IsTransient(err) {
		t.Fatalf("error = %+v", e)
	}
}

func TestAWrongKeyIsRejectedAndTheErrorNeverShowsTheKey(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	bad := "sp-wrong-key-abc123"
	c := statuspage.NewClient(bad, "page1", fake.URL(), nil)
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	e := domainError(t, err)
	if e.Code != incidentbot.EREJECTED || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Couldn't authenticate you") {
		t.Fatalf("error = %v (%s)", err, e.Code)
	}
	if strings.Contains(err.Error(), bad) || strings.Contains(incidentbot.ErrorMessage(err), bad) {
		t.Fatalf("the error shows the key: %v", err)
	}
}

func TestAnUnknownIncidentOrPageIsRejected(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = 0
	fake.SetInterval(0)
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "nosuch")
	if e := domainError(t, err); e.Code != incidentbot.EREJECTED || !strings.Contains(e.Message, "404") {
		t.Fatalf("unknown incident: %+v", e)
	}
	other := statuspage.NewClient(apiKey, "page2", fake.URL(), nil)
	_, err = other.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	if e := domainError(t, err); e.Code != incidentbot.EREJECTED {
		t.Fatalf("unknown page: %+v", e)
	}
}

func TestTheFakeRejectsABadStatusOrImpact(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	fake.SetInterval(0)
	for _, body := range []string{
		`{"incident":{"name":"x","status":"acknowledged","impact_override":"minor","body":"b"}}`,
		`{"incident":{"name":"x","status":"identified","impact_override":"sev1","body":"b"}}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/pages/page1/incidents", strings.NewReader(body))
		req.Header.Set("Authorization", "OAuth "+apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s → %d, want 422", body, res.StatusCode)
		}
	}
}

func TestTheClientWaitsForItsSlotButGivesUpWithItsContext(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = time.Hour
	if _, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, ""); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Publish(short, incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %+v", e)
	}
	if fake.Requests() != 1 {
		t.Fatalf("%d requests reached Statuspage, want 1", fake.Requests())
	}
}

func TestATransportFailureIsTransient(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	fake.Close() // nothing listens any more
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("error = %v", err)
	}
}

func TestATimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	c := statuspage.NewClient(apiKey, "page1", slow.URL, &http.Client{Timeout: 200 * time.Millisecond})
	_, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
	if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || !strings.Contains(e.Message, "timed out") || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("error = %v", err)
	}
}
