package pager_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func sign(body []byte, secrets ...string) string {
	var parts []string
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		parts = append(parts, "v1="+hex.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(parts, ",")
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":{}}`)
	tests := []struct {
		name    string
		header  string
		secrets []string
		want    bool
	}{
		{"one secret", sign(body, "s1"), []string{"s1"}, true},
		{"rotation: old and new signature, new secret configured", sign(body, "old", "new"), []string{"new"}, true},
		{"rotation: both secrets configured, one signature", sign(body, "new"), []string{"old", "new"}, true},
		{"space after comma", sign(body, "old") + ", " + sign(body, "new"), []string{"new"}, true},
		{"wrong secret", sign(body, "other"), []string{"s1"}, false},
		{"empty header", "", []string{"s1"}, false},
		{"no v1 prefix", strings.TrimPrefix(sign(body, "s1"), "v1="), []string{"s1"}, false},
		{"not hex", "v1=zz", []string{"s1"}, false},
		{"no secrets", sign(body, "s1"), nil, false},
		{"body changed", sign([]byte(`{"event":{ }}`), "s1"), []string{"s1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pager.VerifySignature(tt.header, body, tt.secrets); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Every published sample in testdata decodes; incident envelopes and data
// objects that refer to an incident name it.
func TestDecodeWebhook_PublishedSamples(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d samples, want the PagerDuty reference set", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			body := raw
			if strings.HasPrefix(filepath.Base(f), "data.") {
				// Wrap the data object in an envelope whose type fits it.
				var probe struct{ Type string }
				if err := json.Unmarshal(raw, &probe); err != nil {
					t.Fatal(err)
				}
				typ := map[string]string{
					"incident": "incident.acknowledged", "incident_note": "incident.annotated",
					"incident_responder": "incident.responder.added", "incident_status_update": "incident.status_update_published",
				}[probe.Type]
				if typ == "" {
					typ = "incident." + probe.Type + ".sample" // a type the bot ignores
				}
				body = []byte(`{"event":{"id":"E1","event_type":"` + typ + `","occurred_at":"2020-10-02T18:45:22.169Z","agent":null,"data":` + string(raw) + `}}`)
			}
			ev, err := pager.DecodeWebhook(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if incidentbot.HandlesPagerEvent(ev.Type) && ev.IncidentID != "PGR0VU2" {
				t.Errorf("incident ID = %q, want PGR0VU2", ev.IncidentID)
			}
		})
	}
}

func TestDecodeWebhook_PriorityUpdatedSample(t *testing.T) {
	raw, err := os.ReadFile("testdata/envelope.incident.priority_updated.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := pager.DecodeWebhook(raw)
	if err != nil {
		t.Fatal(err)
	}
	pi := ev.Incident
	if pi == nil {
		t.Fatal("no incident decoded")
	}
	if got, want := ev.OccurredAt, time.Date(2020, 10, 2, 18, 45, 22, 169e6, time.UTC); !got.Equal(want) {
		t.Errorf("occurred_at = %v, want %v", got, want)
	}
	if pi.Priority != "P1" || pi.Urgency != "high" || pi.Number != 2 || pi.ServiceName != "API Service" || len(pi.Assignees) != 1 || pi.Assignees[0].ID != "PTUXL6G" {
		t.Errorf("incident = %+v", pi)
	}
	if ev.Agent.ID != "PLH1HKV" || ev.Agent.Name != "Tenex Engineer" {
		t.Errorf("agent = %+v", ev.Agent)
	}
}

func TestDecodeWebhook_LooseTypes(t *testing.T) {
	for _, data := range []string{
		`{"id":"P1","type":"incident","number":3,"priority":null,"conference_bridge":{"conference_number":12345}}`,
		`{"id":"P1","type":"incident","number":3,"priority":null,"conference_bridge":{"conference_number":"+1 555"}}`,
		`{"id":"P1","type":"incident","conference_bridge":null}`,
	} {
		body := `{"event":{"id":"E","event_type":"incident.triggered","occurred_at":"2024-01-01T00:00:00Z","data":` + data + `}}`
		ev, err := pager.DecodeWebhook([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		if ev.Incident == nil || ev.Incident.Priority != "" {
			t.Errorf("%s: incident = %+v", data, ev.Incident)
		}
	}
}

// The conference bridge is read from the incident's data whatever its
// number's JSON type; a URL that is not a web address is not kept (it is
// shown as a link).
func TestDecodeWebhook_ConferenceBridge(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("testdata", "data.incident.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ data, url, number string }{
		{string(sample), "https://example.com", "+1 1234123412,,987654321#"},
		{`{"id":"P1","type":"incident","conference_bridge":{"conference_number":12345,"conference_url":"https://meet.example/x"}}`, "https://meet.example/x", "12345"},
		{`{"id":"P1","type":"incident","conference_bridge":{"conference_url":"javascript:alert(1)"}}`, "", ""},
		{`{"id":"P1","type":"incident","conference_bridge":{"conference_url":7,"conference_number":[1]}}`, "", ""},
		{`{"id":"P1","type":"incident","conference_bridge":null}`, "", ""},
	} {
		body := `{"event":{"id":"E","event_type":"incident.triggered","occurred_at":"2024-01-01T00:00:00Z","data":` + tc.data + `}}`
		ev, err := pager.DecodeWebhook([]byte(body))
		if err != nil {
			t.Errorf("%.60s: %v", tc.data, err)
			continue
		}
		if ev.Incident.ConferenceURL != tc.url || ev.Incident.ConferenceNumber != tc.number {
			t.Errorf("%.60s: bridge %q %q, want %q %q", tc.data, ev.Incident.ConferenceURL, ev.Incident.ConferenceNumber, tc.url, tc.number)
		}
	}
}

func TestDecodeWebhook_Malformed(t *testing.T) {
	for _, body := range []string{
		``, `{`, `[]`, `{"event":null}`, `{}`,
		`{"event":{"event_type":"incident.triggered"}}`,
		`{"event":{"id":"E","event_type":"incident.triggered","data":{"type":"incident"}}}`,
		`{"event":{"id":"E","event_type":"incident.annotated","data":{"type":"incident_note","content":"x"}}}`,
		`{"event":{"id":"E","event_type":"incident.triggered","occurred_at":"yesterday","data":{"id":"P","type":"incident"}}}`,
		`{"event":{"id":"E","event_type":"incident.triggered","data":{"id":"P","type":"incident","number":"x"}}}`,
		`{"event":{"id":"E","event_type":"incident.triggered","data":{"id":"P","type":"incident"}}} {}`,
	} {
		if _, err := pager.DecodeWebhook([]byte(body)); err == nil {
			t.Errorf("%q decoded without error", body)
		}
	}
}

func FuzzDecodeWebhook(f *testing.F) {
	files, err := filepath.Glob("testdata/envelope.*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event":{"id":"E","event_type":"incident.annotated","data":{"type":"incident_note","incident":{"id":"P"},"content":"hi"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := pager.DecodeWebhook(body)
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Type == "" {
			t.Fatalf("decoded an event without ID or type: %+v", ev)
		}
		if incidentbot.HandlesPagerEvent(ev.Type) && ev.IncidentID == "" {
			t.Fatalf("handled type %s decoded without an incident", ev.Type)
		}
	})
}

type recorder struct {
	mu    sync.Mutex
	calls []incidentbot.PagerEvent
	ids   []string
	out   incidentbot.Outcome
	err   error
}

func (r *recorder) IngestPagerDuty(_ context.Context, webhookID string, ev incidentbot.PagerEvent) (incidentbot.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, ev)
	r.ids = append(r.ids, webhookID)
	if r.out == "" {
		r.out = incidentbot.OutcomeApplied
	}
	return r.out, r.err
}

const triggered = `{"event":{"id":"E1","event_type":"incident.triggered","occurred_at":"2024-01-01T00:00:00Z","data":{"id":"P1","type":"incident","title":"db down"}}}`

func post(t *testing.T, h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("X-PagerDuty-Signature", sig)
	}
	req.Header.Set("X-Webhook-Id", "W1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookHandler_Statuses(t *testing.T) {
	secrets := []string{"old", "new"}
	big := append([]byte(`{"event":{"id":"E","event_type":"x","data":"`), bytes.Repeat([]byte("a"), 2<<20)...)
	big = append(big, `"}}`...)
	tests := []struct {
		name   string
		body   []byte
		sig    string
		want   int
		ingest bool
	}{
		{"valid", []byte(triggered), sign([]byte(triggered), "new"), http.StatusAccepted, true},
		{"signed with the old secret", []byte(triggered), sign([]byte(triggered), "old"), http.StatusAccepted, true},
		{"missing signature", []byte(triggered), "", http.StatusUnauthorized, false},
		{"bad signature", []byte(triggered), sign([]byte(triggered), "guess"), http.StatusUnauthorized, false},
		{"malformed JSON", []byte(`{"event":`), sign([]byte(`{"event":`), "new"), http.StatusBadRequest, false},
		{"over 1 MiB", big, sign(big, "new"), http.StatusRequestEntityTooLarge, false},
		{"unknown type", []byte(`{"event":{"id":"E9","event_type":"service.updated","data":{}}}`), sign([]byte(`{"event":{"id":"E9","event_type":"service.updated","data":{}}}`), "new"), http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if tt.name == "unknown type" {
				rec.out = incidentbot.OutcomeIgnored
			}
			reg := prometheus.NewRegistry()
			h := pager.NewWebhookHandler(secrets, rec, nil, reg)
			res := post(t, h, tt.body, tt.sig)
			if res.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", res.Code, tt.want, res.Body)
			}
			if got := len(rec.calls) > 0; got != tt.ingest {
				t.Errorf("ingested = %v, want %v", got, tt.ingest)
			}
			if tt.want == http.StatusUnauthorized {
				n, err := testutil.GatherAndCount(reg, "incidentbot_pagerduty_signature_failures_total")
				if err != nil || n != 1 {
					t.Errorf("signature failure not counted (%d, %v)", n, err)
				}
			}
			if tt.ingest && rec.ids[0] != "W1" {
				t.Errorf("webhook id = %q, want W1", rec.ids[0])
			}
		})
	}
}

func TestWebhookHandler_StoreFailureIs503(t *testing.T) {
	rec := &recorder{err: incidentbot.Errorf(incidentbot.EINTERNAL, "disk full")}
	h := pager.NewWebhookHandler([]string{"s"}, rec, nil, nil)
	res := post(t, h, []byte(triggered), sign([]byte(triggered), "s"))
	if res.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503 so PagerDuty retries", res.Code)
	}
}

func TestWebhookHandler_ErrorsDoNotEchoSecrets(t *testing.T) {
	h := pager.NewWebhookHandler([]string{"topsecret-value"}, &recorder{}, nil, nil)
	res := post(t, h, []byte(triggered), sign([]byte(triggered), "wrong"))
	want := sign([]byte(triggered), "topsecret-value")
	if strings.Contains(res.Body.String(), "topsecret") || strings.Contains(res.Body.String(), strings.TrimPrefix(want, "v1=")) {
		t.Errorf("401 body leaks the secret or expected HMAC: %s", res.Body)
	}
}
