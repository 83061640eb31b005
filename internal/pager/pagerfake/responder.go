package pagerfake

import (
	"net/http"
	"strings"
)

// EscalationPolicy is an escalation policy the Server knows: whom it pages
// when a responder request targets it.
type EscalationPolicy struct {
	// ID is the policy's ID; AddEscalationPolicy assigns one ("PEP0001"...)
	// when empty.
	ID string
	// Name is the policy's name, also the summary of references to it.
	Name string
	// UserIDs are the users it pages (its first rule's targets, on call).
	UserIDs []string
}

// ResponderRequest is a responder request made through POST
// /incidents/{id}/responder_requests.
type ResponderRequest struct {
	// IncidentID is the incident it was made on.
	IncidentID string
	// RequesterID is the requester_id it named.
	RequesterID string
	// Message is the message it carried.
	Message string
	// Targets are its targets as sent: "user_reference:PXXX" or
	// "escalation_policy_reference:PXXX".
	Targets []string
	// ResponderIDs are the users it paged.
	ResponderIDs []string
}

// AddEscalationPolicy adds ep, or replaces the policy with the same ID, and
// returns the stored policy (with its ID assigned when ep.ID was empty).
// A new Server knows one policy: "PEPFAKE", "Default", the policy of every
// incident added without one, paging nobody.
func (s *Server) AddEscalationPolicy(ep EscalationPolicy) EscalationPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ep.ID == "" {
		ep.ID = s.nextID("PEP")
	}
	ep.UserIDs = append([]string(nil), ep.UserIDs...)
	if _, ok := s.policies[ep.ID]; !ok {
		s.policyOrder = append(s.policyOrder, ep.ID)
	}
	stored := ep
	s.policies[ep.ID] = &stored
	return ep
}

// ResponderRequests returns the responder requests made on an incident,
// oldest first (nil for an unknown incident or none).
func (s *Server) ResponderRequests(incidentID string) []ResponderRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ResponderRequest
	for _, r := range s.responderRequests {
		if r.IncidentID == incidentID {
			r.Targets = append([]string(nil), r.Targets...)
			r.ResponderIDs = append([]string(nil), r.ResponderIDs...)
			out = append(out, r)
		}
	}
	return out
}

// policyJSON is a REST escalation policy. The caller holds s.mu.
func (s *Server) policyJSON(ep *EscalationPolicy) map[string]any {
	targets := []any{}
	for _, id := range ep.UserIDs {
		t := s.userRefJSON(id)
		t["type"] = "user_reference"
		targets = append(targets, t)
	}
	return map[string]any{
		"id":                            ep.ID,
		"type":                          "escalation_policy",
		"summary":                       ep.Name,
		"name":                          ep.Name,
		"self":                          s.url + "/escalation_policies/" + ep.ID,
		"html_url":                      webURL + "/escalation_policies/" + ep.ID,
		"description":                   "",
		"num_loops":                     0,
		"on_call_handoff_notifications": "if_has_services",
		"escalation_rules": []any{map[string]any{
			"id": ep.ID + "R1", "escalation_delay_in_minutes": 30, "targets": targets,
		}},
		"services": []any{},
		"teams":    []any{},
	}
}

// listEscalationPolicies answers GET /escalation_policies (go-pagerduty's
// ListEscalationPoliciesWithContext), filtered by query (a
// case-insensitive substring of the name, as PagerDuty's "records whose
// name matches the query"), paginated.
func (s *Server) listEscalationPolicies(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	needle := strings.ToLower(q.Get("query"))
	var all []map[string]any
	for _, id := range s.policyOrder {
		ep := s.policies[id]
		if needle != "" && !strings.Contains(strings.ToLower(ep.Name), needle) {
			continue
		}
		all = append(all, s.policyJSON(ep))
	}
	lo, hi, out := listPage(q, len(all), offset, limit)
	out["escalation_policies"] = append([]map[string]any{}, all[lo:hi]...)
	writeJSON(w, http.StatusOK, out)
}

// createResponderRequest answers POST /incidents/{id}/responder_requests
// (go-pagerduty's ResponderRequestWithContext) as PagerDuty's reference
// describes it: requester_id, message and responder_request_targets are
// required; each target is a user or an escalation policy the account has,
// else the request is refused whole (400, ArgumentError); an unknown
// incident is 404. The answer is the responder request with, for each
// target, the users it pages (incidents_responders, pending). Each paged
// user gets a responder_request_log_entry (and so the
// incident.responder.added webhook of WebhookFor).
func (s *Server) createResponderRequest(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RequesterID string `json:"requester_id"`
		Message     string `json:"message"`
		Targets     []struct {
			Target struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"responder_request_target"`
		} `json:"responder_request_targets"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.incidents[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	if !decodeBody(w, r, &body) {
		return
	}
	switch {
	case body.RequesterID == "":
		writeInvalid(w, "Requester id is required")
		return
	case s.users[body.RequesterID] == nil:
		writeInvalid(w, "Requester User Not Found")
		return
	case strings.TrimSpace(body.Message) == "":
		writeInvalid(w, "Message is required")
		return
	case len(body.Targets) == 0:
		writeInvalid(w, "Responder request targets are required")
		return
	}
	type paged struct {
		typ, id, summary string
		users            []string
	}
	var targets []paged
	for _, t := range body.Targets {
		switch t.Target.Type {
		case "user_reference", "user":
			u := s.users[t.Target.ID]
			if u == nil {
				writeInvalid(w, "Responder request target "+t.Target.ID+" not found")
				return
			}
			targets = append(targets, paged{"user", u.ID, u.Name, []string{u.ID}})
		case "escalation_policy_reference", "escalation_policy":
			ep := s.policies[t.Target.ID]
			if ep == nil {
				writeInvalid(w, "Responder request target "+t.Target.ID+" not found")
				return
			}
			targets = append(targets, paged{"escalation_policy", ep.ID, ep.Name, ep.UserIDs})
		default:
			writeInvalid(w, "Responder request target type must be user_reference or escalation_policy_reference")
			return
		}
	}
	now := s.clock()
	incRef := map[string]any{
		"id": rec.inc.ID, "type": "incident_reference", "summary": rec.inc.Title,
		"self": s.url + "/incidents/" + rec.inc.ID, "html_url": rec.inc.HTMLURL,
	}
	req := ResponderRequest{IncidentID: rec.inc.ID, RequesterID: body.RequesterID, Message: body.Message}
	list := []any{}
	for _, t := range targets {
		req.Targets = append(req.Targets, t.typ+"_reference:"+t.id)
		responders := []any{}
		for _, uid := range t.users {
			req.ResponderIDs = append(req.ResponderIDs, uid)
			s.addLog(rec, LogEntry{Type: "responder_request_log_entry", AgentID: body.RequesterID,
				Summary: "Requested " + s.userName(uid) + " to respond", ResponderID: uid, Note: body.Message})
			responders = append(responders, map[string]any{
				"state": "pending", "user": s.userRefJSON(uid), "incident": incRef,
				"updated_at": rfc3339(now), "message": body.Message,
				"requester": s.userRefJSON(body.RequesterID), "requested_at": rfc3339(now),
			})
		}
		list = append(list, map[string]any{"responder_request_target": map[string]any{
			"type": t.typ, "id": t.id, "summary": t.summary, "incidents_responders": responders,
		}})
	}
	s.responderRequests = append(s.responderRequests, req)
	rec.updatedAt = now
	writeJSON(w, http.StatusOK, map[string]any{"responder_request": map[string]any{
		"incident": incRef, "requester": s.userRefJSON(body.RequesterID), "requested_at": rfc3339(now),
		"message": body.Message, "responder_request_targets": list,
	}})
}
