// Package pager is incidentbot's PagerDuty adapter, both directions: the
// v3 webhook receiver (signature, size cap, decoding, handing the event to
// the lifecycle) and the REST client used by the outbox worker.
package pager
