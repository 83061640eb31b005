package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrClosed is returned by Update and View after Close.
var ErrClosed = errors.New("postgres: closed")

// Options configure Open. The zero value is usable.
type Options struct {
	// MaxConns caps the pool (16 when zero; the URL's pool_max_conns wins).
	// The leader's work (transactions whose context carries a fence: the
	// outbox, the cadence, reconciliation) and the outbox wake-ups have a
	// pool of their own besides, a quarter of that (at least 2), opened only
	// when used: requests cannot starve them of connections.
	MaxConns int32
	// Migrate applies the schema migrations the database lacks (under a
	// lock, so replicas starting together migrate once). Without it Open
	// fails when the schema is behind the binary.
	Migrate bool
	// Instance names this process in the lease and the heartbeat (the
	// host name and process ID when empty).
	Instance string
	// MaxAttempts bounds how many times Update runs fn when transactions
	// conflict (10 when zero).
	MaxAttempts int
	Logger      *slog.Logger
}

// DB is an open PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	// lead is the pool of the leader's work and the wake-ups (Options.MaxConns).
	lead        *pgxpool.Pool
	schema      string
	instance    string
	maxAttempts int
	log         *slog.Logger
	// channel is the NOTIFY channel of this schema's outbox.
	channel string

	closed atomic.Bool

	// horizonMu guards horizon: the xmin of the snapshot of the last
	// Jobs read with after > 0 (the outbox runner's), see tx.Jobs.
	horizonMu sync.Mutex
	horizon   uint64

	// keys decides which delivery keys SeenDelivery guesses (guess.go).
	keys keyStats
	// leading is set while this process holds the lease: its own commits
	// then wake its runner in the process (the caller's Enqueued hook),
	// and need no NOTIFY.
	leading atomic.Bool
	// wake holds one pending NOTIFY (notify.go); stopNotify ends its
	// sender, which closes notifyDone.
	wake       chan struct{}
	stopNotify context.CancelFunc
	notifyDone chan struct{}
}

// Redact returns a database URL with its password replaced by "xxxxx",
// for logs and errors. A string that does not parse as a URL is replaced
// whole.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// IsURL reports whether s is a postgres:// or postgresql:// URL (what
// selects this store instead of a bbolt file).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// ParseURL checks a database URL without connecting. Its error never
// contains the URL's password.
func ParseURL(rawURL string) error {
	if !IsURL(rawURL) {
		return errors.New("want a postgres:// URL")
	}
	if _, err := url.Parse(rawURL); err != nil {
		return errors.New("not a valid URL")
	}
	if _, err := pgxpool.ParseConfig(rawURL); err != nil {
		return fmt.Errorf("not a valid PostgreSQL URL: %s", scrub(err.Error(), rawURL))
	}
	return nil
}

// scrub removes the password of rawURL, and the URL itself, from a message.
func scrub(msg, rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
		for _, k := range []string{"password", "sslpassword"} {
			if v := u.Query().Get(k); v != "" {
				msg = strings.ReplaceAll(msg, v, "xxxxx")
			}
		}
	}
	return msg
}

// Open connects to the database at rawURL, checks (or, with
// Options.Migrate, brings up to date) its schema and returns the store.
// The schema used is the connection's search_path (public unless the URL
// sets search_path). Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if err := ParseURL(rawURL); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("not a valid PostgreSQL URL: %s", scrub(err.Error(), rawURL))
	}
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = 16
		if opts.MaxConns > 0 {
			cfg.MaxConns = opts.MaxConns
		}
	}
	if !strings.Contains(rawURL, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "incidentbot"
	}
	// A session stuck inside a transaction (a paused or cut-off process)
	// must not hold its locks for long: the lease's takeover waits for the
	// fenced transactions of the old leader.
	if rp["idle_in_transaction_session_timeout"] == "" {
		rp["idle_in_transaction_session_timeout"] = "5s"
	}
	if rp["lock_timeout"] == "" {
		rp["lock_timeout"] = "10s"
	}
	// Detect a dead server on an idle connection within seconds.
	if rp["tcp_keepalives_idle"] == "" {
		rp["tcp_keepalives_idle"] = "5"
		rp["tcp_keepalives_interval"] = "2"
		rp["tcp_keepalives_count"] = "3"
	}
	leadCfg := cfg.Copy()
	leadCfg.MaxConns = max(2, cfg.MaxConns/4)
	leadCfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", Redact(rawURL), scrub(err.Error(), rawURL))
	}
	lead, err := pgxpool.NewWithConfig(ctx, leadCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %s", Redact(rawURL), scrub(err.Error(), rawURL))
	}
	db := &DB{pool: pool, lead: lead, instance: opts.Instance, maxAttempts: opts.MaxAttempts, log: opts.Logger}
	if db.instance == "" {
		host, _ := os.Hostname()
		db.instance = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if db.maxAttempts <= 0 {
		db.maxAttempts = 10
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if err := db.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&db.schema); err != nil {
		db.closePools()
		return nil, fmt.Errorf("connect to %s: %s", Redact(rawURL), scrub(err.Error(), rawURL))
	}
	if db.schema == "" {
		db.closePools()
		return nil, fmt.Errorf("connect to %s: no schema to use (the search_path names none that exists)", Redact(rawURL))
	}
	db.channel = "incidentbot_outbox_" + db.schema
	if opts.Migrate {
		if _, err := db.Migrate(ctx); err != nil {
			db.closePools()
			return nil, err
		}
	} else if err := db.checkSchema(ctx); err != nil {
		db.closePools()
		return nil, err
	}
	var sync string
	if err := db.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sync); err == nil && sync == "off" {
		db.log.Warn("postgres: synchronous_commit is off: a delivery answered 2xx can be lost if the server crashes (docs/reliability.md)")
	}
	db.startNotifier()
	return db, nil
}

// Close closes the pool. Transactions in flight finish first.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.stopNotify()
	<-db.notifyDone
	db.closePools()
	return nil
}

func (db *DB) closePools() {
	db.pool.Close()
	db.lead.Close()
}

// Schema returns the schema the store uses.
func (db *DB) Schema() string { return db.schema }

// Instance returns the name this process uses in the lease.
func (db *DB) Instance() string { return db.instance }

// retryable reports whether a failed transaction may run again: another
// transaction won a race (unique violation, serialization failure,
// deadlock, a row changed since it was read), or the connection failed
// before anything was sent.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "40001", "40P01", codeChanged, codeGuessed:
			return true
		}
		return false
	}
	if errors.Is(err, errChanged) || errors.Is(err, errGuessFailed) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// SQLSTATEs raised by incidentbot_assert (migrations/0001_schema.sql).
const (
	codeFenced  = "IB001"
	codeChanged = "IB002"
	// codeGuessed: a delivery key SeenDelivery answered "not seen" without
	// reading exists.
	codeGuessed = "IB003"
)

// errGuessFailed: fn failed in an attempt where SeenDelivery guessed; its
// error may come from a wrong guess, so fn runs again, reading the keys.
var errGuessFailed = errors.New("postgres: a guessed attempt failed")

// errChanged: an incident read without a lock changed before it was
// written back.
var errChanged = errors.New("postgres: incident changed since it was read")

// Update runs fn in a read-write transaction (READ COMMITTED, incidents
// locked as they are read) and returns once it committed or failed. fn may
// run more than once: when the transaction loses a race to another one it
// runs again in a new transaction. Once begun, the transaction is not
// cancelled with ctx (a write that is durable is never reported failed),
// but bounded to 30 s. With a fence in ctx (WithFence), the transaction
// first checks that the lease still has the fence's epoch and fails with
// an ETRANSIENT error when it does not.
func (db *DB) Update(ctx context.Context, fn func(incidentbot.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fence, _ := ctx.Value(fenceKey{}).(Fence)
	run, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for attempt := 1; ; attempt++ {
		// The first attempt guesses that delivery keys are new (see
		// tx.SeenDelivery); the next ones read them.
		if err = db.attempt(run, fn, true, fence, attempt == 1 && db.maxAttempts > 1); err == nil {
			return nil
		}
		if isCode(err, codeFenced) {
			return fenced(fence.Epoch)
		}
		if !retryable(err) || attempt >= db.maxAttempts || run.Err() != nil {
			break
		}
		if errors.Is(err, errGuessFailed) || isCode(err, codeGuessed) {
			continue // not a race with another transaction: no back-off
		}
		// Back off a little, with jitter, so two racers do not meet again.
		d := time.Duration(attempt) * time.Millisecond * time.Duration(1+rand.IntN(4))
		select {
		case <-time.After(d):
		case <-run.Done():
		}
	}
	return db.wrap(err)
}

// wrap gives database errors a domain code: a failure to reach or use the
// database is transient (the caller answers 5xx and PagerDuty retries).
func (db *DB) wrap(err error) error {
	if err == nil || db.closed.Load() && errors.Is(err, ErrClosed) {
		return err
	}
	var ie *incidentbot.Error
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "database", Err: err}
}

// View runs fn in a read-only transaction on one snapshot (REPEATABLE
// READ). A long read stops with ctx's error when ctx ends.
func (db *DB) View(ctx context.Context, fn func(incidentbot.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.wrap(db.attempt(ctx, fn, false, Fence{}, false))
}

// attempt runs fn once in a transaction on a pooled connection (of the
// leader's pool when ctx carries a fence); guess lets SeenDelivery answer
// without reading.
func (db *DB) attempt(ctx context.Context, fn func(incidentbot.Tx) error, write bool, fence Fence, guess bool) error {
	pool := db.pool
	if FenceOf(ctx).Epoch != 0 {
		pool = db.lead
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		if db.closed.Load() {
			return ErrClosed
		}
		return err
	}
	t := newTx(ctx, db, c.Conn(), write)
	t.fence, t.guess = fence, guess
	ferr := safeCall(fn, t)
	if ferr != nil && t.err == nil && len(t.guessedAll) > 0 {
		ferr = errGuessFailed
	}
	err = t.finish(ferr)
	if t.broken {
		// The connection's state is unknown (a failed round trip): never
		// hand it to another transaction.
		c.Hijack().Close(context.Background())
	} else {
		c.Release()
	}
	return err
}

func safeCall(fn func(incidentbot.Tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("postgres: transaction function panicked: %v", p)
		}
	}()
	return fn(t)
}

// Writable reports whether the store can durably accept a write now: it
// commits a heartbeat row of this instance.
func (db *DB) Writable(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	_, err := db.pool.Exec(ctx, "INSERT INTO heartbeat (holder, at) VALUES ($1, now()) ON CONFLICT (holder) DO UPDATE SET at = excluded.at", db.instance)
	return db.wrap(err)
}

// PruneDeliveries deletes dedupe records older than cutoff and returns how
// many it deleted.
func (db *DB) PruneDeliveries(cutoff time.Time) (int, error) {
	ct, err := db.pool.Exec(context.Background(), "DELETE FROM deliveries WHERE at < $1", cutoff)
	if err != nil {
		return 0, db.wrap(err)
	}
	// Heartbeats of instances gone for a day.
	if _, err := db.pool.Exec(context.Background(), "DELETE FROM heartbeat WHERE at < now() - interval '1 day'"); err != nil {
		return int(ct.RowsAffected()), db.wrap(err)
	}
	return int(ct.RowsAffected()), nil
}

// Counts returns how many rows each kind of record has: incidents,
// timeline entries, outbox jobs, dead letters, events waiting for their
// incident, and delivery records (incidentbot copy compares them).
func (db *DB) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for kind, table := range map[string]string{
		"incidents": "incidents", "timeline entries": "timeline", "outbox jobs": "jobs",
		"dead letters": "dead_letters", "pending events": "pending_events", "delivery records": "deliveries",
		"people": "people",
	} {
		var n int
		if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			return nil, db.wrap(err)
		}
		out[kind] = n
	}
	return out, nil
}

// Deliveries calls fn for every delivery record (incidentbot copy).
func (db *DB) Deliveries(ctx context.Context, fn func(key string, at time.Time) error) error {
	rows, err := db.pool.Query(ctx, "SELECT key, at FROM deliveries ORDER BY key")
	if err != nil {
		return db.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k []byte
		var at time.Time
		if err := rows.Scan(&k, &at); err != nil {
			return db.wrap(err)
		}
		if err := fn(string(k), at); err != nil {
			return err
		}
	}
	return db.wrap(rows.Err())
}

// PendingEvents calls fn for every PagerDuty incident with events waiting
// for it, with the events in the order they were kept (incidentbot copy).
func (db *DB) PendingEvents(ctx context.Context, fn func(pdID string, evs []incidentbot.PagerEvent) error) error {
	var ids [][]byte
	rows, err := db.pool.Query(ctx, "SELECT DISTINCT pagerduty_id FROM pending_events ORDER BY 1")
	if err != nil {
		return db.wrap(err)
	}
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return db.wrap(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.wrap(err)
	}
	for _, id := range ids {
		var evs []incidentbot.PagerEvent
		err := db.View(ctx, func(t incidentbot.Tx) error {
			var err error
			evs, err = t.(*tx).pending(string(id), false)
			return err
		})
		if err != nil {
			return err
		}
		if err := fn(string(id), evs); err != nil {
			return err
		}
	}
	return nil
}

// SetIncidentSequence makes the next incident number at least n+1
// (incidentbot copy, after writing incidents with their own numbers).
func (db *DB) SetIncidentSequence(ctx context.Context, n int) error {
	_, err := db.pool.Exec(ctx, "UPDATE counters SET value = greatest(value, $1) WHERE name = 'incident'", n)
	return db.wrap(err)
}
