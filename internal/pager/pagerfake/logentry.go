package pagerfake

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// LogEntry is one log entry of an incident, as the fake records it when
// something happens to the incident: through the REST API (an
// acknowledgement, a resolution, a reassignment, a priority change, a note)
// or through the Server's own methods that play what PagerDuty does by
// itself or what a person does in PagerDuty's app (AddIncident's trigger,
// Escalate, Unacknowledge, Reopen, RequestResponder, Acknowledge, Resolve,
// AddNote). GET /log_entries and GET /incidents/{id}/log_entries serve them
// in the shapes of PagerDuty's REST reference, and WebhookFor renders the
// v3 webhook PagerDuty sends for the same happening, so the two agree.
type LogEntry struct {
	// ID is the log entry's ID ("Q0000000000001"...).
	ID string
	// Type is PagerDuty's log entry type: trigger_log_entry,
	// acknowledge_log_entry, unacknowledge_log_entry, resolve_log_entry,
	// assign_log_entry, escalate_log_entry, annotate_log_entry,
	// priority_change_log_entry or responder_request_log_entry.
	Type string
	// IncidentID is the incident it belongs to.
	IncidentID string
	// CreatedAt is when it happened, by the Server's clock, with the
	// clock's precision; the REST answer renders it in whole seconds, as
	// PagerDuty does, and the webhook's occurred_at in milliseconds.
	CreatedAt time.Time
	// AgentID is the user who did it; "" means the incident's service (a
	// trigger, an escalation or an acknowledgement timeout).
	AgentID string
	// Summary is PagerDuty's one-line description.
	Summary string
	// AssigneeIDs are the users the incident went to (assign, escalate).
	AssigneeIDs []string
	// Note is a note's content (annotate) or a responder request's message.
	Note string
	// ResponderID is the user asked to respond (responder_request).
	ResponderID string
	// OldPriority and NewPriority are a priority change's names ("" for
	// none).
	OldPriority, NewPriority string
	// Incident is the incident as it was just after the entry (its data in
	// the webhook for the same happening).
	Incident Incident
	// Initial marks the assign_log_entry of a new incident's first
	// assignment, which PagerDuty logs beside the trigger but sends no
	// webhook for.
	Initial bool
}

// logEntryTypes maps the fake's log entry types to the v3 webhook event
// type PagerDuty sends for the same happening.
var logEntryTypes = map[string]string{
	"trigger_log_entry":           "incident.triggered",
	"acknowledge_log_entry":       "incident.acknowledged",
	"unacknowledge_log_entry":     "incident.unacknowledged",
	"resolve_log_entry":           "incident.resolved",
	"assign_log_entry":            "incident.reassigned",
	"escalate_log_entry":          "incident.escalated",
	"annotate_log_entry":          "incident.annotated",
	"priority_change_log_entry":   "incident.priority_updated",
	"responder_request_log_entry": "incident.responder.added",
}

// addLog records a log entry on an incident. The caller holds s.mu.
func (s *Server) addLog(rec *incidentRecord, e LogEntry) LogEntry {
	s.seq["Q"]++
	e.ID = fmt.Sprintf("Q%013d", s.seq["Q"])
	e.IncidentID = rec.inc.ID
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.clock()
	}
	e.AssigneeIDs = append([]string(nil), e.AssigneeIDs...)
	e.Incident = copyIncident(rec.inc)
	rec.log = append(rec.log, e)
	return e
}

// LogEntries returns the log entries of an incident, oldest first (nil for
// an unknown incident).
func (s *Server) LogEntries(incidentID string) []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok {
		return nil
	}
	out := make([]LogEntry, len(rec.log))
	for i, e := range rec.log {
		e.AssigneeIDs = append([]string(nil), e.AssigneeIDs...)
		e.Incident = copyIncident(e.Incident)
		out[i] = e
	}
	return out
}

// AllLogEntries returns every incident's log entries, oldest first.
func (s *Server) AllLogEntries() []LogEntry {
	s.mu.Lock()
	ids := append([]string(nil), s.incOrder...)
	s.mu.Unlock()
	var out []LogEntry
	for _, id := range ids {
		out = append(out, s.LogEntries(id)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// WebhookFor returns the v3 webhook event PagerDuty sends for the
// happening behind a log entry (its event.id is a fresh UUID, unrelated to
// the log entry's ID, as PagerDuty's is), and whether the entry exists.
func (s *Server) WebhookFor(logEntryID string) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.incOrder {
		for _, e := range s.incidents[id].log {
			if e.ID != logEntryID {
				continue
			}
			if e.Initial {
				return Event{}, false
			}
			ev := Event{Type: logEntryTypes[e.Type], OccurredAt: e.CreatedAt}
			if e.Type == "trigger_log_entry" && !e.Incident.ReopenedAt.IsZero() {
				ev.Type = "incident.reopened"
			}
			if e.AgentID != "" {
				a := UserRef(e.AgentID, s.userName(e.AgentID))
				ev.Agent = &a
			} else {
				a := ServiceRef(e.Incident.ServiceID, e.Incident.ServiceName)
				ev.Agent = &a
			}
			switch e.Type {
			case "annotate_log_entry":
				ev.Data = NoteData(e.IncidentID, e.Incident.Title, "PNT"+e.ID[1:], e.Note)
			case "responder_request_log_entry":
				ev.Data = ResponderData(e.IncidentID, e.Incident.Title, e.ResponderID, s.userName(e.ResponderID), e.Note, "pending")
			default:
				ev.Data = incidentData(e.Incident, s.userName)
			}
			return ev, true
		}
	}
	return Event{}, false
}

// Acknowledge acknowledges an incident as a user does in PagerDuty's app
// (the REST API's PUT does the same), recording its log entry. It returns
// false for an unknown or resolved incident.
func (s *Server) Acknowledge(incidentID, userID string) bool {
	return s.change(incidentID, incidentChange{ID: incidentID, Type: "incident_reference", Status: "acknowledged"}, userID)
}

// Resolve resolves an incident as a user does in PagerDuty's app, recording
// its log entry. It returns false for an unknown or resolved incident.
func (s *Server) Resolve(incidentID, userID string) bool {
	return s.change(incidentID, incidentChange{ID: incidentID, Type: "incident_reference", Status: "resolved"}, userID)
}

// Reassign assigns an incident to users as a person does in PagerDuty's
// app (an acknowledged incident goes back to triggered), recording an
// assign_log_entry. It returns false for an unknown incident.
func (s *Server) Reassign(incidentID, userID string, toUserIDs ...string) bool {
	c := incidentChange{ID: incidentID, Type: "incident_reference"}
	for _, id := range toUserIDs {
		c.Assignments = append(c.Assignments, struct {
			Assignee ref `json:"assignee"`
		}{ref{ID: id, Type: "user_reference"}})
	}
	return s.change(incidentID, c, userID)
}

// SetPriority changes an incident's priority (a name such as "P1", "" for
// none) as a user does, recording a priority_change_log_entry.
func (s *Server) SetPriority(incidentID, userID, name string) bool {
	c := incidentChange{ID: incidentID, Type: "incident_reference", Priority: &ref{Type: "priority_reference"}}
	if name != "" {
		c.Priority.ID = priorityID(name)
	}
	return s.change(incidentID, c, userID)
}

func (s *Server) change(incidentID string, c incidentChange, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok || (c.Status != "" && rec.inc.Status == "resolved") {
		return false
	}
	if c.Priority != nil && c.Priority.ID != "" && s.priorityName(c.Priority.ID) == "" {
		return false
	}
	s.applyChange(rec, c, userID)
	return true
}

// AddNote adds a note as a user does in PagerDuty's app (POST
// /incidents/{id}/notes does the same), recording its annotate_log_entry.
func (s *Server) AddNote(incidentID, userID, content string) (Note, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok {
		return Note{}, false
	}
	return s.addNote(rec, userID, content), true
}

// addNote records a note and its log entry. The caller holds s.mu.
func (s *Server) addNote(rec *incidentRecord, userID, content string) Note {
	n := Note{ID: s.nextID("PNT"), IncidentID: rec.inc.ID, Content: content, UserID: userID, CreatedAt: s.clock()}
	rec.notes = append(rec.notes, n)
	s.addLog(rec, LogEntry{Type: "annotate_log_entry", AgentID: userID, Summary: "Note added", Note: content, CreatedAt: n.CreatedAt})
	return n
}

// Escalate plays an escalation (the escalation policy's timeout, or a
// person escalating): the incident goes to toUserIDs, back to triggered,
// with an escalate_log_entry. It returns false for an unknown or resolved
// incident.
func (s *Server) Escalate(incidentID string, toUserIDs ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok || rec.inc.Status == "resolved" {
		return false
	}
	now := s.clock()
	rec.inc.AssigneeIDs = append([]string(nil), toUserIDs...)
	rec.inc.Status, rec.acks = "triggered", nil
	rec.lastStatusChangeAt, rec.lastStatusChangeBy, rec.updatedAt = now, "", now
	s.addLog(rec, LogEntry{Type: "escalate_log_entry", Summary: "Escalated to the next level", AssigneeIDs: toUserIDs, CreatedAt: now})
	return true
}

// Unacknowledge plays an acknowledgement timing out: an acknowledged
// incident goes back to triggered, with an unacknowledge_log_entry by the
// service. It returns false unless the incident is acknowledged.
func (s *Server) Unacknowledge(incidentID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok || rec.inc.Status != "acknowledged" {
		return false
	}
	now := s.clock()
	rec.inc.Status, rec.acks = "triggered", nil
	rec.lastStatusChangeAt, rec.lastStatusChangeBy, rec.updatedAt = now, "", now
	s.addLog(rec, LogEntry{Type: "unacknowledge_log_entry", Summary: "Unacknowledged due to timeout", CreatedAt: now})
	return true
}

// Reopen reopens a resolved incident as a user does: it goes back to
// triggered with reopened_at set. PagerDuty's REST reference names no
// reopen log entry type; the fake records a trigger_log_entry by the user,
// after the resolution, and WebhookFor renders it as incident.reopened.
// It returns false unless the incident is resolved.
func (s *Server) Reopen(incidentID, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok || rec.inc.Status != "resolved" {
		return false
	}
	now := s.clock()
	rec.inc.Status, rec.inc.ReopenedAt, rec.resolvedAt = "triggered", now, time.Time{}
	rec.lastStatusChangeAt, rec.lastStatusChangeBy, rec.updatedAt = now, userID, now
	s.addLog(rec, LogEntry{Type: "trigger_log_entry", AgentID: userID, Summary: "Reopened", CreatedAt: now})
	return true
}

// RequestResponder records a responder request from requesterID to
// userID, with its responder_request_log_entry. It returns false for an
// unknown incident.
func (s *Server) RequestResponder(incidentID, requesterID, userID, message string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[incidentID]
	if !ok {
		return false
	}
	s.addLog(rec, LogEntry{Type: "responder_request_log_entry", AgentID: requesterID, Summary: "Requested " + s.userName(userID) + " to respond", ResponderID: userID, Note: message})
	return true
}

// logEntryJSON renders a log entry in the REST shape of PagerDuty's
// reference (LogEntry and its per-type schemas): the incident as a
// reference, or, with include[]=incidents, as the incident is now. The
// caller holds s.mu.
func (s *Server) logEntryJSON(e LogEntry, includeIncident bool) map[string]any {
	rec := s.incidents[e.IncidentID]
	inc := rec.inc
	service := map[string]any{"id": inc.ServiceID, "type": "service_reference", "summary": inc.ServiceName,
		"self": s.url + "/services/" + inc.ServiceID, "html_url": webURL + "/services/" + inc.ServiceID}
	var agent any = service
	channel := map[string]any{"type": "auto"}
	if e.AgentID != "" {
		agent = s.userRefJSON(e.AgentID)
		channel = map[string]any{"type": "website"}
	}
	if e.Type == "trigger_log_entry" && e.AgentID == "" {
		channel = map[string]any{"type": "api"}
	}
	var incident any = map[string]any{"id": inc.ID, "type": "incident_reference", "summary": "[#" + strconv.Itoa(inc.Number) + "] " + inc.Title,
		"self": s.url + "/incidents/" + inc.ID, "html_url": inc.HTMLURL}
	if includeIncident {
		incident = s.incidentJSON(rec)
	}
	out := map[string]any{
		"id":         e.ID,
		"type":       e.Type,
		"summary":    e.Summary,
		"self":       s.url + "/log_entries/" + e.ID + "?incident_id=" + inc.ID,
		"html_url":   inc.HTMLURL + "/log_entries/" + e.ID,
		"created_at": rfc3339(e.CreatedAt),
		"agent":      agent,
		"incident":   incident,
		"service":    service,
		"teams":      []any{},
		"contexts":   []any{},
	}
	switch e.Type {
	case "trigger_log_entry":
		out["event_details"] = map[string]any{"description": inc.Title}
	case "assign_log_entry", "escalate_log_entry":
		as := []any{}
		for _, id := range e.AssigneeIDs {
			as = append(as, s.userRefJSON(id))
		}
		out["assignees"] = as
	case "annotate_log_entry":
		// A note's content is the channel's summary.
		channel = map[string]any{"type": "note", "summary": e.Note}
	case "priority_change_log_entry":
		prio := func(name string) any {
			if name == "" {
				return nil
			}
			return map[string]any{"id": priorityID(name), "type": "priority_reference", "summary": name, "name": name, "self": s.url + "/priorities/" + priorityID(name)}
		}
		channel["old_priority"], channel["new_priority"] = prio(e.OldPriority), prio(e.NewPriority)
	case "responder_request_log_entry":
		channel = map[string]any{"type": "website", "message": e.Note}
		out["user"] = s.userRefJSON(e.ResponderID)
	case "acknowledge_log_entry":
		out["acknowledgement_timeout"] = nil
	}
	out["channel"] = channel
	return out
}

// listLogEntries answers GET /log_entries: every incident's entries.
func (s *Server) listLogEntries(w http.ResponseWriter, r *http.Request) {
	s.serveLogEntries(w, r, "")
}

// listIncidentLogEntries answers GET /incidents/{id}/log_entries.
func (s *Server) listIncidentLogEntries(w http.ResponseWriter, r *http.Request) {
	s.serveLogEntries(w, r, r.PathValue("id"))
}

// serveLogEntries lists log entries newest first with since (inclusive),
// until (exclusive), include[] (incidents, services, channels, teams; only
// incidents changes the answer), is_overview and the offset pagination of
// PagerDuty's reference (limit 25 by default, at most 100). Unlike
// PagerDuty it applies no default window when since is absent.
func (s *Server) serveLogEntries(w http.ResponseWriter, r *http.Request, incidentID string) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	since, until, ok := timeRange(w, q)
	if !ok {
		return
	}
	includeIncident := false
	for _, inc := range multi(q, "include") {
		switch inc {
		case "incidents":
			includeIncident = true
		case "services", "channels", "teams":
		default:
			writeInvalid(w, "Invalid 'include' Parameter Value: "+inc)
			return
		}
	}
	if v := q.Get("is_overview"); v != "" && v != "true" && v != "false" {
		writeInvalid(w, "Invalid 'is_overview' Parameter Value")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []*incidentRecord
	if incidentID != "" {
		rec, ok := s.incidents[incidentID]
		if !ok {
			writeNotFound(w)
			return
		}
		recs = append(recs, rec)
	} else {
		for _, id := range s.incOrder {
			recs = append(recs, s.incidents[id])
		}
	}
	var entries []LogEntry
	for _, rec := range recs {
		for _, e := range rec.log {
			// PagerDuty compares at its rendering's precision: seconds.
			at := e.CreatedAt.Truncate(time.Second)
			if (!since.IsZero() && at.Before(since)) || (!until.IsZero() && !at.Before(until)) {
				continue
			}
			entries = append(entries, e)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].CreatedAt.Equal(entries[j].CreatedAt) {
			return entries[i].CreatedAt.After(entries[j].CreatedAt)
		}
		return entries[i].ID > entries[j].ID
	})
	lo, hi, out := listPage(q, len(entries), offset, limit)
	list := []any{}
	for _, e := range entries[lo:hi] {
		list = append(list, s.logEntryJSON(e, includeIncident))
	}
	out["log_entries"] = list
	writeJSON(w, http.StatusOK, out)
}

// getLogEntry answers GET /log_entries/{id}.
func (s *Server) getLogEntry(w http.ResponseWriter, r *http.Request) {
	includeIncident := false
	for _, inc := range multi(r.URL.Query(), "include") {
		includeIncident = includeIncident || inc == "incidents"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.incOrder {
		for _, e := range s.incidents[id].log {
			if e.ID == r.PathValue("id") {
				writeJSON(w, http.StatusOK, map[string]any{"log_entry": s.logEntryJSON(e, includeIncident)})
				return
			}
		}
	}
	writeNotFound(w)
}
