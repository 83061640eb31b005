package incidentbot

import (
	"context"
)

// PagerDutyLogCursor names the store cursor of PagerDuty pull mode: the
// position in PagerDuty's log entries up to which every entry has been
// applied. Its value belongs to the poller (internal/pager).
const PagerDutyLogCursor = "pagerduty-log"

// Cursors are the names of every store cursor (incidentbot copy carries
// them over).
var Cursors = []string{PagerDutyLogCursor}

// logKey is the dedupe key of a PagerDuty log entry.
func logKey(id string) string { return "pd-log:" + id }

// IngestPagerDutyLog applies events read from PagerDuty's log entries (pull
// mode), in the order given, and records cursor under PagerDutyLogCursor,
// all in one transaction: a restart after it repeats none of them, a
// failure applies none and leaves the cursor where it was. Each event's ID
// is its log entry's ID. An event whose log entry was applied before, or
// whose happening a webhook already delivered (see happeningKeys), changes
// nothing; one the lifecycle does not handle is ignored; one that is
// malformed (oversized identifiers, no incident) is skipped with a warning
// rather than blocking every later entry. It returns each event's outcome.
func (s *Service) IngestPagerDutyLog(ctx context.Context, evs []PagerEvent, cursor string) ([]Outcome, error) {
	checked := make([]PagerEvent, len(evs))
	outs := make([]Outcome, len(evs))
	for i, ev := range evs {
		if !HandlesPagerEvent(ev.Type) {
			outs[i] = OutcomeIgnored
			continue
		}
		c, err := s.checkPagerEvent(ev, "the log entry ID", ev.ID, "the log entry ID")
		if err != nil {
			s.logger().Warn("pagerduty log entry skipped", "log_entry", Clip(ev.ID), "type", ev.Type, "reason", ErrorMessage(err))
			outs[i] = OutcomeIgnored
			continue
		}
		checked[i] = c
	}
	incIDs := make([]string, len(evs))
	err := s.update(ctx, func(w *txWork) error {
		for i, ev := range checked {
			if ev.Type == "" {
				continue
			}
			o, id, err := w.ingestOnce([]string{logKey(ev.ID)}, ev)
			if err != nil {
				return err
			}
			outs[i], incIDs[i] = o, id
		}
		return w.SetCursor(PagerDutyLogCursor, cursor)
	})
	if err != nil {
		return nil, err
	}
	for i, ev := range checked {
		if ev.Type != "" {
			s.logger().Info("pagerduty log entry", "incident", incIDs[i], "pagerduty_id", ev.IncidentID, "type", ev.Type, "log_entry", ev.ID, "outcome", outs[i])
		}
	}
	return outs, nil
}

// Cursor returns a store cursor's value ("" when none is recorded).
func (s *Service) Cursor(ctx context.Context, name string) (string, error) {
	var v string
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		v, err = tx.Cursor(name)
		return err
	})
	return v, err
}
