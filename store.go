package incidentbot

import (
	"context"
	"strings"
	"time"
	"unicode"
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
// caller. Methods that find nothing return an *Error with ENOTFOUND. No
// method reads the whole history: each list comes from an index kept in
// the same transaction as the incidents (open set, resolution time,
// service, storm set), and a long read stops with the context's error
// when the context of its View ends.
type Tx interface {
	// SeenDelivery reports whether a delivery key was recorded.
	SeenDelivery(key string) (bool, error)
	// MarkDelivery records a delivery key at a time (kept for pruning).
	MarkDelivery(key string, at time.Time) error
	// ForgetDelivery removes a delivery key.
	ForgetDelivery(key string) error
	// MarkAnswered records a delivery key with the answer it was given (a
	// replayed signed request gets the same answer); it is pruned like
	// MarkDelivery's keys.
	MarkAnswered(key string, at time.Time, answer []byte) error
	// DeliveryAnswer returns the answer recorded with MarkAnswered; ok is
	// false when the key is not recorded (a key recorded with MarkDelivery
	// has an empty answer).
	DeliveryAnswer(key string) (answer []byte, ok bool, err error)

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
	// OpenIncidents returns the incidents that are not resolved, newest
	// first.
	OpenIncidents() ([]*Incident, error)
	// ListIncidents lists incidents newest first: numbers below before (all
	// when before is 0), at most limit (1000 when limit ≤ 0), only open or
	// only resolved ones when status is "open" or "resolved" ("" for both).
	// It reads no more incidents than it returns.
	ListIncidents(before, limit int, status string) ([]*Incident, error)
	// ResolvedSince calls fn for every incident resolved at or after since,
	// latest resolution first, until fn returns false (an index by
	// resolution time: history before since is not read).
	ResolvedSince(since time.Time, fn func(*Incident) bool) error
	// ServiceIncidents calls fn for every incident of a service (by
	// PagerDuty service ID and by name, see ServiceKeys) numbered below
	// before (all when 0), newest first, until fn returns false.
	ServiceIncidents(keys []string, before int, fn func(*Incident) bool) error
	// TitleIncidents calls fn for the incidents numbered below before (all
	// when 0) whose title has at least minShared of words (TitleWords of a
	// title), newest first, until fn returns false. It reads a word index
	// (TitleWords of each stored title, kept as titles change) and only the
	// newest TitleScan entries of each word, so its cost does not grow with
	// the history.
	TitleIncidents(words []string, minShared, before int, fn func(*Incident) bool) error
	// StormIncidents returns the incidents waiting for a storm digest
	// (InDigest and not announced), newest first.
	StormIncidents() ([]*Incident, error)
	// ActionIncidents returns the incidents with at least one action item
	// not done (see HasOpenActions), newest first: the follow-ups, from an
	// index, whatever their age.
	ActionIncidents() ([]*Incident, error)

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

	// PutProfile records what the people directory knows of a user ID,
	// replacing that ID's earlier profile.
	PutProfile(p *Profile) error
	// Profiles calls fn for every stored profile in ID order until fn
	// returns false. The number of profiles follows the number of people,
	// not the incidents' history.
	Profiles(fn func(*Profile) bool) error

	// Cursor returns the position a poller recorded under name with
	// SetCursor, "" when none is recorded. Positions are opaque to the
	// store and never pruned.
	Cursor(name string) (string, error)
	// SetCursor records a poller's position under name, replacing any
	// earlier one; written in the transaction that applies what the
	// position covers, so a restart neither misses nor repeats it.
	SetCursor(name, value string) error
}

// ServiceKeys are the index keys of an incident's service: its PagerDuty
// service ID and its service name (case-insensitive), as SameService
// compares them.
func ServiceKeys(inc *Incident) []string {
	var keys []string
	if inc.PagerDuty != nil && inc.PagerDuty.ServiceID != "" {
		keys = append(keys, "id:"+strings.ReplaceAll(inc.PagerDuty.ServiceID, "\x00", ""))
	}
	if inc.Service != "" {
		keys = append(keys, "name:"+strings.ReplaceAll(strings.ToLower(inc.Service), "\x00", ""))
	}
	return keys
}

// TitleScan is how many entries of each word's index TitleIncidents reads
// at most: similar titles are looked for among the newest incidents that
// have each word.
const TitleScan = 500

// maxTitleWords bounds the words a title is indexed under.
const maxTitleWords = 12

// stopWords are left out of the word index: they say nothing of what
// broke.
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "as": true, "at": true, "be": true, "by": true, "for": true,
	"from": true, "has": true, "have": true, "in": true, "incident": true, "is": true, "it": true, "its": true,
	"of": true, "on": true, "or": true, "our": true, "the": true, "this": true, "to": true, "was": true, "we": true,
	"were": true, "with": true, "sev1": true, "sev2": true, "sev3": true, "sev4": true,
}

// TitleWords are the words a title is indexed under for similar titles:
// lower-case runs of letters and digits of two or more characters (at
// most 40 bytes each), without stop words, each once, in order, at most
// 12.
func TitleWords(title string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(title), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 2 || len(w) > 40 || stopWords[w] {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == w
		}
		if !dup {
			out = append(out, w)
		}
		if len(out) == maxTitleWords {
			break
		}
	}
	return out
}

// HasOpenActions reports whether an incident has an action item not done:
// what the stores' follow-up index holds.
func HasOpenActions(inc *Incident) bool {
	for _, a := range inc.Actions {
		if a.Status != "done" {
			return true
		}
	}
	return false
}
