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
		// (plus the budget's margin of span/240 per window).
		want := time.Duration(float64(len(calls)/tc.limit-1) * float64(tc.span+tc.span/240))
		if elapsed < want || elapsed > want+2*tc.span {
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

// Slack counts a call when it arrives, somewhere between sending and the
// answer. With slow answers, a budget that counted calls from when they
// were sent let a window at Slack hold more than the tier (26 creates in a
// minute in an alert storm); counting each call until its answer does not,
// and 100 channels still take little more than the tier's minimum time.
func TestBudget_CountsCallsAsSlackDoesAtArrival(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBudget(1, func() time.Time { return now })
	type call struct{ sent, arrived, answered time.Time }
	var calls []call
	inFlight := []call{}
	// A call's answer takes 3 s; the calls of one window's worth arrive at
	// Slack just before their answer, those of the next just after they
	// are sent (the worst mix for a budget that counts from sending).
	for len(calls) < 100 {
		// Answers that are due come back first.
		for len(inFlight) > 0 && !inFlight[0].answered.After(now) {
			b.Done("conversations.create", "")
			calls = append(calls, inFlight[0])
			inFlight = inFlight[1:]
		}
		if len(calls) == 100 {
			break
		}
		if len(calls)+len(inFlight) == 100 {
			now = inFlight[0].answered
			continue
		}
		wait := b.Reserve("conversations.create", "")
		if wait > 0 {
			next := now.Add(wait)
			if len(inFlight) > 0 && inFlight[0].answered.Before(next) {
				next = inFlight[0].answered
			}
			now = next
			continue
		}
		c := call{sent: now, answered: now.Add(3 * time.Second)}
		c.arrived = c.sent
		if (len(calls)+len(inFlight))/20%2 == 0 {
			c.arrived = c.answered.Add(-time.Millisecond)
		}
		inFlight = append(inFlight, c)
		now = now.Add(10 * time.Millisecond)
	}
	most := 0
	for i := range calls {
		n := 0
		for _, c := range calls {
			if !c.arrived.Before(calls[i].arrived) && c.arrived.Sub(calls[i].arrived) < time.Minute {
				n++
			}
		}
		most = max(most, n)
	}
	if most > 20 {
		t.Errorf("%d calls arrived within one minute; Tier 2 allows 20", most)
	}
	last := calls[0].answered
	for _, c := range calls {
		if c.answered.After(last) {
			last = c.answered
		}
	}
	// The tier's minimum for 100 calls: 20 at once, then 20 a minute: 4 min.
	if took, bound := last.Sub(calls[0].sent), 4*time.Minute*11/10; took > bound {
		t.Errorf("100 channels took %v, want within %v (1.1× the tier's minimum)", took, bound)
	}
}
