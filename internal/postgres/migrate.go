package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions, NNNN_name.sql, applied in order,
// each in its own transaction. A released migration is never edited: a
// change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", base)
		}
		b, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3, ... without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this binary needs.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// lockKey is the advisory lock key of this schema's migrations.
func (db *DB) lockKey(what string) int64 {
	h := fnv.New64a()
	h.Write([]byte("incidentbot/" + what + "/" + db.schema))
	return int64(h.Sum64())
}

const versionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies the migrations the schema lacks, under a session
// advisory lock (replicas starting together migrate once; the others wait
// and find nothing to do), and returns the names of those it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer c.Release()
	conn := c.Conn()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", db.lockKey("migrate")); err != nil {
		return nil, fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", db.lockKey("migrate"))
	if _, err := conn.Exec(ctx, versionTable); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	have, err := currentVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if have > len(ms) {
		return nil, fmt.Errorf("migrate: the database's schema is version %d, newer than this binary's %d: run the newer incidentbot", have, len(ms))
	}
	var applied []string
	for _, m := range ms[have:] {
		err := pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
			if _, err := t.Exec(ctx, m.sql); err != nil {
				return err
			}
			if step := goSteps[m.version]; step != nil {
				if err := step(ctx, t); err != nil {
					return err
				}
			}
			_, err := t.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		applied = append(applied, m.name)
		db.log.Info("postgres: applied migration", "migration", m.name, "schema", db.schema)
	}
	return applied, nil
}

// goSteps are the parts of migrations that need the bot's own code, run
// in the migration's transaction after its SQL: filling an index from the
// stored documents.
var goSteps = map[int]func(ctx context.Context, t pgx.Tx) error{
	5: indexTitleWords,
}

// indexTitleWords writes the word index of every stored incident's title
// (migration 5), a thousand incidents at a time.
func indexTitleWords(ctx context.Context, t pgx.Tx) error {
	last := 0
	for {
		rows, err := t.Query(ctx, "SELECT number, doc->>'title' FROM incidents WHERE number > $1 ORDER BY number LIMIT 1000", last)
		if err != nil {
			return err
		}
		var words [][]byte
		var nums []int32
		n := 0
		for rows.Next() {
			var num int32
			var title *string
			if err := rows.Scan(&num, &title); err != nil {
				rows.Close()
				return err
			}
			n++
			last = int(num)
			if title == nil {
				continue
			}
			for _, w := range incidentbot.TitleWords(*title) {
				words, nums = append(words, []byte(w)), append(nums, num)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(words) > 0 {
			if _, err := t.Exec(ctx, "INSERT INTO incident_title_words (word, number) SELECT * FROM unnest($1::bytea[], $2::integer[]) ON CONFLICT DO NOTHING", words, nums); err != nil {
				return err
			}
		}
		if n < 1000 {
			return nil
		}
	}
}

func currentVersion(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (int, error) {
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return v, nil
}

// checkSchema fails unless the schema is at this binary's version.
func (db *DB) checkSchema(ctx context.Context) error {
	var exists bool
	if err := db.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return db.wrap(err)
	}
	want := SchemaVersion()
	if !exists {
		return fmt.Errorf("the database has no incidentbot schema (version %d needed): run incidentbot migrate", want)
	}
	have, err := currentVersion(ctx, db.pool)
	if err != nil {
		return err
	}
	if have != want {
		return fmt.Errorf("the database's schema is version %d, this binary needs %d: run incidentbot migrate", have, want)
	}
	return nil
}
