package pager

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/prometheus/client_golang/prometheus"
)

// LogSource reads pages of PagerDuty's log entries (Client.LogEntries).
type LogSource interface {
	LogEntries(ctx context.Context, since, until time.Time, offset int) (LogPage, error)
}

// LogIngester is what the poller needs from the lifecycle: apply events
// and record the cursor in one transaction, and read the cursor back.
type LogIngester interface {
	IngestPagerDutyLog(ctx context.Context, evs []incidentbot.PagerEvent, cursor string) ([]incidentbot.Outcome, error)
	Cursor(ctx context.Context, name string) (string, error)
}

// MinPollInterval is the shortest INCIDENTBOT_PAGERDUTY_POLL: PagerDuty's
// REST limit is 960 requests a minute per key, shared with the outbox.
const MinPollInterval = 10 * time.Second

// Poller is PagerDuty pull mode: every Every it reads the log entries
// created since its cursor and applies those with a webhook counterpart as
// the webhook's events would be, then moves the cursor, in the same
// transaction as the events it covers.
//
// The cursor is a time T (RFC 3339, whole seconds): every entry created
// before T is applied. A poll reads [T − Overlap, now): entries PagerDuty
// makes visible a little after their time are read on the next poll, and
// those read twice are deduplicated on their log entry IDs. The window's
// entries are read in full (every page, until fixed, so offsets do not
// shift under new entries), sorted oldest first and applied in batches;
// each batch moves the cursor to the time of the first entry it did not
// apply, so a crash repeats nothing and misses nothing. A window holding
// more than MaxEntries is halved until it does not (PagerDuty's offset
// pagination stops at 10,000).
type Poller struct {
	Source  LogSource
	Ingest  LogIngester
	Every   time.Duration
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	Overlap time.Duration    // 0: one minute
	// MaxEntries bounds one window (10,000 when 0, PagerDuty's offset
	// limit); Batch bounds one transaction (100 when 0).
	MaxEntries, Batch int
	// Backoff is the first wait after a failed read (1 s when 0); it
	// doubles up to 5 min, and a 429's Retry-After is waited in full.
	Backoff time.Duration

	metrics *pollMetrics
}

type pollMetrics struct {
	polls   *prometheus.CounterVec
	entries *prometheus.CounterVec
	lag     prometheus.Gauge
}

// Register adds the poller's metrics to reg.
func (p *Poller) Register(reg prometheus.Registerer) {
	m := &pollMetrics{
		polls:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_pagerduty_polls_total", Help: "PagerDuty log-entry polls by result (ok, error, rate_limited)."}, []string{"result"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_pagerduty_log_entries_total", Help: "PagerDuty log entries read in pull mode by outcome (applied, duplicate, ignored, pending, skipped)."}, []string{"outcome"}),
		lag:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "incidentbot_pagerduty_poll_lag_seconds", Help: "How far the PagerDuty log cursor is behind now."}),
	}
	reg.MustRegister(m.polls, m.entries, m.lag)
	p.metrics = m
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Poller) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run polls until ctx ends: at once, then every Every after each poll
// ends; after a failure it waits the backoff (or the 429's Retry-After).
func (p *Poller) Run(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		wait := p.Every
		if err := p.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, p.first()), 5*time.Minute)
			wait = max(backoff, incidentbot.RetryAfter(err))
			result := "error"
			if incidentbot.RetryAfter(err) > 0 {
				result = "rate_limited"
			}
			p.count(result)
			p.log().Warn("pagerduty poll failed; will try again", "err", err, "retry_in", wait.String())
		} else {
			backoff = 0
			p.count("ok")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (p *Poller) first() time.Duration {
	if p.Backoff > 0 {
		return p.Backoff
	}
	return time.Second
}

func (p *Poller) count(result string) {
	if p.metrics != nil {
		p.metrics.polls.WithLabelValues(result).Inc()
	}
}

// Poll reads and applies the log entries since the cursor once. With no
// cursor yet (the first start in pull mode) it starts one interval back:
// older incidents that are still open come from reconciliation.
func (p *Poller) Poll(ctx context.Context) error {
	cur, err := p.Ingest.Cursor(ctx, incidentbot.PagerDutyLogCursor)
	if err != nil {
		return fmt.Errorf("read the PagerDuty log cursor: %w", err)
	}
	now := p.now().Truncate(time.Second)
	from := now.Add(-p.Every)
	if cur != "" {
		if from, err = time.Parse(time.RFC3339, cur); err != nil {
			return fmt.Errorf("the stored PagerDuty log cursor %q is not an RFC 3339 time: %w", cur, err)
		}
	}
	if p.metrics != nil {
		p.metrics.lag.Set(now.Sub(from).Seconds())
	}
	overlap := p.Overlap
	if overlap == 0 {
		overlap = time.Minute
	}
	// Windows until now, each small enough to page through in full.
	for from.Before(now) {
		until := now
		var entries []LogEntry
		for {
			entries, err = p.read(ctx, from.Add(-overlap), until)
			if err != errWindowTooLarge {
				break
			}
			half := from.Add(until.Sub(from) / 2).Truncate(time.Second)
			if !half.After(from) {
				return fmt.Errorf("more than %d PagerDuty log entries within one second at %s", p.maxEntries(), from.Format(time.RFC3339))
			}
			until = half
		}
		if err != nil {
			return err
		}
		if err := p.apply(ctx, entries, from, until); err != nil {
			return err
		}
		from = until
	}
	return nil
}

var errWindowTooLarge = fmt.Errorf("pagerduty: log window too large")

func (p *Poller) maxEntries() int {
	if p.MaxEntries > 0 {
		return p.MaxEntries
	}
	return 10000
}

// read returns every entry of [since, until), oldest first.
func (p *Poller) read(ctx context.Context, since, until time.Time) ([]LogEntry, error) {
	var all []LogEntry
	for offset := 0; ; {
		page, err := p.Source.LogEntries(ctx, since, until, offset)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Entries...)
		if !page.More || len(page.Entries) == 0 {
			break
		}
		offset += len(page.Entries)
		if offset >= p.maxEntries() {
			return nil, errWindowTooLarge
		}
	}
	sortLog(all)
	firstAssignees(all)
	return all, nil
}

// firstAssignees gives each trigger the assignees of its incident's first
// assignment, logged beside it: the included incident is as it is now,
// and the trigger's webhook names who it went to first.
func firstAssignees(entries []LogEntry) {
	first := map[string][]incidentbot.Person{}
	for _, e := range entries {
		if initialAssignment(e) {
			if _, ok := first[e.Event.IncidentID]; !ok {
				first[e.Event.IncidentID] = e.Event.Incident.Assignees
			}
		}
	}
	for _, e := range entries {
		if e.Type == "trigger_log_entry" && e.Event.Incident != nil && initialTrigger(e) {
			if as, ok := first[e.Event.IncidentID]; ok {
				e.Event.Incident.Assignees = as
			}
		}
	}
}

// apply ingests entries in batches; each batch's transaction moves the
// cursor to the first entry after it (until after the last batch), never
// back before from.
func (p *Poller) apply(ctx context.Context, entries []LogEntry, from, until time.Time) error {
	size := p.Batch
	if size <= 0 {
		size = 100
	}
	for lo := 0; lo < len(entries) || lo == 0; lo += size {
		hi := min(lo+size, len(entries))
		cursor := until
		if hi < len(entries) {
			if next := entries[hi].CreatedAt.Truncate(time.Second); next.After(from) {
				cursor = next
			} else {
				cursor = from
			}
		}
		var evs []incidentbot.PagerEvent
		for _, e := range entries[lo:hi] {
			if e.Event.Type == "" || initialAssignment(e) {
				p.countEntry("skipped")
				continue
			}
			evs = append(evs, e.Event)
		}
		outs, err := p.Ingest.IngestPagerDutyLog(ctx, evs, cursor.Format(time.RFC3339))
		if err != nil {
			return fmt.Errorf("apply PagerDuty log entries: %w", err)
		}
		for _, o := range outs {
			p.countEntry(string(o))
		}
		if hi >= len(entries) {
			break
		}
	}
	return nil
}

func (p *Poller) countEntry(outcome string) {
	if p.metrics != nil {
		p.metrics.entries.WithLabelValues(outcome).Inc()
	}
}
