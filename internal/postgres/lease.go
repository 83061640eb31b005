package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Fence is a leader's term: the lease epoch it holds. An Update whose
// context carries one (WithFence) commits only while the lease still has
// that epoch.
type Fence struct {
	Epoch int64
}

type fenceKey struct{}

// WithFence returns ctx carrying f: every Update with it (or a context
// derived from it, context.WithoutCancel included) checks the lease's
// epoch inside its transaction, under a share lock that a takeover waits
// for.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceOf returns the fence ctx carries (zero when none).
func FenceOf(ctx context.Context) Fence {
	f, _ := ctx.Value(fenceKey{}).(Fence)
	return f
}

// fenced is the error of a transaction refused because the lease moved on.
func fenced(epoch int64) error {
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: fmt.Sprintf("not the leader any more: lease epoch %d was taken over by another replica", epoch), Err: ErrFenced}
}

// ErrFenced is in the chain of the error of an Update refused because its
// fence's epoch is no longer the lease's.
var ErrFenced = errors.New("postgres: fenced")

// Lease elects one leader among the replicas sharing a database: a row
// with a holder, an epoch and an expiry in the database's clock. The
// holder renews it every TTL/5; another instance takes it over once it has
// expired, with the next epoch. The holder steps down (cancels its
// leader's context) when a renewal finds another holder, or when it could
// not renew for TTL minus a second (it may be cut off). The lease uses its
// own connection, so a busy pool cannot starve it.
type Lease struct {
	DB *DB
	// TTL is how long the lease lasts without renewal (5 s when zero).
	TTL time.Duration
	// Logger receives takeovers and step-downs.
	Logger *slog.Logger
	// OnChange is told when this instance starts (true) or stops leading.
	OnChange func(leading bool, epoch int64)

	leading atomic.Bool
	epoch   atomic.Int64
	// paused stops renewals and step-downs, as SIGSTOP would (tests).
	paused atomic.Bool

	mu   sync.Mutex
	conn *pgx.Conn
}

func (l *Lease) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return 5 * time.Second
}

func (l *Lease) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Leading reports whether this instance holds the lease now.
func (l *Lease) Leading() bool { return l.leading.Load() }

// Epoch returns the epoch this instance leads in (0 when it does not).
func (l *Lease) Epoch() int64 {
	if !l.leading.Load() {
		return 0
	}
	return l.epoch.Load()
}

// exec runs one lease statement on the lease's connection, reconnecting
// when it was lost, bounded by a timeout of a fifth of the TTL... at least
// one second.
func (l *Lease) queryRow(ctx context.Context, sql string, args []any, dst ...any) error {
	ctx, cancel := context.WithTimeout(ctx, max(l.ttl()/5, time.Second))
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || l.conn.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, l.DB.pool.Config().ConnConfig.Copy())
		if err != nil {
			return err
		}
		l.conn = c
	}
	err := l.conn.QueryRow(ctx, sql, args...).Scan(dst...)
	var pe *pgconn.PgError
	if err != nil && !errors.Is(err, pgx.ErrNoRows) && !errors.As(err, &pe) {
		// The connection's state is unknown: start a new one next time.
		l.conn.Close(context.Background())
		l.conn = nil
	}
	return err
}

func (l *Lease) closeConn() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// tryAcquire takes the lease if it expired (or was released). It returns
// the new epoch, and how long the lease had been expired and who held it,
// for the log.
func (l *Lease) tryAcquire(ctx context.Context) (epoch int64, prev string, expiredFor time.Duration, ok bool, err error) {
	var secs float64
	// Only an expired lease is locked: the leader's transactions hold key
	// share locks on the row (tx.go), and a FOR UPDATE waiting on them
	// every tick would queue the leader's renewals behind it. The lock
	// makes the takeover wait for the old leader's transactions in flight;
	// the condition is checked again on the row once it is locked.
	err = l.queryRow(ctx, `WITH old AS (SELECT holder, expires_at FROM leader WHERE id = 1 AND (expires_at < now() OR holder = '') FOR UPDATE)
		UPDATE leader SET holder = $1, epoch = leader.epoch + 1, expires_at = now() + $2 * interval '1 millisecond'
		FROM old WHERE leader.id = 1 AND (old.expires_at < now() OR old.holder = '')
		RETURNING leader.epoch, old.holder, CASE WHEN old.expires_at = '-infinity' THEN 0 ELSE extract(epoch FROM now() - old.expires_at)::float8 END`,
		[]any{l.DB.instance, l.ttl().Milliseconds()}, &epoch, &prev, &secs)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", 0, false, nil
	}
	if err != nil {
		return 0, "", 0, false, err
	}
	return epoch, prev, time.Duration(secs * float64(time.Second)), true, nil
}

// renew extends the lease of epoch; ok is false when another holds it.
func (l *Lease) renew(ctx context.Context, epoch int64) (ok bool, err error) {
	var one int
	err = l.queryRow(ctx, "UPDATE leader SET expires_at = now() + $3 * interval '1 millisecond' WHERE id = 1 AND holder = $1 AND epoch = $2 RETURNING 1",
		[]any{l.DB.instance, epoch, l.ttl().Milliseconds()}, &one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// release gives the lease up at once (a clean shutdown), so another
// replica need not wait for it to expire.
func (l *Lease) release(epoch int64) {
	var one int
	err := l.queryRow(context.Background(), "UPDATE leader SET holder = '', expires_at = '-infinity' WHERE id = 1 AND holder = $1 AND epoch = $2 RETURNING 1",
		[]any{l.DB.instance, epoch}, &one)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		l.logger().Warn("leader: releasing the lease failed; another replica takes over when it expires", "epoch", epoch, "err", err)
	}
}

// Run campaigns for the lease until ctx ends. While this instance leads
// it runs lead with a context that carries the fence and ends when the
// lease is lost; Run waits for lead to return before campaigning again.
// On return it releases a lease it holds.
func (l *Lease) Run(ctx context.Context, lead func(ctx context.Context)) {
	defer l.closeConn()
	tick := max(l.ttl()/5, 100*time.Millisecond)
	for ctx.Err() == nil {
		start := time.Now()
		epoch, prev, expiredFor, ok, err := l.tryAcquire(ctx)
		if err != nil && ctx.Err() == nil {
			l.logger().Warn("leader: cannot reach the lease", "err", err)
		}
		if !ok {
			sleep(ctx, tick)
			continue
		}
		if prev == "" {
			l.logger().Info("leader: took the lease", "epoch", epoch, "instance", l.DB.instance)
		} else {
			l.logger().Warn("leader: took over the lease", "epoch", epoch, "instance", l.DB.instance, "previous", prev, "expired_for", expiredFor.Round(time.Millisecond).String())
		}
		l.lead(ctx, epoch, start, tick, lead)
	}
}

// lead runs one term.
func (l *Lease) lead(ctx context.Context, epoch int64, start time.Time, tick time.Duration, lead func(ctx context.Context)) {
	l.epoch.Store(epoch)
	l.leading.Store(true)
	l.DB.leading.Store(true)
	if l.OnChange != nil {
		l.OnChange(true, epoch)
	}
	termCtx, cancel := context.WithCancel(WithFence(ctx, Fence{Epoch: epoch}))
	done := make(chan struct{})
	go func() { defer close(done); lead(termCtx) }()
	// The lease is surely ours until start+TTL (the database set the
	// expiry after start); a second of margin for clock drift.
	validUntil := start.Add(l.ttl() - time.Second)
	reason := ""
	for reason == "" {
		select {
		case <-ctx.Done():
			reason = "shutting down"
			continue
		case <-done:
			reason = "the leader's work stopped"
			continue
		case <-time.After(tick):
		}
		if l.paused.Load() {
			continue
		}
		t0 := time.Now()
		ok, err := l.renew(ctx, epoch)
		switch {
		case ok:
			validUntil = t0.Add(l.ttl() - time.Second)
		case err == nil:
			reason = "another replica holds the lease"
		case time.Now().After(validUntil):
			reason = "could not renew the lease in time: " + err.Error()
		default:
			l.logger().Warn("leader: renewing the lease failed; will try again", "epoch", epoch, "err", err)
		}
	}
	cancel()
	<-done
	l.leading.Store(false)
	l.DB.leading.Store(false)
	if l.OnChange != nil {
		l.OnChange(false, epoch)
	}
	if ctx.Err() != nil {
		l.release(epoch)
		l.logger().Info("leader: released the lease", "epoch", epoch)
		return
	}
	l.logger().Warn("leader: stepped down", "epoch", epoch, "reason", reason)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Listen calls fn after commits, by any other replica, that enqueued
// outbox jobs (LISTEN/NOTIFY, sent after those commits; see notify.go),
// until ctx ends. It keeps its own connection and reconnects when it is
// lost, calling fn then too (a notification may have been missed).
func (db *DB) Listen(ctx context.Context, fn func()) {
	for ctx.Err() == nil {
		err := db.listen(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("postgres: outbox notifications lost; reconnecting", "err", err)
		fn()
		sleep(ctx, time.Second)
	}
}

func (db *DB) listen(ctx context.Context, fn func()) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, db.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.channel}.Sanitize()); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		fn()
	}
}
