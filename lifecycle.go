package incidentbot

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Service applies the incident lifecycle. Each public method is one store
// transaction that records the change, its timeline entries and the outbox
// jobs it causes together; no method calls Slack or PagerDuty.
type Service struct {
	Store Store
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// ChannelPrefix starts incident channel names ("inc" when empty).
	ChannelPrefix string
	// AnnounceChannel receives one announcement per incident ("" = none).
	AnnounceChannel string
	// Cadence is the status update cadence by severity (0 or absent: none).
	Cadence map[Severity]time.Duration
	// PublicSeverities are the severities public status pages show.
	PublicSeverities []Severity
	// Statuspage and Site say whether those public publishers are on.
	Statuspage, Site bool
	// DigestAfter and DigestWindow: when more than DigestAfter incidents
	// opened within DigestWindow, announcements fold into a digest (5 in
	// 10 min when zero).
	DigestAfter  int
	DigestWindow time.Duration
	// DigestCollect is how long a digest waits for more pages (15 s when 0).
	DigestCollect time.Duration
	// SLO is the availability objective in percent for postmortems (99.9
	// when zero).
	SLO float64
	// PagerSync mirrors ack, resolve and notes to PagerDuty (an API token
	// is configured).
	PagerSync bool
	// MayManage reports whether a Slack user may change severity, assign
	// roles and resolve; nil lets everyone.
	MayManage func(userID string) bool
	// Enqueued is called after a commit that added outbox jobs (nil = no-op):
	// the worker's wake-up.
	Enqueued func()
	Logger   *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// update runs fn in a store transaction and wakes the worker when fn
// enqueued jobs.
func (s *Service) update(ctx context.Context, fn func(w *txWork) error) error {
	var enqueued bool
	err := s.Store.Update(ctx, func(tx Tx) error {
		w := &txWork{Tx: tx, s: s, now: s.now()}
		if err := fn(w); err != nil {
			return err
		}
		enqueued = w.enqueued
		return nil
	})
	if err == nil && enqueued && s.Enqueued != nil {
		s.Enqueued()
	}
	return err
}

// txWork is one transaction's worth of lifecycle work.
type txWork struct {
	Tx
	s        *Service
	now      time.Time
	enqueued bool
}

func (w *txWork) enqueue(j *Job) error {
	j.CreatedAt, j.NextAt = w.now, w.now
	w.enqueued = true
	return w.Enqueue(j)
}

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
	if ev.IncidentID == "" {
		return "", Errorf(EINVALID, "event %s (%s) names no incident", ev.ID, ev.Type)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = s.now()
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	var out Outcome
	var incID string
	err := s.update(ctx, func(w *txWork) error {
		incID = ""
		keys := DeliveryKeys(webhookID, ev.ID)
		for _, k := range keys {
			seen, err := w.SeenDelivery(k)
			if err != nil {
				return err
			}
			if seen {
				out = OutcomeDuplicate
				// Remember the other key too, so a third copy under either is caught.
				for _, k2 := range keys {
					if err := w.MarkDelivery(k2, w.now); err != nil {
						return err
					}
				}
				return nil
			}
		}
		for _, k := range keys {
			if err := w.MarkDelivery(k, w.now); err != nil {
				return err
			}
		}
		o, id, err := w.ingest(ev)
		out, incID = o, id
		return err
	})
	if err != nil {
		return "", err
	}
	s.logger().Info("pagerduty event", "incident", incID, "pagerduty_id", ev.IncidentID, "type", ev.Type, "event_id", ev.ID, "outcome", out)
	return out, nil
}

func (w *txWork) ingest(ev PagerEvent) (Outcome, string, error) {
	inc, err := w.IncidentByPagerDutyID(ev.IncidentID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		if ev.Incident == nil {
			// Only a reference: keep the event, fetch the incident.
			if _, err := w.AddPending(ev.IncidentID, ev); err != nil {
				return "", "", err
			}
			// One fetch at a time; a new one once the last has ended (even
			// as a dead letter, so a later event tries again).
			fetching := fetchKey(ev.IncidentID)
			if busy, err := w.SeenDelivery(fetching); err != nil || busy {
				return OutcomePending, "", err
			}
			if err := w.MarkDelivery(fetching, w.now); err != nil {
				return "", "", err
			}
			if err := w.enqueue(&Job{Kind: JobFetchIncident, Lane: lanePager(ev.IncidentID), PagerID: ev.IncidentID}); err != nil {
				return "", "", err
			}
			return OutcomePending, "", nil
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
	return OutcomeApplied, inc.ID, w.PutIncident(inc)
}

// fetchKey marks a PagerDuty incident whose REST fetch is outstanding.
func fetchKey(pdID string) string { return "pd-fetching:" + pdID }

// OpenFromPagerDuty opens the incident PagerDuty describes (fetched over
// REST for an event that only referred to it) unless it is open already,
// and applies the events that waited for it.
func (s *Service) OpenFromPagerDuty(ctx context.Context, pi *PagerIncident) (*Incident, error) {
	var out *Incident
	err := s.update(ctx, func(w *txWork) error {
		inc, err := w.IncidentByPagerDutyID(pi.ID)
		if ErrorCode(err) == ENOTFOUND {
			inc, err = w.open(pi)
		}
		if err != nil {
			return err
		}
		if err := w.applyPending(inc); err != nil {
			return err
		}
		out = inc
		return w.PutIncident(inc)
	})
	return out, err
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
	n, err := w.NextIncidentNumber()
	if err != nil {
		return nil, err
	}
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
		ID:       IncidentID(n),
		Number:   n,
		Title:    cmp.Or(strings.TrimSpace(pi.Title), "PagerDuty incident "+pi.ID),
		Severity: SeverityFromPagerDuty(pi.Priority, pi.Urgency),
		Status:   status,
		StatusAt: detected,
		Service:  pi.ServiceName,
		PagerDuty: &PagerLink{
			ID: pi.ID, Number: pi.Number, URL: pi.URL, Urgency: pi.Urgency,
			Priority: pi.Priority, ServiceID: pi.ServiceID,
		},
		Assignees:  slices.Clone(pi.Assignees),
		OpenedAt:   detected,
		RecordedAt: w.now,
		UpdatedAt:  w.now,
	}
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

// openChannel enqueues the channel, its topic, the kickoff message and the
// announcement, in that order.
func (w *txWork) openChannel(inc *Incident) error {
	name := ChannelName(w.s.ChannelPrefix, inc.Number, inc.Title, 0)
	jobs := []*Job{
		{Kind: JobCreateChannel, Lane: laneChannel(inc.ID), ChannelName: name},
		{Kind: JobSetTopic, Lane: laneChannel(inc.ID)},
		{Kind: JobPost, Lane: laneChannel(inc.ID), Message: kickoffMessage(inc)},
	}
	for _, j := range jobs {
		j.IncidentID = inc.ID
		if err := w.enqueue(j); err != nil {
			return err
		}
	}
	return w.announce(inc)
}

func (w *txWork) invite(inc *Incident, p Person) error {
	if p.ID == "" {
		return nil
	}
	return w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), Invitee: &p})
}

// record appends an entry and enqueues its post to the channel.
func (w *txWork) record(inc *Incident, e Entry) error {
	_, err := w.recordSeq(inc, e)
	return err
}

// recordSeq is record, returning the entry's Seq.
func (w *txWork) recordSeq(inc *Incident, e Entry) (uint64, error) {
	if err := w.AppendEntry(inc.ID, &e); err != nil {
		return 0, err
	}
	inc.UpdatedAt = w.now
	return e.Seq, w.enqueue(&Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Message: entryMessage(inc, e)})
}

// catchUpNeeded reports whether a catch-up change still applies.
func catchUpNeeded(inc *Incident, ev PagerEvent) bool {
	switch ev.Type {
	case EventAcknowledged:
		return inc.Status == StatusTriggered
	case EventResolved:
		return inc.Status != StatusResolved
	case EventReopened:
		return inc.Status == StatusResolved && reopenedSince(inc, ev.OccurredAt)
	}
	return true
}

// isCatchUp reports whether an event is a stand-in made by Reconcile.
func isCatchUp(ev PagerEvent) bool { return strings.HasPrefix(ev.ID, catchUpPrefix) }

// setStatus moves the incident to st when the event that says so is not
// older than the one that set the current status.
func setStatus(inc *Incident, st Status, at time.Time) bool {
	if at.Before(inc.StatusAt) {
		return false
	}
	inc.Status, inc.StatusAt = st, at
	return true
}

// apply applies one PagerDuty event to its incident.
func (w *txWork) apply(inc *Incident, ev PagerEvent) error {
	at := ev.OccurredAt
	e := Entry{At: at, Actor: ev.Agent, Source: SourcePagerDuty, EventID: ev.ID}
	if e.Actor == (Person{}) {
		e.Actor = Person{Name: "PagerDuty"}
	}
	if pi := ev.Incident; pi != nil && !at.Before(inc.StatusAt) {
		// The newest facts about the incident win.
		if t := strings.TrimSpace(pi.Title); t != "" {
			inc.Title = t
		}
		if pi.URL != "" {
			inc.PagerDuty.URL = pi.URL
		}
	}
	// PagerDuty telling us about our own action: its state rules still
	// apply, but the timeline already has the entry.
	if isCatchUp(ev) && !catchUpNeeded(inc, ev) {
		// Decided outside the transaction; the real webhook got here first.
		return nil
	}
	echo := takeEcho(inc, ev)
	if echo != nil && echo.Supersede == 0 && isCatchUp(ev) {
		echo = nil
	}
	draftAfter := false // the postmortem follows the resolution's post
	before := struct {
		st  Status
		sev Severity
	}{inc.Status, inc.Severity}
	switch ev.Type {
	case EventTriggered:
		// The incident was opened from this event's data or from an earlier
		// one's; its "paged" entry is already on the timeline.
		return nil
	case EventAcknowledged:
		setFirst(&inc.AcknowledgedAt, at)
		if inc.Status == StatusTriggered {
			setStatus(inc, StatusAcknowledged, at)
		}
		e.Kind, e.Text = EntryAcknowledged, "Acknowledged by "+e.Actor.Display()
	case EventUnacknowledged:
		// An unacknowledgement implies an acknowledgement before it, so it
		// applies from triggered too (the ack may arrive after it).
		if inc.Status == StatusAcknowledged || inc.Status == StatusTriggered {
			setStatus(inc, StatusTriggered, at)
		}
		inc.Echoes = nil // PagerDuty and the bot went separate ways
		e.Kind, e.Text = EntryUnacknowledged, "Unacknowledged: back to triggered"
	case EventResolved:
		setFirst(&inc.ResolvedAt, at)
		draftAfter = setStatus(inc, StatusResolved, at) && before.st != StatusResolved
		e.Kind, e.Text = EntryResolved, "Resolved in PagerDuty by "+e.Actor.Display()
	case EventReopened:
		// A reopening implies a resolution before it, whichever arrives first.
		setStatus(inc, StatusTriggered, at)
		inc.Echoes = nil
		w.scheduleFrom(inc, at)
		e.Kind, e.Text = EntryReopened, "Reopened in PagerDuty by "+e.Actor.Display()
	case EventEscalated, EventReassigned, EventDelegated:
		e.Kind = map[string]EntryKind{EventEscalated: EntryEscalated, EventReassigned: EntryReassigned, EventDelegated: EntryDelegated}[ev.Type]
		verb := map[string]string{EventEscalated: "Escalated", EventReassigned: "Reassigned", EventDelegated: "Delegated"}[ev.Type]
		e.Text = verb
		if ev.Incident != nil {
			names := make([]string, 0, len(ev.Incident.Assignees))
			for _, p := range ev.Incident.Assignees {
				names = append(names, p.Display())
				if !slices.ContainsFunc(inc.Assignees, func(q Person) bool { return q.ID == p.ID }) {
					inc.Assignees = append(inc.Assignees, p)
					if err := w.invite(inc, p); err != nil {
						return err
					}
				}
			}
			if len(names) > 0 {
				e.Text += " to " + strings.Join(names, ", ")
			}
		}
	case EventAnnotated:
		e.Kind, e.Text = EntryNote, ev.Text
	case EventStatusUpdatePublished:
		// Published from PagerDuty: it restarts the update clock too.
		e.Kind, e.Text, e.Status = EntryStatusUpdate, ev.Text, inc.Status
		return w.publishUpdate(inc, e)
	case EventResponderAdded:
		e.Kind = EntryResponderAdded
		if r := ev.Responder; r != nil {
			e.Text = r.Display() + " was asked to respond"
			if err := w.invite(inc, *r); err != nil {
				return err
			}
		} else {
			e.Text = "A responder was requested"
		}
		if ev.Text != "" {
			e.Text += ": " + ev.Text
		}
	case EventPriorityUpdated:
		pri := ""
		if ev.Incident != nil {
			pri = ev.Incident.Priority
			inc.PagerDuty.Priority = pri
		}
		sev := SeverityFromPagerDuty(pri, inc.PagerDuty.Urgency)
		e.Kind, e.Text = EntryPriorityChanged, "Priority changed to "+cmp.Or(pri, "none")
		if inc.SeveritySetBy == "" && sev != inc.Severity {
			e.Kind = EntrySeverityChanged
			e.Text += fmt.Sprintf(": severity %s → %s", inc.Severity, sev)
			inc.Severity = sev
			w.scheduleFrom(inc, lastUpdateOrOpen(inc))
			if err := w.enqueue(&Job{Kind: JobSetTopic, IncidentID: inc.ID, Lane: laneChannel(inc.ID)}); err != nil {
				return err
			}
		} else if inc.SeveritySetBy != "" {
			e.Text += fmt.Sprintf(" (severity stays %s, set by hand)", inc.Severity)
		}
	default:
		return nil
	}
	if inc.Status != before.st || inc.Severity != before.sev {
		if !inc.Status.Open() {
			inc.NextUpdateDue = nil
		}
		if err := w.updateAnnouncement(inc); err != nil {
			return err
		}
		if PublicStatus(inc.Status) != PublicStatus(before.st) || inc.Severity != before.sev {
			if err := w.publish(inc); err != nil {
				return err
			}
		}
	}
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
		if err := w.AppendEntry(inc.ID, &e); err != nil {
			return err
		}
	}
	if draftAfter {
		return w.queuePostmortem(inc)
	}
	return nil
}

// queuePostmortem drafts, exports and posts the postmortem through the
// outbox.
func (w *txWork) queuePostmortem(inc *Incident) error {
	// In the channel's lane: the draft follows the posts before it.
	return w.enqueue(&Job{Kind: JobPostmortem, IncidentID: inc.ID, Lane: laneChannel(inc.ID)})
}
