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

// fastStatuspage is a fake and a client that allow a request every 50 ms
// instead of every second, for tests that make many requests.
func fastStatuspage(t *testing.T) (*statuspagefake.Server, *statuspage.Client) {
	t.Helper()
	fake := statuspagefake.New(apiKey, "page1")
	t.Cleanup(fake.Close)
	fake.SetInterval(50 * time.Millisecond)
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = 50 * time.Millisecond
	return fake, c
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
	id, _, _ := strings.Cut(ref, "#")
	got, err := c.Publish(ctx(t), pi, ref)
	if err != nil || !strings.HasPrefix(got, id+"#") || got == ref {
		t.Fatalf("update = %q, %v; want incident %s with the new update's sum", got, err, id)
	}
	ref = got
	pi.Status = incidentbot.StatusResolved
	pi.Updates = append([]incidentbot.PublicUpdate{{ID: "INC-3-resolved", At: start.Add(2 * time.Minute), Status: incidentbot.StatusResolved, Text: "This incident has been resolved."}}, pi.Updates...)
	if _, err := c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("four requests (look-up, create, two updates) took %v: they were not spaced 1 s apart", d)
	}
	if n := fake.RateLimited(); n != 0 {
		t.Errorf("%d requests got a 429", n)
	}
	incs := fake.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents on the page", len(incs))
	}
	inc := incs[0]
	if inc.ID != id || inc.Name != "API errors" || inc.Status != "resolved" || inc.Impact != "major" {
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

func TestControlAndBidiCharactersAreNotSentToStatuspage(t *testing.T) {
	fake, c := fastStatuspage(t)
	pi := incidentbot.PublicIncident{
		ID: "INC-4", Name: "API\x00 errors\u202e", Severity: incidentbot.Sev1, Impact: "critical", Status: incidentbot.StatusIdentified,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-4-2", At: time.Now(), Status: incidentbot.StatusIdentified, Text: "A bad\x1b[2J deploy\u2066; rolling back."}},
	}
	if _, err := c.Publish(ctx(t), pi, ""); err != nil {
		t.Fatal(err)
	}
	incs := fake.Incidents()
	if len(incs) != 1 || incs[0].Name != "API errors" || len(incs[0].Updates) != 1 || incs[0].Updates[0].Body != "A bad[2J deploy; rolling back." {
		t.Errorf("Statuspage got %+v", incs)
	}
}

func TestTheFakeRateLimitsASecondRequestWithinASecond(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = 0
	pi := incidentbot.PublicIncident{ID: "INC-1", Name: "x", Impact: "minor", Status: incidentbot.StatusInvestigating}
	// A first publish is two requests (the look-up, then the create): with
	// no spacing, the create comes within the second.
	_, err := c.Publish(ctx(t), pi, "")
	e := domainError(t, err)
	if e.Code != incidentbot.ETRANSIENT || e.RetryAfter != time.Second || fake.RateLimited() != 1 {
		t.Fatalf("second request: %+v, rate limited %d", e, fake.RateLimited())
	}
	if n := len(fake.Incidents()); n != 0 {
		t.Fatalf("a rate-limited create created %d incidents", n)
	}
}

func TestAnInjected429SurfacesAsTransientWithItsRetryAfter(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	fake.Inject("", statuspagefake.Fault{Status: http.StatusTooManyRequests, Times: 1, RetryAfter: 30})
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
	fake.Inject("", statuspagefake.Fault{Status: http.StatusServiceUnavailable, Times: 1})
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

func TestTheClientWaitsForItsSlotButGivesUpWithItsContext(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = time.Hour
	// The look-up goes at once; the create waits for its slot, an hour.
	for range 2 {
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := c.Publish(short, incidentbot.PublicIncident{ID: "INC-1", Name: "x"}, "")
		cancel()
		if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %+v", e)
		}
	}
	if n := len(fake.Calls()); n != 1 {
		t.Fatalf("%d requests reached Statuspage, want 1", n)
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

// publishUntilDone is the outbox's retry: the same call again, with the
// ref it holds, until it succeeds.
func publishUntilDone(t *testing.T, c *statuspage.Client, pi incidentbot.PublicIncident, ref string) (string, []error) {
	t.Helper()
	var errs []error
	for range 5 {
		got, err := c.Publish(ctx(t), pi, ref)
		if err == nil {
			return got, errs
		}
		if !incidentbot.IsTransient(err) {
			t.Fatalf("attempt %d: %v is not transient", len(errs)+1, err)
		}
		errs = append(errs, err)
	}
	t.Fatalf("no success in 5 attempts: %v", errs)
	return "", nil
}

func TestACreateWhoseAnswerIsLostIsFoundAgainOnRetryNotCreatedTwice(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	fake.Inject(http.MethodPost, statuspagefake.Fault{Times: 1, AfterEffect: true, Hangup: true}) // Statuspage creates it; the connection drops

	pi := incidentbot.PublicIncident{
		ID: "INC-3", Name: "Checkout errors", Severity: incidentbot.Sev1, Impact: "critical",
		Status: incidentbot.StatusInvestigating, Updates: []incidentbot.PublicUpdate{},
	}
	ref, errs := publishUntilDone(t, c, pi, "")
	if len(errs) != 1 {
		t.Fatalf("%d failed attempts before success, want 1 (the lost answer): %v", len(errs), errs)
	}
	if strings.Contains(errs[0].Error(), apiKey) {
		t.Fatalf("the error shows the key: %v", errs[0])
	}
	incs := fake.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents on the page after a lost answer and a retry, want 1", len(incs))
	}
	inc := incs[0]
	if !strings.HasPrefix(ref, inc.ID) {
		t.Errorf("ref %q is not the incident %s", ref, inc.ID)
	}
	if len(inc.Updates) != 1 {
		t.Errorf("updates = %+v, want the one from the create", inc.Updates)
	}
	if inc.Name != "Checkout errors" {
		t.Errorf("name = %q", inc.Name)
	}
	if md, _ := inc.Metadata["incidentbot"].(map[string]any); md["id"] != "INC-3" {
		t.Errorf("metadata = %v, want incidentbot.id INC-3", inc.Metadata)
	}
	if n := fake.RateLimited(); n != 0 {
		t.Errorf("%d requests got a 429", n)
	}

	// The ref it returned keeps working.
	pi.Status = incidentbot.StatusIdentified
	pi.Updates = []incidentbot.PublicUpdate{{ID: "INC-3-2", At: time.Now(), Status: incidentbot.StatusIdentified, Text: "Found it."}}
	if _, err := c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	if incs := fake.Incidents(); len(incs) != 1 || incs[0].Status != "identified" {
		t.Fatalf("incidents = %+v", incs)
	}
}

// A 504 after the create took effect, and by the retry the incident moved
// on: the incident found is brought up to date, not created again.
func TestACreateAnswered504IsFoundAgainAndBroughtUpToDate(t *testing.T) {
	fake, c := fastStatuspage(t)
	// Another incident of the bot's is on the page.
	other := incidentbot.PublicIncident{ID: "INC-2", Name: "Login slow", Impact: "minor", Status: incidentbot.StatusInvestigating}
	if _, err := c.Publish(ctx(t), other, ""); err != nil {
		t.Fatal(err)
	}
	fake.Inject(http.MethodPost, statuspagefake.Fault{Times: 1, AfterEffect: true, Status: http.StatusGatewayTimeout})
	start := time.Now()
	pi := incidentbot.PublicIncident{
		ID: "INC-3", Name: "Checkout errors", Impact: "major", Status: incidentbot.StatusInvestigating,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-3-1", At: start, Status: incidentbot.StatusInvestigating, Text: "Looking into it."}},
	}
	_, err := c.Publish(ctx(t), pi, "")
	if e := domainError(t, err); e.Code != incidentbot.ETRANSIENT || !strings.Contains(e.Message, "504") {
		t.Fatalf("lost create: %v", err)
	}
	pi.Status, pi.Impact = incidentbot.StatusIdentified, "critical"
	pi.Updates = append([]incidentbot.PublicUpdate{{ID: "INC-3-2", At: start.Add(time.Minute), Status: incidentbot.StatusIdentified, Text: "A bad deploy; rolling back."}}, pi.Updates...)
	ref, errs := publishUntilDone(t, c, pi, "")
	if len(errs) != 0 {
		t.Fatalf("retry: %v", errs)
	}
	incs := fake.Incidents()
	if len(incs) != 2 {
		t.Fatalf("%d incidents on the page, want 2 (INC-2's and INC-3's)", len(incs))
	}
	inc := incs[1]
	if !strings.HasPrefix(ref, inc.ID) || inc.Status != "identified" || inc.Impact != "critical" {
		t.Errorf("ref %q, incident %+v", ref, inc)
	}
	if len(inc.Updates) != 2 || inc.Updates[0].Body != "Looking into it." || inc.Updates[1].Body != "A bad deploy; rolling back." {
		t.Errorf("updates = %+v", inc.Updates)
	}
	if len(incs[0].Updates) != 1 || incs[0].Name != "Login slow" {
		t.Errorf("INC-2's incident changed: %+v", incs[0])
	}
	if n := fake.RateLimited(); n != 0 {
		t.Errorf("%d requests got a 429", n)
	}
}

// An incident first published resolved is not among the unresolved ones:
// the retry finds it among the recent ones.
func TestALostCreateOfAResolvedIncidentIsFoundAmongTheRecentOnes(t *testing.T) {
	fake, c := fastStatuspage(t)
	fake.Inject(http.MethodPost, statuspagefake.Fault{Times: 1, AfterEffect: true, Hangup: true})
	pi := incidentbot.PublicIncident{
		ID: "INC-7", Name: "Search down", Impact: "major", Status: incidentbot.StatusResolved,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-7-resolved", At: time.Now(), Status: incidentbot.StatusResolved, Text: "This incident has been resolved."}},
	}
	ref, errs := publishUntilDone(t, c, pi, "")
	if len(errs) != 1 {
		t.Fatalf("failed attempts: %v", errs)
	}
	if incs := fake.Incidents(); len(incs) != 1 || !strings.HasPrefix(ref, incs[0].ID) || incs[0].Status != "resolved" || len(incs[0].Updates) != 1 {
		t.Fatalf("ref %q, incidents %+v", ref, incs)
	}
}

// Incidents the bot did not create for this incident, whatever their
// metadata, are left alone: a new one is created.
func TestOtherIncidentsOnThePageAreNotTakenForOurs(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	fake.SetInterval(0)
	for _, md := range []string{``, `,"metadata":{"jira":{"issue":"OPS-1"}}`, `,"metadata":{"incidentbot":{"id":"INC-30"}}`, `,"metadata":{"incidentbot":{"id":3}}`} {
		body := `{"incident":{"name":"By hand","status":"investigating","impact_override":"minor","body":"b"` + md + `}}`
		req, err := http.NewRequest(http.MethodPost, fake.URL()+"/pages/page1/incidents", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "OAuth "+apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("%s → %d", body, res.StatusCode)
		}
	}
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	c.MinInterval = 0
	ref, err := c.Publish(ctx(t), incidentbot.PublicIncident{ID: "INC-3", Name: "Checkout errors", Impact: "major"}, "")
	if err != nil {
		t.Fatal(err)
	}
	incs := fake.Incidents()
	if len(incs) != 5 || !strings.HasPrefix(ref, incs[4].ID) || incs[4].Name != "Checkout errors" {
		t.Fatalf("ref %q, incidents %+v", ref, incs)
	}
	for _, inc := range incs[:4] {
		if inc.Name != "By hand" || len(inc.Updates) != 1 {
			t.Errorf("an incident not ours changed: %+v", inc)
		}
	}
}

func notified(us []statuspagefake.Update) int {
	n := 0
	for _, u := range us {
		if u.Notified {
			n++
		}
	}
	return n
}

// Publish runs again whenever the public state changes: a change of
// impact or name alone changes those fields, without posting the same
// update again or notifying subscribers.
func TestAChangeOfImpactOrNameAloneIsNotPostedAgainNorNotified(t *testing.T) {
	fake := statuspagefake.New(apiKey, "page1")
	defer fake.Close()
	c := statuspage.NewClient(apiKey, "page1", fake.URL(), nil)
	start := time.Now()
	pi := incidentbot.PublicIncident{
		ID: "INC-3", Name: "Checkout errors", Severity: incidentbot.Sev1, Impact: "critical", Status: incidentbot.StatusIdentified,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-3-1", At: start, Status: incidentbot.StatusIdentified, Text: "A bad deploy; rolling back."}},
	}
	ref, err := c.Publish(ctx(t), pi, "")
	if err != nil {
		t.Fatal(err)
	}
	pi.Severity, pi.Impact = incidentbot.Sev2, "major"
	if ref, err = c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	incs := fake.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents", len(incs))
	}
	inc := incs[0]
	if inc.Impact != "major" || inc.Status != "identified" {
		t.Errorf("incident = %+v, want impact major", inc)
	}
	if len(inc.Updates) != 1 || inc.Updates[0].Body != "A bad deploy; rolling back." || notified(inc.Updates) != 1 {
		t.Fatalf("updates = %+v, want the one from the create, notified once", inc.Updates)
	}

	pi.Name = "Checkout unavailable"
	if ref, err = c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	if inc := fake.Incidents()[0]; inc.Name != "Checkout unavailable" || len(inc.Updates) != 1 || notified(inc.Updates) != 1 {
		t.Fatalf("after a new name: %+v", inc)
	}

	// A new update is posted, and notified, as before.
	pi.Status = incidentbot.StatusMonitoring
	pi.Updates = append([]incidentbot.PublicUpdate{{ID: "INC-3-2", At: start.Add(time.Minute), Status: incidentbot.StatusMonitoring, Text: "Rolled back; watching."}}, pi.Updates...)
	if ref, err = c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	inc = fake.Incidents()[0]
	if len(inc.Updates) != 2 || inc.Updates[1].Body != "Rolled back; watching." || inc.Updates[1].Status != "monitoring" || !inc.Updates[1].Notified {
		t.Fatalf("updates = %+v, want the new one, notified", inc.Updates)
	}
	// The same update again (a retry after a lost answer, a severity
	// change) is not posted again.
	pi.Severity, pi.Impact = incidentbot.Sev1, "critical"
	if _, err = c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	inc = fake.Incidents()[0]
	if len(inc.Updates) != 2 || notified(inc.Updates) != 2 || inc.Impact != "critical" {
		t.Fatalf("incident = %+v", inc)
	}
	// Resolved with nothing new said (in PagerDuty): subscribers are told,
	// in the neutral words for the new status, not left unnotified.
	pi.Status = incidentbot.StatusResolved
	if _, err = c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	inc = fake.Incidents()[0]
	if last := inc.Updates[len(inc.Updates)-1]; inc.Status != "resolved" || len(inc.Updates) != 3 || last.Body != "This incident has been resolved." || !last.Notified {
		t.Fatalf("after resolving with no new update: %+v", inc)
	}
	if n := fake.RateLimited(); n != 0 {
		t.Errorf("%d requests got a 429", n)
	}
}

// A ref from before the ref carried the last update (the plain Statuspage
// id) still works: the incident is read once to see its latest update.
func TestAPlainIDRefStillWorksAndDoesNotRepostTheUpdate(t *testing.T) {
	fake, c := fastStatuspage(t)
	pi := incidentbot.PublicIncident{
		ID: "INC-4", Name: "Search slow", Impact: "minor", Status: incidentbot.StatusInvestigating,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-4-1", At: time.Now(), Status: incidentbot.StatusInvestigating, Text: "Looking into it."}},
	}
	if _, err := c.Publish(ctx(t), pi, ""); err != nil {
		t.Fatal(err)
	}
	id := fake.Incidents()[0].ID
	pi.Impact = "major"
	ref, err := c.Publish(ctx(t), pi, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, id) {
		t.Fatalf("ref %q is not incident %s", ref, id)
	}
	if inc := fake.Incidents()[0]; inc.Impact != "major" || len(inc.Updates) != 1 || notified(inc.Updates) != 1 {
		t.Fatalf("incident = %+v", inc)
	}
	// With the update changed, a plain ref posts it.
	pi.Updates = append([]incidentbot.PublicUpdate{{ID: "INC-4-2", At: time.Now(), Status: incidentbot.StatusInvestigating, Text: "Still looking."}}, pi.Updates...)
	if _, err := c.Publish(ctx(t), pi, id); err != nil {
		t.Fatal(err)
	}
	if inc := fake.Incidents()[0]; len(inc.Updates) != 2 || inc.Updates[1].Body != "Still looking." || notified(inc.Updates) != 2 {
		t.Fatalf("incident = %+v", inc)
	}
}

// Publishing what Statuspage already shows sends nothing: after a
// resolution the bot used to send the same PATCH four times.
func TestPublishingTheSameStateAgainSendsNothing(t *testing.T) {
	fake, c := fastStatuspage(t)
	at := time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)
	pi := incidentbot.PublicIncident{ID: "INC-1", Name: "Checkout errors", Severity: incidentbot.Sev1, Status: incidentbot.StatusResolved,
		Updates: []incidentbot.PublicUpdate{{ID: "INC-1-resolved", At: at, Status: incidentbot.StatusResolved, Text: "This incident has been resolved."}}}
	ref, err := c.Publish(ctx(t), pi, "")
	if err != nil {
		t.Fatal(err)
	}
	sent := len(fake.Calls())
	for range 3 {
		again, err := c.Publish(ctx(t), pi, ref)
		if err != nil {
			t.Fatal(err)
		}
		if again != ref {
			t.Errorf("ref changed from %q to %q with nothing new", ref, again)
		}
	}
	if n := len(fake.Calls()) - sent; n != 0 {
		t.Errorf("%d more requests for the same state, want none", n)
	}
	// A change of name alone is one PATCH.
	pi.Name = "Checkout slow"
	if _, err := c.Publish(ctx(t), pi, ref); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Calls()) - sent; n != 1 {
		t.Errorf("%d requests for a new name, want 1", n)
	}
}
