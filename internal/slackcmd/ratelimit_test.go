package slackcmd

import (
	"testing"
	"time"
)

// A worker that calls as fast as the budget lets it, on an injected clock:
// in no rolling window does it exceed Slack's tier.
func TestBudget_NeverExceedsTheTier(t *testing.T) {
	for _, tc := range []struct {
		method string
		scale  float64
		limit  int
		span   time.Duration
	}{
		{"conversations.create", 1, 20, time.Minute},
		{"conversations.invite", 1, 50, time.Minute},
		{"chat.postMessage", 1, 1, time.Second},
		{"users.info", 1, 100, time.Minute},
		{"conversations.create", 0.5, 10, time.Minute},
		{"conversations.create", 0.02, 1, 150 * time.Second},
		{"conversations.create", 10, 200, time.Minute},
	} {
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		b := NewBudget(tc.scale, func() time.Time { return now })
		var calls []time.Time
		for len(calls) < 500 {
			if wait := b.Reserve(tc.method, "C1"); wait > 0 {
				now = now.Add(wait)
				continue
			}
			calls = append(calls, now)
			now = now.Add(time.Millisecond)
		}
		for i := range calls {
			n := 0
			for j := i; j < len(calls) && calls[j].Sub(calls[i]) < tc.span; j++ {
				n++
			}
			if n > tc.limit {
				t.Fatalf("%s at scale %v: %d calls within %v from call %d; the tier allows %d", tc.method, tc.scale, n, tc.span, i, tc.limit)
			}
		}
		// And it does not starve: the rate is the tier's.
		elapsed := calls[len(calls)-1].Sub(calls[0])
		if want := time.Duration(float64(len(calls)/tc.limit-1) * float64(tc.span)); elapsed < want || elapsed > want+2*tc.span {
			t.Errorf("%s at scale %v: 500 calls took %v, want about %v", tc.method, tc.scale, elapsed, want)
		}
	}
}

func TestBudget_PerChannelForPostMessage(t *testing.T) {
	now := time.Now()
	b := NewBudget(1, func() time.Time { return now })
	if b.Reserve("chat.postMessage", "C1") != 0 || b.Reserve("chat.postMessage", "C2") != 0 {
		t.Fatal("first post to each channel held back")
	}
	if b.Reserve("chat.postMessage", "C1") == 0 {
		t.Error("second post to C1 within a second allowed")
	}
}

func TestBudget_PauseAfter429(t *testing.T) {
	now := time.Now()
	b := NewBudget(1, func() time.Time { return now })
	b.Pause("users.info", "", 30*time.Second)
	if wait := b.Reserve("users.info", ""); wait != 30*time.Second {
		t.Errorf("wait = %v, want 30s", wait)
	}
	now = now.Add(31 * time.Second)
	if b.Reserve("users.info", "") != 0 {
		t.Error("still paused after Retry-After")
	}
}
