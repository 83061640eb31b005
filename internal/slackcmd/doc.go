// Package slackcmd is incidentbot's Slack adapter, both directions: the
// Web API client the outbox worker uses (channels, invites, Block Kit
// messages) and, later, the /incident command, interactivity and events
// handlers.
package slackcmd
