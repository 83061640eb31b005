package incidentbot

import "time"

// Status is where an incident stands. It is persisted as this string.
type Status string

// The statuses, in the order an incident usually goes through them.
const (
	StatusTriggered     Status = "triggered"
	StatusAcknowledged  Status = "acknowledged"
	StatusInvestigating Status = "investigating"
	StatusIdentified    Status = "identified"
	StatusMonitoring    Status = "monitoring"
	StatusResolved      Status = "resolved"
)

// Open reports whether the incident is not resolved.
func (s Status) Open() bool { return s != StatusResolved }

// setStatus moves the incident to st when the event that says so is not
// older than the one that set the current status.
func setStatus(inc *Incident, st Status, at time.Time) bool {
	if at.Before(inc.StatusAt) {
		return false
	}
	inc.Status, inc.StatusAt = st, at
	return true
}

// PublicStatus maps an incident status to the four a status page shows:
// triggered, acknowledged and investigating are all "investigating".
func PublicStatus(s Status) Status {
	switch s {
	case StatusIdentified, StatusMonitoring, StatusResolved:
		return s
	}
	return StatusInvestigating
}
