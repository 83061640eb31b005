package pagerfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

// MustServer starts a fake with two users and registers its Close.
func MustServer(t *testing.T) *pagerfake.Server {
	t.Helper()
	srv := pagerfake.New()
	t.Cleanup(srv.Close)
	srv.AddUser(pagerfake.User{ID: "PUSER01", Name: "Ada Lovelace", Email: "ada@example.com"})
	srv.AddUser(pagerfake.User{ID: "PUSER02", Name: "Grace Hopper", Email: "grace@example.com"})
	return srv
}

// MustClient is the real go-pagerduty client pointed at srv.
func MustClient(t *testing.T, srv *pagerfake.Server) *pagerduty.Client {
	t.Helper()
	return pagerduty.NewClient(srv.Token(), pagerduty.WithAPIEndpoint(srv.URL()))
}

// MustAPIError asserts that err is a go-pagerduty APIError with status want.
func MustAPIError(t *testing.T, err error, want int) pagerduty.APIError {
	t.Helper()
	var aerr pagerduty.APIError
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v (%T), want a pagerduty.APIError", err, err)
	}
	if aerr.StatusCode != want {
		t.Fatalf("StatusCode = %d, want %d (%v)", aerr.StatusCode, want, err)
	}
	if !aerr.APIError.Valid {
		t.Fatalf("APIError carries no decoded JSON error object: %v", err)
	}
	return aerr
}

func TestServer_GetUser_ReturnsEmail(t *testing.T) {
	srv := MustServer(t)
	u, err := MustClient(t, srv).GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Email, "ada@example.com"; got != want {
		t.Errorf("Email = %q, want %q", got, want)
	}
	if got, want := u.Name, "Ada Lovelace"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if got, want := u.Type, "user"; got != want {
		t.Errorf("Type = %q, want %q", got, want)
	}
}

func TestServer_GetUser_UnknownIs404APIError(t *testing.T) {
	srv := MustServer(t)
	_, err := MustClient(t, srv).GetUserWithContext(context.Background(), "PNOBODY", pagerduty.GetUserOptions{})
	aerr := MustAPIError(t, err, http.StatusNotFound)
	if !aerr.NotFound() {
		t.Error("NotFound() = false, want true")
	}
	if got, want := aerr.APIError.ErrorObject.Code, 2100; got != want {
		t.Errorf("code = %d, want %d", got, want)
	}
	// The value-target form the callers use must match too.
	if !errors.As(err, &pagerduty.APIError{}) {
		t.Error("errors.As(err, &pagerduty.APIError{}) = false")
	}
}

func TestServer_GetIncident_ReturnsRESTShape(t *testing.T) {
	srv := MustServer(t)
	created := time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)
	srv.AddIncident(pagerfake.Incident{
		ID: "PINC001", Number: 42, Title: "Checkout is down", Status: "triggered", Urgency: "high",
		ServiceID: "PSVC001", ServiceName: "Checkout", PriorityName: "P1",
		AssigneeIDs: []string{"PUSER01"}, CreatedAt: created,
	})

	inc, err := MustClient(t, srv).GetIncidentWithContext(context.Background(), "PINC001")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"id", inc.ID, "PINC001"},
		{"type", inc.Type, "incident"},
		{"summary", inc.Summary, "[#42] Checkout is down"},
		{"title", inc.Title, "Checkout is down"},
		{"status", inc.Status, "triggered"},
		{"urgency", inc.Urgency, "high"},
		{"created_at", inc.CreatedAt, "2026-03-01T02:03:04Z"},
		{"service.id", inc.Service.ID, "PSVC001"},
		{"service.type", inc.Service.Type, "service_reference"},
		{"service.summary", inc.Service.Summary, "Checkout"},
		{"html_url", inc.HTMLURL, "https://fake.pagerduty.com/incidents/PINC001"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got, want := inc.IncidentNumber, uint(42); got != want {
		t.Errorf("incident_number = %d, want %d", got, want)
	}
	if inc.IncidentKey == "" {
		t.Error("incident_key is empty")
	}
	if inc.Priority == nil || inc.Priority.Summary != "P1" || inc.Priority.ID == "" {
		t.Errorf("priority = %+v, want P1 with an ID", inc.Priority)
	}
	if len(inc.Assignments) != 1 || inc.Assignments[0].Assignee.ID != "PUSER01" ||
		inc.Assignments[0].Assignee.Type != "user_reference" || inc.Assignments[0].Assignee.Summary != "Ada Lovelace" {
		t.Errorf("assignments = %+v, want Ada as user_reference", inc.Assignments)
	}
}

func TestServer_GetIncident_NoPriorityIsNull(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	var doc struct {
		Incident map[string]json.RawMessage `json:"incident"`
	}
	getJSON(t, srv, "/incidents/PINC001", &doc)
	if got := string(doc.Incident["priority"]); got != "null" {
		t.Errorf("priority = %s, want null", got)
	}
	if got := string(doc.Incident["conference_bridge"]); got != "null" {
		t.Errorf("conference_bridge = %s, want null", got)
	}
}

func TestServer_GetIncident_UnknownIs404APIError(t *testing.T) {
	srv := MustServer(t)
	_, err := MustClient(t, srv).GetIncidentWithContext(context.Background(), "PNOPE")
	MustAPIError(t, err, http.StatusNotFound)
}

func TestServer_ListIncidents_FiltersByStatusAndPaginates(t *testing.T) {
	srv := MustServer(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"triggered", "resolved", "acknowledged", "triggered", "triggered", "resolved", "acknowledged", "triggered"}
	for i, st := range statuses {
		srv.AddIncident(pagerfake.Incident{Title: "incident", Status: st, CreatedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	client := MustClient(t, srv)

	var numbers []uint
	offsets := []uint{0, 4}
	for _, offset := range offsets {
		resp, err := client.ListIncidentsWithContext(context.Background(), pagerduty.ListIncidentsOptions{
			Statuses: []string{"triggered", "acknowledged"}, Limit: 4, Offset: offset,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Limit, uint(4); got != want {
			t.Errorf("limit = %d, want %d", got, want)
		}
		if got, want := resp.More, offset == 0; got != want {
			t.Errorf("offset %d: more = %v, want %v", offset, got, want)
		}
		for _, inc := range resp.Incidents {
			if inc.Status == "resolved" {
				t.Errorf("incident #%d is resolved, want it filtered out", inc.IncidentNumber)
			}
			numbers = append(numbers, inc.IncidentNumber)
		}
	}
	if got, want := len(numbers), 6; got != want {
		t.Fatalf("listed %d incidents (%v), want %d", got, numbers, want)
	}
	for i, want := range []uint{1, 3, 4, 5, 7, 8} {
		if numbers[i] != want {
			t.Errorf("numbers = %v, want oldest first [1 3 4 5 7 8]", numbers)
			break
		}
	}

	calls := srv.CallsTo(http.MethodGet, "/incidents")
	if len(calls) != 2 {
		t.Fatalf("got %d GET /incidents calls, want 2", len(calls))
	}
	if got := calls[0].Query["statuses[]"]; len(got) != 2 {
		t.Errorf("statuses[] = %v, want the two statuses", got)
	}
}

func TestServer_ListIncidents_DefaultLimitIs25(t *testing.T) {
	srv := MustServer(t)
	for range 30 {
		srv.AddIncident(pagerfake.Incident{Title: "t"})
	}
	resp, err := MustClient(t, srv).ListIncidentsWithContext(context.Background(), pagerduty.ListIncidentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(resp.Incidents), 25; got != want {
		t.Errorf("len = %d, want %d", got, want)
	}
	if !resp.More {
		t.Error("more = false, want true")
	}
}

func TestServer_ManageIncidents_RequiresFrom(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	client := MustClient(t, srv)

	for _, c := range []struct{ from, want string }{
		{"", "From header is required"},
		{"stranger@example.com", "Requester User Not Found"},
	} {
		_, err := client.ManageIncidentsWithContext(context.Background(), c.from, []pagerduty.ManageIncidentsOptions{
			{ID: "PINC001", Status: "acknowledged"},
		})
		aerr := MustAPIError(t, err, http.StatusBadRequest)
		obj := aerr.APIError.ErrorObject
		if obj.Code != 2001 || obj.Message != "Invalid Input Provided" || len(obj.Errors) != 1 || obj.Errors[0] != c.want {
			t.Errorf("from %q: error = %+v, want code 2001 with %q", c.from, obj, c.want)
		}
	}
	if inc, _ := srv.Incident("PINC001"); inc.Status != "triggered" {
		t.Errorf("status = %q after refused requests, want triggered", inc.Status)
	}
}

func TestServer_ManageIncidents_ChangesStatus(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t", AssigneeIDs: []string{"PUSER02"}})
	client := MustClient(t, srv)
	ctx := context.Background()

	resp, err := client.ManageIncidentsWithContext(ctx, "ADA@example.com", []pagerduty.ManageIncidentsOptions{
		{ID: "PINC001", Status: "acknowledged"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Incidents) != 1 || resp.Incidents[0].Status != "acknowledged" {
		t.Fatalf("answer = %+v, want the acknowledged incident", resp.Incidents)
	}
	inc, err := client.GetIncidentWithContext(ctx, "PINC001")
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Acknowledgements) != 1 || inc.Acknowledgements[0].Acknowledger.ID != "PUSER01" {
		t.Errorf("acknowledgements = %+v, want one by PUSER01 (the From user)", inc.Acknowledgements)
	}

	if _, err := client.ManageIncidentsWithContext(ctx, "ada@example.com", []pagerduty.ManageIncidentsOptions{
		{ID: "PINC001", Status: "resolved"},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := srv.Incident("PINC001")
	if got.Status != "resolved" {
		t.Errorf("status = %q, want resolved", got.Status)
	}
	calls := srv.CallsTo(http.MethodPut, "/incidents")
	if len(calls) != 2 || calls[1].From != "ada@example.com" || calls[1].Status != http.StatusOK {
		t.Errorf("PUT calls = %+v, want two answered 200 with the From header", calls)
	}
}

func TestServer_ManageIncidents_AlreadyResolvedIs400(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t", Status: "resolved"})
	_, err := MustClient(t, srv).ManageIncidentsWithContext(context.Background(), "ada@example.com", []pagerduty.ManageIncidentsOptions{
		{ID: "PINC001", Status: "resolved"},
	})
	aerr := MustAPIError(t, err, http.StatusBadRequest)
	if errs := aerr.APIError.ErrorObject.Errors; len(errs) != 1 || errs[0] != "Incident Already Resolved" {
		t.Errorf("errors = %v, want [Incident Already Resolved]", errs)
	}
}

func TestServer_ManageIncidents_UnknownIncidentIs404AndChangesNothing(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	_, err := MustClient(t, srv).ManageIncidentsWithContext(context.Background(), "ada@example.com", []pagerduty.ManageIncidentsOptions{
		{ID: "PINC001", Status: "acknowledged"},
		{ID: "PNOPE", Status: "acknowledged"},
	})
	MustAPIError(t, err, http.StatusNotFound)
	if inc, _ := srv.Incident("PINC001"); inc.Status != "triggered" {
		t.Errorf("status = %q, want triggered (all or nothing)", inc.Status)
	}
}

func TestServer_CreateIncidentNote_StoresNote(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	client := MustClient(t, srv)
	ctx := context.Background()

	note, err := client.CreateIncidentNoteWithContext(ctx, "PINC001", pagerduty.IncidentNote{
		Content: "rolled back the deploy",
		User:    pagerduty.APIObject{Summary: "grace@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if note.ID == "" || note.Content != "rolled back the deploy" || note.User.ID != "PUSER02" || note.CreatedAt == "" {
		t.Errorf("answer = %+v, want the note by PUSER02 with an ID and a time", note)
	}

	stored := srv.Notes("PINC001")
	if len(stored) != 1 || stored[0].Content != "rolled back the deploy" || stored[0].UserID != "PUSER02" {
		t.Errorf("stored notes = %+v, want the one note by PUSER02", stored)
	}
	listed, err := client.ListIncidentNotesWithContext(ctx, "PINC001")
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != note.ID {
		t.Errorf("listed notes = %+v, want the created one", listed)
	}
	if calls := srv.CallsTo(http.MethodPost, "/incidents/PINC001/notes"); len(calls) != 1 || calls[0].From != "grace@example.com" {
		t.Errorf("calls = %+v, want one with From grace@example.com", calls)
	}
}

func TestServer_CreateIncidentNote_RequiresFrom(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	_, err := MustClient(t, srv).CreateIncidentNoteWithContext(context.Background(), "PINC001", pagerduty.IncidentNote{Content: "x"})
	MustAPIError(t, err, http.StatusBadRequest)
	if n := srv.Notes("PINC001"); len(n) != 0 {
		t.Errorf("notes = %+v, want none", n)
	}
}

func TestServer_CreateIncidentStatusUpdate_StoresUpdate(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	upd, err := MustClient(t, srv).CreateIncidentStatusUpdate(context.Background(), "PINC001", "ada@example.com", "Mitigated; monitoring.")
	if err != nil {
		t.Fatal(err)
	}
	if upd.ID == "" || upd.Message != "Mitigated; monitoring." || upd.Sender.ID != "PUSER01" {
		t.Errorf("answer = %+v, want the update sent by PUSER01", upd)
	}
	if got := srv.StatusUpdates("PINC001"); len(got) != 1 || got[0].Message != "Mitigated; monitoring." {
		t.Errorf("stored = %+v, want the update", got)
	}
}

func TestServer_Inject_429IsRateLimitedAPIError(t *testing.T) {
	srv := MustServer(t)
	srv.Inject(http.MethodGet, "/users", pagerfake.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 7})
	client := MustClient(t, srv)

	_, err := client.GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{})
	aerr := MustAPIError(t, err, http.StatusTooManyRequests)
	if !aerr.RateLimited() || !aerr.Temporary() {
		t.Errorf("RateLimited() = %v, Temporary() = %v, want both true", aerr.RateLimited(), aerr.Temporary())
	}
	if got, want := aerr.APIError.ErrorObject.Code, 2020; got != want {
		t.Errorf("code = %d, want %d", got, want)
	}

	// The fault was used up: the next call goes through.
	if _, err := client.GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{}); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if calls := srv.CallsTo(http.MethodGet, "/users/PUSER01"); len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Errorf("calls = %+v, want 429 then 200", calls)
	}
}

func TestServer_Inject_429CarriesRetryAfter(t *testing.T) {
	srv := MustServer(t)
	srv.Inject("", "", pagerfake.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 7})
	resp := get(t, srv, "/users/PUSER01")
	defer resp.Body.Close()
	if got, want := resp.Header.Get("Retry-After"), "7"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), `{"error":{"message":"Rate Limit Exceeded","code":2020}}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestServer_Inject_FaultsAreConsumedInOrder(t *testing.T) {
	srv := MustServer(t)
	srv.Inject(http.MethodGet, "/users", pagerfake.Fault{Times: 2, Status: http.StatusServiceUnavailable})
	srv.Inject(http.MethodGet, "/users", pagerfake.Fault{Times: 1, Status: http.StatusInternalServerError})
	srv.Inject(http.MethodPut, "/users", pagerfake.Fault{Status: http.StatusTeapot}) // never matches a GET

	var got []int
	for range 4 {
		resp := get(t, srv, "/users/PUSER01")
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	want := []int{503, 503, 500, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", got, want)
		}
	}
}

func TestServer_Inject_UnlimitedFaultLastsUntilCleared(t *testing.T) {
	srv := MustServer(t)
	srv.Inject("", "/incidents", pagerfake.Fault{Status: http.StatusBadGateway})
	for range 3 {
		resp := get(t, srv, "/incidents")
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status = %d, want 502", resp.StatusCode)
		}
	}
	srv.ClearFaults()
	resp := get(t, srv, "/incidents")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after ClearFaults = %d, want 200", resp.StatusCode)
	}
}

func TestServer_Inject_DelayRespectsRequestContext(t *testing.T) {
	srv := MustServer(t)
	srv.Inject("", "", pagerfake.Fault{Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := MustClient(t, srv).GetUserWithContext(ctx, "PUSER01", pagerduty.GetUserOptions{})
	if err == nil || ctx.Err() == nil {
		t.Fatalf("err = %v, ctx.Err() = %v, want a timeout", err, ctx.Err())
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v, want about 50ms", elapsed)
	}
}

func TestServer_Inject_DelayThenServesNormally(t *testing.T) {
	srv := MustServer(t)
	srv.Inject("", "", pagerfake.Fault{Times: 1, Delay: 30 * time.Millisecond})
	start := time.Now()
	if _, err := MustClient(t, srv).GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{}); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("took %v, want at least the 30ms delay", elapsed)
	}
}

func TestServer_Inject_HangupIsTransportError(t *testing.T) {
	srv := MustServer(t)
	srv.Inject(http.MethodPost, "/incidents", pagerfake.Fault{Times: 1, Hangup: true})
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	_, err := MustClient(t, srv).CreateIncidentNoteWithContext(context.Background(), "PINC001", pagerduty.IncidentNote{
		Content: "x", User: pagerduty.APIObject{Summary: "ada@example.com"},
	})
	if err == nil {
		t.Fatal("err = nil, want a transport error")
	}
	if errors.As(err, &pagerduty.APIError{}) {
		t.Errorf("err = %v, want a transport error, not an APIError", err)
	}
	if n := srv.Notes("PINC001"); len(n) != 0 {
		t.Errorf("notes = %+v, want none", n)
	}
}

// AfterEffect: the note is added, then the answer is lost (a hang-up or
// a 502); the call log says a fault shaped the answer.
func TestServer_Inject_AfterEffectPerformsThenLosesTheAnswer(t *testing.T) {
	for _, f := range []pagerfake.Fault{
		{Times: 1, AfterEffect: true, Hangup: true},
		{Times: 1, AfterEffect: true, Status: http.StatusBadGateway},
	} {
		srv := MustServer(t)
		srv.Inject(http.MethodPost, "/incidents", f)
		srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
		client := MustClient(t, srv)
		note := pagerduty.IncidentNote{Content: "rolled back", User: pagerduty.APIObject{Summary: "ada@example.com"}}
		_, err := client.CreateIncidentNoteWithContext(context.Background(), "PINC001", note)
		if f.Hangup {
			if err == nil || errors.As(err, &pagerduty.APIError{}) {
				t.Errorf("hang-up: err = %v, want a transport error", err)
			}
		} else {
			MustAPIError(t, err, http.StatusBadGateway)
		}
		if n := srv.Notes("PINC001"); len(n) != 1 || n[0].Content != "rolled back" {
			t.Errorf("%+v: notes = %+v, want the note added though the answer was lost", f, n)
		}
		calls := srv.Calls()
		if len(calls) != 1 || !calls[0].Injected || calls[0].Status != map[bool]int{true: 0, false: http.StatusBadGateway}[f.Hangup] {
			t.Errorf("%+v: calls = %+v, want one injected, answered %d", f, calls, f.Status)
		}
		// The next request is served normally.
		if _, err := client.CreateIncidentNoteWithContext(context.Background(), "PINC001", note); err != nil {
			t.Errorf("after the fault: %v", err)
		}
	}
}

// AfterEffect with only a delay: the effect at once, the real answer late.
func TestServer_Inject_AfterEffectWithDelayAnswersLate(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	srv.Inject(http.MethodPost, "", pagerfake.Fault{Times: 1, AfterEffect: true, Delay: 300 * time.Millisecond})
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := MustClient(t, srv).CreateIncidentNoteWithContext(context.Background(), "PINC001", pagerduty.IncidentNote{
			Content: "late", User: pagerduty.APIObject{Summary: "ada@example.com"},
		})
		done <- err
	}()
	for len(srv.Notes("PINC001")) == 0 {
		select {
		case err := <-done:
			t.Fatalf("answered (%v) before the note was visible", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the late answer: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("answered after %v, want after the 300ms delay", elapsed)
	}
}

// Reset forgets the calls and the faults; users and incidents stay.
func TestServer_Reset_ForgetsCallsAndFaultsKeepsData(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	srv.Inject("", "", pagerfake.Fault{Status: http.StatusServiceUnavailable})
	resp := get(t, srv, "/users/PUSER01")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || len(srv.Calls()) != 1 {
		t.Fatalf("before Reset: %d, %d calls", resp.StatusCode, len(srv.Calls()))
	}
	srv.Reset()
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls after Reset, want none", n)
	}
	var user struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	getJSON(t, srv, "/users/PUSER01", &user)
	if user.User.Email != "ada@example.com" {
		t.Errorf("user after Reset = %+v", user)
	}
	if _, ok := srv.Incident("PINC001"); !ok {
		t.Error("the incident is gone after Reset")
	}
	if calls := srv.Calls(); len(calls) != 1 || calls[0].Injected || calls[0].Status != http.StatusOK {
		t.Errorf("calls after Reset = %+v, want one, not injected, 200", calls)
	}
}

func TestServer_Close_EndsInjectedDelays(t *testing.T) {
	srv := pagerfake.New()
	srv.Inject("", "", pagerfake.Fault{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL() + "/users")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(srv.Calls()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Close took %v, want it prompt", elapsed)
	}
	<-errc      // the request ended: how (an error or an empty answer) does not matter
	srv.Close() // idempotent
}

func TestServer_WrongToken_Is401(t *testing.T) {
	srv := MustServer(t)
	client := pagerduty.NewClient("not-the-token", pagerduty.WithAPIEndpoint(srv.URL()))
	_, err := client.GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{})
	aerr := MustAPIError(t, err, http.StatusUnauthorized)
	if got := aerr.APIError.ErrorObject; got.Message != "Unauthorized" || got.Code != 2006 {
		t.Errorf("error = %+v, want Unauthorized 2006", got)
	}
}

func TestServer_SetToken_ChangesAcceptedToken(t *testing.T) {
	srv := MustServer(t)
	srv.SetToken("rotated")
	if _, err := pagerduty.NewClient("rotated", pagerduty.WithAPIEndpoint(srv.URL())).
		GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{}); err != nil {
		t.Fatalf("new token: %v", err)
	}
	_, err := pagerduty.NewClient(pagerfake.DefaultToken, pagerduty.WithAPIEndpoint(srv.URL())).
		GetUserWithContext(context.Background(), "PUSER01", pagerduty.GetUserOptions{})
	MustAPIError(t, err, http.StatusUnauthorized)
}

func TestServer_UnknownRoute_IsJSON404(t *testing.T) {
	srv := MustServer(t)
	resp := get(t, srv, "/nothing/here")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("status %d, Content-Type %q; want 404 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestServer_ListOnCalls_FiltersByEscalationPolicy(t *testing.T) {
	srv := MustServer(t)
	srv.AddOnCall(pagerfake.OnCall{UserID: "PUSER01", EscalationPolicyID: "PEP1", ScheduleID: "PSCHED1"})
	srv.AddOnCall(pagerfake.OnCall{UserID: "PUSER02", EscalationPolicyID: "PEP2"})
	resp, err := MustClient(t, srv).ListOnCallsWithContext(context.Background(), pagerduty.ListOnCallOptions{
		EscalationPolicyIDs: []string{"PEP1"}, Includes: []string{"users"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.OnCalls) != 1 {
		t.Fatalf("on-calls = %+v, want one", resp.OnCalls)
	}
	oc := resp.OnCalls[0]
	if oc.User.ID != "PUSER01" || oc.User.Email != "ada@example.com" || oc.EscalationLevel != 1 || oc.Schedule.ID != "PSCHED1" {
		t.Errorf("on-call = %+v, want Ada (with e-mail) at level 1 through PSCHED1", oc)
	}
}

func TestServer_ConcurrentCalls_AreAllRecorded(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t"})
	client := MustClient(t, srv)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := client.CreateIncidentNoteWithContext(context.Background(), "PINC001", pagerduty.IncidentNote{
				Content: "note", User: pagerduty.APIObject{Summary: "ada@example.com"},
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(srv.Notes("PINC001")); got != 20 {
		t.Errorf("notes = %d, want 20", got)
	}
	if got := len(srv.CallsTo(http.MethodPost, "/incidents/")); got != 20 {
		t.Errorf("calls = %d, want 20", got)
	}
}

func get(t *testing.T, srv *pagerfake.Server, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token token="+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func getJSON(t *testing.T, srv *pagerfake.Server, path string, v any) {
	t.Helper()
	resp := get(t, srv, path)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
