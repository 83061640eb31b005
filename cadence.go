package incidentbot

import (
	"context"
	"fmt"
	"time"
)

// cadenceOf returns the update cadence of a severity (0: none).
func (s *Service) cadenceOf(sev Severity) time.Duration { return s.Cadence[sev] }

// scheduleFrom sets the next update due cadence after base (nil for no
// cadence or a resolved incident), never before now.
func (w *txWork) scheduleFrom(inc *Incident, base time.Time) {
	cad := w.s.cadenceOf(inc.Severity)
	if cad <= 0 || !inc.Status.Open() {
		inc.NextUpdateDue = nil
		return
	}
	due := base.Add(cad)
	if due.Before(w.now) {
		due = w.now
	}
	inc.NextUpdateDue = &due
}

// lastUpdateOrOpen is when the update clock last restarted.
func lastUpdateOrOpen(inc *Incident) time.Time {
	if inc.LastUpdateAt != nil {
		return *inc.LastUpdateAt
	}
	return inc.OpenedAt
}

// updatePublished restarts the clock after a published update.
func (w *txWork) updatePublished(inc *Incident, at time.Time) {
	inc.LastUpdateAt = &at
	w.scheduleFrom(inc, at)
}

// CheckCadence publishes a holding update for every open incident whose
// update is overdue: it nudges the commander (or the channel) in the
// incident channel, publishes "still working on it, next update by HH:MM",
// and records one cadence_missed entry that says how many updates were
// missed (more than one after the bot was down). Due times are stored, so a
// restart neither skips nor repeats an update. It returns how many
// incidents were overdue.
func (s *Service) CheckCadence(ctx context.Context) (int, error) {
	var n int
	err := s.update(ctx, func(w *txWork) error {
		n = 0
		open, err := w.OpenIncidents()
		if err != nil {
			return err
		}
		for _, inc := range open {
			if inc.NextUpdateDue == nil || inc.NextUpdateDue.After(w.now) {
				continue
			}
			if err := w.cadenceMissed(inc); err != nil {
				return err
			}
			n++
			if err := w.save(inc); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

func (w *txWork) cadenceMissed(inc *Incident) error {
	cad := w.s.cadenceOf(inc.Severity)
	due := *inc.NextUpdateDue
	if cad <= 0 {
		inc.NextUpdateDue = nil
		return nil
	}
	missed := 1 + int(w.now.Sub(due)/cad)
	text := fmt.Sprintf("No status update since %s: the update due at %s was missed", clock(lastUpdateOrOpen(inc)), due.Format("15:04 UTC"))
	if missed > 1 {
		text = fmt.Sprintf("No status update since %s: %d updates missed (due from %s, every %s)", clock(lastUpdateOrOpen(inc)), missed, due.Format("15:04 UTC"), Human(cad))
	}
	bot := Person{Name: "incidentbot"}
	if err := w.AppendEntry(inc.ID, &Entry{At: w.now, Kind: EntryCadenceMissed, Actor: bot, Source: SourceBot, Text: text}); err != nil {
		return err
	}
	next := w.now.Add(cad)
	who := "@channel"
	if c, ok := inc.Roles[RoleCommander]; ok && c.ID != "" {
		who = "<@" + c.ID + ">"
	}
	nudge := &Message{
		Text: fmt.Sprintf("⏰ %s a status update for %s was due at %s. I posted a holding update; post a real one with `/incident update <message>`.", who, inc.ID, due.Format("15:04 UTC")),
	}
	if err := w.enqueue(&Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Message: nudge}); err != nil {
		return err
	}
	holding := fmt.Sprintf("We are still working on this issue. Next update by %s.", next.Format("15:04 UTC"))
	if missed > 1 {
		holding = fmt.Sprintf("We are still working on this issue (no update was posted for %s). Next update by %s.", Human(w.now.Sub(lastUpdateOrOpen(inc)).Truncate(time.Minute)), next.Format("15:04 UTC"))
	}
	return w.publishUpdate(inc, Entry{At: w.now, Kind: EntryStatusUpdate, Actor: bot, Source: SourceBot, Text: holding, Status: inc.Status})
}
