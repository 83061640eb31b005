package pagerfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

// MustSample decodes one of PagerDuty's published v3 samples.
func MustSample(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// roundTrip marshals v and decodes it back into generic JSON values.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// shapeDiff lists where got differs from want in shape: object key sets,
// recursively, and the JSON kind of every value (null in want matches
// anything, as PagerDuty documents nullable fields with sample values).
func shapeDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case nil:
		return nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, want an object", path, got)}
		}
		var diffs []string
		if wk, gk := keys(w), keys(g); strings.Join(wk, ",") != strings.Join(gk, ",") {
			diffs = append(diffs, fmt.Sprintf("%s: keys %v, want %v", path, gk, wk))
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, want an array", path, got)}
		}
		if len(w) > 0 && len(g) > 0 {
			return shapeDiff(path+"[0]", w[0], g[0])
		}
		return nil
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return []string{fmt.Sprintf("%s: got %T (%v), want %T", path, got, got, want)}
		}
		return nil
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fullIncident sets every optional field, so that no part of the data object
// is null where the sample has a value.
func fullIncident() pagerfake.Incident {
	return pagerfake.Incident{
		ID: "PGR0VU2", Number: 2, Title: "A little bump in the road", Status: "triggered", Urgency: "high",
		ServiceID: "PF9KMXH", ServiceName: "API Service", PriorityName: "P1",
		AssigneeIDs: []string{"PTUXL6G"}, CreatedAt: time.Date(2020, 4, 9, 15, 16, 27, 0, time.UTC),
		TeamID: "PFCVPS0", TeamName: "Engineering",
		ConferenceURL: "https://example.com", ConferenceNumber: "+1 1234123412,,987654321#",
		IncidentType: "major", ReopenedAt: time.Date(2020, 10, 2, 18, 45, 22, 0, time.UTC),
	}
}

func TestSign_VerifiesWithEachSecretOfTwo(t *testing.T) {
	body := pagerfake.Event{Type: "incident.triggered", Data: pagerfake.IncidentData(fullIncident())}.JSON()
	header := pagerfake.Sign(body, "old-secret", "new-secret")
	if !regexp.MustCompile(`^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$`).MatchString(header) {
		t.Fatalf("header = %q, want two comma-separated v1= signatures", header)
	}
	for _, c := range []struct {
		secret string
		want   error
	}{
		{"old-secret", nil},
		{"new-secret", nil},
		{"other-secret", webhookv3.ErrNoValidSignatures},
	} {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
		r.Header.Set("X-PagerDuty-Signature", header)
		if err := webhookv3.VerifySignature(r, c.secret); !errors.Is(err, c.want) {
			t.Errorf("secret %q: err = %v, want %v", c.secret, err, c.want)
		}
	}
}

func TestSign_NoSecretsGivesEmptyHeader(t *testing.T) {
	if got := pagerfake.Sign([]byte("{}")); got != "" {
		t.Errorf("Sign() = %q, want empty", got)
	}
}

func TestEvent_JSON_IncidentDataHasTheSampleKeys(t *testing.T) {
	ev := pagerfake.Event{
		ID: "5ac64822-4adc-4fda-ade0-410becf0de4f", Type: "incident.priority_updated",
		OccurredAt: time.Date(2020, 10, 2, 18, 45, 22, 169_000_000, time.UTC),
		Agent:      new(pagerfake.UserRef("PLH1HKV", "Tenex Engineer")),
		Data:       pagerfake.IncidentData(fullIncident()),
	}
	var got map[string]any
	if err := json.Unmarshal(ev.JSON(), &got); err != nil {
		t.Fatal(err)
	}

	// The data object against data.incident.json, key set by key set.
	data := got["event"].(map[string]any)["data"]
	for _, d := range shapeDiff("data", MustSample(t, "data.incident.json"), data) {
		t.Error(d)
	}
	wantTop := keys(MustSample(t, "data.incident.json").(map[string]any))
	if gotTop := keys(data.(map[string]any)); strings.Join(gotTop, ",") != strings.Join(wantTop, ",") {
		t.Errorf("data keys = %v, want %v", gotTop, wantTop)
	}

	// The envelope against the whole published delivery (whose data is an
	// older incident shape: compare the envelope without it).
	sample := MustSample(t, "envelope.incident.priority_updated.json").(map[string]any)
	delete(sample["event"].(map[string]any), "data")
	delete(got["event"].(map[string]any), "data")
	for _, d := range shapeDiff("envelope", sample, got) {
		t.Error(d)
	}
	event := got["event"].(map[string]any)
	for _, c := range []struct{ key, want string }{
		{"resource_type", "incident"},
		{"occurred_at", "2020-10-02T18:45:22.169Z"},
		{"event_type", "incident.priority_updated"},
	} {
		if event[c.key] != c.want {
			t.Errorf("%s = %v, want %q", c.key, event[c.key], c.want)
		}
	}
	if client, _ := event["client"].(map[string]any); client["name"] != "PagerDuty" {
		t.Errorf("client = %v, want {name: PagerDuty}", event["client"])
	}
}

func TestEvent_JSON_WithoutAgentHasNullAgentAndClient(t *testing.T) {
	ev := pagerfake.Event{Type: "service.updated", Data: map[string]any{"id": "PF9KMXH", "type": "service"}}
	var got map[string]any
	if err := json.Unmarshal(ev.JSON(), &got); err != nil {
		t.Fatal(err)
	}
	event := got["event"].(map[string]any)
	if v, ok := event["agent"]; !ok || v != nil {
		t.Errorf("agent = %v (present %v), want null", v, ok)
	}
	if v, ok := event["client"]; !ok || v != nil {
		t.Errorf("client = %v (present %v), want null", v, ok)
	}
	if event["resource_type"] != "service" {
		t.Errorf("resource_type = %v, want service", event["resource_type"])
	}
	if id, _ := event["id"].(string); id == "" {
		t.Error("id is empty, want a generated one")
	}
	if at, _ := event["occurred_at"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at) {
		t.Errorf("occurred_at = %q, want RFC 3339 UTC with milliseconds", at)
	}
}

func TestIncidentData_NoPriorityAndNoBridgeAreNull(t *testing.T) {
	data := roundTrip(t, pagerfake.IncidentData(pagerfake.Incident{ID: "P1", Number: 1, Title: "t"})).(map[string]any)
	for _, k := range []string{"priority", "conference_bridge", "resolve_reason", "reopened_at"} {
		if v, ok := data[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
}

func TestDataBuilders_HaveTheSampleShapes(t *testing.T) {
	for _, c := range []struct {
		sample string
		data   map[string]any
	}{
		{"data.incident_note.json", pagerfake.NoteData("PGR0VU2", "A little bump in the road", "P2LA89X", "I sure am glad")},
		{"data.incident_responder.json", pagerfake.ResponderData("PGR0VU2", "A little bump in the road", "PVMGSML", "Maeve", "Please help", "")},
		{"data.incident_status_update.json", pagerfake.StatusUpdateData("PGR0VU2", "A little bump in the road", "P2LA89X", "A fix is being developed")},
	} {
		t.Run(c.sample, func(t *testing.T) {
			for _, d := range shapeDiff("data", MustSample(t, c.sample), roundTrip(t, c.data)) {
				t.Error(d)
			}
		})
	}
}

func TestServer_IncidentData_AgreesWithTheRESTIncident(t *testing.T) {
	srv := MustServer(t)
	srv.AddIncident(pagerfake.Incident{ID: "PINC001", Title: "t", AssigneeIDs: []string{"PUSER01"}, PriorityName: "P2"})
	data, ok := srv.IncidentData("PINC001")
	if !ok {
		t.Fatal("IncidentData: unknown incident")
	}
	inc, err := MustClient(t, srv).GetIncidentWithContext(context.Background(), "PINC001")
	if err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, data).(map[string]any)
	if got["html_url"] != inc.HTMLURL || got["incident_key"] != inc.IncidentKey || got["number"] != float64(inc.IncidentNumber) {
		t.Errorf("webhook data %v disagrees with REST incident %+v", got, inc)
	}
	if a := got["assignees"].([]any)[0].(map[string]any); a["summary"] != "Ada Lovelace" {
		t.Errorf("assignee summary = %v, want the user's name", a["summary"])
	}
	if p := got["priority"].(map[string]any); p["id"] != inc.Priority.ID || p["summary"] != "P2" {
		t.Errorf("priority = %v, want %s P2", p, inc.Priority.ID)
	}
}

// receiver is a local webhook endpoint answering a scripted list of statuses
// (then 202) and recording what it received.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, r)
	rc.bodies = append(rc.bodies, body)
	status := http.StatusAccepted
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) received() ([]*http.Request, [][]byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*http.Request(nil), rc.requests...), append([][]byte(nil), rc.bodies...)
}

func MustReceiver(t *testing.T, statuses ...int) (*receiver, string) {
	t.Helper()
	rc := &receiver{statuses: statuses}
	ts := httptest.NewServer(rc)
	t.Cleanup(ts.Close)
	return rc, ts.URL + "/webhooks/pagerduty"
}

func TestSender_SendUntilAccepted_RetriesThroughTwo503s(t *testing.T) {
	rc, url := MustReceiver(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	s := &pagerfake.Sender{URL: url, Secrets: []string{"s3cret"}}
	body := pagerfake.Event{Type: "incident.triggered", Data: pagerfake.IncidentData(fullIncident())}.JSON()

	status, err := s.SendUntilAccepted(context.Background(), "", body, time.Millisecond)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("SendUntilAccepted = %d, %v; want 202, nil", status, err)
	}
	reqs, bodies := rc.received()
	if len(reqs) != 3 {
		t.Fatalf("attempts = %d, want 3", len(reqs))
	}
	id := reqs[0].Header.Get("X-Webhook-Id")
	if id == "" {
		t.Fatal("X-Webhook-Id is empty, want a generated one")
	}
	for i, r := range reqs {
		for _, h := range []struct{ name, want string }{
			{"X-Webhook-Id", id},
			{"Content-Type", "application/json"},
			{"User-Agent", "PagerDuty-Webhook/V3.0"},
			{"X-Webhook-Subscription", "PSUBFAKE"},
			{"X-PagerDuty-Signature", pagerfake.Sign(body, "s3cret")},
		} {
			if got := r.Header.Get(h.name); got != h.want {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, h.name, got, h.want)
			}
		}
		if !bytes.Equal(bodies[i], body) {
			t.Errorf("attempt %d: body differs", i+1)
		}
	}
}

func TestSender_SendUntilAccepted_StopsOn400(t *testing.T) {
	rc, url := MustReceiver(t, http.StatusBadRequest, http.StatusBadRequest)
	s := &pagerfake.Sender{URL: url, Secrets: []string{"s3cret"}}
	status, err := s.SendUntilAccepted(context.Background(), "wh-1", []byte(`{}`), time.Millisecond)
	if status != http.StatusBadRequest || !errors.Is(err, pagerfake.ErrRejected) {
		t.Errorf("SendUntilAccepted = %d, %v; want 400 and ErrRejected", status, err)
	}
	if reqs, _ := rc.received(); len(reqs) != 1 || reqs[0].Header.Get("X-Webhook-Id") != "wh-1" {
		t.Errorf("got %d attempts, want exactly one with X-Webhook-Id wh-1", len(reqs))
	}
}

func TestSender_SendUntilAccepted_RetriesA429(t *testing.T) {
	rc, url := MustReceiver(t, http.StatusTooManyRequests)
	s := &pagerfake.Sender{URL: url}
	if status, err := s.SendUntilAccepted(context.Background(), "", []byte(`{}`), time.Millisecond); err != nil || status != http.StatusAccepted {
		t.Fatalf("SendUntilAccepted = %d, %v; want 202, nil", status, err)
	}
	reqs, _ := rc.received()
	if len(reqs) != 2 {
		t.Errorf("attempts = %d, want 2", len(reqs))
	}
	if sig := reqs[0].Header.Get("X-PagerDuty-Signature"); sig != "" {
		t.Errorf("signature = %q, want none without secrets", sig)
	}
}

func TestSender_SendUntilAccepted_RetriesTransportErrorsUntilContextDone(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there any more
	s := &pagerfake.Sender{URL: url}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	status, err := s.SendUntilAccepted(ctx, "", []byte(`{}`), 5*time.Millisecond)
	if status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SendUntilAccepted = %d, %v; want 0 and context.DeadlineExceeded", status, err)
	}
}

func TestSender_Send_ReturnsAnyStatusWithoutError(t *testing.T) {
	_, url := MustReceiver(t, http.StatusInternalServerError)
	s := &pagerfake.Sender{URL: url, Client: &http.Client{Timeout: time.Second}}
	status, err := s.SendEvent(context.Background(), pagerfake.Event{Type: "incident.acknowledged", Data: map[string]any{}})
	if status != http.StatusInternalServerError || err != nil {
		t.Errorf("SendEvent = %d, %v; want 500, nil", status, err)
	}
}
