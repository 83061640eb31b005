package main

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// callMetrics counts outbound calls to Slack, PagerDuty and Statuspage by
// API method and HTTP status ("error" when no answer came). A 429 shows as
// status "429".
type callMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newCallMetrics(reg prometheus.Registerer) *callMetrics {
	m := &callMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentbot_external_calls_total",
			Help: "Calls to Slack, PagerDuty and Statuspage by system, API method and HTTP status (429 = rate limited, error = no answer).",
		}, []string{"system", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "incidentbot_external_call_duration_seconds",
			Help:    "Duration of calls to Slack, PagerDuty and Statuspage.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"system"}),
	}
	reg.MustRegister(m.calls, m.duration)
	return m
}

// client returns an HTTP client whose calls are counted under system.
// Slack's method is the last path element (chat.postMessage); PagerDuty's
// and Statuspage's are the HTTP method and the path with IDs elided.
func (m *callMetrics) client(system string, base http.RoundTripper, timeout time.Duration) *http.Client {
	if base == nil {
		// The outbox runs 8 calls at once against one host; Go's default
		// keeps 2 idle connections per host, churning the rest.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		base = t
	}
	return &http.Client{Timeout: timeout, Transport: &meteredTransport{next: base, m: m, system: system}}
}

type meteredTransport struct {
	next   http.RoundTripper
	m      *callMetrics
	system string
}

func (t *meteredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(res.StatusCode)
	}
	t.m.calls.WithLabelValues(t.system, apiMethod(t.system, r), status).Inc()
	t.m.duration.WithLabelValues(t.system).Observe(time.Since(start).Seconds())
	return res, err
}

// apiMethod names the API method of a request with bounded cardinality.
func apiMethod(system string, r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if system == "slack" {
		last := parts[len(parts)-1]
		if strings.Contains(last, ".") {
			return last
		}
		if len(parts) > 0 {
			return parts[0] // response URLs, upload URLs
		}
		return "other"
	}
	// PagerDuty /incidents/PXYZ/notes → /incidents/{id}/notes; Statuspage
	// /v1/pages/P/incidents/I → /v1/pages/{id}/incidents/{id}.
	for i, p := range parts {
		if i > 0 && looksLikeID(p) {
			parts[i] = "{id}"
		}
	}
	return r.Method + " /" + strings.Join(parts, "/")
}

// looksLikeID: IDs have digits or are upper case (PABC123, p31zjtct2jer);
// resource names are lower-case words (incidents, status_updates).
func looksLikeID(s string) bool {
	return strings.ContainsAny(s, "0123456789") || s == strings.ToUpper(s)
}
