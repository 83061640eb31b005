package incidentbot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PagerDuty v3 webhook event types that the lifecycle handles. Other types
// are acknowledged with a 2xx and ignored.
const (
	EventTriggered             = "incident.triggered"
	EventAcknowledged          = "incident.acknowledged"
	EventUnacknowledged        = "incident.unacknowledged"
	EventResolved              = "incident.resolved"
	EventReopened              = "incident.reopened"
	EventEscalated             = "incident.escalated"
	EventReassigned            = "incident.reassigned"
	EventDelegated             = "incident.delegated"
	EventAnnotated             = "incident.annotated"
	EventPriorityUpdated       = "incident.priority_updated"
	EventResponderAdded        = "incident.responder.added"
	EventStatusUpdatePublished = "incident.status_update_published"
)

// HandlesPagerEvent reports whether the lifecycle acts on a PagerDuty
// event type.
func HandlesPagerEvent(eventType string) bool {
	_, ok := pagerRules[eventType]
	return ok
}

// PagerEvent is a PagerDuty v3 webhook event in the domain's terms.
// IncidentID is always set for handled types; Incident is set when the
// event's data is the incident itself, and nil when it only refers to it
// (a note, a responder request, a status update).
type PagerEvent struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	Agent      Person         `json:"agent"`
	IncidentID string         `json:"incident_id"`
	Incident   *PagerIncident `json:"incident,omitempty"`
	// Text is the note content, the status update message, or the
	// responder request's message.
	Text string `json:"text,omitempty"`
	// Responder is the user asked to respond (responder.added).
	Responder *Person `json:"responder,omitempty"`
	// ClaimedAt is the time the event carried when it was too far in the
	// future to believe; OccurredAt is then its arrival.
	ClaimedAt *time.Time `json:"claimed_at,omitempty"`
}

// PagerIncident is what PagerDuty tells about an incident, from a webhook's
// data or from its REST API.
type PagerIncident struct {
	ID          string    `json:"id"`
	Number      int       `json:"number"`
	Title       string    `json:"title"`
	Status      string    `json:"status"`
	Urgency     string    `json:"urgency"`
	Priority    string    `json:"priority"` // "P1".., "" when none
	ServiceID   string    `json:"service_id"`
	ServiceName string    `json:"service_name"`
	URL         string    `json:"url"`
	Assignees   []Person  `json:"assignees"`
	CreatedAt   time.Time `json:"created_at"`
	// ConferenceURL and ConferenceNumber are the conference bridge (""
	// when PagerDuty has none).
	ConferenceURL    string `json:"conference_url,omitempty"`
	ConferenceNumber string `json:"conference_number,omitempty"`
	// StatusChangedAt is PagerDuty's last_status_change_at (REST only).
	StatusChangedAt time.Time `json:"status_changed_at,omitempty"`
}

// Pager is what the outbox's jobs and reconciliation need from PagerDuty's
// REST API. Errors are classified like Chat's.
type Pager interface {
	// User returns a PagerDuty user's name and e-mail address; an unknown
	// user is an EREJECTED error.
	User(ctx context.Context, userID string) (PagerUser, error)
	// Incident fetches an incident.
	Incident(ctx context.Context, id string) (*PagerIncident, error)
	// OpenIncidents lists the triggered and acknowledged incidents.
	OpenIncidents(ctx context.Context) ([]PagerIncident, error)
	// SetStatus acknowledges or resolves an incident acting as the PagerDuty
	// user with e-mail from.
	SetStatus(ctx context.Context, from, id, status string) error
	// AddNote adds a note to an incident as the user with e-mail from.
	AddNote(ctx context.Context, from, id, content string) error
	// UserByEmail returns the PagerDuty user with that login e-mail; none
	// is an EREJECTED error.
	UserByEmail(ctx context.Context, email string) (PagerUser, error)
	// EscalationPolicies lists the account's escalation policies.
	EscalationPolicies(ctx context.Context) ([]EscalationPolicy, error)
	// RequestResponders asks PagerDuty to page targets on an incident on
	// behalf of the user requesterID (e-mail from), with a message, and
	// returns the users it is paging.
	RequestResponders(ctx context.Context, from, incidentID, requesterID, message string, targets []ResponderTarget) ([]Person, error)
}

// EscalationPolicy is a PagerDuty escalation policy: whom to page, in
// which order.
type EscalationPolicy struct {
	ID   string
	Name string
}

// ResponderTarget is whom a responder request pages: a PagerDuty user
// (Kind "user") or an escalation policy (Kind "escalation_policy").
type ResponderTarget struct {
	ID   string
	Kind string
}

// Outcome says what became of a delivery.
type Outcome string

// The outcomes.
const (
	OutcomeApplied   Outcome = "applied"   // recorded and acted on
	OutcomeDuplicate Outcome = "duplicate" // seen before; nothing changed
	OutcomeIgnored   Outcome = "ignored"   // a type the bot does not act on
	OutcomePending   Outcome = "pending"   // kept until its incident is known
)

// DeliveryKeys returns the dedupe keys of a PagerDuty delivery: its
// X-Webhook-Id (when given) and its event ID. Both are kept: two
// subscriptions deliver one event under two webhook IDs, and a retried
// delivery keeps its webhook ID.
func DeliveryKeys(webhookID, eventID string) []string {
	keys := make([]string, 0, 2)
	if webhookID != "" {
		keys = append(keys, "pd-webhook:"+webhookID)
	}
	if eventID != "" {
		keys = append(keys, "pd-event:"+eventID)
	}
	return keys
}

// IngestPagerDuty records one PagerDuty delivery: deduplicated on its
// webhook ID and event ID, applied to its incident (which it opens when it
// is the first event of it), with its timeline entry and outbox jobs, in
// one transaction. A repeated delivery changes nothing.
func (s *Service) IngestPagerDuty(ctx context.Context, webhookID string, ev PagerEvent) (Outcome, error) {
	if !HandlesPagerEvent(ev.Type) {
		return OutcomeIgnored, nil
	}
	ev, err := s.checkPagerEvent(ev, "X-Webhook-Id", webhookID, "event.id")
	if err != nil {
		return "", err
	}
	var out Outcome
	var incID string
	err = s.update(ctx, func(w *txWork) error {
		var err error
		out, incID, err = w.ingestOnce(DeliveryKeys(webhookID, ev.ID), ev)
		return err
	})
	if err != nil {
		return "", err
	}
	s.logger().Info("pagerduty event", "incident", incID, "pagerduty_id", ev.IncidentID, "type", ev.Type, "event_id", ev.ID, "outcome", out, "clock_ahead", ev.ClaimedAt != nil)
	return out, nil
}

// checkPagerEvent refuses an event without an incident or with oversized
// identifiers, and settles its time: PagerDuty's, in UTC, unless it is
// absent or too far ahead to believe (then its arrival).
func (s *Service) checkPagerEvent(ev PagerEvent, keyName, key, idName string) (PagerEvent, error) {
	if ev.IncidentID == "" {
		return ev, Errorf(EINVALID, "event %s (%s) names no incident", Clip(ev.ID), ev.Type)
	}
	for _, id := range []struct{ what, v string }{{keyName, key}, {idName, ev.ID}, {"the incident ID", ev.IncidentID}} {
		if err := CheckID(id.what, id.v); err != nil {
			return ev, err
		}
	}
	now := s.now()
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	if ev.OccurredAt.After(now.Add(MaxClockSkew)) {
		// A clock far ahead (or a forged time) must not reorder the
		// timeline: the event is recorded when it arrived.
		claimed := ev.OccurredAt
		ev.ClaimedAt, ev.OccurredAt = &claimed, now
	}
	if pi := ev.Incident; pi != nil && pi.CreatedAt.After(now.Add(MaxClockSkew)) {
		cp := *pi
		cp.CreatedAt = ev.OccurredAt
		ev.Incident = &cp
	}
	return ev, nil
}

// ingestOnce applies an event unless one of its delivery keys, or the
// happening it reports (see happeningKeys), was recorded before: then it
// records the keys it did not have and changes nothing else.
func (w *txWork) ingestOnce(keys []string, ev PagerEvent) (Outcome, string, error) {
	mark, similar := happeningKeys(ev)
	seenAny := false
	for _, k := range append(slices.Clip(keys), similar...) {
		seen, err := w.SeenDelivery(k)
		if err != nil {
			return "", "", err
		}
		if seen {
			seenAny = true
			break
		}
	}
	if mark != "" {
		keys = append(slices.Clip(keys), mark)
	}
	// Remember every key, also of a duplicate, so a third copy under any
	// of them is caught.
	for _, k := range keys {
		if err := w.MarkDelivery(k, w.now); err != nil {
			return "", "", err
		}
	}
	if seenAny {
		return OutcomeDuplicate, "", nil
	}
	return w.ingest(ev)
}

// happeningKeys identify what happened independently of how PagerDuty
// reported it: a v3 webhook's event.id and the ID of the log entry behind
// it differ, and neither carries the other. Both sources give the incident,
// the kind of change and PagerDuty's time of it (the webhook's occurred_at
// with milliseconds, the log entry's created_at in seconds), and what
// changed: a note's or status update's text, the responder asked, the new
// priority, whom the incident went to. The key is (incident, type, second[,
// what]). mark is the key to
// record; similar are the keys that make ev a duplicate: the same second
// and the ones either side, since the two times may straddle a second
// boundary. Two reports of one type and one change within a second of
// each other on one incident are taken as one happening (a second
// acknowledgement in the same second changes nothing anyway). A reopening counts as a trigger:
// PagerDuty's log reports it as one. Reconciliation's stand-ins have none:
// the real event must still replace them.
func happeningKeys(ev PagerEvent) (mark string, similar []string) {
	if isCatchUp(ev) || ev.IncidentID == "" {
		return "", nil
	}
	typ := ev.Type
	if typ == EventReopened {
		typ = EventTriggered
	}
	suffix := ""
	switch ev.Type {
	case EventAnnotated, EventStatusUpdatePublished:
		text := strings.Join(strings.Fields(ev.Text), " ")
		if r := []rune(text); len(r) > 100 {
			text = string(r[:100]) // a log entry may shorten a long note
		}
		suffix = ":" + echoText(text)
	case EventResponderAdded:
		// Several responders added at once are several happenings.
		if ev.Responder != nil {
			suffix = ":" + echoText(ev.Responder.ID)
		}
	case EventPriorityUpdated:
		// P3 then P4 within a second: two changes (PagerDuty's last wins).
		if ev.Incident != nil {
			suffix = ":" + echoText("priority "+ev.Incident.Priority)
		}
	case EventReassigned, EventEscalated, EventDelegated:
		// To Bob, then to Carol: two hand-overs.
		if ev.Incident != nil {
			ids := make([]string, 0, len(ev.Incident.Assignees))
			for _, a := range ev.Incident.Assignees {
				ids = append(ids, a.ID)
			}
			slices.Sort(ids)
			suffix = ":" + echoText("to "+strings.Join(ids, ","))
		}
	}
	key := func(sec int64) string {
		return "pd-happening:" + ev.IncidentID + ":" + typ + ":" + strconv.FormatInt(sec, 10) + suffix
	}
	sec := ev.OccurredAt.Unix()
	return key(sec), []string{key(sec - 1), key(sec), key(sec + 1)}
}

func (w *txWork) ingest(ev PagerEvent) (Outcome, string, error) {
	if err := w.pagerPeople(&ev); err != nil {
		return "", "", err
	}
	inc, err := w.IncidentByPagerDutyID(ev.IncidentID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		if ev.Incident == nil {
			return OutcomePending, "", w.keepPending(ev)
		}
		if inc, err = w.open(ev.Incident); err != nil {
			return "", "", err
		}
	case err != nil:
		return "", "", err
	}
	if err := w.apply(inc, ev); err != nil {
		return "", "", err
	}
	// Events that waited for this incident (a note that arrived first).
	if err := w.applyPending(inc); err != nil {
		return "", "", err
	}
	return OutcomeApplied, inc.ID, w.save(inc)
}

// keepPending keeps an event that only refers to an incident the bot does
// not know, and fetches the incident (one fetch at a time; a new one once
// the last has ended, even as a dead letter, so a later event tries again).
func (w *txWork) keepPending(ev PagerEvent) error {
	if _, err := w.AddPending(ev.IncidentID, ev); err != nil {
		return err
	}
	fetching := fetchKey(ev.IncidentID)
	if busy, err := w.SeenDelivery(fetching); err != nil || busy {
		return err
	}
	if err := w.MarkDelivery(fetching, w.now); err != nil {
		return err
	}
	return w.enqueue(&Job{Kind: JobFetchIncident, Lane: lanePager(ev.IncidentID), PagerID: ev.IncidentID})
}

// fetchKey marks a PagerDuty incident whose REST fetch is outstanding.
func fetchKey(pdID string) string { return "pd-fetching:" + pdID }

// OpenFromPagerDuty opens the incident PagerDuty describes (fetched over
// REST for an event that only referred to it) unless it is open already,
// and applies the events that waited for it.
func (s *Service) OpenFromPagerDuty(ctx context.Context, pi *PagerIncident) (*Incident, error) {
	var out *Incident
	err := s.update(ctx, func(w *txWork) error {
		var err error
		out, err = w.openFromPagerDuty(pi)
		return err
	})
	return out, err
}

func (w *txWork) openFromPagerDuty(pi *PagerIncident) (*Incident, error) {
	inc, err := w.IncidentByPagerDutyID(pi.ID)
	if ErrorCode(err) == ENOTFOUND {
		inc, err = w.open(pi)
	}
	if err != nil {
		return nil, err
	}
	if err := w.applyPending(inc); err != nil {
		return nil, err
	}
	return inc, w.save(inc)
}

func (w *txWork) applyPending(inc *Incident) error {
	pending, err := w.TakePending(inc.PagerDuty.ID)
	if err != nil || len(pending) == 0 {
		return err
	}
	slices.SortStableFunc(pending, func(a, b PagerEvent) int { return a.OccurredAt.Compare(b.OccurredAt) })
	for _, ev := range pending {
		if err := w.apply(inc, ev); err != nil {
			return err
		}
	}
	return nil
}

// open creates the incident of a PagerDuty incident, its "paged" entry,
// and the jobs that open its channel and announce it.
func (w *txWork) open(pi *PagerIncident) (*Incident, error) {
	detected := pi.CreatedAt.UTC()
	if detected.IsZero() {
		detected = w.now
	}
	// PagerDuty's current status, for an incident first heard of late (a
	// missed trigger); when it changed is not known, so phase times stay
	// unset unless an event says.
	status := StatusTriggered
	switch pi.Status {
	case "acknowledged":
		status = StatusAcknowledged
	case "resolved":
		status = StatusResolved
	}
	inc := &Incident{
		Title:    cmp.Or(strings.TrimSpace(stripRefs(pi.Title)), "PagerDuty incident "+pi.ID),
		Severity: SeverityFromPagerDuty(pi.Priority, pi.Urgency),
		Status:   status,
		StatusAt: detected,
		Service:  pi.ServiceName,
		PagerDuty: &PagerLink{
			ID: pi.ID, Number: pi.Number, Title: strings.TrimSpace(stripRefs(pi.Title)), URL: pi.URL, Urgency: pi.Urgency,
			Priority: pi.Priority, ServiceID: pi.ServiceID, ConferenceURL: pi.ConferenceURL, ConferenceNumber: pi.ConferenceNumber,
		},
		Assignees:  make([]Person, 0, len(pi.Assignees)),
		OpenedAt:   detected,
		RecordedAt: w.now,
		UpdatedAt:  w.now,
	}
	for _, p := range pi.Assignees {
		q, err := w.person(p)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(inc.Assignees, func(o Person) bool { return o.ID == q.ID }) {
			inc.Assignees = append(inc.Assignees, q)
		}
	}
	// The number last: on PostgreSQL it locks the counter until the commit.
	n, err := w.NextIncidentNumber()
	if err != nil {
		return nil, err
	}
	inc.ID, inc.Number = IncidentID(n), n
	text := fmt.Sprintf("Paged: %s", inc.Title)
	if pi.ServiceName != "" {
		text += " (service " + pi.ServiceName + ")"
	}
	if err := w.AppendEntry(inc.ID, &Entry{At: detected, Kind: EntryPaged, Actor: Person{Name: "PagerDuty"}, Source: SourcePagerDuty, Text: text}); err != nil {
		return nil, err
	}
	if err := w.openChannel(inc); err != nil {
		return nil, err
	}
	w.scheduleFrom(inc, inc.OpenedAt)
	if err := w.publish(inc); err != nil {
		return nil, err
	}
	for _, p := range inc.Assignees {
		if err := w.invite(inc, p); err != nil {
			return nil, err
		}
	}
	return inc, nil
}

// next says what apply does after an event type's rule.
type next int

const (
	recordEntry   next = iota // record the entry (unless it is an echo)
	recordAndDraw             // record it, then draft the postmortem (resolved)
	nothingMore               // the rule did all there is to do
)

// pagerRule applies one event type's rules to the incident and fills in
// its timeline entry (e already has the time, actor and source).
type pagerRule func(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error)

// pagerRules are the lifecycle's rules, one per PagerDuty event type.
var pagerRules = map[string]pagerRule{
	EventTriggered:             onTriggered,
	EventAcknowledged:          onAcknowledged,
	EventUnacknowledged:        onUnacknowledged,
	EventResolved:              onResolved,
	EventReopened:              onReopened,
	EventEscalated:             onReassigned,
	EventReassigned:            onReassigned,
	EventDelegated:             onReassigned,
	EventAnnotated:             onAnnotated,
	EventPriorityUpdated:       onPriorityUpdated,
	EventResponderAdded:        onResponderAdded,
	EventStatusUpdatePublished: onStatusUpdatePublished,
}

// apply applies one PagerDuty event to its incident: the event type's rule,
// then what follows from any change of status or severity, then its
// timeline entry (none for an echo of the bot's own action).
func (w *txWork) apply(inc *Incident, ev PagerEvent) error {
	rule, ok := pagerRules[ev.Type]
	if !ok {
		return nil
	}
	e := Entry{At: ev.OccurredAt, Actor: ev.Agent, Source: SourcePagerDuty, EventID: ev.ID}
	if e.Actor == (Person{}) {
		e.Actor = Person{Name: "PagerDuty"}
	}
	beforeTitle := inc.Title
	if pi := ev.Incident; pi != nil && !ev.OccurredAt.Before(inc.StatusAt) {
		// The newest facts about the incident win; a title renamed in
		// Slack stays.
		if t := strings.TrimSpace(pi.Title); t != "" {
			inc.PagerDuty.Title = t
			if inc.TitleSetBy == "" {
				inc.Title = t
			}
		}
		if pi.URL != "" {
			inc.PagerDuty.URL = pi.URL
		}
		inc.PagerDuty.ConferenceURL, inc.PagerDuty.ConferenceNumber = pi.ConferenceURL, pi.ConferenceNumber
	}
	if isCatchUp(ev) && !catchUpNeeded(inc, ev) {
		// Decided outside the transaction; the real webhook got here first.
		return nil
	}
	echo := takeEcho(inc, ev)
	if echo != nil && echo.Supersede == 0 && isCatchUp(ev) {
		echo = nil
	}
	beforeStatus, beforeSeverity := inc.Status, inc.Severity
	then, err := rule(w, inc, ev, &e)
	if err != nil {
		return err
	}
	if err := w.followChange(inc, beforeStatus, beforeSeverity, beforeTitle); err != nil || then == nothingMore {
		return err
	}
	if ev.Type == EventAcknowledged && !isCatchUp(ev) {
		// The first to acknowledge, with no commander yet, commands (a
		// stand-in from reconciliation is nobody in particular).
		if err := w.firstAckCommands(inc, &e); err != nil {
			return err
		}
	}
	e.Text += skewNote(ev)
	if err := w.recordPagerEntry(inc, ev, e, echo); err != nil {
		return err
	}
	if then == recordAndDraw {
		return w.queuePostmortem(inc)
	}
	return nil
}

// followChange updates the announcement and the public pages after a
// change of status, severity or title (a title renamed in PagerDuty: the
// announcement's header is the title, and so is the public pages' name
// while no public name is set).
func (w *txWork) followChange(inc *Incident, st Status, sev Severity, title string) error {
	if inc.Status == st && inc.Severity == sev && inc.Title == title {
		return nil
	}
	if !inc.Status.Open() {
		inc.NextUpdateDue = nil
	}
	if err := w.updateAnnouncement(inc); err != nil {
		return err
	}
	if PublicStatus(inc.Status) != PublicStatus(st) || inc.Severity != sev || inc.Title != title && inc.PublicName == "" {
		return w.publish(inc)
	}
	return nil
}

// recordPagerEntry records a PagerDuty event's entry: as a new entry, as
// the real event behind a stand-in (a correction), or not at all for the
// echo of the bot's own action.
func (w *txWork) recordPagerEntry(inc *Incident, ev PagerEvent, e Entry, echo *Echo) error {
	switch {
	case echo == nil:
		seq, err := w.recordSeq(inc, e)
		if err != nil {
			return err
		}
		if isCatchUp(ev) {
			// The real webhook may still come (PagerDuty retries): it will
			// replace this stand-in instead of adding a second entry.
			inc.Echoes = append(inc.Echoes, Echo{Type: ev.Type, Until: w.now.Add(time.Hour), Supersede: seq})
		}
	case echo.Supersede != 0:
		// The real event behind a stand-in: a correction with its own time
		// and actor (the channel already heard about it).
		e.Supersedes = echo.Supersede
		return w.AppendEntry(inc.ID, &e)
	}
	return nil
}

// onTriggered: the incident was opened from this event's data or from an
// earlier one's; its "paged" entry is already on the timeline. A trigger
// stamped after the incident's resolution is its reopening: PagerDuty's
// log entries have no reopen type (a webhook's trigger is an incident's
// first event and never comes after its resolution).
func onTriggered(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	if inc.Status == StatusResolved && inc.ResolvedAt != nil && ev.OccurredAt.After(*inc.ResolvedAt) {
		return onReopened(w, inc, ev, e)
	}
	return nothingMore, nil
}

// onAcknowledged records the first acknowledgement; only a triggered
// incident moves to acknowledged (a later status is kept).
func onAcknowledged(_ *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	setFirst(&inc.AcknowledgedAt, ev.OccurredAt)
	if inc.Status == StatusTriggered {
		setStatus(inc, StatusAcknowledged, ev.OccurredAt)
	}
	e.Kind, e.Text = EntryAcknowledged, "Acknowledged by "+Ref(e.Actor)
	return recordEntry, nil
}

// onUnacknowledged returns the incident to triggered. An unacknowledgement
// implies an acknowledgement before it, so it applies from triggered too
// (the ack may arrive after it).
func onUnacknowledged(_ *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	if inc.Status == StatusAcknowledged || inc.Status == StatusTriggered {
		setStatus(inc, StatusTriggered, ev.OccurredAt)
	}
	// PagerDuty and the bot went separate ways on the acknowledgement: the
	// next one is news. The bot's notes, its resolution, and stand-ins
	// still come back as they were sent.
	dropEchoes(inc, EventAcknowledged)
	e.Kind, e.Text = EntryUnacknowledged, "Unacknowledged: back to triggered"
	return recordEntry, nil
}

// dropEchoes forgets the expected echoes of the bot's own actions of the
// given types (a stand-in's, which the real event replaces, are kept).
func dropEchoes(inc *Incident, types ...string) {
	inc.Echoes = slices.DeleteFunc(inc.Echoes, func(e Echo) bool {
		return e.Supersede == 0 && slices.Contains(types, e.Type)
	})
}

// onResolved resolves the incident; the first resolution drafts the
// postmortem.
func onResolved(_ *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	was := inc.Status
	setFirst(&inc.ResolvedAt, ev.OccurredAt)
	e.Kind, e.Text = EntryResolved, "Resolved in PagerDuty by "+Ref(e.Actor)
	if setStatus(inc, StatusResolved, ev.OccurredAt) && was != StatusResolved {
		return recordAndDraw, nil
	}
	return recordEntry, nil
}

// onReopened returns the incident to triggered and restarts the update
// clock. A reopening implies a resolution before it, whichever arrives
// first.
func onReopened(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	setStatus(inc, StatusTriggered, ev.OccurredAt)
	dropEchoes(inc, EventAcknowledged, EventResolved) // a new round of both
	w.scheduleFrom(inc, ev.OccurredAt)
	e.Kind, e.Text = EntryReopened, "Reopened in PagerDuty by "+Ref(e.Actor)
	return recordEntry, nil
}

// onReassigned (escalated, reassigned, delegated) adds the new assignees
// and invites them.
func onReassigned(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	e.Kind = map[string]EntryKind{EventEscalated: EntryEscalated, EventReassigned: EntryReassigned, EventDelegated: EntryDelegated}[ev.Type]
	e.Text = map[string]string{EventEscalated: "Escalated", EventReassigned: "Reassigned", EventDelegated: "Delegated"}[ev.Type]
	if ev.Incident == nil {
		return recordEntry, nil
	}
	names := make([]string, 0, len(ev.Incident.Assignees))
	for _, p := range ev.Incident.Assignees {
		names = append(names, Ref(p))
		if !slices.ContainsFunc(inc.Assignees, func(q Person) bool { return q.ID == p.ID }) {
			inc.Assignees = append(inc.Assignees, p)
			if err := w.invite(inc, p); err != nil {
				return 0, err
			}
		}
	}
	if len(names) > 0 {
		e.Text += " to " + strings.Join(names, ", ")
	}
	return recordEntry, nil
}

// onAnnotated records a PagerDuty note.
func onAnnotated(_ *txWork, _ *Incident, ev PagerEvent, e *Entry) (next, error) {
	e.Kind, e.Text = EntryNote, ev.Text
	return recordEntry, nil
}

// onStatusUpdatePublished: an update published from PagerDuty restarts the
// update clock too.
func onStatusUpdatePublished(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	e.Kind, e.Text, e.Status = EntryStatusUpdate, ev.Text, inc.Status
	return nothingMore, w.publishUpdate(inc, *e)
}

// skewNote says that an event's own time was in the future ("" when not).
func skewNote(ev PagerEvent) string {
	if ev.ClaimedAt == nil {
		return ""
	}
	return fmt.Sprintf(" (PagerDuty stamped this %s, in the future; recorded when it arrived)", ev.ClaimedAt.Format("2006-01-02 15:04:05 UTC"))
}

// onResponderAdded records a responder request and invites the responder.
func onResponderAdded(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	e.Kind = EntryResponderAdded
	if r := ev.Responder; r != nil {
		e.Text = Ref(*r) + " was asked to respond"
		if err := w.invite(inc, *r); err != nil {
			return 0, err
		}
	} else {
		e.Text = "A responder was requested"
	}
	if ev.Text != "" {
		e.Text += ": " + ev.Text
	}
	return recordEntry, nil
}

// onPriorityUpdated changes the severity with the priority, unless a person
// set the severity by hand.
func onPriorityUpdated(w *txWork, inc *Incident, ev PagerEvent, e *Entry) (next, error) {
	pri := ""
	if ev.Incident != nil {
		pri = ev.Incident.Priority
	}
	if ev.OccurredAt.Before(inc.PagerDuty.PriorityAt) {
		// Delivered after a newer change (a retry): on the timeline at its
		// time, but PagerDuty's priority is the newer one.
		e.Kind, e.Text = EntryPriorityChanged, fmt.Sprintf("Priority changed to %s (reported late: PagerDuty has since set %s)", cmp.Or(pri, "none"), cmp.Or(inc.PagerDuty.Priority, "none"))
		return recordEntry, nil
	}
	if ev.Incident != nil {
		inc.PagerDuty.Priority = pri
	}
	inc.PagerDuty.PriorityAt = ev.OccurredAt
	sev := SeverityFromPagerDuty(pri, inc.PagerDuty.Urgency)
	e.Kind, e.Text = EntryPriorityChanged, "Priority changed to "+cmp.Or(pri, "none")
	switch {
	case inc.SeveritySetBy == "" && sev != inc.Severity:
		e.Kind = EntrySeverityChanged
		e.Text += fmt.Sprintf(": severity %s → %s", inc.Severity, sev)
		e.Severity, e.PreviousSeverity = sev, inc.Severity
		inc.Severity = sev
		w.scheduleFrom(inc, lastUpdateOrOpen(inc))
	case inc.SeveritySetBy != "":
		e.Text += fmt.Sprintf(" (severity stays %s, set by hand)", inc.Severity)
	}
	return recordEntry, nil
}
