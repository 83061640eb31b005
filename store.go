package incidentbot

import (
	"context"
	"time"
)

// Store runs transactions. Update's fn may run more than once (a store may
// group commits and retry the others when one fails), so it must depend only
// on what it reads through the Tx and assign its results on every run. A
// nil error from Update means the writes are durable.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is one storage transaction. Values returned are copies owned by the
// caller. Methods that find nothing return an *Error with ENOTFOUND.
type Tx interface {
	// SeenDelivery reports whether a delivery key was recorded.
	SeenDelivery(key string) (bool, error)
	// MarkDelivery records a delivery key at a time (kept for pruning).
	MarkDelivery(key string, at time.Time) error
	// ForgetDelivery removes a delivery key.
	ForgetDelivery(key string) error

	// NextIncidentNumber reserves the next incident number.
	NextIncidentNumber() (int, error)
	// Incident returns an incident by "INC-<n>" ID.
	Incident(id string) (*Incident, error)
	// IncidentByPagerDutyID returns the incident of a PagerDuty incident.
	IncidentByPagerDutyID(pdID string) (*Incident, error)
	// IncidentByChannel returns the incident of a Slack channel.
	IncidentByChannel(channelID string) (*Incident, error)
	// PutIncident writes an incident and its indexes.
	PutIncident(inc *Incident) error
	// OpenIncidents returns the incidents that are not resolved.
	OpenIncidents() ([]*Incident, error)
	// Incidents lists incidents newest first, numbers below before (all
	// when before is 0), at most limit of them.
	Incidents(before, limit int, filter func(*Incident) bool) ([]*Incident, error)

	// AppendEntry appends to an incident's timeline and sets e.Seq.
	AppendEntry(incidentID string, e *Entry) error
	// Timeline returns an incident's entries in Seq order.
	Timeline(incidentID string) ([]Entry, error)

	// Enqueue adds an outbox job and sets j.ID (increasing).
	Enqueue(j *Job) error
	// PutJob rewrites a job (attempts, next attempt).
	PutJob(j *Job) error
	// DeleteJob removes a job that is done.
	DeleteJob(id uint64) error
	// Jobs calls fn for every job with an ID above after, in ID order,
	// until fn returns false.
	Jobs(after uint64, fn func(*Job) bool) error
	// PutDeadLetter records a job that failed for good.
	PutDeadLetter(j *Job) error
	// DeadLetters returns the recorded dead letters.
	DeadLetters() ([]*Job, error)

	// AddPending keeps an event whose incident is not known yet and
	// reports whether it is the first one kept for that incident.
	AddPending(pdID string, ev PagerEvent) (bool, error)
	// TakePending removes and returns the events kept for an incident.
	TakePending(pdID string) ([]PagerEvent, error)
}
