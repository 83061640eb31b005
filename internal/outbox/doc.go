// Package outbox runs incidentbot's outbox: the side effects (Slack and
// PagerDuty calls, publications) that the lifecycle committed together with
// the change that caused them.
//
// It holds the runner and only the runner: lanes and per-lane order,
// concurrency, backoff honouring Retry-After, deferral that is not an
// attempt (a rate budget, a job waiting for another), the maximum age of a
// failing job, dead letters and stats. What a job means, how it is
// performed and what its failure means for an incident belong to the
// domain (incidentbot.Jobs), which this package drives through the small
// Performer interface. It knows nothing of Slack, PagerDuty or incident
// rules.
package outbox
