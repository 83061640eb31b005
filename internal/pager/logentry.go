package pager

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	incidentbot "github.com/incidentbot/incidentbot"
)

// LogPage is one page of PagerDuty's log entries, already in the domain's
// terms.
type LogPage struct {
	// Entries are the page's log entries, in PagerDuty's order.
	Entries []LogEntry
	// More reports whether a later page exists.
	More bool
}

// LogEntry is a log entry as the poller needs it: its ID and time (for the
// cursor) and the event it stands for (Event.Type is "" for a type the bot
// has no webhook counterpart for, such as notify_log_entry).
type LogEntry struct {
	ID        string
	Type      string
	CreatedAt time.Time
	Event     incidentbot.PagerEvent
}

// logPageSize is PagerDuty's largest page.
const logPageSize = 100

// LogEntries reads one page of the account's log entries created in
// [since, until), with their incidents included, starting at offset.
// A 429 is an ETRANSIENT error whose RetryAfter says how long PagerDuty
// asked to wait (Retry-After, or its ratelimit-reset header).
// https://developer.pagerduty.com/api-reference/c661e065403b5-list-log-entries
func (c *Client) LogEntries(ctx context.Context, since, until time.Time, offset int) (page LogPage, err error) {
	wait := new(time.Duration)
	ctx = context.WithValue(ctx, retryAfterKey{}, wait)
	defer func() {
		// go-pagerduty's Channel decoder asserts that channel.type is a
		// string: an answer where it is not must not take the bot down.
		if p := recover(); p != nil {
			page, err = LogPage{}, incidentbot.Errorf(incidentbot.ETRANSIENT, "list PagerDuty log entries: the answer could not be read (%v)", p)
		}
	}()
	res, err := c.pd.ListLogEntriesWithContext(ctx, pagerduty.ListLogEntriesOptions{
		Limit: logPageSize, Offset: uint(offset),
		Since: since.UTC().Format(time.RFC3339), Until: until.UTC().Format(time.RFC3339),
		Includes: []string{"incidents"},
	})
	if err != nil {
		cerr := classify(ctx, "list PagerDuty log entries", err)
		if *wait > 0 {
			if e, ok := cerr.(*incidentbot.Error); ok {
				e.RetryAfter = *wait
			}
		}
		return LogPage{}, cerr
	}
	out := LogPage{More: res.More}
	for i := range res.LogEntries {
		out.Entries = append(out.Entries, decodeLogEntry(&res.LogEntries[i]))
	}
	return out, nil
}

// retryAfterKey holds, in a request's context, where the transport stores
// the wait a 429 asked for: go-pagerduty drops the headers of an error.
type retryAfterKey struct{}

// retryAfterTransport records a 429's Retry-After (or PagerDuty's
// ratelimit-reset, seconds until the window resets) for LogEntries.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err == nil && res.StatusCode == http.StatusTooManyRequests {
		if wait, ok := r.Context().Value(retryAfterKey{}).(*time.Duration); ok {
			for _, h := range []string{"Retry-After", "Ratelimit-Reset"} {
				if n, err := strconv.Atoi(strings.TrimSpace(res.Header.Get(h))); err == nil && n > 0 {
					*wait = time.Duration(min(n, 3600)) * time.Second
					break
				}
			}
		}
	}
	return res, err
}

// eventTypes maps the log entry types that have a v3 webhook counterpart
// to that webhook's event type. The documented types are in PagerDuty's
// REST reference (PagerDuty/api-schema, reference/REST/openapiv3.json,
// LogEntry.type); acknowledge's own schema spells it
// acknowledgement_log_entry, so both are read. priority_change_log_entry
// and responder_request_log_entry are not in the reference but are what
// accounts return for those changes. There is no reopen type: a trigger
// after the incident's resolution is a reopening (the lifecycle's
// onTriggered). urgency_change, snooze, notify and the escalation-path
// types have no webhook the bot handles and are skipped.
var eventTypes = map[string]string{
	"trigger_log_entry":           incidentbot.EventTriggered,
	"acknowledge_log_entry":       incidentbot.EventAcknowledged,
	"acknowledgement_log_entry":   incidentbot.EventAcknowledged,
	"unacknowledge_log_entry":     incidentbot.EventUnacknowledged,
	"resolve_log_entry":           incidentbot.EventResolved,
	"escalate_log_entry":          incidentbot.EventEscalated,
	"assign_log_entry":            incidentbot.EventReassigned,
	"delegate_log_entry":          incidentbot.EventDelegated,
	"annotate_log_entry":          incidentbot.EventAnnotated,
	"priority_change_log_entry":   incidentbot.EventPriorityUpdated,
	"responder_request_log_entry": incidentbot.EventResponderAdded,
}

// statusAfter is the incident's status that a webhook of the same
// happening carries in its data: the included incident is as it is now,
// which may be later.
var statusAfter = map[string]string{
	incidentbot.EventTriggered:      "triggered",
	incidentbot.EventAcknowledged:   "acknowledged",
	incidentbot.EventUnacknowledged: "triggered",
	incidentbot.EventResolved:       "resolved",
	incidentbot.EventEscalated:      "triggered",
}

// decodeLogEntry turns a log entry into the event the v3 webhook decoder
// (DecodeWebhook) gives for the same happening: the same type, PagerDuty's
// time, the agent, and either the incident (for the types whose webhook
// data is the incident) or a reference with the note's text or the
// responder (annotate, responder request).
func decodeLogEntry(le *pagerduty.LogEntry) LogEntry {
	out := LogEntry{ID: le.ID, Type: le.Type}
	if t, err := time.Parse(time.RFC3339Nano, le.CreatedAt); err == nil {
		out.CreatedAt = t.UTC()
	}
	typ, ok := eventTypes[le.Type]
	if !ok || le.Incident.ID == "" {
		return out
	}
	ev := incidentbot.PagerEvent{ID: le.ID, Type: typ, OccurredAt: out.CreatedAt, IncidentID: le.Incident.ID}
	if le.Agent.ID != "" || le.Agent.Summary != "" {
		ev.Agent = incidentbot.Person{ID: le.Agent.ID, Name: le.Agent.Summary}
	}
	raw := le.Channel.Raw
	switch typ {
	case incidentbot.EventAnnotated:
		// The note's content is the channel's summary.
		ev.Text = strings.TrimSpace(cmp.Or(rawString(raw, "summary"), rawString(raw, "content"), rawString(raw, "notes")))
	case incidentbot.EventResponderAdded:
		ev.Text = strings.TrimSpace(rawString(raw, "message"))
		if le.User.ID != "" {
			ev.Responder = &incidentbot.Person{ID: le.User.ID, Name: le.User.Summary}
		}
	default:
		pi := fromREST(&le.Incident)
		if pi.Number == 0 && pi.Title == "" {
			// Not included: a reference only. The lifecycle fetches the
			// incident if it does not know it.
			break
		}
		if st, ok := statusAfter[typ]; ok {
			pi.Status = st
		}
		switch typ {
		case incidentbot.EventEscalated, incidentbot.EventReassigned, incidentbot.EventDelegated:
			// Who it went to then, not who has it now.
			pi.Assignees = nil
			for _, a := range le.Assignees {
				pi.Assignees = append(pi.Assignees, incidentbot.Person{ID: a.ID, Name: a.Summary})
			}
		case incidentbot.EventPriorityUpdated:
			if p, ok := raw["new_priority"]; ok {
				pi.Priority = ""
				if m, ok := p.(map[string]any); ok {
					pi.Priority = cmp.Or(rawString(m, "summary"), rawString(m, "name"))
				}
			}
		}
		ev.Incident = pi
	}
	out.Event = ev
	return out
}

func rawString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// initialAssignment reports whether an assign entry is a new incident's
// first assignment (logged beside its trigger, within a second of the
// incident's creation), which PagerDuty sends no webhook for: the trigger's
// incident carries those assignees.
func initialAssignment(e LogEntry) bool {
	pi := e.Event.Incident
	if e.Type != "assign_log_entry" || pi == nil || pi.CreatedAt.IsZero() {
		return false
	}
	d := e.CreatedAt.Sub(pi.CreatedAt.Truncate(time.Second))
	return d >= 0 && d < 2*time.Second
}

// initialTrigger reports whether a trigger entry is its incident's first
// (not a reopening).
func initialTrigger(e LogEntry) bool {
	pi := e.Event.Incident
	d := e.CreatedAt.Sub(pi.CreatedAt.Truncate(time.Second))
	return d >= 0 && d < 2*time.Second
}

// sortLog orders entries oldest first (by time, then ID), whatever order
// PagerDuty listed them in.
func sortLog(entries []LogEntry) {
	slices.SortStableFunc(entries, func(a, b LogEntry) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}
