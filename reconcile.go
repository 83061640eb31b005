package incidentbot

import (
	"context"
	"strings"
	"time"
)

// Reconcile catches up with PagerDuty after missed webhooks (the bot was
// down longer than PagerDuty retries, or the subscription was disabled): it
// opens every open PagerDuty incident the bot never heard of, and applies
// status changes it missed (acknowledged, resolved, reopened) as synthetic
// events stamped with PagerDuty's last status change. The REST calls happen
// outside any transaction. It returns how many incidents it opened and how
// many it changed.
func (s *Service) Reconcile(ctx context.Context, p Pager) (opened, changed int, err error) {
	open, err := p.OpenIncidents(ctx)
	if err != nil {
		return 0, 0, err
	}
	inPD := map[string]bool{}
	for _, pi := range open {
		inPD[pi.ID] = true
		var known *Incident
		if err := s.Store.View(ctx, func(tx Tx) error {
			inc, err := tx.IncidentByPagerDutyID(pi.ID)
			if ErrorCode(err) == ENOTFOUND {
				return nil
			}
			known = inc
			return err
		}); err != nil {
			return opened, changed, err
		}
		if known == nil {
			if _, err := s.OpenFromPagerDuty(ctx, &pi); err != nil {
				return opened, changed, err
			}
			opened++
			continue
		}
		typ := ""
		switch {
		case known.Status == StatusResolved:
			if reopenedSince(known, pi.StatusChangedAt) {
				typ = EventReopened
			}
		case pi.Status == "acknowledged" && known.Status == StatusTriggered:
			typ = EventAcknowledged
		}
		if typ != "" {
			if n, err := s.reconciled(ctx, &pi, typ); err != nil {
				return opened, changed, err
			} else {
				changed += n
			}
		}
	}
	// Open here but not open in PagerDuty: ask about each.
	var ours []*Incident
	if err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		ours, err = tx.OpenIncidents()
		return err
	}); err != nil {
		return opened, changed, err
	}
	for _, inc := range ours {
		if inc.PagerDuty == nil || inPD[inc.PagerDuty.ID] {
			continue
		}
		pi, err := p.Incident(ctx, inc.PagerDuty.ID)
		if err != nil {
			s.logger().Warn("reconcile: could not fetch incident", "incident", inc.ID, "pagerduty_id", inc.PagerDuty.ID, "err", err)
			continue
		}
		if pi.Status == "resolved" {
			n, err := s.reconciled(ctx, pi, EventResolved)
			if err != nil {
				return opened, changed, err
			}
			changed += n
		}
	}
	return opened, changed, nil
}

// reopenedSince reports whether a PagerDuty incident that is open while
// ours is resolved was reopened after our resolution, rather than not yet
// resolved there: a resolve made in Slack may still be on its way to
// PagerDuty (its job pending or retrying), or have failed for good. Only a
// status change in PagerDuty later than our resolution, with no resolve of
// ours still unsent, is a reopening.
func reopenedSince(inc *Incident, changedAt time.Time) bool {
	if changedAt.IsZero() || !changedAt.After(inc.StatusAt) {
		return false
	}
	for _, e := range inc.Echoes {
		if e.Type == EventResolved && e.Supersede == 0 && !e.Sent {
			return false
		}
	}
	return true
}

// catchUpPrefix starts the IDs of stand-in events made by Reconcile.
const catchUpPrefix = "reconcile:"

// reconciled applies a missed status change as a stand-in event. Its ID
// makes a repeat harmless, and the real webhook, if it still arrives,
// replaces the stand-in entry instead of adding a second one.
func (s *Service) reconciled(ctx context.Context, pi *PagerIncident, typ string) (int, error) {
	at := pi.StatusChangedAt
	if at.IsZero() {
		if typ == EventReopened {
			// Never reopen on a guess: without PagerDuty's time the
			// change cannot be told from our own resolve on its way.
			return 0, nil
		}
		at = s.now()
	}
	ev := PagerEvent{
		ID: catchUpPrefix + pi.ID + ":" + typ + ":" + at.UTC().Format(time.RFC3339), Type: typ, OccurredAt: at,
		Agent: Person{Name: "PagerDuty (caught up)"}, IncidentID: pi.ID, Incident: pi,
	}
	out, err := s.IngestPagerDuty(ctx, "", ev)
	if err != nil || out != OutcomeApplied {
		return 0, err
	}
	return 1, nil
}

// isCatchUp reports whether an event is a stand-in made by Reconcile.
func isCatchUp(ev PagerEvent) bool { return strings.HasPrefix(ev.ID, catchUpPrefix) }

// catchUpNeeded reports whether a stand-in's change still applies: it was
// decided outside the transaction, and the real webhook may have come
// first.
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
