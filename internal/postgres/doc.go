// Package postgres keeps incidentbot's state in PostgreSQL, for running
// several replicas against one database. It implements incidentbot.Store
// and incidentbot.Tx like internal/store does over a bbolt file, and makes
// no business decisions.
//
// Guarantees across replicas come from the database, never from
// check-then-insert in the process:
//
//   - A delivery key that a transaction read as absent is inserted without
//     ON CONFLICT: when another transaction committed it meanwhile, the
//     primary key's unique violation (23505) aborts this transaction and
//     Update runs fn again, which then sees the key. Unique indexes on the
//     PagerDuty incident ID and the channel arbitrate the same way.
//   - Incident numbers come from a counter row updated in the transaction:
//     sequential, unique, and without gaps from rolled-back transactions.
//   - An incident read inside Update is locked (SELECT ... FOR UPDATE), so
//     transactions on one incident serialize; one read without a lock (a
//     list) is written back only if its version did not change.
//   - Jobs of one lane take their IDs under a transaction-scoped advisory
//     lock on the lane, so a later job of a lane never commits with a lower
//     ID than an earlier one. IDs of different lanes may commit out of
//     order; Tx.Jobs finds those late ones through the writing
//     transaction's ID (the xmin horizon).
//   - Unique violations, serialization failures (40001) and deadlocks
//     (40P01) re-run fn in a new transaction, a bounded number of times.
//
// Writes that return nothing are queued and sent with the next read or
// with COMMIT in one round trip (a pgx batch). The first attempt of an
// Update takes delivery keys to be new without reading them (the kinds of
// keys that are rarely found: guess.go), and an
// incident read in an Update tells whether events wait for it, so a new
// webhook costs three round trips (the keys and the incident; the entry
// and the job; the incident and COMMIT); a wrong guess is caught by the
// key's primary key or a check before COMMIT and runs fn again, reading.
// Outbox wake-ups between replicas are NOTIFYs sent after the commit, one
// at a time per process (notify.go). synchronous_commit is left
// as the server has it (on by default): a nil error from Update means the
// commit is durable on the server.
//
// The leader of a group of replicas holds a lease row (lease.go); a
// context made by WithFence makes every Update check, inside its
// transaction, that the lease still has that epoch, so a leader that was
// paused or cut off cannot record anything after another took over.
package postgres
