// Package incidentbot is the domain of incidentbot: the incident, its
// timeline, the lifecycle rules that turn PagerDuty events and Slack
// commands into state, and the outbox of side effects those rules cause.
//
// The package imports only the standard library. Each outside system has
// an adapter package under internal/ (store for bbolt, pager for
// PagerDuty, slackcmd for Slack) that implements the small interfaces
// declared here by their consumer: Store and Tx (storage), Chat (Slack)
// and Pager (PagerDuty REST). cmd/incidentbot wires them together.
//
// Every inbound delivery is applied in one storage transaction together
// with the outbox jobs it causes; the Worker then performs those jobs
// against Slack and PagerDuty, outside any request and any transaction.
package incidentbot
