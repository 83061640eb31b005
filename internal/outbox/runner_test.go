package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

var t0 = time.Date(2025, 11, 3, 2, 0, 0, 0, time.UTC)

// manualClock is a Clock that moves only when told to: its timers fire in
// Advance.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock() *manualClock { return &manualClock{now: t0} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: t, ch: ch})
	return ch
}

// Advance moves the clock and fires the timers that came due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// fakePerformer keeps jobs in memory and records every call. With calls
// set, Perform hands each attempt to the test and waits for its answer;
// otherwise it answers with result (nil: done).
type fakePerformer struct {
	mu      sync.Mutex
	jobs    []*incidentbot.Job // stored, in ID order
	retried []incidentbot.Job
	failed  []incidentbot.Job
	causes  []error
	result  func(j *incidentbot.Job) error
	failErr error // what Fail answers
	calls   chan call
	// all makes Pending hand back every stored job, whatever after says
	// (a store whose IDs commit out of order).
	all bool
	// onRetry, when set, is told of every retry recorded.
	onRetry chan incidentbot.Job
}

type call struct {
	job    incidentbot.Job
	answer chan error
}

func (f *fakePerformer) add(js ...*incidentbot.Job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, js...)
}

func (f *fakePerformer) Pending(_ context.Context, after uint64) ([]*incidentbot.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*incidentbot.Job
	for _, j := range f.jobs {
		if j.ID > after || f.all {
			cp := *j
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (f *fakePerformer) Perform(ctx context.Context, j *incidentbot.Job) error {
	if f.calls != nil {
		c := call{job: *j, answer: make(chan error)}
		f.calls <- c
		return <-c.answer
	}
	if f.result != nil {
		return f.result(j)
	}
	return nil
}

func (f *fakePerformer) Retry(_ context.Context, j *incidentbot.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, *j)
	if f.onRetry != nil {
		f.onRetry <- *j
	}
	return nil
}

func (f *fakePerformer) Fail(_ context.Context, j *incidentbot.Job, cause error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return f.failErr
	}
	f.failed = append(f.failed, *j)
	f.causes = append(f.causes, cause)
	return nil
}

func job(id uint64, lane string) *incidentbot.Job {
	return &incidentbot.Job{ID: id, Lane: lane, Kind: incidentbot.JobPost, CreatedAt: t0, NextAt: t0}
}

// newRunner returns a runner over f with the manual clock, a fixed 1 s
// backoff, and its jobs loaded.
func newRunner(t *testing.T, f *fakePerformer, clk *manualClock) *Runner {
	t.Helper()
	r := &Runner{Performer: f, Clock: clk, Backoff: func(int) time.Duration { return time.Second }}
	r.init()
	if err := r.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(js []*incidentbot.Job) []uint64 {
	out := make([]uint64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	slices.Sort(out)
	return out
}

func TestRunner_Dispatch_OneJobPerLaneInIDOrder(t *testing.T) {
	f := &fakePerformer{}
	f.add(job(1, "INC-1"), job(2, "INC-1"), job(3, "INC-2"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	if got := ids(start); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("first dispatch started %v, want [1 3] (one per lane, the lane's first)", got)
	}
	if again, _ := r.dispatch(clk.Now(), 8); len(again) != 0 {
		t.Fatalf("lanes busy, yet dispatch started %v", ids(again))
	}
	r.finish(jobDone{job: start[0], remove: true})
	r.finish(jobDone{job: start[1], remove: true})
	if got, _ := r.dispatch(clk.Now(), 8); !slices.Equal(ids(got), []uint64{2}) {
		t.Fatalf("after the heads finished, dispatch started %v, want [2]", ids(got))
	}
}

func TestRunner_Dispatch_ConcurrencyLimit(t *testing.T) {
	f := &fakePerformer{}
	f.add(job(1, "a"), job(2, "b"), job(3, "c"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 2)
	if len(start) != 2 || r.Stats().Running != 2 {
		t.Fatalf("started %d (running %d), want 2 under a limit of 2", len(start), r.Stats().Running)
	}
	r.finish(jobDone{job: start[0], remove: true})
	if more, _ := r.dispatch(clk.Now(), 2); len(more) != 1 {
		t.Fatalf("a slot freed, yet %d started", len(more))
	}
}

func TestRunner_Dispatch_NextIsTheEarliestHeadNotDue(t *testing.T) {
	f := &fakePerformer{}
	a, b := job(1, "a"), job(2, "b")
	a.NextAt, b.NextAt = t0.Add(3*time.Second), t0.Add(2*time.Second)
	f.add(a, b)
	clk := newClock()
	r := newRunner(t, f, clk)
	start, next := r.dispatch(clk.Now(), 8)
	if len(start) != 0 || !next.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("started %v, next %v; want none and %v", ids(start), next, t0.Add(2*time.Second))
	}
	a.NextAt = t0.Add(time.Hour)
	b.NextAt = t0.Add(time.Hour)
	r = newRunner(t, &fakePerformer{jobs: []*incidentbot.Job{a, b}}, clk)
	if _, next := r.dispatch(clk.Now(), 8); !next.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("next = %v, want the rescan at now + 5 s", next)
	}
}

func TestRunner_Attempt_TransientRetriesAfterRetryAfter(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "ratelimited", RetryAfter: 30 * time.Second}
	}}
	j := job(1, "a")
	f.add(j)
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	d := r.attempt(context.Background(), start[0])
	if d.remove {
		t.Fatal("a transient failure removed the job")
	}
	if len(f.retried) != 1 {
		t.Fatalf("%d retries recorded, want 1", len(f.retried))
	}
	got := f.retried[0]
	if got.Attempts != 0 || !got.NextAt.Equal(t0.Add(30*time.Second)) || got.LastError != "ratelimited" {
		t.Errorf("recorded attempts %d, next %v, last error %q; want 0 (a rate limit is not an attempt), %v (Retry-After beats the 1 s backoff), ratelimited",
			got.Attempts, got.NextAt, got.LastError, t0.Add(30*time.Second))
	}
	r.finish(d)
	clk.Advance(29 * time.Second)
	if early, _ := r.dispatch(clk.Now(), 8); len(early) != 0 {
		t.Fatal("the job ran before its Retry-After")
	}
	clk.Advance(time.Second)
	if due, _ := r.dispatch(clk.Now(), 8); len(due) != 1 {
		t.Fatal("the job did not run once its Retry-After passed")
	}
}

// Issue 17: a 429 after an outage's failures is retried when Slack asked
// (Retry-After: 1), not after the backoff the 503s had grown to, and it does
// not grow that backoff. Counted, it scheduled the retry 4 s out (8 s after
// a second 429) while Slack was healthy: the incident's channel lane, and
// the outbox with it, sat idle.
func TestRunner_Attempt_RateLimitAfterFailures_RetriesAfterRetryAfterNotBackoff(t *testing.T) {
	slack503 := &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "conversations.create: Slack answered 503"}
	slack429 := &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "conversations.create: rate limited", RetryAfter: time.Second}
	answers := []error{slack503, slack503, slack429, slack429, nil}
	f := &fakePerformer{result: func(*incidentbot.Job) error {
		err := answers[0]
		answers = answers[1:]
		return err
	}}
	f.add(job(1, "INC-1"))
	clk := newClock()
	r := newRunner(t, f, clk)
	// The default backoff without its jitter: 1 s, 2 s, 4 s ...
	r.Backoff = func(n int) time.Duration { return time.Second << (n - 1) }
	for i, want := range []struct {
		attempts int
		wait     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {2, time.Second}, {2, time.Second}} {
		start, _ := r.dispatch(clk.Now(), 8)
		if len(start) != 1 {
			t.Fatalf("answer %d: the job is not due", i+1)
		}
		d := r.attempt(context.Background(), start[0])
		r.finish(d)
		if d.job.Attempts != want.attempts || !d.job.NextAt.Equal(clk.Now().Add(want.wait)) {
			t.Fatalf("after answer %d (%v): %d attempts, next in %s; want %d, next in %s", i+1, f.retried[len(f.retried)-1].LastError,
				d.job.Attempts, d.job.NextAt.Sub(clk.Now()), want.attempts, want.wait)
		}
		clk.Advance(want.wait)
	}
	start, _ := r.dispatch(clk.Now(), 8)
	if len(start) != 1 || !r.attempt(context.Background(), start[0]).remove {
		t.Fatal("the job did not run and finish 1 s after the second 429")
	}
}

func TestRunner_Attempt_BackoffWhenNoRetryAfter(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error { return errors.New("connection reset") }}
	f.add(job(1, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	var waits []int
	r.Backoff = func(n int) time.Duration { waits = append(waits, n); return time.Duration(n) * time.Minute }
	for range 3 {
		start, _ := r.dispatch(clk.Now(), 8)
		if len(start) != 1 {
			t.Fatalf("the job is not due after its backoff (attempts so far %v)", waits)
		}
		r.finish(r.attempt(context.Background(), start[0]))
		clk.Advance(time.Duration(len(waits)) * time.Minute)
	}
	if !slices.Equal(waits, []int{1, 2, 3}) {
		t.Errorf("backoff asked for attempts %v, want [1 2 3]", waits)
	}
}

func TestRunner_Attempt_ThrottledIsNotAnAttempt(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error {
		return &incidentbot.Error{Code: incidentbot.ETHROTTLED, RetryAfter: 2 * time.Second}
	}}
	f.add(job(1, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	d := r.attempt(context.Background(), start[0])
	r.finish(d)
	if d.remove || len(f.retried) != 0 || d.job.Attempts != 0 {
		t.Fatalf("a deferral: removed %v, %d retries recorded, attempts %d; want kept, none, 0", d.remove, len(f.retried), d.job.Attempts)
	}
	if !d.job.NextAt.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("deferred to %v, want %v", d.job.NextAt, t0.Add(2*time.Second))
	}
}

// A job held back (waiting for another that will not come) is not held
// for ever: past the maximum age it is a dead letter that says so.
func TestRunner_Attempt_ThrottledPastMaxAgeIsDead(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error {
		return &incidentbot.Error{Code: incidentbot.ETHROTTLED, Message: "waiting for the storm digest", RetryAfter: 250 * time.Millisecond}
	}}
	old := job(1, "a")
	old.CreatedAt = t0.Add(-25 * time.Hour)
	f.add(old, job(2, "b"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	for _, j := range start {
		r.finish(r.attempt(context.Background(), j))
	}
	if len(f.failed) != 1 || f.failed[0].ID != 1 {
		t.Fatalf("%d dead letters %+v; want job 1 alone (job 2 is young and waits)", len(f.failed), f.failed)
	}
	if msg := f.causes[0].Error(); !strings.Contains(msg, "held back for over 24h") || !strings.Contains(msg, "waiting for the storm digest") {
		t.Errorf("cause %q does not say it was held back, and for what", msg)
	}
	if st := r.Stats(); st.Depth != 1 {
		t.Errorf("depth %d, want 1 (job 2 kept)", st.Depth)
	}
}

func TestRunner_Attempt_PermanentIsDeadAtOnce(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error {
		return incidentbot.Errorf(incidentbot.EREJECTED, "channel_not_found")
	}}
	f.add(job(1, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	var results []string
	r.Observe = func(_ incidentbot.JobKind, result string, _ time.Duration) { results = append(results, result) }
	start, _ := r.dispatch(clk.Now(), 8)
	d := r.attempt(context.Background(), start[0])
	r.finish(d)
	if !d.remove || len(f.failed) != 1 || r.Stats().DeadLetters != 1 || r.Stats().Depth != 0 {
		t.Fatalf("removed %v, %d dead letters recorded, stats %+v", d.remove, len(f.failed), r.Stats())
	}
	if !slices.Equal(results, []string{ResultDead}) {
		t.Errorf("observed %v, want [dead]", results)
	}
}

func TestRunner_Attempt_PastMaxAgeIsDead(t *testing.T) {
	f := &fakePerformer{result: func(*incidentbot.Job) error { return errors.New("503") }}
	old := job(1, "a")
	old.CreatedAt = t0.Add(-25 * time.Hour)
	f.add(old)
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	r.finish(r.attempt(context.Background(), start[0]))
	if len(f.failed) != 1 || len(f.retried) != 0 {
		t.Fatalf("%d dead, %d retried; want 1 dead letter", len(f.failed), len(f.retried))
	}
	if msg := f.causes[0].Error(); !strings.Contains(msg, "gave up after 1 attempts over 24h") {
		t.Errorf("cause %q does not say it gave up", msg)
	}
}

func TestRunner_Attempt_DeadLetterNotRecorded_KeepsTheJob(t *testing.T) {
	f := &fakePerformer{
		result:  func(*incidentbot.Job) error { return incidentbot.Errorf(incidentbot.EREJECTED, "no") },
		failErr: errors.New("disk full"),
	}
	f.add(job(1, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	d := r.attempt(context.Background(), start[0])
	r.finish(d)
	if d.remove || r.Stats().Depth != 1 || r.Stats().DeadLetters != 0 {
		t.Fatalf("an unrecorded dead letter: removed %v, stats %+v; want the job kept", d.remove, r.Stats())
	}
	clk.Advance(time.Second)
	f.failErr = nil
	start, _ = r.dispatch(clk.Now(), 8)
	if len(start) != 1 {
		t.Fatal("the job was not tried again after the backoff")
	}
	r.finish(r.attempt(context.Background(), start[0]))
	if len(f.failed) != 1 || r.Stats().Depth != 0 {
		t.Errorf("second try: %d dead letters, depth %d; want 1 and 0", len(f.failed), r.Stats().Depth)
	}
}

func TestRunner_Attempt_ShutdownLeavesTheJobAsItWas(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakePerformer{result: func(*incidentbot.Job) error { cancel(); return context.Canceled }}
	f.add(job(1, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	d := r.attempt(ctx, start[0])
	if d.remove || len(f.retried) != 0 || len(f.failed) != 0 || d.job.Attempts != 0 {
		t.Errorf("after shutdown: removed %v, %d retries, %d dead, attempts %d; want the job untouched", d.remove, len(f.retried), len(f.failed), d.job.Attempts)
	}
}

func TestRunner_StatsAndLaterInLane(t *testing.T) {
	f := &fakePerformer{}
	a1, a2, b := job(1, "status-site"), job(2, "status-site"), job(3, "b")
	a1.Kind, a2.Kind = incidentbot.JobPublishSite, incidentbot.JobPublishSite
	b.CreatedAt = t0.Add(-time.Minute)
	f.add(a1, a2, b)
	clk := newClock()
	r := newRunner(t, f, clk)
	clk.Advance(time.Minute)
	st := r.Stats()
	if st.Depth != 3 || st.OldestAge != 2*time.Minute {
		t.Errorf("stats %+v, want depth 3 and oldest 2m0s", st)
	}
	if !r.LaterInLane(a1) || r.LaterInLane(a2) || r.LaterInLane(b) {
		t.Errorf("LaterInLane = %v, %v, %v; want true, false, false", r.LaterInLane(a1), r.LaterInLane(a2), r.LaterInLane(b))
	}
}

// The loop itself: jobs run in lane order, a wake-up loads new jobs, a
// failed job runs again when the clock reaches its retry, and shutdown
// waits for the job in flight.
func TestRunner_Run_LaneOrderWakeRetryAndShutdown(t *testing.T) {
	f := &fakePerformer{calls: make(chan call), onRetry: make(chan incidentbot.Job, 1)}
	f.add(job(1, "a"), job(2, "a"))
	clk := newClock()
	r := &Runner{Performer: f, Clock: clk, Backoff: func(int) time.Duration { return 10 * time.Second }}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	c := <-f.calls
	if c.job.ID != 1 {
		t.Fatalf("first call is job %d, want 1", c.job.ID)
	}
	c.answer <- nil
	c = <-f.calls
	if c.job.ID != 2 {
		t.Fatalf("second call is job %d, want 2 (lane order)", c.job.ID)
	}
	c.answer <- errors.New("connection reset")

	// A job committed meanwhile, in another lane: the wake-up loads it.
	f.add(job(3, "b"))
	r.Wake()
	c = <-f.calls
	if c.job.ID != 3 {
		t.Fatalf("after the wake-up, call for job %d, want 3", c.job.ID)
	}
	c.answer <- nil

	// Job 2 comes back when its backoff has passed (counted from when its
	// retry was recorded).
	if retry := <-f.onRetry; retry.ID != 2 || !retry.NextAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("retry recorded for job %d at %v, want job 2 at %v", retry.ID, retry.NextAt, t0.Add(10*time.Second))
	}
	clk.Advance(10 * time.Second)
	c = <-f.calls
	if c.job.ID != 2 || c.job.Attempts != 1 {
		t.Fatalf("retry: job %d with %d attempts, want job 2 with 1", c.job.ID, c.job.Attempts)
	}
	// Shutdown while it runs: Run waits for it.
	cancel()
	select {
	case <-stopped:
		t.Fatal("Run returned with a job in flight")
	default:
	}
	c.answer <- nil
	<-stopped
	if st := r.Stats(); st.Running != 0 {
		t.Errorf("after Run: %d running", st.Running)
	}
}

// A store whose IDs commit out of order hands a lower ID after a higher
// one, and may hand a job twice: the runner holds each job once, in ID
// order within its lane.
func TestRunner_Load_LateLowerIDAndRepeats(t *testing.T) {
	f := &fakePerformer{}
	f.add(job(1, "a"), job(3, "a"))
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 8)
	if len(start) != 1 || start[0].ID != 1 {
		t.Fatalf("started %v, want [1]", ids(start))
	}
	// Job 2 commits late; the store hands back every job (1 and 3 again).
	f.add(job(2, "a"))
	f.all = true
	if err := r.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Depth != 3 {
		t.Fatalf("depth %d after a repeated load, want 3", st.Depth)
	}
	r.finish(jobDone{job: start[0], remove: true})
	for _, want := range []uint64{2, 3} {
		next, _ := r.dispatch(clk.Now(), 8)
		if len(next) != 1 || next[0].ID != want {
			t.Fatalf("dispatch started %v, want [%d]", ids(next), want)
		}
		r.finish(jobDone{job: next[0], remove: true})
	}
	if st := r.Stats(); st.Depth != 0 {
		t.Errorf("depth %d at the end, want 0", st.Depth)
	}
}

// Under a full outbox the jobs that have been due longest go first (lanes
// used to be picked in map order, and a due job could wait behind later
// ones for seconds).
func TestRunner_Dispatch_LongestDueFirst(t *testing.T) {
	f := &fakePerformer{}
	var jobs []*incidentbot.Job
	for i := range 20 {
		j := job(uint64(i+1), fmt.Sprintf("lane-%02d", i))
		j.NextAt = t0.Add(-time.Duration(i) * time.Second) // lane-19 due longest
		jobs = append(jobs, j)
	}
	f.add(jobs...)
	clk := newClock()
	r := newRunner(t, f, clk)
	start, _ := r.dispatch(clk.Now(), 3)
	if got := ids(start); !slices.Equal(got, []uint64{18, 19, 20}) {
		t.Errorf("with room for 3, started %v; want the three due longest [18 19 20]", got)
	}
}

// The snapshot tells each held job's lane, whether it heads its lane and
// runs, and when a head that waits runs next as the runner holds it (a
// deferral is not stored): the admin API's view of a due job not started.
func TestRunner_Snapshot_HeadsRunningAndDueTimes(t *testing.T) {
	f := &fakePerformer{result: func(j *incidentbot.Job) error {
		return &incidentbot.Error{Code: incidentbot.ETHROTTLED, RetryAfter: 3 * time.Second}
	}}
	a1, a2, b, c := job(1, "a"), job(2, "a"), job(3, "b"), job(4, "c")
	c.NextAt = t0.Add(time.Minute)
	f.add(a1, a2, b, c)
	clk := newClock()
	r := newRunner(t, f, clk)
	if s := r.Snapshot(); s.Active {
		t.Error("a runner that is not running says it is active")
	}
	start, _ := r.dispatch(clk.Now(), 8)
	if got := ids(start); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("started %v, want [1 3]", got)
	}
	// Job 3 is deferred by 3 s; job 1 still runs.
	r.finish(r.attempt(context.Background(), start[1]))
	clk.Advance(time.Second)
	s := r.Snapshot()
	want := map[uint64]HeldJob{
		1: {Lane: "a", Head: true, Running: true},
		2: {Lane: "a"},
		3: {Lane: "b", Head: true, DueAt: t0.Add(3 * time.Second)},
		4: {Lane: "c", Head: true, DueAt: t0.Add(time.Minute)},
	}
	if s.Running != 1 || !s.Now.Equal(t0.Add(time.Second)) || len(s.Jobs) != len(want) {
		t.Fatalf("snapshot running %d, now %v, %d jobs; want 1, %v, %d", s.Running, s.Now, len(s.Jobs), t0.Add(time.Second), len(want))
	}
	for id, w := range want {
		if got := s.Jobs[id]; got != w {
			t.Errorf("job %d: %+v, want %+v", id, got, w)
		}
	}
	if f.jobs[2].NextAt != t0 {
		t.Errorf("the deferral was stored (%v): the snapshot is the only place it shows", f.jobs[2].NextAt)
	}
}

// Run makes the runner active; when Run returns it holds nothing (another
// replica may do its jobs meanwhile).
func TestRunner_Snapshot_ActiveWhileRunning(t *testing.T) {
	f := &fakePerformer{calls: make(chan call)}
	f.add(job(1, "a"), job(2, "b"))
	r := &Runner{Performer: f, Clock: newClock()}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	c1, c2 := <-f.calls, <-f.calls
	if s := r.Snapshot(); !s.Active || s.Running != 2 || len(s.Jobs) != 2 {
		t.Errorf("while running: %+v, want active with 2 running of 2 held", s)
	}
	cancel()
	c1.answer <- nil
	c2.answer <- nil
	<-stopped
	if s := r.Snapshot(); s.Active || s.Running != 0 || len(s.Jobs) != 0 {
		t.Errorf("after Run: %+v, want inactive, holding nothing", s)
	}
}
