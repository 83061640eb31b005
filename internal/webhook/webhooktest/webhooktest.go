// Package webhooktest helps test the trackers' webhook handlers: an
// observer that records what they report, and a post of a delivery.
package webhooktest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Observed is one report of a handler.
type Observed struct {
	Tracker, Key string
	Issues       []incidentbot.TrackerIssue
}

// Observer records reports; a delivery key seen before is a duplicate, as
// the store would answer.
type Observer struct{ Calls []Observed }

// ObserveTracker implements incidentbot.TrackerObserver.
func (o *Observer) ObserveTracker(_ context.Context, tracker, key string, issues []incidentbot.TrackerIssue) (incidentbot.Outcome, int, error) {
	for _, c := range o.Calls {
		if c.Key == key {
			return incidentbot.OutcomeDuplicate, 0, nil
		}
	}
	o.Calls = append(o.Calls, Observed{tracker, key, issues})
	return incidentbot.OutcomeApplied, 1, nil
}

// Post sends a delivery (its body and headers) to h at path and returns
// the answer's status and trimmed body.
func Post(t *testing.T, h http.Handler, path string, body []byte, header http.Header) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header = header.Clone()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, strings.TrimSpace(rec.Body.String())
}
