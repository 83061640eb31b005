package pagerfake

import (
	"net/http"
	"time"
)

// OnCall is one on-call entry: a user on call for an escalation policy, at a
// level, possibly through a schedule, for a time window.
type OnCall struct {
	// UserID is the user on call; the user should be added with AddUser so
	// that references carry a name and include[]=users an e-mail.
	UserID string
	// EscalationPolicyID and EscalationPolicyName default to "PEPFAKE" and
	// "Default", the defaults of Incident.
	EscalationPolicyID, EscalationPolicyName string
	// EscalationLevel defaults to 1.
	EscalationLevel int
	// ScheduleID and ScheduleName name the schedule; an empty ScheduleID
	// means the user is on call directly (schedule null).
	ScheduleID, ScheduleName string
	// Start and End bound the window; a zero value is an open end (JSON
	// null, as PagerDuty answers for permanent on-call).
	Start, End time.Time
}

// AddOnCall adds an on-call entry for GET /oncalls.
func (s *Server) AddOnCall(o OnCall) {
	if o.EscalationPolicyID == "" {
		o.EscalationPolicyID = "PEPFAKE"
	}
	if o.EscalationPolicyName == "" {
		o.EscalationPolicyName = "Default"
	}
	if o.EscalationLevel == 0 {
		o.EscalationLevel = 1
	}
	if o.ScheduleID != "" && o.ScheduleName == "" {
		o.ScheduleName = o.ScheduleID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oncalls = append(s.oncalls, o)
}

// listOnCalls answers GET /oncalls (go-pagerduty's ListOnCallsWithContext)
// with the user_ids[], escalation_policy_ids[], schedule_ids[], since, until
// and include[]=users parameters, paginated. Without since and until it
// lists the entries that hold now.
func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	since, until, ok := timeRange(w, q)
	if !ok {
		return
	}
	users, policies, schedules := multi(q, "user_ids"), multi(q, "escalation_policy_ids"), multi(q, "schedule_ids")
	fullUsers := contains(multi(q, "include"), "users")

	s.mu.Lock()
	defer s.mu.Unlock()
	if since.IsZero() && until.IsZero() {
		since = s.clock()
		until = since
	}
	var list []any
	for _, o := range s.oncalls {
		switch {
		case len(users) > 0 && !contains(users, o.UserID),
			len(policies) > 0 && !contains(policies, o.EscalationPolicyID),
			len(schedules) > 0 && !contains(schedules, o.ScheduleID),
			!o.End.IsZero() && !since.IsZero() && !o.End.After(since),
			!o.Start.IsZero() && !until.IsZero() && o.Start.After(until):
			continue
		}
		var user map[string]any
		if u, ok := s.users[o.UserID]; ok && fullUsers {
			user = s.userJSON(u)
		} else {
			user = s.userRefJSON(o.UserID)
		}
		var schedule any
		if o.ScheduleID != "" {
			schedule = map[string]any{
				"id":       o.ScheduleID,
				"type":     "schedule_reference",
				"summary":  o.ScheduleName,
				"self":     s.url + "/schedules/" + o.ScheduleID,
				"html_url": webURL + "/schedules/" + o.ScheduleID,
			}
		}
		list = append(list, map[string]any{
			"user": user,
			"escalation_policy": map[string]any{
				"id":       o.EscalationPolicyID,
				"type":     "escalation_policy_reference",
				"summary":  o.EscalationPolicyName,
				"self":     s.url + "/escalation_policies/" + o.EscalationPolicyID,
				"html_url": webURL + "/escalation_policies/" + o.EscalationPolicyID,
			},
			"escalation_level": o.EscalationLevel,
			"schedule":         schedule,
			"start":            timeOrNull(o.Start),
			"end":              timeOrNull(o.End),
		})
	}
	lo, hi, out := listPage(q, len(list), offset, limit)
	out["oncalls"] = append([]any{}, list[lo:hi]...)
	writeJSON(w, http.StatusOK, out)
}
