// Package store keeps incidentbot's state in one bbolt file: incidents,
// their append-only timelines, the outbox, dead letters, delivery dedupe
// records and events waiting for their incident. It makes no business
// decisions: it implements incidentbot.Store and incidentbot.Tx.
//
// Writes go through a group committer: concurrent Update calls are run in
// one bbolt transaction and one fsync, without bbolt Batch's fixed delay.
// If one function fails, the transaction is rolled back and the others are
// run again without it, so every function must be safe to run twice.
package store
