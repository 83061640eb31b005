package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/postgres"
	"github.com/incidentbot/incidentbot/internal/store"
)

// copyStore is what incidentbot copy reads and writes: the transactions,
// and the records the domain never lists whole.
type copyStore interface {
	incidentbot.Store
	Counts(ctx context.Context) (map[string]int, error)
	Deliveries(ctx context.Context, fn func(key string, at time.Time) error) error
	PendingEvents(ctx context.Context, fn func(pdID string, evs []incidentbot.PagerEvent) error) error
	SetIncidentSequence(ctx context.Context, n int) error
	Close() error
}

// describeStore names a store argument for messages, without a password.
func describeStore(arg string) string {
	if postgres.IsURL(arg) {
		return postgres.Redact(arg)
	}
	return arg
}

// openCopyStore opens a bbolt file or a PostgreSQL database (migrated
// when it is the destination).
func openCopyStore(ctx context.Context, arg string, dest bool) (copyStore, error) {
	if postgres.IsURL(arg) {
		return postgres.Open(ctx, arg, postgres.Options{Migrate: dest})
	}
	if strings.Contains(arg, "://") {
		return nil, fmt.Errorf("%s: want a bbolt file path or a postgres:// URL", describeStore(arg))
	}
	if !dest {
		// A source path that does not exist is a mistake (a typo): opening
		// it would create an empty database and "copy" nothing, correctly.
		if _, err := os.Stat(arg); err != nil {
			return nil, fmt.Errorf("%s: %w", describeStore(arg), err)
		}
	}
	return store.Open(arg, store.Options{})
}

func copyCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source: a bbolt file path or a postgres:// URL")
	to := fs.String("to", "", "destination (empty): a bbolt file path or a postgres:// URL")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: incidentbot copy --from SRC --to DST

Copies every incident with its timeline, every outbox job, dead letter, event waiting for its
incident and delivery dedupe record from SRC to DST, then checks that the counts match. SRC and
DST are each a bbolt file path or a postgres:// URL (DST's schema is migrated first). DST must be
empty. Stop the server using SRC first (a bbolt file is locked by its server; a PostgreSQL source
must not change while it is copied). Outbox jobs get new IDs in the same order.
Exit codes: 0 copied and checked, 1 failed, 2 bad usage.
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *from == *to {
		fmt.Fprintln(stderr, "incidentbot copy: --from and --to are the same store")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	src, err := openCopyStore(ctx, *from, false)
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot copy: source %s: %v\n", describeStore(*from), err)
		return 1
	}
	defer src.Close()
	dst, err := openCopyStore(ctx, *to, true)
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot copy: destination %s: %v\n", describeStore(*to), err)
		return 1
	}
	defer dst.Close()
	counts, err := copyAll(ctx, src, dst)
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot copy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %s to %s; counts match:\n", describeStore(*from), describeStore(*to))
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(stdout, "  %-17s %d\n", k+":", counts[k])
	}
	return 0
}

// copyAll copies src into the empty dst and returns the counts both hold.
func copyAll(ctx context.Context, src, dst copyStore) (map[string]int, error) {
	have, err := dst.Counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	for k, n := range have {
		if n > 0 {
			return nil, fmt.Errorf("the destination is not empty (%d %s): copy writes into an empty store", n, k)
		}
	}
	// Incidents with their timelines, a page at a time, each page one
	// transaction on each side.
	before, maxNum := 0, 0
	for {
		type withTimeline struct {
			inc *incidentbot.Incident
			tl  []incidentbot.Entry
		}
		var page []withTimeline
		err := src.View(ctx, func(tx incidentbot.Tx) error {
			page = page[:0]
			incs, err := tx.ListIncidents(before, 100, "")
			if err != nil {
				return err
			}
			for _, inc := range incs {
				tl, err := tx.Timeline(inc.ID)
				if err != nil {
					return err
				}
				page = append(page, withTimeline{inc, tl})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading incidents: %w", err)
		}
		if len(page) == 0 {
			break
		}
		err = dst.Update(ctx, func(tx incidentbot.Tx) error {
			for _, p := range page {
				if err := tx.PutIncident(p.inc); err != nil {
					return err
				}
				for _, e := range p.tl {
					want := e.Seq
					if err := tx.AppendEntry(p.inc.ID, &e); err != nil {
						return err
					}
					// Corrections name the seq they supersede: seqs must survive.
					if e.Seq != want {
						return fmt.Errorf("%s: timeline entry %d would become %d (the source's seqs have a gap)", p.inc.ID, want, e.Seq)
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("writing incidents: %w", err)
		}
		for _, p := range page {
			maxNum = max(maxNum, p.inc.Number)
		}
		before = page[len(page)-1].inc.Number
	}
	if err := dst.SetIncidentSequence(ctx, maxNum); err != nil {
		return nil, fmt.Errorf("setting the next incident number: %w", err)
	}
	// Outbox jobs in ID order (new IDs, same order), and dead letters.
	var jobs, dead []*incidentbot.Job
	if err := src.View(ctx, func(tx incidentbot.Tx) error {
		jobs = jobs[:0]
		if err := tx.Jobs(0, func(j *incidentbot.Job) bool { jobs = append(jobs, j); return true }); err != nil {
			return err
		}
		var err error
		dead, err = tx.DeadLetters()
		return err
	}); err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	// A few hundred jobs a transaction: PostgreSQL locks each lane.
	for chunk := range slices.Chunk(jobs, 200) {
		if err := dst.Update(ctx, func(tx incidentbot.Tx) error {
			for _, j := range chunk {
				cp := *j
				if err := tx.Enqueue(&cp); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("writing the outbox: %w", err)
		}
	}
	if err := dst.Update(ctx, func(tx incidentbot.Tx) error {
		for _, j := range dead {
			if err := tx.PutDeadLetter(j); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("writing the outbox: %w", err)
	}
	// Events waiting for their incident, and the dedupe records (PagerDuty
	// retries for 48 h: a retry after the move must still be a duplicate).
	if err := src.PendingEvents(ctx, func(pdID string, evs []incidentbot.PagerEvent) error {
		return dst.Update(ctx, func(tx incidentbot.Tx) error {
			for _, ev := range evs {
				if _, err := tx.AddPending(pdID, ev); err != nil {
					return err
				}
			}
			return nil
		})
	}); err != nil {
		return nil, fmt.Errorf("copying pending events: %w", err)
	}
	type rec struct {
		key string
		at  time.Time
	}
	var batch []rec
	flush := func() error {
		b := batch
		batch = nil
		return dst.Update(ctx, func(tx incidentbot.Tx) error {
			for _, r := range b {
				if err := tx.MarkDelivery(r.key, r.at); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := src.Deliveries(ctx, func(key string, at time.Time) error {
		batch = append(batch, rec{key, at})
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("copying delivery records: %w", err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("copying delivery records: %w", err)
	}
	// The people directory (names learned from Slack and PagerDuty).
	var profiles []incidentbot.Profile
	if err := src.View(ctx, func(tx incidentbot.Tx) error {
		profiles = profiles[:0]
		return tx.Profiles(func(p *incidentbot.Profile) bool { profiles = append(profiles, *p); return true })
	}); err != nil {
		return nil, fmt.Errorf("reading the people directory: %w", err)
	}
	for chunk := range slices.Chunk(profiles, 500) {
		if err := dst.Update(ctx, func(tx incidentbot.Tx) error {
			for i := range chunk {
				if err := tx.PutProfile(&chunk[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("copying the people directory: %w", err)
		}
	}
	// Pollers' positions (pull mode's place in PagerDuty's log).
	cursors := map[string]string{}
	if err := src.View(ctx, func(tx incidentbot.Tx) error {
		for _, name := range incidentbot.Cursors {
			v, err := tx.Cursor(name)
			if err != nil {
				return err
			}
			cursors[name] = v
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading cursors: %w", err)
	}
	if err := dst.Update(ctx, func(tx incidentbot.Tx) error {
		for name, v := range cursors {
			if v != "" {
				if err := tx.SetCursor(name, v); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("copying cursors: %w", err)
	}
	want, err := src.Counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	got, err := dst.Counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s: source %d, destination %d", k, want[k], got[k]))
		}
	}
	if len(diffs) > 0 {
		return nil, fmt.Errorf("the counts do not match (did the source change while it was copied?): %s", strings.Join(diffs, "; "))
	}
	return got, nil
}

// migrateCmd applies the PostgreSQL schema's migrations and exits.
func migrateCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, "usage: incidentbot migrate [--config FILE]\n\nApplies the migrations the PostgreSQL schema of INCIDENTBOT_DATABASE_URL lacks (under a lock:\nreplicas starting at the same time migrate once) and exits. incidentbot serve also migrates at start.\nThe bbolt file needs no migrations. Exit codes: 0 up to date, 1 failed, 2 bad usage or configuration.\n")
		return 0
	}
	getenv, err := configSource(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot migrate: %v\n", err)
		return 2
	}
	url, err := secretSetting(getenv, "INCIDENTBOT_DATABASE_URL")
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot migrate: %v\n", err)
		return 2
	}
	if url == "" {
		fmt.Fprintln(stderr, "incidentbot migrate: INCIDENTBOT_DATABASE_URL is not set (migrations are for the PostgreSQL store; the bbolt file needs none)")
		return 2
	}
	if err := postgres.ParseURL(url); err != nil {
		fmt.Fprintf(stderr, "incidentbot migrate: INCIDENTBOT_DATABASE_URL: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err == nil {
		db.Close()
		fmt.Fprintf(stdout, "%s: schema is up to date (version %d)\n", postgres.Redact(url), postgres.SchemaVersion())
		return 0
	}
	db, err = postgres.Open(ctx, url, postgres.Options{Migrate: true})
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot migrate: %v\n", err)
		return 1
	}
	defer db.Close()
	fmt.Fprintf(stdout, "%s: schema is at version %d\n", postgres.Redact(url), postgres.SchemaVersion())
	return 0
}
