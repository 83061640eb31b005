package incidentbot

import (
	"context"
	"fmt"
	"time"
)

// laneTracker keeps an incident's calls to one tracker in order: an item's
// create before its close.
func laneTracker(incID, tracker string) string { return incID + "/tracker/" + tracker }

// trackItem queues the creation of an action item's issue in every
// tracker; a private incident's items get none.
func (w *txWork) trackItem(inc *Incident, n int) error {
	if inc.Private {
		return nil // what a private incident says stays in its channel
	}
	for _, name := range w.s.Trackers {
		if err := w.enqueue(&Job{Kind: JobTrackerCreate, IncidentID: inc.ID, Lane: laneTracker(inc.ID, name), Tracker: name, N: n}); err != nil {
			return err
		}
	}
	return nil
}

// closeTracked queues the close of an item's issues that are not done, in
// every tracker but skip. An issue not created yet is closed by its
// create job, which sees the item done.
func (w *txWork) closeTracked(inc *Incident, a *ActionItem, skip string) error {
	for _, name := range w.s.Trackers {
		if name == skip {
			continue
		}
		if t := a.TrackedIn(name); t != nil && !t.Done {
			if err := w.enqueue(&Job{Kind: JobTrackerClose, IncidentID: inc.ID, Lane: laneTracker(inc.ID, name), Tracker: name, N: a.N}); err != nil {
				return err
			}
		}
	}
	return nil
}

// tracker returns the configured tracker of a name.
func (js *Jobs) tracker(name string) (Tracker, error) {
	if t, ok := js.Trackers[name]; ok && t != nil {
		return t, nil
	}
	return nil, Errorf(EREJECTED, "%s is no longer configured", TrackerTitle(name))
}

// trackerCreate makes an action item's issue and records it; an item done
// meanwhile has its new issue closed next.
func (js *Jobs) trackerCreate(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	t, err := js.tracker(j.Tracker)
	if err != nil {
		return nil, err
	}
	if j.N < 1 || j.N > len(inc.Actions) {
		return nil, Errorf(EREJECTED, "%s has no action item %d", inc.ID, j.N)
	}
	a := inc.Actions[j.N-1]
	if a.TrackedIn(j.Tracker) != nil {
		return nil, nil
	}
	it := TrackerItem{IncidentID: inc.ID, IncidentTitle: CleanLine(inc.Title), N: a.N, Text: a.Text, Priority: a.Priority, Due: a.Due, Links: itemLinks(inc)}
	if a.Owner != nil {
		owner := js.Service.People.Resolve(*a.Owner)
		it.OwnerName = owner.Display()
		if owner.ID != "" {
			p, err := js.profile(ctx, owner.ID)
			if err != nil && (IsTransient(err) || ErrorCode(err) == ETHROTTLED) {
				return nil, err
			}
			it.OwnerEmail = p.Email
		}
	}
	issue, err := t.Create(ctx, it)
	if err != nil {
		return nil, err
	}
	return func(w *txWork) error { return w.trackerCreated(inc.ID, j.Tracker, issue) }, nil
}

// itemLinks are the links an issue's description carries: the incident
// (its PagerDuty incident when it came from a page), its Slack channel
// and its postmortem draft as shared in the channel.
func itemLinks(inc *Incident) []TrackerLink {
	links := []TrackerLink{{Label: "Incident", Text: inc.ID + ": " + CleanLine(inc.Title)}}
	if pd := inc.PagerDuty; pd != nil && safeURL(pd.URL) != "" {
		links[0].URL = safeURL(pd.URL)
	}
	if inc.ChannelID != "" {
		links = append(links, TrackerLink{Label: "Slack channel", Text: "#" + cmpOr(inc.ChannelName, inc.ChannelID), URL: "https://slack.com/app_redirect?channel=" + inc.ChannelID})
	}
	if pm := inc.PostmortemPosted; pm != nil && safeURL(pm.Permalink) != "" {
		links = append(links, TrackerLink{Label: "Postmortem", Text: "draft of " + inc.ID, URL: safeURL(pm.Permalink)})
	} else {
		links = append(links, TrackerLink{Label: "Postmortem", Text: "drafted in the incident channel at resolution"})
	}
	return links
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// trackerCreated records an item's new issue (a tracker_create job's
// result) on the item and the timeline.
func (w *txWork) trackerCreated(incID, tracker string, is TrackerIssue) error {
	return w.change(incID, func(inc *Incident) error {
		if is.N < 1 || is.N > len(inc.Actions) {
			return nil
		}
		a := &inc.Actions[is.N-1]
		if a.TrackedIn(tracker) != nil {
			return nil
		}
		a.Tracked = append(a.Tracked, TrackedIssue{Tracker: tracker, Key: is.Key, URL: is.URL, Status: is.Status, Done: is.Done, SyncedAt: w.now})
		text := fmt.Sprintf("Action item %d is tracked in %s as %s", a.N, TrackerTitle(tracker), is.Key)
		if is.Unassigned != "" {
			text += " (unassigned: " + is.Unassigned + ")"
		}
		e := Entry{At: w.now, Kind: EntryActionItem, Actor: Person{Name: "incidentbot"}, Source: SourceBot, Text: text}
		if err := w.record(inc, e); err != nil {
			return err
		}
		if a.Status == "done" && !is.Done {
			return w.enqueue(&Job{Kind: JobTrackerClose, IncidentID: inc.ID, Lane: laneTracker(inc.ID, tracker), Tracker: tracker, N: a.N})
		}
		return nil
	})
}

// trackerClose moves an item's issue to done.
func (js *Jobs) trackerClose(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	t, err := js.tracker(j.Tracker)
	if err != nil {
		return nil, err
	}
	if j.N < 1 || j.N > len(inc.Actions) {
		return nil, nil
	}
	a := inc.Actions[j.N-1]
	ti := a.TrackedIn(j.Tracker)
	if ti == nil || ti.Done || a.Status != "done" {
		return nil, nil // never created (that failure was told), done already, or reopened since
	}
	is, err := t.Close(ctx, ti.Key)
	if err != nil {
		return nil, err
	}
	return func(w *txWork) error {
		return w.change(inc.ID, func(inc *Incident) error {
			if ti := inc.Actions[j.N-1].TrackedIn(j.Tracker); ti != nil {
				ti.Done, ti.Status, ti.SyncedAt = true, cmpOr(is.Status, ti.Status), w.now
			}
			return nil
		})
	}, nil
}

// TrackerCursor is the store cursor of a tracker's poll: the time (RFC
// 3339) up to which its changes were read.
func TrackerCursor(tracker string) string { return "tracker-" + tracker }

// TrackerOverlap is how far back of its cursor a poll reads again: search
// results may lag a change by a little (Jira's search is eventually
// consistent), and what is read twice changes nothing.
const TrackerOverlap = 5 * time.Minute

// SyncTracker reads the issues changed in a tracker since its cursor and
// applies them: an issue done or reopened there makes its item done or
// open, on the timeline (and so in the postmortem), and closes the item's
// issues in the other trackers; a new status name is kept. The cursor
// moves in the same transaction. With no cursor yet it starts one poll
// interval (every) back. It returns how many items changed.
func (s *Service) SyncTracker(ctx context.Context, t Tracker, every time.Duration) (int, error) {
	name := TrackerCursor(t.Name())
	started := s.now()
	var cur string
	if err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		cur, err = tx.Cursor(name)
		return err
	}); err != nil {
		return 0, err
	}
	since := started.Add(-every)
	if cur != "" {
		at, err := time.Parse(time.RFC3339, cur)
		if err != nil {
			return 0, Errorf(EINTERNAL, "the stored %s cursor %q is not an RFC 3339 time", t.Name(), cur)
		}
		since = at
	}
	issues, err := t.Changed(ctx, since.Add(-TrackerOverlap))
	if err != nil {
		return 0, err
	}
	var changed int
	err = s.update(ctx, func(w *txWork) error {
		var err error
		if changed, err = w.trackerChanges(t.Name(), issues); err != nil {
			return err
		}
		return w.SetCursor(name, started.Truncate(time.Second).Format(time.RFC3339))
	})
	return changed, err
}

// ObserveTracker applies issues a tracker's webhook reported (the same
// rules as a poll's), once per delivery: deliveryKey (the tracker's
// delivery ID) seen before changes nothing and answers OutcomeDuplicate.
// It returns how many items changed.
func (s *Service) ObserveTracker(ctx context.Context, tracker, deliveryKey string, issues []TrackerIssue) (Outcome, int, error) {
	var (
		out     Outcome
		changed int
	)
	err := s.update(ctx, func(w *txWork) error {
		seen, err := w.SeenDelivery(deliveryKey)
		if err != nil {
			return err
		}
		if seen {
			out, changed = OutcomeDuplicate, 0
			return nil
		}
		if err := w.MarkDelivery(deliveryKey, w.now); err != nil {
			return err
		}
		out = OutcomeApplied
		changed, err = w.trackerChanges(tracker, issues)
		return err
	})
	return out, changed, err
}

// trackerChanges applies what a tracker says of its issues, incident by
// incident in the order they first appear; an incident that is gone is
// skipped. It returns how many items changed.
func (w *txWork) trackerChanges(tracker string, issues []TrackerIssue) (int, error) {
	changed := 0
	byIncident := map[string][]TrackerIssue{}
	var order []string
	for _, is := range issues {
		if _, ok := byIncident[is.IncidentID]; !ok {
			order = append(order, is.IncidentID)
		}
		byIncident[is.IncidentID] = append(byIncident[is.IncidentID], is)
	}
	for _, id := range order {
		err := w.change(id, func(inc *Incident) error {
			for _, is := range byIncident[id] {
				n, err := w.trackerObserved(inc, tracker, is)
				if err != nil {
					return err
				}
				changed += n
			}
			return nil
		})
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return 0, err
		}
	}
	return changed, nil
}

// trackerObserved applies what a tracker says of an item's issue; it
// returns 1 when the item changed (done or reopened there).
func (w *txWork) trackerObserved(inc *Incident, tracker string, is TrackerIssue) (int, error) {
	if is.N < 1 || is.N > len(inc.Actions) {
		return 0, nil
	}
	a := &inc.Actions[is.N-1]
	ti := a.TrackedIn(tracker)
	if ti == nil || ti.Key != is.Key {
		// Not recorded yet (its create job has not finished), or another
		// issue than the one recorded: the recorded one is the item's.
		return 0, nil
	}
	if !is.UpdatedAt.IsZero() && is.UpdatedAt.Before(ti.UpdatedAt) {
		// Older than what was applied: a delivery retried after a later
		// change, or replayed. The newer state stands.
		return 0, nil
	}
	if is.UpdatedAt.After(ti.UpdatedAt) {
		ti.UpdatedAt = is.UpdatedAt
	}
	ti.URL = cmpOr(is.URL, ti.URL)
	if is.Status != "" {
		ti.Status = is.Status
	}
	if is.Done == ti.Done {
		ti.SyncedAt = w.now
		return 0, nil
	}
	ti.Done, ti.SyncedAt = is.Done, w.now
	at := is.UpdatedAt.UTC()
	if at.IsZero() || at.After(w.now) {
		at = w.now
	}
	who := Person{Name: TrackerTitle(tracker)}
	var text string
	switch {
	case is.Done && a.Status != "done":
		a.Status, a.DoneAt = "done", &at
		text = fmt.Sprintf("Action item %d done in %s (%s): %s", a.N, TrackerTitle(tracker), is.Key, a.Text)
		if err := w.closeTracked(inc, a, tracker); err != nil {
			return 0, err
		}
	case !is.Done && a.Status == "done":
		a.Status, a.DoneAt = "open", nil
		text = fmt.Sprintf("Action item %d reopened in %s (%s): %s", a.N, TrackerTitle(tracker), is.Key, a.Text)
	default:
		return 0, nil // the item already says so
	}
	e := Entry{At: at, Kind: EntryActionItem, Actor: who, Source: SourceBot, Text: text}
	if !at.Equal(w.now) {
		rec := w.now
		e.RecordedAt = &rec
	}
	return 1, w.record(inc, e)
}
