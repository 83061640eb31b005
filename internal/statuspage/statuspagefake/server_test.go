package statuspagefake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/statuspage/statuspagefake"
)

// These tests talk to the fake with plain net/http, as any Statuspage
// client would, and check what such a client sees.

const (
	key  = "sp-test-key"
	page = "PAGE1"
)

// start is a fake for key and page without the rate limit (its own tests
// turn it back on), closed when the test ends.
func start(t *testing.T) *statuspagefake.Server {
	t.Helper()
	srv := statuspagefake.New(key, page)
	t.Cleanup(srv.Close)
	srv.SetInterval(0)
	return srv
}

// answer is what a client got.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return http.StatusText(a.status) + " " + string(a.body) }

// do sends one request under srv.URL() with an Authorization header
// (none when auth is "") and reads the whole answer.
func do(t *testing.T, srv *statuspagefake.Server, method, path, auth, body string) answer {
	t.Helper()
	a, err := try(context.Background(), srv, method, path, auth, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// try is do that returns a transport error instead of failing.
func try(ctx context.Context, srv *statuspagefake.Server, method, path, auth, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL()+path, rd)
	if err != nil {
		return answer{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: res.StatusCode, header: res.Header, body: b}, nil
}

const oauth = "OAuth " + key

// incident is the part of Statuspage's incident document a client reads.
type incident struct {
	ID             string         `json:"id"`
	PageID         string         `json:"page_id"`
	Name           string         `json:"name"`
	Status         string         `json:"status"`
	Impact         string         `json:"impact"`
	ImpactOverride string         `json:"impact_override"`
	CreatedAt      string         `json:"created_at"`
	ResolvedAt     *string        `json:"resolved_at"`
	Shortlink      string         `json:"shortlink"`
	Metadata       map[string]any `json:"metadata"`
	Updates        []struct {
		ID                   string `json:"id"`
		IncidentID           string `json:"incident_id"`
		Status               string `json:"status"`
		Body                 string `json:"body"`
		DeliverNotifications bool   `json:"deliver_notifications"`
	} `json:"incident_updates"` // newest first
}

func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
	return v
}

// wantError checks a JSON error answer of the given status.
func wantError(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Errorf("%s: %s, want %d", what, a, status)
		return
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %s, want {\"error\": ...}", what, a.body)
	}
}

func create(t *testing.T, srv *statuspagefake.Server, doc string) incident {
	t.Helper()
	a := do(t, srv, http.MethodPost, "/pages/"+page+"/incidents", oauth, doc)
	if a.status != http.StatusCreated {
		t.Fatalf("create %s: %s", doc, a)
	}
	return decode[incident](t, a)
}

func TestURL_EndsInV1(t *testing.T) {
	srv := start(t)
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || !strings.HasSuffix(srv.URL(), "/v1") {
		t.Errorf("URL() = %q, want http://127.0.0.1:PORT/v1", srv.URL())
	}
}

func TestAuthorization_OAuthKeyOr401(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	for _, auth := range []string{"", "OAuth ", "OAuth wrong-key", "Bearer " + key, key, "oauth " + key} {
		wantError(t, "Authorization "+auth, do(t, srv, http.MethodGet, path, auth, ""), http.StatusUnauthorized)
	}
	wantError(t, "create without a key", do(t, srv, http.MethodPost, path, "", `{"incident":{"name":"x"}}`), http.StatusUnauthorized)
	if n := len(srv.Incidents()); n != 0 {
		t.Errorf("%d incidents created without a key", n)
	}
	if a := do(t, srv, http.MethodGet, path, oauth, ""); a.status != http.StatusOK {
		t.Errorf("with the key: %s", a)
	}
}

func TestNotFound_OtherPageUnknownIncidentOtherPath(t *testing.T) {
	srv := start(t)
	create(t, srv, `{"incident":{"name":"ours"}}`)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/pages/OTHER/incidents", ""},
		{http.MethodPost, "/pages/OTHER/incidents", `{"incident":{"name":"x"}}`},
		{http.MethodGet, "/pages/" + page + "/incidents/nosuch", ""},
		{http.MethodPatch, "/pages/" + page + "/incidents/nosuch", `{"incident":{"status":"resolved"}}`},
		{http.MethodGet, "/pages/" + page + "/components", ""},
		{http.MethodGet, "/incidents", ""},
	} {
		wantError(t, tc.method+" "+tc.path, do(t, srv, tc.method, tc.path, oauth, tc.body), http.StatusNotFound)
	}
	if incs := srv.Incidents(); len(incs) != 1 || incs[0].Name != "ours" {
		t.Errorf("incidents = %+v, want ours alone", incs)
	}
}

func TestCreate_AnswersTheIncidentAndStoresIt(t *testing.T) {
	srv := start(t)
	inc := create(t, srv, `{"incident":{"name":"Checkout errors","status":"identified","impact_override":"major","body":"A bad deploy.",
		"deliver_notifications":false,"metadata":{"incidentbot":{"id":"INC-3"}}}}`)
	if inc.ID == "" || inc.PageID != page || inc.Name != "Checkout errors" || inc.Status != "identified" || inc.Impact != "major" || inc.ImpactOverride != "major" {
		t.Errorf("created = %+v", inc)
	}
	if inc.ResolvedAt != nil || inc.CreatedAt == "" || !strings.HasSuffix(inc.Shortlink, inc.ID) {
		t.Errorf("created_at %q, resolved_at %v, shortlink %q", inc.CreatedAt, inc.ResolvedAt, inc.Shortlink)
	}
	if len(inc.Updates) != 1 || inc.Updates[0].Body != "A bad deploy." || inc.Updates[0].Status != "identified" || inc.Updates[0].IncidentID != inc.ID || inc.Updates[0].DeliverNotifications {
		t.Errorf("updates = %+v, want the one of the create, not notified", inc.Updates)
	}
	if md, _ := inc.Metadata["incidentbot"].(map[string]any); md["id"] != "INC-3" {
		t.Errorf("metadata = %v", inc.Metadata)
	}
	got := decode[incident](t, do(t, srv, http.MethodGet, "/pages/"+page+"/incidents/"+inc.ID, oauth, ""))
	if got.ID != inc.ID || got.Name != inc.Name || len(got.Updates) != 1 {
		t.Errorf("GET = %+v", got)
	}
	stored := srv.Incidents()
	if len(stored) != 1 || stored[0].ID != inc.ID || stored[0].Impact != "major" || len(stored[0].Updates) != 1 || stored[0].Updates[0].Notified {
		t.Errorf("stored = %+v", stored)
	}
}

// Left out, the status is investigating, the impact none, and subscribers
// are notified (Statuspage's defaults).
func TestCreate_Defaults(t *testing.T) {
	srv := start(t)
	inc := create(t, srv, `{"incident":{"name":"Login slow"}}`)
	if inc.Status != "investigating" || inc.Impact != "none" || len(inc.Updates) != 1 || !inc.Updates[0].DeliverNotifications {
		t.Errorf("created = %+v", inc)
	}
	if inc.Metadata == nil || len(inc.Metadata) != 0 {
		t.Errorf("metadata = %#v, want {}", inc.Metadata)
	}
}

func TestMalformedRequests_400Or422(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"incident":`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"name":"no incident wrapper"}`, http.StatusBadRequest},
		{`{"incident":{}}`, http.StatusUnprocessableEntity},
		{`{"incident":{"name":"  "}}`, http.StatusUnprocessableEntity},
		{`{"incident":{"name":"x","status":"acknowledged","impact_override":"minor","body":"b"}}`, http.StatusUnprocessableEntity},
		{`{"incident":{"name":"x","status":"identified","impact_override":"sev1","body":"b"}}`, http.StatusUnprocessableEntity},
		{`{"incident":{"name":"x","status":"identified","impact_override":"minor","body":"b","metadata":{"incidentbot":"INC-1"}}}`, http.StatusUnprocessableEntity},
	} {
		wantError(t, "POST "+tc.body, do(t, srv, http.MethodPost, path, oauth, tc.body), tc.want)
	}
	if n := len(srv.Incidents()); n != 0 {
		t.Fatalf("%d incidents created by refused requests", n)
	}
	inc := create(t, srv, `{"incident":{"name":"x"}}`)
	wantError(t, "PATCH bad status", do(t, srv, http.MethodPatch, path+"/"+inc.ID, oauth, `{"incident":{"status":"closed"}}`), http.StatusUnprocessableEntity)
	wantError(t, "PATCH not JSON", do(t, srv, http.MethodPatch, path+"/"+inc.ID, oauth, `{`), http.StatusBadRequest)
	wantError(t, "DELETE", do(t, srv, http.MethodDelete, path+"/"+inc.ID, oauth, ""), http.StatusMethodNotAllowed)
	if got := srv.Incidents()[0]; got.Status != "investigating" || len(got.Updates) != 1 {
		t.Errorf("a refused update changed the incident: %+v", got)
	}
}

func TestUpdate_StatusBodyMetadataAndNotifications(t *testing.T) {
	srv := start(t)
	inc := create(t, srv, `{"incident":{"name":"API errors","impact_override":"minor","body":"Looking.","metadata":{"incidentbot":{"id":"INC-1"},"jira":{"issue":"OPS-1"}}}}`)
	path := "/pages/" + page + "/incidents/" + inc.ID
	patch := func(doc string) incident {
		t.Helper()
		a := do(t, srv, http.MethodPatch, path, oauth, doc)
		if a.status != http.StatusOK {
			t.Fatalf("PATCH %s: %s", doc, a)
		}
		return decode[incident](t, a)
	}
	// A status change with a body: an update, notified by default.
	got := patch(`{"incident":{"status":"identified","body":"A bad deploy.","impact_override":"major"}}`)
	if got.Status != "identified" || got.Impact != "major" || len(got.Updates) != 2 || got.Updates[0].Body != "A bad deploy." || !got.Updates[0].DeliverNotifications {
		t.Errorf("after a status change: %+v", got)
	}
	// Neither a body nor a new status: no update; metadata replaced.
	got = patch(`{"incident":{"status":"identified","name":"API errors (EU)","metadata":{"incidentbot":{"id":"INC-1","v":2}}}}`)
	if got.Name != "API errors (EU)" || len(got.Updates) != 2 {
		t.Errorf("after a rename: %+v, want no new update", got)
	}
	if _, jira := got.Metadata["jira"]; jira || got.Metadata["incidentbot"].(map[string]any)["v"] != float64(2) {
		t.Errorf("metadata = %v, want replaced by the PATCH's", got.Metadata)
	}
	// A body without notifications, through PUT.
	a := do(t, srv, http.MethodPut, path, oauth, `{"incident":{"body":"Still rolling back.","deliver_notifications":false}}`)
	if a.status != http.StatusOK {
		t.Fatalf("PUT: %s", a)
	}
	if got = decode[incident](t, a); len(got.Updates) != 3 || got.Updates[0].Status != "identified" || got.Updates[0].DeliverNotifications {
		t.Errorf("after a quiet update: %+v", got.Updates)
	}
	if got.ResolvedAt != nil {
		t.Errorf("resolved_at %v before the resolution", *got.ResolvedAt)
	}
	got = patch(`{"incident":{"status":"resolved","body":"Fixed."}}`)
	if got.Status != "resolved" || got.ResolvedAt == nil || len(got.Updates) != 4 {
		t.Errorf("resolved: %+v", got)
	}
	stored := srv.Incidents()[0]
	var notified []bool
	for _, u := range stored.Updates {
		notified = append(notified, u.Notified)
	}
	if len(stored.Updates) != 4 || stored.Updates[0].Body != "Looking." || stored.Updates[3].Body != "Fixed." || notified[2] || !notified[3] {
		t.Errorf("stored updates (oldest first) = %+v", stored.Updates)
	}
}

func TestList_NewestFirstUnresolvedAndPages(t *testing.T) {
	srv := start(t)
	var ids []string
	for _, doc := range []string{
		`{"incident":{"name":"one","status":"resolved"}}`,
		`{"incident":{"name":"two"}}`,
		`{"incident":{"name":"three","status":"monitoring"}}`,
		`{"incident":{"name":"four","status":"resolved"}}`,
	} {
		ids = append(ids, create(t, srv, doc).ID)
	}
	names := func(path string) string {
		t.Helper()
		a := do(t, srv, http.MethodGet, "/pages/"+page+path, oauth, "")
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %s", path, a)
		}
		var out []string
		for _, inc := range decode[[]incident](t, a) {
			out = append(out, inc.Name)
		}
		return strings.Join(out, ",")
	}
	for path, want := range map[string]string{
		"/incidents":                       "four,three,two,one",
		"/incidents/unresolved":            "three,two",
		"/incidents?per_page=2":            "four,three",
		"/incidents?per_page=2&page=2":     "two,one",
		"/incidents?per_page=2&page=3":     "",
		"/incidents/unresolved?per_page=1": "three",
	} {
		if got := names(path); got != want {
			t.Errorf("GET %s = %q, want %q", path, got, want)
		}
	}
	if got := decode[incident](t, do(t, srv, http.MethodGet, "/pages/"+page+"/incidents/"+ids[1], oauth, "")); got.Name != "two" {
		t.Errorf("GET %s = %+v", ids[1], got)
	}
}

// One request a second per key, like the service: the second within the
// second gets 429 with Retry-After and takes no effect.
func TestRateLimit_OneRequestASecond(t *testing.T) {
	srv := statuspagefake.New(key, page)
	t.Cleanup(srv.Close)
	path := "/pages/" + page + "/incidents"
	// A request without the key is refused before the limit: it uses no slot.
	wantError(t, "no key", do(t, srv, http.MethodGet, path, "", ""), http.StatusUnauthorized)
	if a := do(t, srv, http.MethodGet, path, oauth, ""); a.status != http.StatusOK {
		t.Fatalf("first: %s", a)
	}
	a := do(t, srv, http.MethodPost, path, oauth, `{"incident":{"name":"too soon"}}`)
	wantError(t, "second within the second", a, http.StatusTooManyRequests)
	if got := a.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if srv.RateLimited() != 1 || len(srv.Incidents()) != 0 {
		t.Errorf("rate limited %d, %d incidents; want 1 and none", srv.RateLimited(), len(srv.Incidents()))
	}
	// A shorter interval (as fast tests use): the next slot opens sooner,
	// and Retry-After still says at least 1 s.
	srv.SetInterval(100 * time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	if a := do(t, srv, http.MethodGet, path, oauth, ""); a.status != http.StatusOK {
		t.Fatalf("after the interval: %s", a)
	}
	if a := do(t, srv, http.MethodGet, path, oauth, ""); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "1" {
		t.Errorf("within 100 ms: %s, Retry-After %q", a, a.header.Get("Retry-After"))
	}
	calls := srv.Calls()
	if len(calls) != 5 || calls[0].Status != 401 || !calls[2].RateLimited || calls[2].Status != 429 || calls[2].Injected || calls[3].RateLimited {
		t.Errorf("calls = %+v", calls)
	}
}

func TestInject_StatusTimesRetryAfterAndMethod(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	srv.Inject(http.MethodPost, statuspagefake.Fault{Times: 2, Status: http.StatusServiceUnavailable})
	srv.Inject("", statuspagefake.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 30})
	// A GET does not match the POST fault: it takes the second.
	a := do(t, srv, http.MethodGet, path, oauth, "")
	wantError(t, "GET", a, http.StatusTooManyRequests)
	if a.header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After = %q, want 30", a.header.Get("Retry-After"))
	}
	// A request refused for its key uses up no fault.
	wantError(t, "no key", do(t, srv, http.MethodPost, path, "", `{"incident":{"name":"x"}}`), http.StatusUnauthorized)
	for i := range 2 {
		a := do(t, srv, http.MethodPost, path, oauth, `{"incident":{"name":"x"}}`)
		wantError(t, "POST", a, http.StatusServiceUnavailable)
		if a.header.Get("Retry-After") != "" {
			t.Errorf("POST %d: Retry-After %q without RetryAfter", i, a.header.Get("Retry-After"))
		}
	}
	if n := len(srv.Incidents()); n != 0 {
		t.Fatalf("%d incidents created through a failure answered before the effect", n)
	}
	create(t, srv, `{"incident":{"name":"x"}}`) // the faults are used up
	if srv.RateLimited() != 0 {
		t.Errorf("injected 429s counted as rate limited: %d", srv.RateLimited())
	}
	var injected int
	for _, c := range srv.Calls() {
		if c.Injected {
			injected++
		}
	}
	if injected != 3 {
		t.Errorf("%d calls marked injected, want 3", injected)
	}
}

func TestInject_UnlimitedUntilClearFaults(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	srv.Inject("", statuspagefake.Fault{Status: http.StatusBadGateway})
	srv.Inject("", statuspagefake.Fault{Times: 1, Status: http.StatusTeapot}) // behind the unlimited one
	for range 3 {
		wantError(t, "GET", do(t, srv, http.MethodGet, path, oauth, ""), http.StatusBadGateway)
	}
	srv.ClearFaults()
	if a := do(t, srv, http.MethodGet, path, oauth, ""); a.status != http.StatusOK {
		t.Errorf("after ClearFaults: %s", a)
	}
}

// AfterEffect: the request takes effect and its answer is lost, as a
// dropped connection (Hangup) or a gateway's 504.
func TestInject_AfterEffectLosesTheAnswer(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	srv.Inject(http.MethodPost, statuspagefake.Fault{Times: 1, AfterEffect: true, Hangup: true})
	if _, err := try(context.Background(), srv, http.MethodPost, path, oauth, `{"incident":{"name":"lost"}}`); err == nil {
		t.Fatal("a hung-up create answered; want a transport error")
	}
	srv.Inject(http.MethodPatch, statuspagefake.Fault{Times: 1, AfterEffect: true, Status: http.StatusGatewayTimeout})
	incs := srv.Incidents()
	if len(incs) != 1 || incs[0].Name != "lost" {
		t.Fatalf("incidents = %+v, want the create whose answer was lost", incs)
	}
	wantError(t, "PATCH", do(t, srv, http.MethodPatch, path+"/"+incs[0].ID, oauth, `{"incident":{"status":"resolved","body":"Fixed."}}`), http.StatusGatewayTimeout)
	if got := srv.Incidents()[0]; got.Status != "resolved" || len(got.Updates) != 2 {
		t.Errorf("after a 504 that took effect: %+v", got)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Status != 0 || !calls[0].Injected || calls[1].Status != http.StatusGatewayTimeout {
		t.Errorf("calls = %+v, want a hang-up (status 0) and a 504", calls)
	}
	// The client finds its incident again.
	list := decode[[]incident](t, do(t, srv, http.MethodGet, path+"/unresolved", oauth, ""))
	all := decode[[]incident](t, do(t, srv, http.MethodGet, path, oauth, ""))
	if len(list) != 0 || len(all) != 1 || all[0].Name != "lost" {
		t.Errorf("unresolved %+v, all %+v", list, all)
	}
}

// AfterEffect with only a Delay: the effect at once, the real answer late.
func TestInject_AfterEffectWithDelayAnswersLate(t *testing.T) {
	srv := start(t)
	srv.Inject(http.MethodPost, statuspagefake.Fault{Times: 1, AfterEffect: true, Delay: 300 * time.Millisecond})
	type result struct {
		a   answer
		err error
	}
	done := make(chan result, 1)
	begin := time.Now()
	go func() {
		a, err := try(context.Background(), srv, http.MethodPost, "/pages/"+page+"/incidents", oauth, `{"incident":{"name":"slow"}}`)
		done <- result{a, err}
	}()
	for len(srv.Incidents()) == 0 {
		select {
		case r := <-done:
			t.Fatalf("answered (%v %v) before the incident existed", r.a, r.err)
		case <-time.After(time.Millisecond):
		}
	}
	r := <-done
	if r.err != nil || r.a.status != http.StatusCreated || decode[incident](t, r.a).Name != "slow" {
		t.Fatalf("late answer: %v %v", r.a, r.err)
	}
	if elapsed := time.Since(begin); elapsed < 300*time.Millisecond {
		t.Errorf("answered after %v, want after the 300 ms delay", elapsed)
	}
}

// A Delay before the effect: a client that gives up first changes
// nothing; Close ends the delay at once.
func TestInject_DelayBeforeTheEffect(t *testing.T) {
	srv := start(t)
	srv.Inject(http.MethodPost, statuspagefake.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := try(ctx, srv, http.MethodPost, "/pages/"+page+"/incidents", oauth, `{"incident":{"name":"never"}}`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	go func() {
		_, _ = try(context.Background(), srv, http.MethodPost, "/pages/"+page+"/incidents", oauth, `{"incident":{"name":"never"}}`) // ended by Close
	}()
	for len(srv.Calls()) < 2 {
		time.Sleep(time.Millisecond)
	}
	begin := time.Now()
	srv.Close()
	if elapsed := time.Since(begin); elapsed > 3*time.Second {
		t.Errorf("Close took %v with a delayed request in flight", elapsed)
	}
	if n := len(srv.Incidents()); n != 0 {
		t.Errorf("%d incidents created by delayed requests that never got through", n)
	}
	srv.Close() // more than once
}

func TestCalls_RecordWhatClientsSent(t *testing.T) {
	srv := start(t)
	path := "/pages/" + page + "/incidents"
	inc := create(t, srv, `{"incident":{"name":"x"}}`)
	do(t, srv, http.MethodPatch, path+"/"+inc.ID, oauth, `{"incident":{"body":"more"}}`)
	do(t, srv, http.MethodGet, path, oauth, "")
	calls := srv.Calls()
	if len(calls) != 3 || calls[0].Method != http.MethodPost || calls[0].Path != "/v1"+path || calls[0].Status != http.StatusCreated ||
		string(calls[0].Body) != `{"incident":{"name":"x"}}` || calls[0].At.IsZero() || calls[1].Status != http.StatusOK {
		t.Errorf("calls = %+v", calls)
	}
	patches := srv.CallsTo(http.MethodPatch)
	if len(patches) != 1 || patches[0].Path != "/v1"+path+"/"+inc.ID || string(patches[0].Body) != `{"incident":{"body":"more"}}` {
		t.Errorf("PATCH calls = %+v", patches)
	}
	// The log is a copy.
	calls[0].Body[0] = 'X'
	if srv.Calls()[0].Body[0] != '{' {
		t.Error("changing a returned call changed the log")
	}
}

// Reset forgets the calls (and the rate-limit count) and the faults; the
// incidents stay.
func TestReset_ForgetsCallsAndFaultsKeepsIncidents(t *testing.T) {
	srv := statuspagefake.New(key, page)
	t.Cleanup(srv.Close)
	srv.SetInterval(time.Hour)
	path := "/pages/" + page + "/incidents"
	create(t, srv, `{"incident":{"name":"kept"}}`)
	wantError(t, "rate limited", do(t, srv, http.MethodGet, path, oauth, ""), http.StatusTooManyRequests)
	srv.SetInterval(0)
	srv.Inject("", statuspagefake.Fault{Status: http.StatusInternalServerError})
	srv.Reset()
	if len(srv.Calls()) != 0 || srv.RateLimited() != 0 {
		t.Errorf("after Reset: %d calls, %d rate limited; want none", len(srv.Calls()), srv.RateLimited())
	}
	a := do(t, srv, http.MethodGet, path, oauth, "")
	if a.status != http.StatusOK {
		t.Fatalf("after Reset the fault still plays: %s", a)
	}
	if list := decode[[]incident](t, a); len(list) != 1 || list[0].Name != "kept" {
		t.Errorf("incidents after Reset = %+v", list)
	}
}

// Incidents returns copies: changing them changes nothing in the fake.
func TestIncidents_AreCopies(t *testing.T) {
	srv := start(t)
	create(t, srv, `{"incident":{"name":"x","body":"b","metadata":{"incidentbot":{"id":"INC-1"}}}}`)
	incs := srv.Incidents()
	incs[0].Name = "changed"
	incs[0].Updates[0].Body = "changed"
	incs[0].Metadata["incidentbot"].(map[string]any)["id"] = "changed"
	again := srv.Incidents()[0]
	if again.Name != "x" || again.Updates[0].Body != "b" || again.Metadata["incidentbot"].(map[string]any)["id"] != "INC-1" {
		t.Errorf("stored incident changed through a copy: %+v", again)
	}
}

func TestNewAt_ListensThereOrFails(t *testing.T) {
	srv := start(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "http://"), "/v1")
	if _, err := statuspagefake.NewAt(addr, key, page); err == nil {
		t.Fatalf("NewAt(%s) on a taken port succeeded", addr)
	}
	other, err := statuspagefake.NewAt("127.0.0.1:0", key, page)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetInterval(0)
	if a := do(t, other, http.MethodGet, "/pages/"+page+"/incidents", oauth, ""); a.status != http.StatusOK {
		t.Errorf("NewAt's fake: %s", a)
	}
}
