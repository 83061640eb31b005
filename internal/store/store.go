package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// Bucket names. The layout is documented in docs/architecture.md.
var (
	bucketMeta       = []byte("meta")
	bucketIncidents  = []byte("incidents")  // 8-byte number → incident JSON
	bucketPagerIndex = []byte("pagerduty")  // PagerDuty incident ID → 8-byte number
	bucketChannels   = []byte("channels")   // Slack channel ID → 8-byte number
	bucketTimeline   = []byte("timeline")   // 8-byte number → bucket: 8-byte seq → entry JSON
	bucketOutbox     = []byte("outbox")     // 8-byte job ID → job JSON
	bucketDead       = []byte("dead")       // 8-byte job ID → job JSON
	bucketDeliveries = []byte("deliveries") // dedupe key → 8-byte unix nanoseconds (+ the answer given, for a replayed request)
	bucketPending    = []byte("pending")    // PagerDuty incident ID → bucket: seq → event JSON
	bucketOpen       = []byte("open")       // 8-byte number of each open incident → nothing
	bucketResolved   = []byte("resolved")   // 8-byte resolution unix ns + 8-byte number → nothing
	bucketResolvedAt = []byte("resolvedat") // 8-byte number → its key in bucketResolved
	bucketServices   = []byte("services")   // service key + 0x00 + 8-byte number → nothing
	bucketStorm      = []byte("storm")      // 8-byte number of each incident waiting for a digest → nothing
	bucketCursors    = []byte("cursors")    // poller name → its position (opaque text)
	bucketWords      = []byte("words")      // title word + 0x00 + 8-byte number → nothing
	bucketWordsOf    = []byte("wordsof")    // 8-byte number → its title words, 0x00-separated
	bucketPeople     = []byte("people")     // Slack or PagerDuty user ID → profile JSON
	bucketActions    = []byte("actions")    // 8-byte number of each incident with an action item not done → nothing
	allBuckets       = [][]byte{bucketMeta, bucketIncidents, bucketPagerIndex, bucketChannels, bucketTimeline, bucketOutbox, bucketDead, bucketDeliveries, bucketPending, bucketOpen, bucketResolved, bucketResolvedAt, bucketServices, bucketStorm, bucketCursors, bucketWords, bucketWordsOf, bucketPeople, bucketActions}
)

// schemaVersion is the layout version in the meta bucket. Version 2 added
// the resolved, services and storm indexes, version 3 the title word
// index, version 4 the follow-up (open action items) index; opening a file
// of an older version builds them once.
const schemaVersion = "4"

// ErrClosed is returned by Update and View after Close.
var ErrClosed = errors.New("store: closed")

// Options configure Open. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process (bbolt waits forever without one); 5 s when zero.
	Timeout time.Duration
	// MaxBatch caps how many Update calls share one commit; 256 when zero.
	MaxBatch int
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	bolt     *bolt.DB
	reqs     chan *request
	closing  chan struct{}
	loopDone chan struct{}
	closeMu  sync.Once
	maxBatch int
	// sendMu orders Update's queueing against Close: once closed is set no
	// request can be queued that the commit loop would not answer.
	sendMu sync.RWMutex
	closed bool
}

type request struct {
	fn   func(incidentbot.Tx) error
	done chan error
}

// Open opens (creating if needed) the store file at path. It fails if
// another process holds the file longer than Options.Timeout, and with an
// error wrapping ErrDamaged, that says how to restore, when the file is
// empty, truncated or fails bbolt's consistency check (which reads every
// page once: its cost grows with the file's size, at start only).
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	b, err := openChecked(path, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	err = b.Update(func(btx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := btx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := btx.Bucket(bucketMeta)
		if string(meta.Get([]byte("schema"))) == schemaVersion {
			return nil
		}
		if err := (&tx{btx: btx, ctx: context.Background()}).reindex(); err != nil {
			return fmt.Errorf("building the indexes: %w", err)
		}
		return meta.Put([]byte("schema"), []byte(schemaVersion))
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		bolt:     b,
		reqs:     make(chan *request, opts.MaxBatch),
		closing:  make(chan struct{}),
		loopDone: make(chan struct{}),
		maxBatch: opts.MaxBatch,
	}
	go db.commitLoop()
	return db, nil
}

// Path returns the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// Close stops accepting transactions, finishes the queued ones and closes
// the file.
func (db *DB) Close() error {
	var err error
	db.closeMu.Do(func() {
		db.sendMu.Lock()
		db.closed = true
		close(db.closing)
		db.sendMu.Unlock()
		<-db.loopDone
		err = db.bolt.Close()
	})
	return err
}

// Update runs fn in a read-write transaction and returns once it is
// durable (fsynced) or failed. fn may run more than once.
func (db *DB) Update(ctx context.Context, fn func(incidentbot.Tx) error) error {
	req := &request{fn: fn, done: make(chan error, 1)}
	db.sendMu.RLock()
	if db.closed {
		db.sendMu.RUnlock()
		return ErrClosed
	}
	select {
	case db.reqs <- req:
		db.sendMu.RUnlock()
	case <-ctx.Done():
		db.sendMu.RUnlock()
		return ctx.Err()
	}
	// Once queued the request is committed or failed quickly; wait for the
	// answer even if ctx ends, so the caller never reports "failed" for a
	// write that is on disk.
	return <-req.done
}

// View runs fn in a read-only transaction. A page that cannot be read (a
// file damaged while the bot runs) is an error, not a crash.
func (db *DB) View(ctx context.Context, fn func(incidentbot.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: reading failed (is the file damaged?): %v", p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-db.closing:
		return ErrClosed
	default:
	}
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&tx{btx: btx, ctx: ctx}) })
}

// commitLoop is the group committer: it takes every request waiting and
// runs them in one transaction.
func (db *DB) commitLoop() {
	defer close(db.loopDone)
	batch := make([]*request, 0, db.maxBatch)
	for {
		select {
		case r := <-db.reqs:
			batch = append(batch[:0], r)
		case <-db.closing:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-db.reqs:
					db.commit([]*request{r})
				default:
					return
				}
			}
		}
	more:
		for len(batch) < db.maxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		db.commit(batch)
	}
}

var errRetryBatch = errors.New("store: batch member failed")

// commit runs a batch in one transaction. When a member fails, the
// transaction is rolled back, that member gets its error and the rest run
// again.
func (db *DB) commit(batch []*request) {
	for len(batch) > 0 {
		failed := -1
		var ferr error
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			t := &tx{btx: btx, ctx: context.Background()}
			for i, r := range batch {
				if err := safeCall(r.fn, t); err != nil {
					failed, ferr = i, err
					return errRetryBatch
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- ferr
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		for _, r := range batch {
			r.done <- err
		}
		return
	}
}

func safeCall(fn func(incidentbot.Tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: transaction function panicked: %v", p)
		}
	}()
	return fn(t)
}

// Check verifies the file's consistency (bbolt's page checks) and returns
// the first problem found.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		var first error
		// Drain the channel: the checker stops only when it has sent all.
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	})
}

// Writable reports whether the store can durably accept a write now: it
// commits a heartbeat through the same path deliveries take.
func (db *DB) Writable(ctx context.Context) error {
	return db.Update(ctx, func(t incidentbot.Tx) error {
		return t.(*tx).btx.Bucket(bucketMeta).Put([]byte("heartbeat"), u64(uint64(time.Now().UnixNano())))
	})
}

// WriteTo writes a consistent copy of the whole file to w (a hot backup)
// and returns the bytes written.
func (db *DB) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Stat returns the file's size in bytes.
func (db *DB) Stat() (int64, error) {
	fi, err := os.Stat(db.bolt.Path())
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Verify opens a database file read-only, checks its consistency and
// returns how many incidents it holds (to check a backup before relying on
// it). The file must not be open elsewhere.
func Verify(path string) (int, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer b.Close()
	var n int
	err = b.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("consistency check: %w", first)
		}
		inc := tx.Bucket(bucketIncidents)
		if inc == nil {
			return errors.New("not an incidentbot database (no incidents bucket)")
		}
		n = inc.Stats().KeyN
		return nil
	})
	return n, err
}
