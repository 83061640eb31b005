package pagerfake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Incident is a PagerDuty incident as the fake stores it. Only ID, Number,
// Title and Status matter to most tests; the other fields have defaults (see
// AddIncident) that are the same in the REST answers and in IncidentData, so
// that webhooks and REST lookups describe one incident alike.
type Incident struct {
	// ID is the incident's ID; AddIncident assigns one ("PIN0001"...) when
	// empty.
	ID string
	// Number is the incident number; AddIncident assigns the next one when 0.
	Number int
	// Title is the incident's title.
	Title string
	// Status is "triggered" (the default), "acknowledged" or "resolved".
	Status string
	// Urgency is "high" (the default) or "low".
	Urgency string
	// ServiceID and ServiceName describe the service; they default to
	// "PSVFAKE" and "Fake Service".
	ServiceID, ServiceName string
	// PriorityName is the priority's name ("P1"...); "" means no priority
	// (JSON null).
	PriorityName string
	// PriorityID is the priority's ID; "" derives one from PriorityName
	// ("PPRIP1" for P1, the IDs of the Server's default P1..P5).
	PriorityID string
	// AssigneeIDs are the IDs of the assigned users.
	AssigneeIDs []string
	// CreatedAt is when the incident was triggered; AddIncident uses the
	// Server's clock when zero.
	CreatedAt time.Time
	// HTMLURL is the incident's web page; "" derives
	// "https://fake.pagerduty.com/incidents/<ID>".
	HTMLURL string
	// IncidentKey is the de-duplication key; "" derives a stable 32-digit hex
	// key from the ID.
	IncidentKey string
	// EscalationPolicyID and EscalationPolicyName default to "PEPFAKE" and
	// "Default".
	EscalationPolicyID, EscalationPolicyName string
	// TeamID and TeamName, when TeamID is set, put the incident in one team;
	// otherwise its teams are empty.
	TeamID, TeamName string
	// ConferenceURL and ConferenceNumber make the conference bridge; both
	// empty means no bridge (JSON null).
	ConferenceURL, ConferenceNumber string
	// IncidentType is the v3 incident_type name; "" means "incident_default".
	IncidentType string
	// ReopenedAt is when a resolved incident was reopened; zero is JSON null.
	ReopenedAt time.Time
}

// Note is a note added to an incident through the REST API.
type Note struct {
	// ID is the note's ID ("PNT0001"...).
	ID string
	// IncidentID is the incident the note belongs to.
	IncidentID string
	// Content is the note's text.
	Content string
	// UserID is the author, resolved from the From header.
	UserID string
	// CreatedAt is when the Server received the note, by its clock.
	CreatedAt time.Time
}

// StatusUpdate is a status update posted on an incident through the REST API.
type StatusUpdate struct {
	// ID is the update's ID ("PSU0001"...).
	ID string
	// IncidentID is the incident the update belongs to.
	IncidentID string
	// Message is the update's text.
	Message string
	// SenderID is the sender, resolved from the From header.
	SenderID string
	// CreatedAt is when the Server received the update, by its clock.
	CreatedAt time.Time
}

type incidentRecord struct {
	inc                Incident
	acks               []ack
	lastStatusChangeAt time.Time
	lastStatusChangeBy string // user ID; "" means the service (on trigger)
	resolvedAt         time.Time
	updatedAt          time.Time
	notes              []Note
	updates            []StatusUpdate
	log                []LogEntry
}

type ack struct {
	userID string
	at     time.Time
}

type priority struct{ ID, Name string }

// withDefaults fills the fields that derive from others or have a fixed
// default; ID, Number and CreatedAt are left to the caller.
func (inc Incident) withDefaults() Incident {
	if inc.Status == "" {
		inc.Status = "triggered"
	}
	if inc.Urgency == "" {
		inc.Urgency = "high"
	}
	if inc.ServiceID == "" {
		inc.ServiceID = "PSVFAKE"
	}
	if inc.ServiceName == "" {
		inc.ServiceName = "Fake Service"
	}
	if inc.PriorityName != "" && inc.PriorityID == "" {
		inc.PriorityID = priorityID(inc.PriorityName)
	}
	if inc.HTMLURL == "" {
		inc.HTMLURL = webURL + "/incidents/" + inc.ID
	}
	if inc.IncidentKey == "" {
		sum := sha256.Sum256([]byte("pagerfake/" + inc.ID))
		inc.IncidentKey = hex.EncodeToString(sum[:16])
	}
	if inc.EscalationPolicyID == "" {
		inc.EscalationPolicyID = "PEPFAKE"
	}
	if inc.EscalationPolicyName == "" {
		inc.EscalationPolicyName = "Default"
	}
	if inc.TeamID != "" && inc.TeamName == "" {
		inc.TeamName = inc.TeamID
	}
	if inc.IncidentType == "" {
		inc.IncidentType = "incident_default"
	}
	inc.AssigneeIDs = append([]string(nil), inc.AssigneeIDs...)
	return inc
}

// priorityID derives a priority's ID from its name: "P1" gives "PPRIP1".
func priorityID(name string) string {
	var b strings.Builder
	b.WriteString("PPRI")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// AddIncident adds inc, or replaces the incident with the same ID (keeping its
// notes and status updates), and returns the stored incident with its
// defaults applied: an ID and the next Number when missing, CreatedAt from
// the Server's clock, and the defaults documented on Incident. An incident
// with a priority unknown to the Server adds that priority to GET /priorities.
func (s *Server) AddIncident(inc Incident) Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inc.ID == "" {
		inc.ID = s.nextID("PIN")
	}
	if inc.Number == 0 {
		inc.Number = s.lastNumber + 1
	}
	s.lastNumber = max(s.lastNumber, inc.Number)
	now := s.clock()
	if inc.CreatedAt.IsZero() {
		inc.CreatedAt = now
	}
	if inc.PriorityID != "" && inc.PriorityName == "" {
		inc.PriorityName = s.priorityName(inc.PriorityID)
	}
	inc = inc.withDefaults()
	if inc.PriorityID != "" && s.priorityName(inc.PriorityID) == "" {
		s.priorities = append(s.priorities, priority{ID: inc.PriorityID, Name: inc.PriorityName})
	}

	rec, ok := s.incidents[inc.ID]
	fresh := !ok
	if !ok {
		rec = &incidentRecord{}
		s.incidents[inc.ID] = rec
		s.incOrder = append(s.incOrder, inc.ID)
	}
	rec.inc = inc
	rec.updatedAt = now
	rec.lastStatusChangeAt = inc.CreatedAt
	rec.lastStatusChangeBy = ""
	rec.acks = nil
	rec.resolvedAt = time.Time{}
	switch inc.Status {
	case "acknowledged":
		for _, id := range inc.AssigneeIDs {
			rec.acks = append(rec.acks, ack{userID: id, at: inc.CreatedAt})
		}
	case "resolved":
		rec.resolvedAt = inc.CreatedAt
	}
	if fresh {
		// PagerDuty logs a new incident's trigger and its first assignment
		// (by the escalation policy); one stored already acknowledged or
		// resolved gets those entries too.
		status := inc.Status
		rec.inc.Status = "triggered"
		s.addLog(rec, LogEntry{Type: "trigger_log_entry", Summary: "Triggered through the API", CreatedAt: inc.CreatedAt})
		if len(inc.AssigneeIDs) > 0 {
			s.addLog(rec, LogEntry{Type: "assign_log_entry", Summary: "Assigned to " + s.userName(inc.AssigneeIDs[0]) + ".", AssigneeIDs: inc.AssigneeIDs, CreatedAt: inc.CreatedAt, Initial: true})
		}
		rec.inc.Status = status
		switch status {
		case "acknowledged":
			for _, id := range inc.AssigneeIDs {
				s.addLog(rec, LogEntry{Type: "acknowledge_log_entry", AgentID: id, Summary: "Acknowledged by " + s.userName(id) + ".", CreatedAt: inc.CreatedAt})
			}
		case "resolved":
			s.addLog(rec, LogEntry{Type: "resolve_log_entry", Summary: "Resolved through the API.", CreatedAt: inc.CreatedAt})
		}
	}
	return copyIncident(inc)
}

// Incident returns the incident with the given ID as it is now (after any
// acknowledgement, resolution or reassignment through the API) and whether
// it exists.
func (s *Server) Incident(id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[id]
	if !ok {
		return Incident{}, false
	}
	return copyIncident(rec.inc), true
}

// Notes returns the notes of an incident, oldest first (nil for an unknown
// incident).
func (s *Server) Notes(incidentID string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.incidents[incidentID]; ok {
		return append([]Note(nil), rec.notes...)
	}
	return nil
}

// StatusUpdates returns the status updates of an incident, oldest first (nil
// for an unknown incident).
func (s *Server) StatusUpdates(incidentID string) []StatusUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.incidents[incidentID]; ok {
		return append([]StatusUpdate(nil), rec.updates...)
	}
	return nil
}

// IncidentData is the package's IncidentData for a stored incident, with the
// assignees summarised by their names, and whether the incident exists.
func (s *Server) IncidentData(id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[id]
	if !ok {
		return nil, false
	}
	return incidentData(rec.inc, s.userName), true
}

func copyIncident(inc Incident) Incident {
	inc.AssigneeIDs = append([]string(nil), inc.AssigneeIDs...)
	return inc
}

// priorityName is "" for an unknown priority. The caller holds s.mu.
func (s *Server) priorityName(id string) string {
	for _, p := range s.priorities {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}

// incidentJSON renders an incident in the REST v2 shape. The caller holds
// s.mu.
func (s *Server) incidentJSON(rec *incidentRecord) map[string]any {
	inc := rec.inc
	assignments := []any{}
	for _, id := range inc.AssigneeIDs {
		assignments = append(assignments, map[string]any{
			"at":       rfc3339(inc.CreatedAt),
			"assignee": s.userRefJSON(id),
		})
	}
	acks := []any{}
	for _, a := range rec.acks {
		acks = append(acks, map[string]any{"at": rfc3339(a.at), "acknowledger": s.userRefJSON(a.userID)})
	}
	service := map[string]any{
		"id":       inc.ServiceID,
		"type":     "service_reference",
		"summary":  inc.ServiceName,
		"self":     s.url + "/services/" + inc.ServiceID,
		"html_url": webURL + "/services/" + inc.ServiceID,
	}
	var changedBy any = service
	if rec.lastStatusChangeBy != "" {
		changedBy = s.userRefJSON(rec.lastStatusChangeBy)
	}
	var prio any
	if inc.PriorityID != "" {
		prio = map[string]any{
			"id":          inc.PriorityID,
			"type":        "priority",
			"summary":     inc.PriorityName,
			"self":        s.url + "/priorities/" + inc.PriorityID,
			"html_url":    nil,
			"name":        inc.PriorityName,
			"description": "",
		}
	}
	teams := []any{}
	if inc.TeamID != "" {
		teams = append(teams, map[string]any{
			"id":       inc.TeamID,
			"type":     "team_reference",
			"summary":  inc.TeamName,
			"self":     s.url + "/teams/" + inc.TeamID,
			"html_url": webURL + "/teams/" + inc.TeamID,
		})
	}
	resolved := 0
	if inc.Status == "resolved" {
		resolved = 1
	}
	return map[string]any{
		"id":                    inc.ID,
		"type":                  "incident",
		"summary":               "[#" + strconv.Itoa(inc.Number) + "] " + inc.Title,
		"self":                  s.url + "/incidents/" + inc.ID,
		"html_url":              inc.HTMLURL,
		"incident_number":       inc.Number,
		"title":                 inc.Title,
		"description":           inc.Title,
		"created_at":            rfc3339(inc.CreatedAt),
		"updated_at":            rfc3339(rec.updatedAt),
		"status":                inc.Status,
		"incident_key":          inc.IncidentKey,
		"service":               service,
		"assignments":           assignments,
		"assigned_via":          "escalation_policy",
		"acknowledgements":      acks,
		"last_status_change_at": rfc3339(rec.lastStatusChangeAt),
		"last_status_change_by": changedBy,
		"resolved_at":           timeOrNull(rec.resolvedAt),
		"alert_counts":          map[string]any{"all": 1, "triggered": 1 - resolved, "resolved": resolved},
		"pending_actions":       []any{},
		"is_mergeable":          true,
		"escalation_policy": map[string]any{
			"id":       inc.EscalationPolicyID,
			"type":     "escalation_policy_reference",
			"summary":  inc.EscalationPolicyName,
			"self":     s.url + "/escalation_policies/" + inc.EscalationPolicyID,
			"html_url": webURL + "/escalation_policies/" + inc.EscalationPolicyID,
		},
		"teams":                teams,
		"priority":             prio,
		"urgency":              inc.Urgency,
		"resolve_reason":       nil,
		"conference_bridge":    conferenceBridge(inc),
		"incidents_responders": []any{},
		"responder_requests":   []any{},
	}
}

func conferenceBridge(inc Incident) any {
	if inc.ConferenceURL == "" && inc.ConferenceNumber == "" {
		return nil
	}
	return map[string]any{"conference_number": inc.ConferenceNumber, "conference_url": inc.ConferenceURL}
}

// getIncident answers GET /incidents/{id}.
func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(rec)})
}

// listIncidents answers GET /incidents with the statuses[], service_ids[],
// urgencies[], user_ids[], incident_key, since, until and sort_by
// (created_at or incident_number, :asc or :desc) parameters, paginated.
// Unlike PagerDuty it applies no default 30-day window: without since and
// until every incident is listed.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	since, until, ok := timeRange(w, q)
	if !ok {
		return
	}
	statuses, services, urgencies, users := multi(q, "statuses"), multi(q, "service_ids"), multi(q, "urgencies"), multi(q, "user_ids")
	key := q.Get("incident_key")

	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []*incidentRecord
	for _, id := range s.incOrder {
		rec := s.incidents[id]
		inc := rec.inc
		switch {
		case len(statuses) > 0 && !contains(statuses, inc.Status),
			len(services) > 0 && !contains(services, inc.ServiceID),
			len(urgencies) > 0 && !contains(urgencies, inc.Urgency),
			len(users) > 0 && !anyOf(users, inc.AssigneeIDs),
			key != "" && key != inc.IncidentKey,
			!since.IsZero() && inc.CreatedAt.Before(since),
			!until.IsZero() && !inc.CreatedAt.Before(until):
			continue
		}
		recs = append(recs, rec)
	}
	field, order, _ := strings.Cut(q.Get("sort_by"), ":")
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i].inc, recs[j].inc
		if order == "desc" {
			a, b = b, a
		}
		if field != "incident_number" && !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Number < b.Number
	})
	lo, hi, out := listPage(q, len(recs), offset, limit)
	list := []any{}
	for _, rec := range recs[lo:hi] {
		list = append(list, s.incidentJSON(rec))
	}
	out["incidents"] = list
	writeJSON(w, http.StatusOK, out)
}

func anyOf(want, have []string) bool {
	for _, h := range have {
		if contains(want, h) {
			return true
		}
	}
	return false
}

// incidentChange is one entry of PUT /incidents (or the body of PUT
// /incidents/{id}), as go-pagerduty's ManageIncidentsOptions sends it.
type incidentChange struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Status      string `json:"status"`
	Title       string `json:"title"`
	Resolution  string `json:"resolution"`
	Priority    *ref   `json:"priority"`
	Assignments []struct {
		Assignee ref `json:"assignee"`
	} `json:"assignments"`
	EscalationPolicy *ref `json:"escalation_policy"`
	ConferenceBridge *struct {
		ConferenceNumber string `json:"conference_number"`
		ConferenceURL    string `json:"conference_url"`
	} `json:"conference_bridge"`
}

type ref struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// manageIncidents answers PUT /incidents (go-pagerduty's
// ManageIncidentsWithContext): it checks the requester and every change
// first, then applies them all or none.
func (s *Server) manageIncidents(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Incidents []incidentChange `json:"incidents"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.requester(w, r)
	if !ok || !decodeBody(w, r, &body) {
		return
	}
	if len(body.Incidents) == 0 {
		writeInvalid(w, "Incidents must be provided")
		return
	}
	if len(body.Incidents) > 250 {
		writeInvalid(w, "At most 250 incidents can be updated at once")
		return
	}
	for _, c := range body.Incidents {
		if !s.checkChange(w, c) {
			return
		}
	}
	list := []any{}
	for _, c := range body.Incidents {
		rec := s.incidents[c.ID]
		s.applyChange(rec, c, user.ID)
		list = append(list, s.incidentJSON(rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list})
}

// updateIncident answers PUT /incidents/{id} with the same rules as
// manageIncidents.
func (s *Server) updateIncident(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Incident incidentChange `json:"incident"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.requester(w, r)
	if !ok || !decodeBody(w, r, &body) {
		return
	}
	c := body.Incident
	if c.ID == "" {
		c.ID = r.PathValue("id")
	}
	if c.ID != r.PathValue("id") {
		writeInvalid(w, "Incident id does not match the URL")
		return
	}
	if !s.checkChange(w, c) {
		return
	}
	rec := s.incidents[c.ID]
	s.applyChange(rec, c, user.ID)
	writeJSON(w, http.StatusOK, map[string]any{"incident": s.incidentJSON(rec)})
}

// checkChange validates one change, answering the error and returning false
// when it is refused. The caller holds s.mu.
func (s *Server) checkChange(w http.ResponseWriter, c incidentChange) bool {
	if c.ID == "" {
		writeInvalid(w, "Incident id is required")
		return false
	}
	if c.Type != "incident" && c.Type != "incident_reference" {
		writeInvalid(w, "Incident type must be incident or incident_reference")
		return false
	}
	rec, ok := s.incidents[c.ID]
	if !ok {
		writeNotFound(w)
		return false
	}
	switch c.Status {
	case "", "acknowledged", "resolved":
	default:
		writeInvalid(w, "Status must be acknowledged or resolved")
		return false
	}
	// PagerDuty refuses to change a resolved incident's status, including
	// resolving it again: a retried resolve must expect this answer.
	if c.Status != "" && rec.inc.Status == "resolved" {
		writeInvalid(w, "Incident Already Resolved")
		return false
	}
	if c.Priority != nil && c.Priority.ID != "" && s.priorityName(c.Priority.ID) == "" {
		writeInvalid(w, "Priority Not Found")
		return false
	}
	for _, a := range c.Assignments {
		if _, ok := s.users[a.Assignee.ID]; !ok {
			writeInvalid(w, "Assignee Not Found")
			return false
		}
	}
	return true
}

// applyChange applies a checked change on behalf of userID. The caller holds
// s.mu.
func (s *Server) applyChange(rec *incidentRecord, c incidentChange, userID string) {
	now := s.clock()
	inc := &rec.inc
	if c.Title != "" {
		inc.Title = c.Title
	}
	if c.Priority != nil && c.Priority.ID != inc.PriorityID {
		old := inc.PriorityName
		inc.PriorityID = c.Priority.ID
		inc.PriorityName = s.priorityName(c.Priority.ID)
		s.addLog(rec, LogEntry{Type: "priority_change_log_entry", AgentID: userID, CreatedAt: now, OldPriority: old, NewPriority: inc.PriorityName,
			Summary: fmt.Sprintf("Priority changed from %q to %q.", old, inc.PriorityName)})
	}
	if c.EscalationPolicy != nil && c.EscalationPolicy.ID != "" {
		inc.EscalationPolicyID = c.EscalationPolicy.ID
		inc.EscalationPolicyName = c.EscalationPolicy.ID
	}
	if c.ConferenceBridge != nil {
		inc.ConferenceNumber = c.ConferenceBridge.ConferenceNumber
		inc.ConferenceURL = c.ConferenceBridge.ConferenceURL
	}
	if len(c.Assignments) > 0 {
		// Reassigning sends an acknowledged incident back to triggered.
		inc.AssigneeIDs = nil
		for _, a := range c.Assignments {
			inc.AssigneeIDs = append(inc.AssigneeIDs, a.Assignee.ID)
		}
		if inc.Status == "acknowledged" && c.Status == "" {
			inc.Status = "triggered"
			rec.acks = nil
			rec.lastStatusChangeAt, rec.lastStatusChangeBy = now, userID
		}
		s.addLog(rec, LogEntry{Type: "assign_log_entry", AgentID: userID, CreatedAt: now, AssigneeIDs: inc.AssigneeIDs, Summary: "Reassigned to " + s.userName(inc.AssigneeIDs[0]) + "."})
	}
	switch c.Status {
	case "acknowledged":
		inc.Status = "acknowledged"
		rec.acks = append(rec.acks, ack{userID: userID, at: now})
		rec.lastStatusChangeAt, rec.lastStatusChangeBy = now, userID
		s.addLog(rec, LogEntry{Type: "acknowledge_log_entry", AgentID: userID, CreatedAt: now, Summary: "Acknowledged by " + s.userName(userID) + "."})
	case "resolved":
		inc.Status = "resolved"
		inc.AssigneeIDs = nil // PagerDuty clears assignments on resolution
		rec.resolvedAt = now
		rec.lastStatusChangeAt, rec.lastStatusChangeBy = now, userID
		s.addLog(rec, LogEntry{Type: "resolve_log_entry", AgentID: userID, CreatedAt: now, Summary: "Resolved by " + s.userName(userID) + "."})
		if c.Resolution != "" {
			s.addNote(rec, userID, c.Resolution)
		}
	}
	rec.updatedAt = now
}

// noteJSON renders a note in the REST v2 shape. The caller holds s.mu.
func (s *Server) noteJSON(n Note) map[string]any {
	return map[string]any{
		"id":         n.ID,
		"content":    n.Content,
		"created_at": rfc3339(n.CreatedAt),
		"user":       s.userRefJSON(n.UserID),
		"channel":    map[string]any{"summary": "The PagerDuty website or APIs"},
	}
}

// createNote answers POST /incidents/{id}/notes (go-pagerduty's
// CreateIncidentNoteWithContext, which sends note.User.Summary as From).
func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Note struct {
			Content string `json:"content"`
		} `json:"note"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.requester(w, r)
	if !ok || !decodeBody(w, r, &body) {
		return
	}
	rec, ok := s.incidents[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	if strings.TrimSpace(body.Note.Content) == "" {
		writeInvalid(w, "Note content is required")
		return
	}
	n := s.addNote(rec, user.ID, body.Note.Content)
	writeJSON(w, http.StatusCreated, map[string]any{"note": s.noteJSON(n)})
}

// listNotes answers GET /incidents/{id}/notes.
func (s *Server) listNotes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	notes := []any{}
	for _, n := range rec.notes {
		notes = append(notes, s.noteJSON(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

// createStatusUpdate answers POST /incidents/{id}/status_updates
// (go-pagerduty's CreateIncidentStatusUpdate).
func (s *Server) createStatusUpdate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message string `json:"message"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.requester(w, r)
	if !ok || !decodeBody(w, r, &body) {
		return
	}
	rec, ok := s.incidents[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	if strings.TrimSpace(body.Message) == "" {
		writeInvalid(w, "Message is required")
		return
	}
	u := StatusUpdate{ID: s.nextID("PSU"), IncidentID: rec.inc.ID, Message: body.Message, SenderID: user.ID, CreatedAt: s.clock()}
	rec.updates = append(rec.updates, u)
	rec.updatedAt = u.CreatedAt
	writeJSON(w, http.StatusOK, map[string]any{"status_update": map[string]any{
		"id":         u.ID,
		"message":    u.Message,
		"created_at": rfc3339(u.CreatedAt),
		"sender":     s.userRefJSON(u.SenderID),
	}})
}

// listPriorities answers GET /priorities: P1..P5 and any priority an added
// incident brought.
func (s *Server) listPriorities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi, out := listPage(q, len(s.priorities), offset, limit)
	list := []any{}
	for _, p := range s.priorities[lo:hi] {
		list = append(list, map[string]any{
			"id": p.ID, "type": "priority", "summary": p.Name, "self": s.url + "/priorities/" + p.ID,
			"html_url": nil, "name": p.Name, "description": "",
		})
	}
	out["priorities"] = list
	writeJSON(w, http.StatusOK, out)
}
