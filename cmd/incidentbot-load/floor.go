package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// floorSchema is the part of the store's schema (internal/postgres,
// migrations/0001_schema.sql) that a note's delivery writes, with the same
// keys, indexes and column types.
const floorSchema = `
CREATE TABLE IF NOT EXISTS deliveries (key bytea PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_at ON deliveries (at);
CREATE TABLE IF NOT EXISTS incidents (
	number integer PRIMARY KEY, pagerduty_id bytea UNIQUE, channel_id bytea UNIQUE,
	is_open boolean NOT NULL, in_storm boolean NOT NULL, resolved_at timestamptz,
	last_seq bigint NOT NULL DEFAULT 0, version bigint NOT NULL DEFAULT 1, doc json NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (number) WHERE is_open;
CREATE INDEX IF NOT EXISTS incidents_storm ON incidents (number) WHERE in_storm;
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_at, number) WHERE resolved_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS timeline (number integer NOT NULL REFERENCES incidents (number), seq bigint NOT NULL, doc json NOT NULL, PRIMARY KEY (number, seq));
CREATE SEQUENCE IF NOT EXISTS job_ids;
CREATE TABLE IF NOT EXISTS jobs (id bigint PRIMARY KEY, xid xid8 NOT NULL DEFAULT pg_current_xact_id(), doc json NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_xid ON jobs (xid);
`

// floorWrite is a note's whole write in one statement (one round trip, one
// commit): its three delivery keys, the incident's document and timeline
// seq, the timeline entry and the outbox job.
const floorWrite = `WITH k AS (INSERT INTO deliveries (key, at) VALUES ($1, now()), ($2, now()), ($3, now())),
u AS (UPDATE incidents SET last_seq = last_seq + 1, version = version + 1, doc = $4 WHERE pagerduty_id = $5 RETURNING number, last_seq),
t AS (INSERT INTO timeline (number, seq, doc) SELECT number, last_seq, $6 FROM u),
j AS (INSERT INTO jobs (id, doc) VALUES (nextval('job_ids'), $7))
SELECT number FROM u`

// floorBatchWrite is floorWrite for several deliveries at once, as an
// in-process group commit would send them: one statement, one commit. Two
// deliveries of one incident in a batch take consecutive timeline seqs;
// the incidents are locked in their numbers' order, so that two batches
// written at once cannot deadlock.
const floorBatchWrite = `WITH req AS (
	SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::json[], $5::bytea[], $6::json[], $7::json[]) WITH ORDINALITY AS r(k1, k2, k3, inc, pd, entry, job, ord)),
k AS (INSERT INTO deliveries (key, at) SELECT v.k, now() FROM req, LATERAL (VALUES (k1), (k2), (k3)) AS v(k)),
c AS (SELECT pd, count(*) AS n, (array_agg(inc ORDER BY ord DESC))[1]::text AS doc FROM req GROUP BY pd),
l AS (SELECT number, pagerduty_id FROM incidents WHERE pagerduty_id IN (SELECT pd FROM c) ORDER BY number FOR UPDATE),
u AS (UPDATE incidents i SET last_seq = i.last_seq + c.n, version = i.version + 1, doc = c.doc::json FROM c JOIN l ON l.pagerduty_id = c.pd
	WHERE i.number = l.number RETURNING i.number, i.pagerduty_id, i.last_seq - c.n AS base),
t AS (INSERT INTO timeline (number, seq, doc)
	SELECT u.number, u.base + row_number() OVER (PARTITION BY req.pd ORDER BY req.ord), req.entry FROM req JOIN u ON u.pagerduty_id = req.pd),
j AS (INSERT INTO jobs (id, doc) SELECT nextval('job_ids'), job FROM req ORDER BY ord)
SELECT count(*) FROM u`

// floorRow is one delivery's write in the floor.
type floorRow struct {
	keys       [3][]byte
	inc, pd    []byte
	entry, job []byte
	done       chan error
}

// floorBatcher gathers deliveries while a batch is being written and
// writes the next batch as soon as one of its writers is free: the group
// commit of an in-process committer, four batches in flight at once (serveFloorPG).
type floorBatcher struct {
	pool *pgxpool.Pool
	in   chan *floorRow
	max  int
}

func (b *floorBatcher) run(ctx context.Context) {
	for first := range b.in {
		batch := []*floorRow{first}
	gather:
		for len(batch) < b.max {
			select {
			case r := <-b.in:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		cols := make([][][]byte, 7)
		for _, r := range batch {
			for i, v := range [][]byte{r.keys[0], r.keys[1], r.keys[2], r.inc, r.pd, r.entry, r.job} {
				cols[i] = append(cols[i], v)
			}
		}
		args := make([]any, 7)
		for i := range cols {
			args[i] = cols[i]
		}
		_, err := b.pool.Exec(ctx, floorBatchWrite, args...)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// serveFloorPG is the hidden mode "-serve-floor-pg ADDR URL SECRET POOL
// INCIDENTS": the least any receiver can do that keeps a note's delivery as
// issue 11 asks (its dedupe keys, its effect on the incident, its timeline
// entry and its outbox job in one transaction before the 2xx), on the
// store's own tables: the baseline's reading, signature and decoding, then
// floorWrite in autocommit, with documents of the real server's sizes (an
// incident ~910 bytes, an entry ~260, a job ~440, as measured in its
// tables under this load). No domain rules, no reads, no outbox: what is
// left to the real server above this floor is its own work.
func serveFloorPG(args []string) int {
	if len(args) != 5 && len(args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: incidentbot-load -serve-floor-pg ADDR URL SECRET POOL INCIDENTS [BATCH]")
		return 2
	}
	addr, rawURL, secret := args[0], args[1], args[2]
	var n int
	if _, err := fmt.Sscan(args[4], &n); err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "floor: INCIDENTS: want a positive number")
		return 2
	}
	batch := 0
	if len(args) == 6 {
		if _, err := fmt.Sscan(args[5], &batch); err != nil || batch < 1 {
			fmt.Fprintln(os.Stderr, "floor: BATCH: want a positive number")
			return 2
		}
	}
	pool, code := openPool("floor", rawURL, args[3])
	if pool == nil {
		return code
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, stop, err := newFloor(ctx, pool, secret, n, batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	defer stop()
	return serveBaselineHTTP(addr, h)
}

// newFloor creates the floor's tables and n open incidents in pool's
// schema and returns its webhook handler, which writes one delivery at a
// time, or up to batch at once when batch > 0; stop ends the batch writers.
func newFloor(ctx context.Context, pool *pgxpool.Pool, secret string, n, batch int) (http.Handler, func(), error) {
	if _, err := pool.Exec(ctx, floorSchema); err != nil {
		return nil, nil, err
	}
	pad := strings.Repeat("x", 700)
	for i, inc := range makeIncidents(n) {
		doc, _ := json.Marshal(map[string]any{"id": inc.ID, "title": inc.Title, "pad": pad})
		if _, err := pool.Exec(ctx, "INSERT INTO incidents (number, pagerduty_id, channel_id, is_open, in_storm, doc) VALUES ($1, $2, $3, true, false, $4) ON CONFLICT DO NOTHING",
			i+1, []byte(inc.ID), []byte(fmt.Sprintf("C%08d", i+1)), doc); err != nil {
			return nil, nil, err
		}
	}
	var batcher *floorBatcher
	stop := func() {}
	if batch > 0 {
		// Four writers: one batch is written while the next gathers.
		batcher = &floorBatcher{pool: pool, in: make(chan *floorRow, 1024), max: batch}
		for range 4 {
			go batcher.run(context.Background())
		}
		stop = func() { close(batcher.in) }
	}
	secrets := []string{secret}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := readSigned(w, r, secrets)
		if !ok {
			return
		}
		var env struct {
			Event struct {
				ID         string    `json:"id"`
				Type       string    `json:"event_type"`
				OccurredAt time.Time `json:"occurred_at"`
				Data       struct {
					ID       string `json:"id"`
					Content  string `json:"content"`
					Incident struct {
						ID    string `json:"id"`
						Title string `json:"summary"`
					} `json:"incident"`
				} `json:"data"`
			} `json:"event"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Event.ID == "" || env.Event.Data.Incident.ID == "" {
			http.Error(w, "no event.id or incident", http.StatusBadRequest)
			return
		}
		ev := env.Event
		inc, _ := json.Marshal(map[string]any{"id": ev.Data.Incident.ID, "title": ev.Data.Incident.Title, "status_at": ev.OccurredAt, "pad": pad})
		entry, _ := json.Marshal(map[string]any{"at": ev.OccurredAt, "recorded_at": time.Now(), "kind": "pagerduty", "event": ev.Type, "text": ev.Data.Content, "note_id": ev.Data.ID, "pad": pad[:120]})
		job, _ := json.Marshal(map[string]any{"kind": "post_note", "incident": ev.Data.Incident.ID, "text": ev.Data.Content, "created_at": time.Now(), "pad": pad[:330]})
		keys := [3][]byte{[]byte("pd-webhook:" + r.Header.Get("X-Webhook-Id")), []byte("pd-event:" + ev.ID), []byte("pd-happening:" + ev.Data.Incident.ID + ":note:" + ev.Data.ID)}
		var err error
		if batcher != nil {
			row := &floorRow{keys: keys, inc: inc, pd: []byte(ev.Data.Incident.ID), entry: entry, job: job, done: make(chan error, 1)}
			batcher.in <- row
			err = <-row.done
		} else {
			var number int
			err = pool.QueryRow(r.Context(), floorWrite, keys[0], keys[1], keys[2], inc, []byte(ev.Data.Incident.ID), entry, job).Scan(&number)
		}
		if err != nil {
			http.Error(w, "could not record the delivery", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return h, stop, nil
}
