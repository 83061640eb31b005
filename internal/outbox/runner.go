package outbox

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Performer gives jobs their meaning: it reads them from the store, makes
// their calls and records what became of them. The runner decides when a
// job runs and what a failure becomes; the performer decides how.
type Performer interface {
	// Pending returns the stored jobs with an ID above after, in ID order.
	// after is the highest ID the runner has seen: a store whose IDs can
	// commit out of order may also return lower ones it has not handed out
	// yet (the runner ignores those it holds already).
	Pending(ctx context.Context, after uint64) ([]*incidentbot.Job, error)
	// Perform attempts j. A nil error means the call succeeded and the job
	// is recorded as done (deleted, with what its result changes, in one
	// transaction). An ETHROTTLED error defers j by its RetryAfter without
	// counting an attempt; a transient error (incidentbot.IsTransient) is
	// retried; any other error makes j a dead letter.
	Perform(ctx context.Context, j *incidentbot.Job) error
	// Retry stores a failed attempt: j's Attempts, NextAt and LastError as
	// the runner set them.
	Retry(ctx context.Context, j *incidentbot.Job) error
	// Fail records j as a dead letter with its cause (and what that means
	// for its incident), removing it from the outbox.
	Fail(ctx context.Context, j *incidentbot.Job, cause error) error
}

// Clock is the runner's time: Now and a timer channel. The zero Runner
// uses the real clock; tests pass a manual one.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reaches t (at once
	// when it has).
	At(t time.Time) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                  { return time.Now() }
func (realClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// Results reported to Observe.
const (
	ResultDone     = "done"
	ResultRetry    = "retry"
	ResultDead     = "dead"
	ResultDeferred = "deferred"
)

// Stats is a snapshot of the outbox as the runner holds it.
type Stats struct {
	Depth       int           // jobs waiting or running
	Running     int           // jobs being performed now
	OldestAge   time.Duration // age of the oldest waiting job
	DeadLetters int           // dead letters recorded since start
}

// Runner performs outbox jobs. Jobs of one lane run one at a time in ID
// order; lanes run side by side, at most Concurrency at once. A job is
// removed only after the performer recorded it done or dead; a transient
// failure is retried with backoff (at least the Retry-After asked for)
// until the job is older than MaxAge, then it becomes a dead letter; a
// deferral (a rate budget, a job waiting for another) is not an attempt,
// nor is a rate-limit answer (a transient error with a Retry-After: the
// job is retried after exactly that).
type Runner struct {
	Performer Performer
	// Clock is the time source; nil means the real clock.
	Clock Clock
	// Concurrency is how many jobs run at once (8 when zero).
	Concurrency int
	// MaxAge is how long a transiently failing job is retried (24 h when zero).
	MaxAge time.Duration
	// Backoff returns the wait before retry n (n ≥ 1); nil means
	// exponential from 1 s to 5 min with ±20% jitter.
	Backoff func(n int) time.Duration
	// Rescan is how often stored jobs are read even with no wake-up (5 s
	// when zero): a wake-up lost in a crash costs at most this.
	Rescan time.Duration
	// Observe, when set, is told the result of every attempt.
	Observe func(kind incidentbot.JobKind, result string, d time.Duration)
	Logger  *slog.Logger

	once      sync.Once
	wake      chan struct{}
	mu        sync.Mutex
	lanes     map[string][]*incidentbot.Job
	busy      map[string]bool // lanes with a job running
	known     map[uint64]bool // IDs of the jobs in lanes
	lastID    uint64
	running   int
	deadCount int
	active    bool // Run is running
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		r.lanes = map[string][]*incidentbot.Job{}
		r.busy = map[string]bool{}
		r.known = map[uint64]bool{}
	})
}

// Wake tells the runner that new jobs were committed.
func (r *Runner) Wake() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the outbox.
func (r *Runner) Stats() Stats {
	r.init()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{DeadLetters: r.deadCount, Running: r.running}
	var oldest time.Time
	for _, q := range r.lanes {
		st.Depth += len(q)
		if len(q) > 0 && (oldest.IsZero() || q[0].CreatedAt.Before(oldest)) {
			oldest = q[0].CreatedAt
		}
	}
	if !oldest.IsZero() {
		st.OldestAge = r.now().Sub(oldest)
	}
	return st
}

// Snapshot is what the runner holds at one moment: for telling a job that
// waits from one that is due and not started, or one stored and not held.
type Snapshot struct {
	// Active reports whether Run is running (with PostgreSQL: this replica
	// leads). An inactive runner holds nothing.
	Active bool
	// Now is the runner's clock when the snapshot was taken.
	Now time.Time
	// Running is how many jobs are being performed.
	Running int
	// Jobs are the jobs held, by ID.
	Jobs map[uint64]HeldJob
}

// HeldJob is one job as the runner holds it.
type HeldJob struct {
	Lane string
	// Head: first in its lane, the next of the lane to run.
	Head bool
	// Running: being performed now (DueAt is then zero).
	Running bool
	// DueAt is when a head that is not running runs next, as the runner
	// holds it: deferrals (waiting for the channel, a rate budget) are not
	// stored, so the stored NextAt may be earlier. Zero for other jobs.
	DueAt time.Time
}

// Snapshot returns what the runner holds now. It costs one pass over the
// jobs held (the outbox, not its history).
func (r *Runner) Snapshot() Snapshot {
	r.init()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Active: r.active, Now: r.now(), Running: r.running, Jobs: make(map[uint64]HeldJob, len(r.known))}
	for lane, q := range r.lanes {
		for i, j := range q {
			h := HeldJob{Lane: lane, Head: i == 0, Running: i == 0 && r.busy[lane]}
			if h.Head && !h.Running {
				// Only a running job's attempt writes its NextAt, and it
				// hands the job back under r.mu (finish).
				h.DueAt = j.NextAt
			}
			s.Jobs[j.ID] = h
		}
	}
	return s
}

// LaterInLane reports whether a job of the same kind waits behind j in its
// lane (so j's work would be redone by it).
func (r *Runner) LaterInLane(j *incidentbot.Job) bool {
	r.init()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.lanes[j.Lane] {
		if o.ID > j.ID && o.Kind == j.Kind {
			return true
		}
	}
	return false
}

func (r *Runner) clock() Clock {
	if r.Clock != nil {
		return r.Clock
	}
	return realClock{}
}

func (r *Runner) now() time.Time { return r.clock().Now().UTC() }

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (r *Runner) backoff(n int) time.Duration {
	if r.Backoff != nil {
		return r.Backoff(n)
	}
	d := time.Second << min(n-1, 9)
	d = min(d, 5*time.Minute)
	// ±20% jitter so retries of many jobs do not arrive together.
	return d - d/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

func (r *Runner) maxAge() time.Duration {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return 24 * time.Hour
}

func (r *Runner) rescan() time.Duration {
	if r.Rescan > 0 {
		return r.Rescan
	}
	return 5 * time.Second
}

// load reads jobs committed since the last load.
func (r *Runner) load(ctx context.Context) error {
	fresh, err := r.Performer.Pending(ctx, r.lastID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range fresh {
		// A store may hand back a job it gave before (one whose IDs can
		// commit out of order reads behind its highest ID): once is enough.
		if r.known[j.ID] {
			continue
		}
		r.known[j.ID] = true
		q := r.lanes[j.Lane]
		// Keep the lane in ID order even when a lower ID arrives late (it
		// never overtakes the job running at the head).
		i := len(q)
		for i > 1 && q[i-1].ID > j.ID {
			i--
		}
		r.lanes[j.Lane] = slices.Insert(q, i, j)
		r.lastID = max(r.lastID, j.ID)
	}
	return nil
}

type jobDone struct {
	job    *incidentbot.Job
	remove bool // done or dead: drop it from its lane
}

// dispatch picks the jobs to start now: the head of each lane that is not
// busy and is due, longest due first (so under a full outbox no due job
// waits behind later ones), as many as fit under the concurrency limit. It
// marks them running and returns them with when the runner must look again
// (the earliest head not yet due, or now plus Rescan).
func (r *Runner) dispatch(now time.Time, limit int) (start []*incidentbot.Job, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next = now.Add(r.rescan())
	var due []*incidentbot.Job
	for lane, q := range r.lanes {
		if len(q) == 0 {
			delete(r.lanes, lane)
			continue
		}
		if r.busy[lane] {
			continue
		}
		j := q[0]
		if j.NextAt.After(now) {
			if j.NextAt.Before(next) {
				next = j.NextAt
			}
			continue
		}
		due = append(due, j)
	}
	slices.SortFunc(due, func(a, b *incidentbot.Job) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, j := range due {
		if r.running >= limit {
			break
		}
		r.busy[j.Lane] = true
		r.running++
		start = append(start, j)
	}
	return start, next
}

// finish takes back a job that ran: its lane is free again, and a job done
// or dead leaves it.
func (r *Runner) finish(d jobDone) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy[d.job.Lane] = false
	r.running--
	if d.remove {
		q := r.lanes[d.job.Lane]
		if i := slices.IndexFunc(q, func(j *incidentbot.Job) bool { return j.ID == d.job.ID }); i >= 0 {
			r.lanes[d.job.Lane] = slices.Delete(q, i, i+1)
		}
		delete(r.known, d.job.ID)
	}
}

// Run performs jobs until ctx is done, then waits for the jobs in flight.
// Each Run starts from what the store holds: a runner that stopped (a
// replica that lost the leader lease) and runs again forgets the jobs it
// held, which another runner may have done meanwhile.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	r.mu.Lock()
	clear(r.lanes)
	clear(r.busy)
	clear(r.known)
	r.lastID, r.running = 0, 0
	r.active = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active = false
		clear(r.lanes)
		clear(r.busy)
		clear(r.known)
		r.mu.Unlock()
	}()
	limit := r.Concurrency
	if limit <= 0 {
		limit = 8
	}
	done := make(chan jobDone, limit)
	inFlight := 0
	needLoad := true
	for {
		if needLoad {
			if err := r.load(ctx); err != nil && ctx.Err() == nil {
				r.logger().Error("outbox: reading jobs failed", "err", err)
			}
			needLoad = false
		}
		now := r.now()
		start, next := r.dispatch(now, limit)
		for _, j := range start {
			inFlight++
			go func(j *incidentbot.Job) { done <- r.attempt(ctx, j) }(j)
		}
		if ctx.Err() != nil {
			for ; inFlight > 0; inFlight-- {
				r.finish(<-done)
			}
			return nil
		}
		if next.Before(now.Add(time.Millisecond)) {
			next = now.Add(time.Millisecond)
		}
		timer := r.clock().At(next)
		select {
		case <-ctx.Done():
		case <-r.wake:
			needLoad = true
		case <-timer:
			needLoad = true // also retries a load that failed
		case d := <-done:
			inFlight--
			r.finish(d)
		}
	}
}

// attempt performs one job and decides what becomes of it.
func (r *Runner) attempt(ctx context.Context, j *incidentbot.Job) jobDone {
	start := time.Now()
	// Bookkeeping writes must land even when shutdown cancels ctx: a call
	// that succeeded and was not recorded would be made again.
	bg := context.WithoutCancel(ctx)
	err := r.Performer.Perform(ctx, j)
	if err == nil {
		r.observe(j.Kind, ResultDone, start)
		return jobDone{job: j, remove: true}
	}
	log := r.logger().With("incident", j.IncidentID, "job", j.ID, "kind", j.Kind)
	if ctx.Err() != nil {
		// Shutting down: the job stays as it was and runs after the restart.
		return jobDone{job: j}
	}
	if incidentbot.ErrorCode(err) == incidentbot.ETHROTTLED {
		if r.now().Sub(j.CreatedAt) > r.maxAge() {
			// Held back for longer than any job is retried: what it waits
			// for is not coming; report it rather than hold it for ever.
			log.Error("outbox: job held back past its maximum age; dead letter", "err", err)
			return r.dead(bg, j, &incidentbot.Error{Code: incidentbot.EREJECTED, Message: fmt.Sprintf("held back for over %s", r.maxAge()), Err: err}, start)
		}
		// Held back (a rate budget, or the job waits for another): not an
		// attempt.
		j.NextAt = r.now().Add(max(incidentbot.RetryAfter(err), 10*time.Millisecond))
		r.observe(j.Kind, ResultDeferred, start)
		return jobDone{job: j}
	}
	if !incidentbot.IsTransient(err) {
		log.Warn("outbox: job failed for good", "err", err)
		return r.dead(bg, j, err, start)
	}
	if r.now().Sub(j.CreatedAt) > r.maxAge() {
		log.Error("outbox: job kept failing past its maximum age; dead letter", "err", err, "attempts", j.Attempts+1)
		return r.dead(bg, j, &incidentbot.Error{Code: incidentbot.EREJECTED, Message: fmt.Sprintf("gave up after %d attempts over %s", j.Attempts+1, r.maxAge()), Err: err}, start)
	}
	if incidentbot.RetryAfter(err) > 0 {
		// Rate limited (a 429): the remote refused the call and said when
		// to come back. Not a failed attempt: retry when it asked, not
		// after the backoff of the failures before it.
		log.Info("outbox: job rate limited; will retry when asked", "err", err, "retry_after", incidentbot.RetryAfter(err), "attempts", j.Attempts)
		r.reschedule(bg, j, err, false)
		r.observe(j.Kind, ResultRetry, start)
		return jobDone{job: j}
	}
	log.Info("outbox: job failed; will retry", "err", err, "attempts", j.Attempts+1)
	r.reschedule(bg, j, err, true)
	r.observe(j.Kind, ResultRetry, start)
	return jobDone{job: j}
}

// dead turns a job into a dead letter. If that cannot be recorded the job
// stays in its lane and is tried again later.
func (r *Runner) dead(ctx context.Context, j *incidentbot.Job, cause error, start time.Time) jobDone {
	if err := r.Performer.Fail(ctx, j, cause); err != nil {
		r.logger().Error("outbox: recording a dead letter failed", "job", j.ID, "err", err)
		j.NextAt = r.now().Add(r.backoff(max(j.Attempts, 1)))
		return jobDone{job: j}
	}
	r.mu.Lock()
	r.deadCount++
	r.mu.Unlock()
	r.observe(j.Kind, ResultDead, start)
	return jobDone{job: j, remove: true}
}

func (r *Runner) observe(kind incidentbot.JobKind, result string, start time.Time) {
	if r.Observe != nil {
		r.Observe(kind, result, time.Since(start))
	}
}

// reschedule records a failed attempt (count) or a refused call, and when
// to try next: after the backoff of the attempts, or the Retry-After the
// remote asked for when it is longer; a refused call that was not counted
// waits only its Retry-After.
func (r *Runner) reschedule(ctx context.Context, j *incidentbot.Job, cause error, count bool) {
	if count {
		j.Attempts++
	}
	wait := incidentbot.RetryAfter(cause)
	if count || wait <= 0 {
		wait = max(wait, r.backoff(max(j.Attempts, 1)))
	}
	j.NextAt = r.now().Add(wait)
	j.LastError = incidentbot.ErrorMessage(cause)
	cp := *j
	// Persisting the attempt count is what makes MaxAge and backoff survive
	// a restart; if it fails the job still retries, only sooner.
	if err := r.Performer.Retry(ctx, &cp); err != nil && ctx.Err() == nil {
		r.logger().Error("outbox: recording a retry failed", "job", j.ID, "err", err)
	}
}

// NowClock is a Clock that reads the time from a function and waits on
// real timers: a clock that was set to some time and flows from there.
type NowClock func() time.Time

// Now returns f().
func (f NowClock) Now() time.Time { return f() }

// At waits on a real timer for the time between f() and t.
func (f NowClock) At(t time.Time) <-chan time.Time { return time.After(t.Sub(f())) }
