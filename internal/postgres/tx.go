package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// tx implements incidentbot.Tx over one PostgreSQL transaction on one
// connection. Writes that return nothing are queued and sent with the next
// read or with COMMIT, in one round trip.
type tx struct {
	ctx   context.Context
	db    *DB
	conn  *pgx.Conn
	write bool
	fence Fence

	begun  bool
	queued []*pgx.QueuedQuery
	// err is the first database error: the transaction is aborted and
	// every later call fails with it.
	err error
	// broken: a round trip failed without the server's answer; the
	// connection is closed, not reused.
	broken bool

	// absent holds the delivery keys this transaction read as absent: it
	// inserts them without ON CONFLICT, so a concurrent insert of the same
	// key aborts one of the two.
	absent map[string]bool
	// guess: SeenDelivery answers "not seen" without reading (the first
	// attempt of an Update; see SeenDelivery). guessed holds the keys so
	// answered that no plain insert of this transaction arbitrates: COMMIT
	// is preceded by a check that none of them exists.
	guess      bool
	guessed    map[string]bool
	guessedAll []string // every key answered by a guess
	// own is what this transaction's writes made of delivery keys
	// (true: recorded, false: forgotten).
	own map[string]bool
	// noPending holds the PagerDuty IDs of incidents read with no events
	// waiting for them (TakePending needs no round trip for those).
	noPending map[string]bool
	rows      map[int]*rowState
	// lanes locked (advisory, transaction-scoped) before taking job IDs.
	lanes map[string]bool
	// keyInsert is the queued plain insert of delivery keys, to which the
	// next key is added when nothing was queued after it.
	keyInsert *pgx.QueuedQuery
	enqueued  bool
	reads     int
	// horizon is the outbox read's new horizon (Jobs), kept by the DB
	// once this transaction committed: a read whose COMMIT failed was
	// thrown away by its caller, and must not hide the late jobs it saw.
	horizon uint64
}

// rowState is what the transaction knows of an incident row.
type rowState struct {
	// version read; 0 when unknown (written without reading it).
	version int64
	// locked: this transaction holds the row lock (FOR UPDATE, or wrote it).
	locked bool
	// lastSeq is the timeline's last seq, valid when locked.
	lastSeq  int64
	seqDirty bool
	// services are the service index keys already stored, and words the
	// title words (when wordsKnown).
	services   []string
	words      []string
	wordsKnown bool
	exists     bool
}

func newTx(ctx context.Context, db *DB, conn *pgx.Conn, write bool) *tx {
	return &tx{ctx: ctx, db: db, conn: conn, write: write, absent: map[string]bool{}, guessed: map[string]bool{}, own: map[string]bool{},
		noPending: map[string]bool{}, rows: map[int]*rowState{}, lanes: map[string]bool{}}
}

var _ incidentbot.Tx = (*tx)(nil)

func notFound(format string, args ...any) error {
	return incidentbot.Errorf(incidentbot.ENOTFOUND, format, args...)
}

// queue adds a write to send with the next round trip. fn, when set,
// checks its result.
func (t *tx) queue(fn func(pgconn.CommandTag) error, sql string, args ...any) {
	q := &pgx.QueuedQuery{SQL: sql, Arguments: args}
	q.Exec(func(ct pgconn.CommandTag) error {
		if fn != nil {
			return fn(ct)
		}
		return nil
	})
	t.queued = append(t.queued, q)
}

// send runs the queued writes and then extra (the reads of this call) in
// one round trip, beginning the transaction (and checking the fence) on
// the first.
func (t *tx) send(extra ...*pgx.QueuedQuery) error {
	if t.err != nil {
		return t.err
	}
	if err := t.ctx.Err(); err != nil && !t.write {
		return err
	}
	b := &pgx.Batch{}
	if !t.begun {
		if t.write {
			b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
			if t.fence.Epoch != 0 {
				// Fails on the server (IB001) so nothing after it runs. The
				// key share lock makes a takeover (its FOR UPDATE) wait for
				// this transaction, and does not block the leader's renewals
				// (an UPDATE of expires_at, not a key, takes FOR NO KEY
				// UPDATE): with FOR SHARE a storm's stream of transactions
				// starved the renewals and the leader lost its lease.
				b.Queue(`WITH l AS (SELECT 1 FROM leader WHERE id = 1 AND epoch = $1 FOR KEY SHARE)
					SELECT incidentbot_assert(EXISTS (SELECT 1 FROM l), 'IB001', 'fenced')`, t.fence.Epoch)
			}
		} else {
			b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
		}
		t.begun = true
	}
	b.QueuedQueries = append(b.QueuedQueries, t.queued...)
	b.QueuedQueries = append(b.QueuedQueries, extra...)
	t.queued = nil
	if len(b.QueuedQueries) == 0 {
		return nil
	}
	err := t.conn.SendBatch(t.ctx, b).Close()
	if err != nil {
		t.fail(err)
	}
	return err
}

// fail records the transaction's first error.
func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
	var pe *pgconn.PgError
	var ie *incidentbot.Error
	if !errors.As(err, &pe) && !errors.As(err, &ie) && !errors.Is(err, errChanged) {
		t.broken = true
	}
}

// finish commits (fnErr nil, no database error) or rolls back, and returns
// the transaction's outcome: the database's first error wins over fn's, so
// Update can tell a lost race from fn's own failure.
func (t *tx) finish(fnErr error) error {
	if t.err == nil && fnErr == nil {
		if !t.write {
			if t.begun {
				t.queue(nil, "COMMIT")
				if err := t.send(); err != nil {
					return err
				}
			}
			t.committed()
			return nil
		}
		// Keys answered "not seen" (by a guess, or by a read) that this
		// transaction neither inserted nor deleted: fails (IB003) if one
		// exists now, and Update runs fn again, reading them. For a read
		// key this closes a check-then-insert race: another transaction
		// that inserted it (a happening reported at the next second by the
		// other source) committed after the read, before this commit; the
		// incident's row lock orders the two, so the check sees it.
		var unwritten []string
		for k := range t.absent {
			if _, written := t.own[k]; !written {
				unwritten = append(unwritten, k)
			}
		}
		if len(unwritten) > 0 {
			// A list of parameters, not = ANY($1): a cached generic plan
			// for an array parameter may scan the table.
			var args []any
			var list []string
			for _, k := range slices.Sorted(slices.Values(unwritten)) {
				args = append(args, []byte(k))
				list = append(list, fmt.Sprintf("$%d", len(args)))
			}
			t.queue(nil, "SELECT incidentbot_assert(NOT EXISTS (SELECT 1 FROM deliveries WHERE key IN ("+strings.Join(list, ", ")+")), 'IB003', 'a delivery key answered as not seen exists')", args...)
		}
		for n, r := range t.rows {
			if r.seqDirty {
				t.queue(nil, "UPDATE incidents SET last_seq = $2 WHERE number = $1", n, r.lastSeq)
			}
		}
		if !t.begun && len(t.queued) == 0 {
			return nil
		}
		committed := false
		t.queue(func(ct pgconn.CommandTag) error {
			committed = ct.String() == "COMMIT"
			return nil
		}, "COMMIT")
		if err := t.send(); err != nil {
			t.rollback()
			return err
		}
		if !committed {
			// PostgreSQL answers COMMIT of an aborted transaction with
			// ROLLBACK.
			return errors.New("postgres: the transaction was rolled back")
		}
		if t.enqueued {
			t.db.jobsCommitted()
		}
		t.committed()
		for _, k := range t.guessedAll {
			t.db.keys.observe(k, false) // the commit confirmed the guess
		}
		return nil
	}
	t.rollback()
	if t.err != nil {
		return t.err
	}
	return fnErr
}

func (t *tx) rollback() {
	if !t.begun || t.broken {
		return
	}
	if _, err := t.conn.Exec(context.WithoutCancel(t.ctx), "ROLLBACK"); err != nil {
		t.broken = true
	}
}

// checkCtx reports the View's context error every 64 incidents decoded.
func (t *tx) checkCtx() error {
	t.reads++
	if t.reads%64 == 0 && !t.write {
		return t.ctx.Err()
	}
	return nil
}

// --- deliveries

// SeenDelivery reports whether key is recorded. On the first attempt of
// an Update it answers "not seen" without a round trip, for the common
// case of a new delivery: the key's plain INSERT (MarkDelivery of a key
// answered absent) fails with a unique violation when the guess was
// wrong, and a key not inserted is checked just before COMMIT (IB003);
// either way the transaction rolls back and Update runs fn again, this
// time reading the keys. A guessed attempt whose fn fails is run again in
// the same way (guessFailed), so fn's errors are those of the truth.
func (t *tx) SeenDelivery(key string) (bool, error) {
	if t.err != nil {
		return false, t.err
	}
	if v, ok := t.own[key]; ok {
		return v, nil
	}
	if t.write && t.guess && t.db.keys.guessable(key) {
		t.absent[key], t.guessed[key] = true, true
		t.guessedAll = append(t.guessedAll, key)
		return false, nil
	}
	seen := false
	sql := "SELECT true FROM deliveries WHERE key = $1"
	if t.write {
		// A key found stays until this transaction ends: a transaction that
		// deletes it (a fetch or a digest that ended, ForgetDelivery) waits
		// for this one, and then sees what this one did because of it (a
		// pending event, an incident waiting for the digest). One deleting
		// it now is waited for, and the key is then not seen.
		sql += " FOR KEY SHARE"
	}
	q := &pgx.QueuedQuery{SQL: sql, Arguments: []any{[]byte(key)}}
	q.QueryRow(func(row pgx.Row) error {
		err := row.Scan(&seen)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := t.send(q); err != nil {
		return false, err
	}
	t.db.keys.observe(key, seen)
	if !seen && t.write {
		t.absent[key] = true
	}
	return seen, nil
}

func (t *tx) MarkDelivery(key string, at time.Time) error {
	if t.err != nil {
		return t.err
	}
	t.own[key] = true
	if t.absent[key] {
		// Read (or guessed) as absent: the insert is the arbiter. A
		// concurrent transaction that inserted it too, or a wrong guess,
		// makes this one fail with a unique violation, and Update runs fn
		// again.
		delete(t.absent, key)
		delete(t.guessed, key)
		t.queueKeyInsert([]byte(key), at)
		return nil
	}
	t.queue(nil, "INSERT INTO deliveries (key, at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET at = excluded.at", []byte(key), at)
	return nil
}

// queueKeyInsert queues the plain insert of a delivery key; consecutive
// ones (a delivery's webhook and event keys) go in one statement.
func (t *tx) queueKeyInsert(key []byte, at time.Time) {
	if n := len(t.queued); n > 0 && t.queued[n-1] == t.keyInsert {
		q := t.keyInsert
		q.Arguments = append(q.Arguments, key, at)
		q.SQL += fmt.Sprintf(", ($%d, $%d)", len(q.Arguments)-1, len(q.Arguments))
		return
	}
	t.queue(nil, "INSERT INTO deliveries (key, at) VALUES ($1, $2)", key, at)
	t.keyInsert = t.queued[len(t.queued)-1]
}

func (t *tx) MarkAnswered(key string, at time.Time, answer []byte) error {
	if t.err != nil {
		return t.err
	}
	if answer == nil {
		answer = []byte{}
	}
	// Inserted, never updated: a replay that raced the first reads the
	// first's answer on its retry (the key's primary key decides).
	delete(t.absent, key)
	delete(t.guessed, key)
	t.own[key] = true
	t.queue(nil, "INSERT INTO deliveries (key, at, answer) VALUES ($1, $2, $3)", []byte(key), at, answer)
	return nil
}

func (t *tx) DeliveryAnswer(key string) ([]byte, bool, error) {
	var answer []byte
	seen := false
	q := &pgx.QueuedQuery{SQL: "SELECT true, answer FROM deliveries WHERE key = $1", Arguments: []any{[]byte(key)}}
	q.QueryRow(func(row pgx.Row) error {
		err := row.Scan(&seen, &answer)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := t.send(q); err != nil {
		return nil, false, err
	}
	return answer, seen, nil
}

// --- the people directory

func (t *tx) PutProfile(p *incidentbot.Profile) error {
	if t.err != nil {
		return t.err
	}
	if p.ID == "" {
		return incidentbot.Errorf(incidentbot.EINVALID, "a profile needs an ID")
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	t.queue(nil, "INSERT INTO people (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", []byte(p.ID), doc)
	return nil
}

func (t *tx) Profiles(fn func(*incidentbot.Profile) bool) error {
	var all []*incidentbot.Profile
	q := &pgx.QueuedQuery{SQL: "SELECT doc FROM people ORDER BY id"}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return err
			}
			p := new(incidentbot.Profile)
			if err := json.Unmarshal(doc, p); err != nil {
				return err
			}
			all = append(all, p)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return err
	}
	for _, p := range all {
		if !fn(p) {
			return nil
		}
	}
	return nil
}

// --- cursors

func (t *tx) Cursor(name string) (string, error) {
	var value string
	q := &pgx.QueuedQuery{SQL: "SELECT value FROM cursors WHERE name = $1", Arguments: []any{name}}
	q.QueryRow(func(row pgx.Row) error {
		err := row.Scan(&value)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := t.send(q); err != nil {
		return "", err
	}
	return value, nil
}

func (t *tx) SetCursor(name, value string) error {
	if t.err != nil {
		return t.err
	}
	t.queue(nil, "INSERT INTO cursors (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value)
	return nil
}

func (t *tx) ForgetDelivery(key string) error {
	if t.err != nil {
		return t.err
	}
	if t.guessed[key] {
		// Guessed absent: the guess is checked here, before the delete
		// makes it true (IB003 when the key was there).
		delete(t.guessed, key)
		t.queue(nil, `WITH d AS (DELETE FROM deliveries WHERE key = $1 RETURNING 1)
			SELECT incidentbot_assert(NOT EXISTS (SELECT 1 FROM d), 'IB003', 'a delivery key answered as not seen exists')`, []byte(key))
	} else {
		t.queue(nil, "DELETE FROM deliveries WHERE key = $1", []byte(key))
	}
	t.absent[key] = true
	t.own[key] = false
	return nil
}

// --- incidents

func (t *tx) NextIncidentNumber() (int, error) {
	var n int
	q := &pgx.QueuedQuery{SQL: "UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value"}
	q.QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	if err := t.send(q); err != nil {
		return 0, err
	}
	return n, nil
}

const incidentCols = "number, version, last_seq, doc"

// lockClause locks the rows an Update reads one by one.
func (t *tx) lockClause() string {
	if t.write {
		return " FOR UPDATE"
	}
	return ""
}

// pendingCol tells, after incidentCols, whether events wait for the
// incident (read with the locked row, so that TakePending needs no round
// trip when none do).
const pendingCol = ", EXISTS (SELECT 1 FROM pending_events p WHERE p.pagerduty_id = incidents.pagerduty_id)"

// scanIncident decodes a row of incidentCols and notes what this
// transaction knows of it; withPending: the row has pendingCol too.
func (t *tx) scanIncident(row pgx.Row, locked, withPending bool) (*incidentbot.Incident, error) {
	var n int
	var version, lastSeq int64
	var doc []byte
	var pending bool
	dst := []any{&n, &version, &lastSeq, &doc}
	if withPending {
		dst = append(dst, &pending)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	inc := new(incidentbot.Incident)
	if err := json.Unmarshal(doc, inc); err != nil {
		return nil, err
	}
	if withPending && !pending && inc.PagerDuty != nil && inc.PagerDuty.ID != "" {
		t.noPending[inc.PagerDuty.ID] = true
	}
	if t.write {
		r := t.rows[n]
		switch {
		case r == nil:
			r = &rowState{version: version, exists: true, services: incidentbot.ServiceKeys(inc), words: incidentbot.TitleWords(inc.Title), wordsKnown: true}
			t.rows[n] = r
		case r.version != 0 && r.version != version:
			// Read before in this transaction and changed since: the
			// earlier copy may be written back.
			t.fail(errChanged)
			return nil, errChanged
		}
		if locked && !r.locked {
			r.locked, r.lastSeq, r.version = true, lastSeq, version
		}
	}
	return inc, nil
}

// one reads at most one incident.
func (t *tx) one(sql string, what string, args ...any) (*incidentbot.Incident, error) {
	var inc *incidentbot.Incident
	// sql reads incidentCols FROM incidents ...: in an Update the row is
	// locked, and whether events wait for it comes along.
	if t.write {
		sql = strings.Replace(sql, incidentCols, incidentCols+pendingCol, 1)
	}
	q := &pgx.QueuedQuery{SQL: sql + t.lockClause(), Arguments: args}
	q.QueryRow(func(row pgx.Row) error {
		var err error
		inc, err = t.scanIncident(row, t.write, t.write)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, notFound("%s", what)
	}
	if err := t.checkCtx(); err != nil {
		return nil, err
	}
	return inc, nil
}

func (t *tx) Incident(id string) (*incidentbot.Incident, error) {
	n, ok := incidentbot.ParseIncidentID(id)
	if !ok {
		return nil, notFound("incident %q not found", id)
	}
	return t.one("SELECT "+incidentCols+" FROM incidents WHERE number = $1", "incident "+incidentbot.IncidentID(n)+" not found", n)
}

func (t *tx) IncidentByPagerDutyID(pdID string) (*incidentbot.Incident, error) {
	return t.one("SELECT "+incidentCols+" FROM incidents WHERE pagerduty_id = $1", "no incident for PagerDuty incident "+pdID, []byte(pdID))
}

func (t *tx) IncidentByChannel(channelID string) (*incidentbot.Incident, error) {
	return t.one("SELECT "+incidentCols+" FROM incidents WHERE channel_id = $1", "no incident for channel "+channelID, []byte(channelID))
}

func nullBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func (t *tx) PutIncident(inc *incidentbot.Incident) error {
	if t.err != nil {
		return t.err
	}
	if !t.write {
		return errors.New("postgres: PutIncident in a read-only transaction")
	}
	doc, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	var pdID []byte
	if inc.PagerDuty != nil {
		pdID = nullBytes(inc.PagerDuty.ID)
	}
	chID := nullBytes(inc.ChannelID)
	open := inc.Status.Open()
	storm := inc.InDigest && inc.Announcement == nil
	var resolvedAt *time.Time
	if !open && inc.ResolvedAt != nil {
		r := inc.ResolvedAt.UTC()
		resolvedAt = &r
	}
	n := inc.Number
	r := t.rows[n]
	switch {
	case r != nil && r.exists && r.version != 0:
		// Read in this transaction: write it back only if nobody changed
		// it since (a row read with FOR UPDATE cannot have changed).
		v := r.version
		lastSeq := r.lastSeq
		seqSet := r.locked
		// The check fails on the server (IB002), so nothing after it
		// commits; Update runs fn again.
		t.queue(nil, `WITH u AS (UPDATE incidents SET pagerduty_id = $2, channel_id = $3, is_open = $4, in_storm = $5, resolved_at = $6, doc = $7,
			last_seq = CASE WHEN $8 THEN $9 ELSE last_seq END, version = version + 1 WHERE number = $1 AND version = $10 RETURNING 1)
			SELECT incidentbot_assert(EXISTS (SELECT 1 FROM u), 'IB002', 'incident changed since it was read')`,
			n, pdID, chID, open, storm, resolvedAt, doc, seqSet, lastSeq, v)
		r.version = v + 1
		r.seqDirty = r.seqDirty && !seqSet
	case r != nil && r.exists:
		// Written before in this transaction without reading it: locked.
		t.queue(nil, `UPDATE incidents SET pagerduty_id = $2, channel_id = $3, is_open = $4, in_storm = $5, resolved_at = $6, doc = $7,
			version = version + 1 WHERE number = $1`, n, pdID, chID, open, storm, resolvedAt, doc)
	default:
		// Not read: a new incident (perhaps with entries appended already),
		// or a blind write of one (as bbolt's Put).
		if r == nil {
			r = &rowState{}
			t.rows[n] = r
		}
		t.queue(nil, `INSERT INTO incidents (number, pagerduty_id, channel_id, is_open, in_storm, resolved_at, doc, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (number) DO UPDATE SET pagerduty_id = excluded.pagerduty_id, channel_id = excluded.channel_id, is_open = excluded.is_open,
			in_storm = excluded.in_storm, resolved_at = excluded.resolved_at, doc = excluded.doc, version = incidents.version + 1,
			last_seq = greatest(incidents.last_seq, excluded.last_seq)`,
			n, pdID, chID, open, storm, resolvedAt, doc, r.lastSeq)
		r.exists, r.seqDirty = true, false
	}
	for _, sk := range incidentbot.ServiceKeys(inc) {
		if slices.Contains(r.services, sk) {
			continue
		}
		t.queue(nil, "INSERT INTO incident_services (service_key, number) VALUES ($1, $2) ON CONFLICT DO NOTHING", []byte(sk), n)
		r.services = append(r.services, sk)
	}
	// The follow-up index: items are never removed, so an incident without
	// any was never in it (nothing to send on the webhook path).
	if len(inc.Actions) > 0 {
		if incidentbot.HasOpenActions(inc) {
			t.queue(nil, "INSERT INTO open_actions (number) VALUES ($1) ON CONFLICT DO NOTHING", n)
		} else {
			t.queue(nil, "DELETE FROM open_actions WHERE number = $1", n)
		}
	}
	// The word index follows the title: written when the words are not
	// known to be stored already.
	if words := incidentbot.TitleWords(inc.Title); !r.wordsKnown || !slices.Equal(words, r.words) {
		bw := make([][]byte, len(words))
		for i, w := range words {
			bw[i] = []byte(w)
		}
		t.queue(nil, "DELETE FROM incident_title_words WHERE number = $1 AND NOT (word = ANY($2::bytea[]))", n, bw)
		t.queue(nil, "INSERT INTO incident_title_words (word, number) SELECT w, $1 FROM unnest($2::bytea[]) AS w ON CONFLICT DO NOTHING", n, bw)
		r.words, r.wordsKnown = words, true
	}
	return nil
}

// list reads incidents (without locks: an Update writes one back only if
// it did not change) in the order of the query.
func (t *tx) list(sql string, args ...any) ([]*incidentbot.Incident, error) {
	var out []*incidentbot.Incident
	q := &pgx.QueuedQuery{SQL: sql, Arguments: args}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := t.checkCtx(); err != nil {
				return err
			}
			inc, err := t.scanIncident(rows, false, false)
			if err != nil {
				return err
			}
			out = append(out, inc)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) OpenIncidents() ([]*incidentbot.Incident, error) {
	return t.list("SELECT " + incidentCols + " FROM incidents WHERE is_open ORDER BY number DESC")
}

func (t *tx) StormIncidents() ([]*incidentbot.Incident, error) {
	return t.list("SELECT " + incidentCols + " FROM incidents WHERE in_storm ORDER BY number DESC")
}

func (t *tx) ActionIncidents() ([]*incidentbot.Incident, error) {
	return t.list("SELECT " + incidentCols + " FROM incidents WHERE number IN (SELECT number FROM open_actions) ORDER BY number DESC")
}

func (t *tx) ListIncidents(before, limit int, status string) ([]*incidentbot.Incident, error) {
	if limit <= 0 {
		limit = 1000
	}
	if before <= 0 {
		before = 1<<31 - 1
	}
	where := ""
	switch status {
	case "open":
		where = " AND is_open"
	case "resolved":
		where = " AND NOT is_open"
	}
	return t.list("SELECT "+incidentCols+" FROM incidents WHERE number < $1"+where+" ORDER BY number DESC LIMIT $2", before, limit)
}

// page is how many incidents a callback walk reads per round trip.
const page = 64

func (t *tx) ResolvedSince(since time.Time, fn func(*incidentbot.Incident) bool) error {
	var at *time.Time
	lastNum := 0
	for {
		var incs []*incidentbot.Incident
		var err error
		if at == nil {
			incs, err = t.list("SELECT "+incidentCols+" FROM incidents WHERE resolved_at >= $1 ORDER BY resolved_at DESC, number DESC LIMIT $2", since, page)
		} else {
			incs, err = t.list("SELECT "+incidentCols+" FROM incidents WHERE resolved_at >= $1 AND (resolved_at, number) < ($2, $3) ORDER BY resolved_at DESC, number DESC LIMIT $4", since, *at, lastNum, page)
		}
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if !fn(inc) {
				return nil
			}
		}
		if len(incs) < page {
			return nil
		}
		last := incs[len(incs)-1]
		r := last.ResolvedAt.UTC()
		at, lastNum = &r, last.Number
	}
}

func (t *tx) ServiceIncidents(keys []string, before int, fn func(*incidentbot.Incident) bool) error {
	if len(keys) == 0 {
		return nil
	}
	bk := make([][]byte, len(keys))
	for i, k := range keys {
		bk[i] = []byte(k)
	}
	if before <= 0 {
		before = 1<<31 - 1
	}
	for {
		incs, err := t.list("SELECT "+incidentCols+" FROM incidents WHERE number IN (SELECT number FROM incident_services WHERE service_key = ANY($1) AND number < $2) ORDER BY number DESC LIMIT $3", bk, before, page)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if !fn(inc) {
				return nil
			}
		}
		if len(incs) < page {
			return nil
		}
		before = incs[len(incs)-1].Number
	}
}

func (t *tx) TitleIncidents(words []string, minShared, before int, fn func(*incidentbot.Incident) bool) error {
	if len(words) == 0 {
		return nil
	}
	bw := make([][]byte, 0, len(words))
	for _, w := range slices.Compact(slices.Sorted(slices.Values(words))) {
		bw = append(bw, []byte(w))
	}
	if before <= 0 {
		before = 1<<31 - 1
	}
	// The newest TitleScan entries of each word, counted per incident.
	var nums []int
	q := &pgx.QueuedQuery{SQL: `SELECT number FROM unnest($1::bytea[]) AS w(word),
		LATERAL (SELECT number FROM incident_title_words t WHERE t.word = w.word AND t.number < $2 ORDER BY number DESC LIMIT $3) x
		GROUP BY number HAVING count(*) >= $4 ORDER BY number DESC`, Arguments: []any{bw, before, incidentbot.TitleScan, max(minShared, 1)}}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				return err
			}
			nums = append(nums, n)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return err
	}
	for len(nums) > 0 {
		chunk := nums[:min(page, len(nums))]
		nums = nums[len(chunk):]
		incs, err := t.list("SELECT "+incidentCols+" FROM incidents WHERE number = ANY($1) ORDER BY number DESC", chunk)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if !fn(inc) {
				return nil
			}
		}
	}
	return nil
}

// --- timeline

// lockRow makes sure this transaction holds incident n's row lock and
// knows its last timeline seq.
func (t *tx) lockRow(n int) (*rowState, error) {
	if r := t.rows[n]; r != nil && r.locked {
		return r, nil
	}
	found := false
	var version, lastSeq int64
	q := &pgx.QueuedQuery{SQL: "SELECT version, last_seq FROM incidents WHERE number = $1 FOR UPDATE", Arguments: []any{n}}
	q.QueryRow(func(row pgx.Row) error {
		err := row.Scan(&version, &lastSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	r := t.rows[n]
	if !found {
		// Not stored yet: this transaction is creating it (its number came
		// from the counter, which no other transaction can hand out). The
		// timeline's key and its deferred foreign key catch anything else.
		if r == nil {
			r = &rowState{}
			t.rows[n] = r
		}
		r.locked = true
		return r, nil
	}
	if r != nil && r.version != 0 && r.version != version {
		// Read earlier without a lock, changed since.
		t.fail(errChanged)
		return nil, errChanged
	}
	if r == nil {
		r = &rowState{version: version, exists: true}
		t.rows[n] = r
	}
	r.locked, r.lastSeq, r.version = true, lastSeq, version
	return r, nil
}

func (t *tx) AppendEntry(incidentID string, e *incidentbot.Entry) error {
	n, ok := incidentbot.ParseIncidentID(incidentID)
	if !ok {
		return notFound("incident %q not found", incidentID)
	}
	if t.err != nil {
		return t.err
	}
	r, err := t.lockRow(n)
	if err != nil {
		return err
	}
	r.lastSeq++
	r.seqDirty = true
	e.Seq = uint64(r.lastSeq)
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	t.queue(nil, "INSERT INTO timeline (number, seq, doc) VALUES ($1, $2, $3)", n, r.lastSeq, doc)
	return nil
}

func (t *tx) Timeline(incidentID string) ([]incidentbot.Entry, error) {
	n, ok := incidentbot.ParseIncidentID(incidentID)
	if !ok {
		return nil, notFound("incident %q not found", incidentID)
	}
	var out []incidentbot.Entry
	q := &pgx.QueuedQuery{SQL: "SELECT seq, doc FROM timeline WHERE number = $1 ORDER BY seq", Arguments: []any{n}}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var seq int64
			var doc []byte
			if err := rows.Scan(&seq, &doc); err != nil {
				return err
			}
			var e incidentbot.Entry
			if err := json.Unmarshal(doc, &e); err != nil {
				return err
			}
			e.Seq = uint64(seq)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	return out, nil
}

// --- outbox

// laneKey is the advisory lock key of a lane in this schema.
func (t *tx) laneKey(lane string) int64 {
	h := fnv.New64a()
	h.Write([]byte(t.db.schema))
	h.Write([]byte{0})
	h.Write([]byte(lane))
	return int64(h.Sum64())
}

func (t *tx) Enqueue(j *incidentbot.Job) error {
	if !t.write {
		return errors.New("postgres: Enqueue in a read-only transaction")
	}
	doc, err := json.Marshal(j)
	if err != nil {
		return err
	}
	// The lane's lock is taken before the ID and held to COMMIT: a later
	// transaction's job of this lane gets a higher ID and commits after.
	var id int64
	sql := "INSERT INTO jobs (id, doc) VALUES (nextval('job_ids'), $1) RETURNING id"
	args := []any{doc}
	if !t.lanes[j.Lane] {
		sql = "WITH lane AS (SELECT pg_advisory_xact_lock($2)) INSERT INTO jobs (id, doc) SELECT nextval('job_ids'), $1 FROM lane RETURNING id"
		args = append(args, t.laneKey(j.Lane))
	}
	q := &pgx.QueuedQuery{SQL: sql, Arguments: args}
	q.QueryRow(func(row pgx.Row) error { return row.Scan(&id) })
	if err := t.send(q); err != nil {
		return err
	}
	t.lanes[j.Lane] = true
	j.ID = uint64(id)
	t.enqueued = true
	// The stored document's id is stale (0): readers take the column's.
	return nil
}

func (t *tx) PutJob(j *incidentbot.Job) error {
	if t.err != nil {
		return t.err
	}
	doc, err := json.Marshal(j)
	if err != nil {
		return err
	}
	t.queue(nil, "UPDATE jobs SET doc = $2 WHERE id = $1", int64(j.ID), doc)
	return nil
}

func (t *tx) DeleteJob(id uint64) error {
	if t.err != nil {
		return t.err
	}
	t.queue(nil, "DELETE FROM jobs WHERE id = $1", int64(id))
	return nil
}

// Jobs calls fn for every job with an ID above after, in ID order. IDs
// commit out of order (a sequence), so it also returns the jobs of
// transactions that were still running when the last read with after > 0
// looked (their xid is at or above that read's xmin horizon), whatever
// their IDs: a job committed late with a lower ID is not missed. Those may
// include jobs handed out before; the outbox runner holds each once.
func (t *tx) Jobs(after uint64, fn func(*incidentbot.Job) bool) error {
	db := t.db
	db.horizonMu.Lock()
	horizon := db.horizon
	db.horizonMu.Unlock()
	var xmin string
	hq := &pgx.QueuedQuery{SQL: "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"}
	hq.QueryRow(func(row pgx.Row) error { return row.Scan(&xmin) })
	var jobs []*incidentbot.Job
	q := &pgx.QueuedQuery{SQL: "SELECT id, doc FROM jobs WHERE id > $1 OR xid >= $2::text::xid8 ORDER BY id", Arguments: []any{int64(after), strconv.FormatUint(horizon, 10)}}
	if after == 0 {
		q = &pgx.QueuedQuery{SQL: "SELECT id, doc FROM jobs ORDER BY id"}
	}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var doc []byte
			if err := rows.Scan(&id, &doc); err != nil {
				return err
			}
			j := new(incidentbot.Job)
			if err := json.Unmarshal(doc, j); err != nil {
				return err
			}
			j.ID = uint64(id)
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	// The horizon is read before (or, in a View, on the same snapshot as)
	// the jobs: every job invisible to that read has an xid at or above it.
	batch := []*pgx.QueuedQuery{hq, q}
	if after > 0 {
		// Both conditions select the few jobs since the last read, through
		// the two indexes. Left to its estimates the planner scanned and
		// sorted the whole table instead whenever the table had grown since
		// its statistics were taken (an outbox backlog of 17,000 jobs built
		// in seconds: 3.5-5 ms a read, the leader's reads taking a third of
		// PostgreSQL's CPU under load).
		batch = []*pgx.QueuedQuery{{SQL: "SET LOCAL enable_seqscan = off"}, hq, q}
	}
	if err := t.send(batch...); err != nil {
		return err
	}
	for _, j := range jobs {
		if !fn(j) {
			return nil // not all taken: the horizon stays
		}
	}
	if after > 0 {
		if h, err := strconv.ParseUint(xmin, 10, 64); err == nil {
			t.horizon = max(t.horizon, h)
		}
	}
	return nil
}

// committed keeps what the transaction learnt once it committed.
func (t *tx) committed() {
	if t.horizon > 0 {
		t.db.horizonMu.Lock()
		t.db.horizon = max(t.db.horizon, t.horizon)
		t.db.horizonMu.Unlock()
	}
}

func (t *tx) PutDeadLetter(j *incidentbot.Job) error {
	if t.err != nil {
		return t.err
	}
	doc, err := json.Marshal(j)
	if err != nil {
		return err
	}
	t.queue(nil, "INSERT INTO dead_letters (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", int64(j.ID), doc)
	return nil
}

func (t *tx) DeadLetters() ([]*incidentbot.Job, error) {
	var out []*incidentbot.Job
	q := &pgx.QueuedQuery{SQL: "SELECT doc FROM dead_letters ORDER BY id"}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return err
			}
			j := new(incidentbot.Job)
			if err := json.Unmarshal(doc, j); err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	return out, nil
}

// --- events waiting for their incident

func (t *tx) AddPending(pdID string, ev incidentbot.PagerEvent) (bool, error) {
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	delete(t.noPending, pdID)
	var first bool
	// The CTE's insert is not visible to the outer query: NOT EXISTS sees
	// the events kept before this one.
	q := &pgx.QueuedQuery{SQL: `WITH ins AS (INSERT INTO pending_events (pagerduty_id, doc) VALUES ($1, $2) RETURNING seq)
		SELECT NOT EXISTS (SELECT 1 FROM pending_events WHERE pagerduty_id = $1) FROM ins`, Arguments: []any{[]byte(pdID), doc}}
	q.QueryRow(func(row pgx.Row) error { return row.Scan(&first) })
	if err := t.send(q); err != nil {
		return false, err
	}
	return first, nil
}

func (t *tx) TakePending(pdID string) ([]incidentbot.PagerEvent, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.write && t.noPending[pdID] {
		// Read with its incident's locked row: none waited then. One kept
		// since by a transaction that did not see the incident is applied
		// by the fetch that transaction queued (as one kept after this
		// transaction's DELETE would be).
		return nil, nil
	}
	return t.pending(pdID, t.write)
}

// pending returns the events kept for an incident in the order kept,
// removing them when take is set.
func (t *tx) pending(pdID string, take bool) ([]incidentbot.PagerEvent, error) {
	type kept struct {
		seq int64
		ev  incidentbot.PagerEvent
	}
	var out []kept
	sql := "SELECT seq, doc FROM pending_events WHERE pagerduty_id = $1"
	if take {
		sql = "DELETE FROM pending_events WHERE pagerduty_id = $1 RETURNING seq, doc"
	}
	q := &pgx.QueuedQuery{SQL: sql, Arguments: []any{[]byte(pdID)}}
	q.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k kept
			var doc []byte
			if err := rows.Scan(&k.seq, &doc); err != nil {
				return err
			}
			if err := json.Unmarshal(doc, &k.ev); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	if err := t.send(q); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b kept) int { return int(a.seq - b.seq) })
	evs := make([]incidentbot.PagerEvent, len(out))
	for i, k := range out {
		evs[i] = k.ev
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return evs, nil
}
