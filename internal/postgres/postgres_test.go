package postgres_test

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
	"github.com/incidentbot/incidentbot/internal/postgres"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// A job whose transaction took its ID first but committed last (another
// lane) is still handed to a reader that already read past its ID.
func TestTx_Jobs_LateLowerIDIsNotMissed(t *testing.T) {
	db := pgtest.MustOpen(t)
	ctx := context.Background()
	low, high, commitLow := lateLowJob(t, ctx, db)
	if high <= low {
		t.Fatalf("IDs %d then %d: want the second higher", low, high)
	}
	read := func(after uint64) []uint64 {
		t.Helper()
		var ids []uint64
		if err := db.View(ctx, func(tx incidentbot.Tx) error {
			ids = ids[:0]
			return tx.Jobs(after, func(j *incidentbot.Job) bool { ids = append(ids, j.ID); return true })
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	// The runner's reads: from 0, then after the highest it saw.
	if got := read(0); !slices.Equal(got, []uint64{high}) {
		t.Fatalf("first read = %v, want only %d (the other is not committed)", got, high)
	}
	read(high)
	commitLow()
	if got := read(high); !slices.Contains(got, low) {
		t.Errorf("read after %d once %d committed = %v: the late lower ID was missed", high, low, got)
	}
	// Once a read has looked past it, it is not handed out forever.
	read(high)
	if got := read(high); slices.Contains(got, low) || slices.Contains(got, high) {
		t.Errorf("later read after %d = %v, want neither old job again", high, got)
	}
}

func TestOpen_TwoAtOnce_MigrateOnce(t *testing.T) {
	url := pgtest.SchemaURL(t)
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, 4)
	errs := make([]error, 4)
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = postgres.Open(context.Background(), url, postgres.Options{Migrate: true})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, v int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion() || v != postgres.SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to version %d, want each of %d once", n, v, postgres.SchemaVersion())
	}
}

func TestOpen_WithoutMigrate_NamesTheCommand(t *testing.T) {
	_, err := postgres.Open(context.Background(), pgtest.SchemaURL(t), postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "incidentbot migrate") {
		t.Errorf("Open of an empty schema without Migrate = %v, want an error naming incidentbot migrate", err)
	}
}

func TestRedact_HidesThePassword(t *testing.T) {
	for _, u := range []string{
		"postgres://bot:s3cr3t-pw@db.example:5432/incidents?sslmode=require",
		"postgres://bot@db.example/incidents?password=s3cr3t-pw",
	} {
		if got := postgres.Redact(u); strings.Contains(got, "s3cr3t-pw") || !strings.Contains(got, "db.example") {
			t.Errorf("Redact(%q) = %q", u, got)
		}
	}
	for _, bad := range []string{"postgres://bot:s3cr3t-pw@db.example:notaport/x", "postgres://bot:s3cr3t-pw@db.example/x?pool_max_conns=zero", "mysql://bot:s3cr3t-pw@h/x"} {
		err := postgres.ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted it", bad)
		} else if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("ParseURL(%q) = %q: the password is in the error", bad, err)
		}
	}
	// A server that cannot be reached: the error names it, not the password.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://bot:s3cr3t-pw@127.0.0.1:1/x?connect_timeout=2", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("Open of an unreachable server = %v", err)
	}
}

// A commit that enqueued jobs, made through one replica's store, wakes
// another replica's listener.
func TestDB_Listen_WakesOnOtherReplicasCommit(t *testing.T) {
	url := pgtest.SchemaURL(t)
	leader, follower := pgtest.MustOpenURL(t, url), pgtest.MustOpenURL(t, url)
	woke := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go leader.Listen(ctx, func() { woke <- struct{}{} })
	// The listener starts asynchronously: commit until one is heard.
	deadline := time.After(10 * time.Second)
	for {
		if err := follower.Update(ctx, func(tx incidentbot.Tx) error {
			return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"})
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woke:
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no wake-up 10 s after the other replica's commits")
		}
	}
}

// Two replicas campaign; the leader's lease is taken over when it stops
// renewing (as a paused or cut-off process does), and every write of the
// old term is refused from then on, while the new leader's go through.
func TestLease_TakeoverFencesTheOldLeader(t *testing.T) {
	url := pgtest.SchemaURL(t)
	dbA, dbB := pgtest.MustOpenURL(t, url), pgtest.MustOpenURL(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type term struct {
		ctx  context.Context
		name string
	}
	terms := make(chan term, 4)
	a := &postgres.Lease{DB: dbA, TTL: 1500 * time.Millisecond}
	b := &postgres.Lease{DB: dbB, TTL: 1500 * time.Millisecond}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.Run(ctx, func(c context.Context) { terms <- term{c, "A"}; <-c.Done() })
	}()
	first := <-terms
	if first.name != "A" {
		t.Fatalf("first leader %s", first.name)
	}
	go func() {
		defer wg.Done()
		b.Run(ctx, func(c context.Context) { terms <- term{c, "B"}; <-c.Done() })
	}()
	// A's writes go through while it leads.
	if err := dbA.Update(first.ctx, func(tx incidentbot.Tx) error { return tx.MarkDelivery("a1", time.Now()) }); err != nil {
		t.Fatalf("leader's fenced write: %v", err)
	}
	if !a.Leading() || b.Leading() {
		t.Fatalf("leading: A %v, B %v", a.Leading(), b.Leading())
	}
	// A pauses: it renews nothing and does not notice anything, while its
	// leader's context stays alive.
	postgres.PauseForTest(a, true)
	start := time.Now()
	var second term
	select {
	case second = <-terms:
	case <-time.After(10 * time.Second):
		t.Fatal("no takeover within 10 s")
	}
	if second.name != "B" {
		t.Fatalf("took over: %s", second.name)
	}
	t.Logf("takeover %v after the leader paused (TTL 1.5 s)", time.Since(start).Round(time.Millisecond))
	// The old term's write (a job result recorded after the pause) is refused.
	err := dbA.Update(first.ctx, func(tx incidentbot.Tx) error { return tx.MarkDelivery("a2", time.Now()) })
	if !errors.Is(err, postgres.ErrFenced) {
		t.Errorf("old leader's write after the takeover = %v, want fenced", err)
	}
	if err := dbB.Update(second.ctx, func(tx incidentbot.Tx) error { return tx.MarkDelivery("b1", time.Now()) }); err != nil {
		t.Errorf("new leader's write: %v", err)
	}
	// A resumes, notices and steps down.
	postgres.PauseForTest(a, false)
	select {
	case <-first.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Error("the old leader's term did not end")
	}
	if err := dbA.View(ctx, func(tx incidentbot.Tx) error {
		if seen, err := tx.SeenDelivery("a2"); err != nil || seen {
			t.Errorf("the refused write is stored (%v, %v)", seen, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	if a.Leading() || b.Leading() {
		t.Error("still leading after Run returned")
	}
}

// The first attempt takes a delivery key to be new without reading it; a
// key that exists is caught (by its insert, by the check before COMMIT, or
// before a ForgetDelivery) and fn runs again, reading: what commits is
// what a read would have decided, and the guessed attempt leaves nothing.
func TestTx_SeenDelivery_AWrongGuessRunsFnAgain(t *testing.T) {
	db := pgtest.MustOpen(t)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx incidentbot.Tx) error {
		for _, k := range []string{"a:marked", "b:checked", "c:forgotten", "d:failed", "lookup:1", "lookup:2", "lookup:3"} {
			if err := tx.MarkDelivery(k, time.Now()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	jobs := func() int {
		t.Helper()
		n := 0
		if err := db.View(ctx, func(tx incidentbot.Tx) error {
			return tx.Jobs(0, func(*incidentbot.Job) bool { n++; return true })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	errBoom := errors.New("boom")
	for _, c := range []struct {
		key  string
		then func(tx incidentbot.Tx, key string) error // when the key reads as absent
	}{
		// Each its own prefix: a prefix whose keys are found is no longer
		// guessed (below).
		{"a:marked", func(tx incidentbot.Tx, key string) error { return tx.MarkDelivery(key, time.Now()) }},
		{"b:checked", func(incidentbot.Tx, string) error { return nil }},
		{"c:forgotten", func(tx incidentbot.Tx, key string) error { return tx.ForgetDelivery(key) }},
		{"d:failed", func(incidentbot.Tx, string) error { return errBoom }},
	} {
		var answers []bool
		err := db.Update(ctx, func(tx incidentbot.Tx) error {
			seen, err := tx.SeenDelivery(c.key)
			if err != nil {
				return err
			}
			answers = append(answers, seen)
			if seen {
				return nil
			}
			if err := tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"}); err != nil {
				return err
			}
			return c.then(tx, c.key)
		})
		if err != nil {
			t.Fatalf("%s: %v", c.key, err)
		}
		if !slices.Equal(answers, []bool{false, true}) {
			t.Errorf("%s: SeenDelivery answered %v over the attempts, want a guess then the truth [false true]", c.key, answers)
		}
		if n := jobs(); n != 0 {
			t.Errorf("%s: %d jobs committed, want none (the guessed attempt rolled back)", c.key, n)
		}
	}
	// A new key: one attempt, and its job commits.
	attempts := 0
	if err := db.Update(ctx, func(tx incidentbot.Tx) error {
		attempts++
		if seen, err := tx.SeenDelivery("new"); err != nil || seen {
			return fmt.Errorf("new key seen %v, %v", seen, err)
		}
		if err := tx.MarkDelivery("new", time.Now()); err != nil {
			return err
		}
		return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"})
	}); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || jobs() != 1 {
		t.Errorf("a new key: %d attempts, %d jobs; want 1 and 1", attempts, jobs())
	}
	// Keys of a prefix that were there when looked at are read, not
	// guessed: one attempt, the truth at once.
	for _, key := range []string{"lookup:1", "lookup:2", "lookup:3"} {
		var answers []bool
		if err := db.Update(ctx, func(tx incidentbot.Tx) error {
			seen, err := tx.SeenDelivery(key)
			answers = append(answers, seen)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if key != "lookup:1" && !slices.Equal(answers, []bool{true}) {
			t.Errorf("%s: answers %v, want [true]: a prefix found before is read", key, answers)
		}
	}
}

// A commit that enqueued jobs wakes other replicas (a NOTIFY after it)
// unless this store's process leads: its runner is woken in the process.
func TestDB_JobsCommitted_NotifiesUnlessLeading(t *testing.T) {
	url := pgtest.SchemaURL(t)
	listener, writer := pgtest.MustOpenURL(t, url), pgtest.MustOpenURL(t, url)
	woke := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go listener.Listen(ctx, func() { woke <- struct{}{} })
	enqueue := func() {
		t.Helper()
		if err := writer.Update(ctx, func(tx incidentbot.Tx) error {
			return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Heard once the listener runs (it starts asynchronously).
	deadline := time.After(10 * time.Second)
heard:
	for {
		enqueue()
		select {
		case <-woke:
			break heard
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no wake-up 10 s after the follower's commits")
		}
	}
	time.Sleep(300 * time.Millisecond)
	for len(woke) > 0 {
		<-woke
	}
	postgres.SetLeadingForTest(writer, true)
	for range 5 {
		enqueue()
	}
	select {
	case <-woke:
		t.Error("the leader's commit sent a NOTIFY")
	case <-time.After(time.Second):
	}
}

// A database migrated before the title word index had it (version 4)
// gets the index of its stored incidents built by migration 5.
func TestMigrate_BuildsTheTitleWordIndexOfStoredIncidents(t *testing.T) {
	url := pgtest.SchemaURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx incidentbot.Tx) error {
		for i, title := range []string{"Redis node down", "Checkout errors", "Redis node flapping"} {
			inc := &incidentbot.Incident{ID: incidentbot.IncidentID(i + 1), Number: i + 1, Title: title, Status: incidentbot.StatusTriggered}
			if _, err := tx.NextIncidentNumber(); err != nil {
				return err
			}
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Back to version 4: no index (and none of the later tables).
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE incident_title_words; DROP TABLE people; DROP TABLE open_actions; DELETE FROM schema_migrations WHERE version >= 5"); err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil || len(applied) != 3 || applied[0] != "0005_title_words.sql" || applied[1] != "0006_people.sql" || applied[2] != "0007_open_actions.sql" {
		t.Fatalf("migrate applied %v, %v; want 0005_title_words.sql, 0006_people.sql and 0007_open_actions.sql", applied, err)
	}
	var got []int
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		return tx.TitleIncidents(incidentbot.TitleWords("redis node"), 2, 0, func(inc *incidentbot.Incident) bool { got = append(got, inc.Number); return true })
	})
	if err != nil || !slices.Equal(got, []int{3, 1}) {
		t.Errorf("after migration 5, redis node = %v (%v), want [3 1]", got, err)
	}
}

// The leader's work (a fenced context) has connections of its own: it
// commits while requests hold every connection of the main pool.
func TestDB_LeadersWork_NotStarvedByRequests(t *testing.T) {
	url := pgtest.SchemaURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{Migrate: true, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lease := &postgres.Lease{DB: db}
	leading := make(chan context.Context, 1)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		lease.Run(lctx, func(term context.Context) { leading <- term; <-term.Done() })
	})
	var term context.Context
	select {
	case term = <-leading:
	case <-time.After(10 * time.Second):
		t.Fatal("no lease within 10 s")
	}
	// Requests take both connections of the main pool and keep them.
	release := make(chan struct{})
	held := make(chan struct{}, 2)
	for range 2 {
		wg.Go(func() {
			_ = db.Update(ctx, func(tx incidentbot.Tx) error { // the outcome does not matter here
				if _, err := tx.SeenDelivery("x"); err != nil {
					return err
				}
				held <- struct{}{}
				<-release
				return nil
			})
		})
	}
	for range 2 {
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatal("the requests did not get their connections")
		}
	}
	defer close(release)
	done := make(chan error, 1)
	go func() {
		done <- db.Update(term, func(tx incidentbot.Tx) error {
			return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the leader's Update: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the leader's Update waited 3 s for a connection the requests held")
	}
}

// holdFenced runs a fenced transaction of the term ctx that has begun
// (the fence checked, its lock taken) and stays open until release is
// closed; its outcome is sent on the returned channel.
func holdFenced(t *testing.T, db *postgres.DB, ctx context.Context, key string, release <-chan struct{}) <-chan error {
	t.Helper()
	begun := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.Update(ctx, func(tx incidentbot.Tx) error {
			// A read sends the BEGIN and the fence check.
			if err := tx.Jobs(0, func(*incidentbot.Job) bool { return false }); err != nil {
				return err
			}
			select {
			case <-begun:
			default:
				close(begun)
			}
			select {
			case <-release:
			case <-ctx.Done(): // the term ended
				return ctx.Err()
			}
			return tx.MarkDelivery(key, time.Now())
		})
	}()
	select {
	case <-begun:
	case err := <-errc:
		t.Fatalf("fenced transaction: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the fenced transaction did not begin")
	}
	return errc
}

// The leader's transactions in flight do not hold up its renewals, nor
// does a follower's campaign (a storm's stream of them starved the
// renewals and the leader lost its lease, which failed a two-replica
// crash test): a transaction kept open for 1.5 TTLs ends a term
// neither with a step-down nor a takeover. A takeover of an expired lease
// still waits for the old leader's transaction in flight.
func TestLease_RenewsWhileTheLeadersTransactionRuns_TakeoverWaitsForIt(t *testing.T) {
	url := pgtest.SchemaURL(t)
	dbA, dbB := pgtest.MustOpenURL(t, url), pgtest.MustOpenURL(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A TTL long enough that one slow renewal on a loaded machine (its
	// timeout is a second) is retried before the term's end, yet short
	// enough that holding a transaction for 1.5 TTLs outlasts a lease
	// nobody renews.
	const ttl = 3 * time.Second
	type term struct {
		ctx  context.Context
		name string
		at   time.Time
	}
	terms := make(chan term, 4)
	a := &postgres.Lease{DB: dbA, TTL: ttl}
	b := &postgres.Lease{DB: dbB, TTL: ttl}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.Run(ctx, func(c context.Context) { terms <- term{c, "A", time.Now()}; <-c.Done() })
	}()
	first := <-terms
	if first.name != "A" {
		t.Fatalf("first leader %s", first.name)
	}
	go func() {
		defer wg.Done()
		b.Run(ctx, func(c context.Context) { terms <- term{c, "B", time.Now()}; <-c.Done() })
	}()

	release := make(chan struct{})
	errc := holdFenced(t, dbA, first.ctx, "held", release)
	select {
	case <-first.ctx.Done():
		t.Fatal("the leader's term ended while its transaction was open")
	case tm := <-terms:
		t.Fatalf("%s took over while the leader's transaction was open", tm.name)
	case <-time.After(ttl * 3 / 2):
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("the held transaction: %v", err)
	}
	if !a.Leading() || b.Leading() {
		t.Fatalf("leading: A %v, B %v", a.Leading(), b.Leading())
	}

	// A pauses with a transaction open: the lease expires after a TTL, and
	// B takes it over only once the transaction has ended.
	release = make(chan struct{})
	errc = holdFenced(t, dbA, first.ctx, "held-across-expiry", release)
	postgres.PauseForTest(a, true)
	select {
	case tm := <-terms:
		t.Fatalf("%s took over while the old leader's transaction was open", tm.name)
	case <-time.After(ttl * 3 / 2):
	}
	ended := time.Now()
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("the old leader's transaction, begun in its term: %v", err)
	}
	select {
	case tm := <-terms:
		if tm.name != "B" || tm.at.Before(ended) {
			t.Errorf("%s took over at %v, the transaction ended at %v", tm.name, tm.at, ended)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no takeover within 10 s of the transaction's end")
	}
	postgres.PauseForTest(a, false)
	cancel()
	wg.Wait()
}

// The outbox runner's read (a View: Tx.Jobs(after), then COMMIT) moves the
// horizon of late jobs only once it committed: a read whose COMMIT was lost
// (here the server ends the session) is thrown away by the runner, which
// keeps its lastID, and a job below lastID that committed late, seen only
// by that read, was never handed out again (until a new term).
func TestJobs_AFailedReadDoesNotHideALateJob(t *testing.T) {
	url := pgtest.SchemaURL(t)
	db := pgtest.MustOpenURL(t, url)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	low, high, commitLow := lateLowJob(t, ctx, db)
	// read is the runner's Pending (jobs.go): a View over Tx.Jobs.
	read := func(after uint64, failCommit bool) ([]uint64, error) {
		var ids []uint64
		err := db.View(ctx, func(tx incidentbot.Tx) error {
			ids = ids[:0]
			if err := tx.Jobs(after, func(j *incidentbot.Job) bool { ids = append(ids, j.ID); return true }); err != nil {
				return err
			}
			if failCommit {
				// The connection dies before COMMIT's answer (a network cut,
				// a failover, an admin's pg_terminate_backend).
				_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
					WHERE application_name = $1 AND state = 'idle in transaction' AND query LIKE '%FROM jobs%'`, db.Schema())
				return err
			}
			return nil
		})
		return ids, err
	}
	lastID := uint64(0)
	load := func(fail bool) []uint64 {
		ids, err := read(lastID, fail)
		t.Logf("read after %d: %v, err %v", lastID, ids, err)
		if err != nil {
			return nil // runner.load: error logged, nothing taken, lastID kept
		}
		for _, id := range ids {
			lastID = max(lastID, id)
		}
		return ids
	}
	if got := load(false); !slices.Equal(got, []uint64{high}) {
		t.Fatalf("first read %v, want [%d]", got, high)
	}
	load(false) // after high: horizon = xmin with low's transaction running
	commitLow()
	// The next read finds low, but its COMMIT fails: the runner drops it.
	load(true)
	var all []uint64
	for i := 0; i < 3; i++ {
		all = append(all, load(false)...)
	}
	if !slices.Contains(all, low) {
		t.Errorf("job %d (committed late, below lastID %d) was never handed out again after one failed read", low, lastID)
	}
}

// lateLowJob enqueues a job in a transaction that stays open (low) and
// commits another after it (high: a higher ID that commits first);
// commitLow commits the first.
func lateLowJob(t *testing.T, ctx context.Context, db *postgres.DB) (low, high uint64, commitLow func()) {
	t.Helper()
	took, release := make(chan uint64), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.Update(ctx, func(tx incidentbot.Tx) error {
			j := &incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"}
			if err := tx.Enqueue(j); err != nil {
				return err
			}
			took <- j.ID
			<-release
			return nil
		})
	}()
	low = <-took
	if err := db.Update(ctx, func(tx incidentbot.Tx) error {
		j := &incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-2"}
		err := tx.Enqueue(j)
		high = j.ID
		return err
	}); err != nil {
		close(release)
		t.Fatal(err)
	}
	return low, high, func() {
		t.Helper()
		close(release)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
