// Package statuspage publishes public incidents: a static status site
// (index.html, status.json, status.atom) rendered by [Render] and written
// atomically by [Dir], and a [Client] for Atlassian Statuspage's REST API.
//
// Only [incidentbot.PublicIncident] values reach this package: public
// names, impact, status and published updates. Timeline notes, people and
// internal links never do.
//
// The site has no external assets (inline CSS, no scripts, no fonts, no
// images) so that it can be served from any static host or bucket and keeps
// working when the bot is down. status.json is documented in
// docs/status-json.md.
package statuspage
