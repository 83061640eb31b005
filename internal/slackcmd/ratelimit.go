package slackcmd

import (
	"sync"
	"time"
)

// Slack's published rate tiers, in calls per minute, by Web API method.
// https://api.slack.com/apis/rate-limits — Tier 1: 1+/min, Tier 2: 20+/min,
// Tier 3: 50+/min, Tier 4: 100+/min; chat.postMessage: about 1 per second
// per channel. Methods not listed get Tier 3.
var tiers = map[string]float64{
	"conversations.create":         20,
	"conversations.list":           20,
	"conversations.rename":         20,
	"usergroups.users.list":        20,
	"conversations.setTopic":       50,
	"conversations.invite":         50,
	"conversations.history":        50,
	"chat.update":                  50,
	"users.lookupByEmail":          50,
	"users.info":                   100,
	"chat.getPermalink":            100,
	"files.getUploadURLExternal":   100,
	"files.completeUploadExternal": 100,
	"files.info":                   100,
	"pins.add":                     20,
	"auth.test":                    100,
	"chat.postMessage":             60, // per channel
}

// Budget keeps the bot's calls inside Slack's rate tiers instead of
// earning 429s: per method (and per channel for chat.postMessage) at most
// N calls in any rolling window (a minute for the tiers, a second for
// chat.postMessage), N scaled by INCIDENTBOT_SLACK_RATE_SCALE, as Slack
// counts them: at arrival, which is only known to lie between sending and
// the answer (see slot), with a margin. A 429 that still comes back pauses
// the method for its Retry-After. Use NewBudget.
type Budget struct {
	scale float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*window
}

// window remembers the last calls of one method (and key).
type window struct {
	n          int
	span       time.Duration
	calls      []slot // oldest first, at most n
	pauseUntil time.Time
}

// slot is one call in a window. Slack counts a call when it arrives, which
// is some time between the bot sending it and the answer coming back: a
// call counts from when it was sent until its answer came (Done), then
// from that answer, so the window's edge is never earlier than Slack's.
type slot struct {
	at   time.Time
	done bool
}

// margin is how much longer than Slack's window the budget waits (250 ms
// on a minute, 4 ms on a second): clock jitter and network delay never put
// one call too many in a window as Slack measures it.
func margin(span time.Duration) time.Duration { return span / 240 }

// NewBudget returns a budget with the tiers multiplied by scale
// (values ≤ 0 mean 1). now may be nil (time.Now).
func NewBudget(scale float64, now func() time.Time) *Budget {
	if scale <= 0 {
		scale = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Budget{scale: scale, now: now, buckets: map[string]*window{}}
}

// Limit returns how many calls of method fit in how long a window.
func (b *Budget) Limit(method string) (int, time.Duration) {
	perMin, ok := tiers[method]
	if !ok {
		perMin = 50
	}
	n, span := perMin*b.scale, time.Minute
	if method == "chat.postMessage" {
		n, span = perMin/60*b.scale, time.Second
	}
	if n < 1 {
		// Fewer than one call per window: one call per longer window.
		return 1, time.Duration(float64(span) / n)
	}
	return int(n), span
}

// Reserve takes a call of method (key: the channel for chat.postMessage,
// else "") if the window has room now and returns 0; otherwise it takes
// nothing and returns how long to wait before asking again.
func (b *Budget) Reserve(method, key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	w := b.window(method, key)
	if now.Before(w.pauseUntil) {
		return w.pauseUntil.Sub(now)
	}
	if len(w.calls) == w.n {
		if free := w.calls[0].at.Add(w.span + margin(w.span)); now.Before(free) {
			return free.Sub(now)
		}
		w.calls = w.calls[1:]
	}
	w.calls = append(w.calls, slot{at: now})
	return 0
}

// Done marks the oldest call of method (for key) still in flight as
// answered now: from here on it counts from its answer.
func (b *Budget) Done(method, key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.window(method, key)
	for i := range w.calls {
		if !w.calls[i].done {
			w.calls[i] = slot{at: b.now(), done: true}
			break
		}
	}
	// Answers may come back out of order: keep the slots in time order.
	for i := 1; i < len(w.calls); i++ {
		for j := i; j > 0 && w.calls[j].at.Before(w.calls[j-1].at); j-- {
			w.calls[j], w.calls[j-1] = w.calls[j-1], w.calls[j]
		}
	}
}

func (b *Budget) window(method, key string) *window {
	id := method + "\x00" + key
	w := b.buckets[id]
	if w == nil {
		n, span := b.Limit(method)
		w = &window{n: n, span: span, calls: make([]slot, 0, n)}
		b.buckets[id] = w
	}
	return w
}

// Pause stops a method (for key) for d: Slack answered 429 with
// Retry-After d.
func (b *Budget) Pause(method, key string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.window(method, key)
	if until := b.now().Add(d); until.After(w.pauseUntil) {
		w.pauseUntil = until
	}
}

// InFlight returns how many calls of method (for key) took a slot and have
// not been marked Done.
func (b *Budget) InFlight(method, key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.window(method, key).calls {
		if !c.done {
			n++
		}
	}
	return n
}
