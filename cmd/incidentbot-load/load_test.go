package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager"
)

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100}, {0.1, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of none = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median(3,1,2) = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median(4,1,2,3) = %v", got)
	}
}

// Every delivery is a distinct, valid incident.annotated event for the
// incidents in turn.
func TestNoteMaker(t *testing.T) {
	incs := makeIncidents(3)
	m := newNoteMaker(incs)
	seen := map[string]bool{}
	for n := range uint64(6) {
		b := m.body(n)
		if bytes.Contains(b, []byte("@")) {
			t.Fatalf("delivery %d keeps a marker: %s", n, b)
		}
		ev, err := pager.DecodeWebhook(b)
		if err != nil {
			t.Fatalf("delivery %d: %v\n%s", n, err, b)
		}
		if ev.Type != "incident.annotated" || ev.IncidentID != incs[n%3].ID || ev.Text == "" || seen[ev.ID] {
			t.Fatalf("delivery %d: %+v", n, ev)
		}
		if time.Since(ev.OccurredAt) > time.Minute {
			t.Errorf("delivery %d occurred at %v, want now", n, ev.OccurredAt)
		}
		seen[ev.ID] = true
	}
}
