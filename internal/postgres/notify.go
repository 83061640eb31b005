package postgres

import (
	"context"
	"time"
)

// Outbox wake-ups across replicas.
//
// A commit that enqueued jobs on a replica that does not lead must wake the
// leader's runner, which otherwise finds the jobs at its next rescan. The
// wake-up is a NOTIFY on the schema's channel, sent after the commit, on
// its own, by one sender per process that coalesces: while one NOTIFY is
// on its way, any number of commits leave one more to send.
//
// It is not sent inside the committing transaction because PostgreSQL
// serializes the commits of notifying transactions: a transaction that
// notified holds a database-wide lock from just before its commit until the
// commit is flushed (PreCommit_Notify), so with a NOTIFY in every
// transaction no two commits share a WAL flush. Under 64 concurrent
// webhooks that lock ("Lock: object" in pg_stat_activity) was what most
// backends waited on, and it capped ingest at about a sixth of a bare
// INSERT's rate (docs/benchmarks.md).
//
// A replica that leads wakes its own runner in the process (the Service's
// Enqueued hook) and sends nothing. A replica killed between a commit and
// its NOTIFY loses only the wake-up: the leader's rescan (at most every
// 5 s) finds the jobs, as it finds those of a commit made while the
// listener was reconnecting.

// jobsCommitted asks for a NOTIFY after a commit that enqueued jobs.
func (db *DB) jobsCommitted() {
	if db.leading.Load() {
		return
	}
	select {
	case db.wake <- struct{}{}:
	default: // one is pending already: it covers this commit too
	}
}

// startNotifier starts the sender of the NOTIFYs.
func (db *DB) startNotifier() {
	db.wake = make(chan struct{}, 1)
	db.notifyDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	db.stopNotify = cancel
	go func() {
		defer close(db.notifyDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-db.wake:
			}
			// Taken from wake before sending: a commit from now on leaves
			// another one pending.
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := db.lead.Exec(sctx, "SELECT pg_notify($1, '')", db.channel)
			scancel()
			if err != nil && ctx.Err() == nil {
				db.log.Warn("postgres: outbox wake-up not sent; the leader's rescan finds the jobs", "err", err)
			}
		}
	}()
}
