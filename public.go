package incidentbot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// PublicIncident is what a public status page may show of an incident: its
// public name (else its title), impact, status and published updates.
// Timeline notes, people and internal links never appear in it.
type PublicIncident struct {
	ID         string         `json:"id"` // "INC-<n>", stable
	Name       string         `json:"name"`
	Service    string         `json:"service"`
	Severity   Severity       `json:"severity"`
	Impact     string         `json:"impact"` // critical, major, minor, none
	Status     Status         `json:"status"` // investigating, identified, monitoring, resolved
	StartedAt  time.Time      `json:"started_at"`
	ResolvedAt *time.Time     `json:"resolved_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	ImpactFrom time.Time      `json:"impact_from"`
	ImpactTo   *time.Time     `json:"impact_to"` // nil while impact lasts
	Updates    []PublicUpdate `json:"updates"`   // newest first
}

// PublicUpdate is one published status update.
type PublicUpdate struct {
	ID     string    `json:"id"` // "INC-<n>-<seq>", stable
	At     time.Time `json:"at"`
	Status Status    `json:"status"`
	Text   string    `json:"text"`
}

// ImpactOf maps severity to a status page's impact level.
func ImpactOf(s Severity) string {
	switch s {
	case Sev1:
		return "critical"
	case Sev2:
		return "major"
	case Sev3:
		return "minor"
	}
	return "none"
}

// IsPublic reports whether the incident is shown publicly: its severity is
// one of the public ones, or was when it was last published.
func (s *Service) IsPublic(inc *Incident) bool {
	if inc.Private {
		return false // never, whatever its severity
	}
	return inc.ShownPublicly || slices.Contains(s.PublicSeverities, inc.Severity)
}

// publicIncident builds the public view from an incident and its timeline.
func publicIncident(inc *Incident, tl []Entry) PublicIncident {
	// Text from PagerDuty and Slack is cleaned once here for every public
	// page, feed and publisher.
	p := PublicIncident{
		ID: inc.ID, Name: CleanLine(inc.Title), Service: CleanLine(inc.Service), Severity: inc.Severity, Impact: ImpactOf(inc.Severity),
		Status: PublicStatus(inc.Status), StartedAt: inc.OpenedAt, UpdatedAt: inc.UpdatedAt,
		ImpactFrom: inc.OpenedAt, Updates: []PublicUpdate{},
	}
	if inc.PublicName != "" {
		p.Name = CleanLine(inc.PublicName)
	}
	if inc.ImpactStartedAt != nil && inc.ImpactStartedAt.Before(p.ImpactFrom) {
		p.ImpactFrom = *inc.ImpactStartedAt
	}
	if inc.Status == StatusResolved {
		p.ResolvedAt = inc.ResolvedAt
	}
	switch {
	case inc.ImpactEnd() != nil:
		p.ImpactTo = inc.ImpactEnd()
	case inc.Status == StatusResolved:
		p.ImpactTo = inc.ResolvedAt
	}
	for i := len(tl) - 1; i >= 0; i-- {
		e := tl[i]
		if e.Kind != EntryStatusUpdate {
			continue
		}
		st := PublicStatus(cmpStatus(e.Status, inc.Status))
		p.Updates = append(p.Updates, PublicUpdate{ID: inc.ID + "-" + itoa(e.Seq), At: e.At, Status: st, Text: CleanText(e.Text)})
	}
	if inc.Status == StatusResolved && inc.ResolvedAt != nil {
		// The resolution is an update the page shows, worded for the public.
		p.Updates = append([]PublicUpdate{{ID: inc.ID + "-resolved", At: *inc.ResolvedAt, Status: StatusResolved, Text: "This incident has been resolved."}}, p.Updates...)
	}
	slices.SortStableFunc(p.Updates, func(a, b PublicUpdate) int { return b.At.Compare(a.At) })
	return p
}

func cmpStatus(a, b Status) Status {
	if a != "" {
		return a
	}
	return b
}

func itoa(n uint64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b[i:])
}

// PublicIncidents returns the public incidents a status page shows: every
// open one and those resolved since since, newest first. It reads the open
// set and the resolution-time index, never the whole history.
func (s *Service) PublicIncidents(ctx context.Context, since time.Time) ([]PublicIncident, error) {
	var out []PublicIncident
	err := s.Store.View(ctx, func(tx Tx) error {
		out = out[:0]
		incs, err := tx.OpenIncidents()
		if err != nil {
			return err
		}
		err = tx.ResolvedSince(since, func(inc *Incident) bool {
			incs = append(incs, inc)
			return true
		})
		if err != nil {
			return err
		}
		slices.SortFunc(incs, func(a, b *Incident) int { return cmp.Compare(b.Number, a.Number) })
		for _, inc := range incs {
			if !s.IsPublic(inc) {
				continue
			}
			tl, err := tx.Timeline(inc.ID)
			if err != nil {
				return err
			}
			out = append(out, publicIncident(inc, Current(tl)))
		}
		return nil
	})
	return out, err
}

// publishUpdate records a status update and publishes it: the incident
// channel, a reply in the announcement's thread, the public publishers.
// It restarts the update clock.
func (w *txWork) publishUpdate(inc *Incident, e Entry) error {
	if err := w.record(inc, e); err != nil {
		return err
	}
	w.updatePublished(inc, e.At)
	if err := w.threadReply(inc, &Message{Text: fmt.Sprintf("📢 %s update (%s): %s", inc.ID, inc.Status, EscapeMrkdwn(e.Text))}); err != nil {
		return err
	}
	return w.publish(inc)
}

// publish sends the incident's public state to the public publishers, when
// it is public (or was published before).
func (w *txWork) publish(inc *Incident) error {
	if inc.Private {
		return nil
	}
	public := w.s.IsPublic(inc)
	if public {
		inc.ShownPublicly = true
	}
	if w.s.Statuspage && (public || inc.Publications["statuspage"] != "") {
		if err := w.enqueue(&Job{Kind: JobPublishStatuspage, IncidentID: inc.ID, Lane: inc.ID + "/statuspage"}); err != nil {
			return err
		}
	}
	if w.s.Site && public {
		if err := w.enqueue(&Job{Kind: JobPublishSite, Lane: "status-site"}); err != nil {
			return err
		}
	}
	return nil
}

// PublicIncident returns the public view of one incident.
func (s *Service) PublicIncident(ctx context.Context, id string) (PublicIncident, error) {
	var p PublicIncident
	err := s.Store.View(ctx, func(tx Tx) error {
		inc, err := tx.Incident(id)
		if err != nil {
			return err
		}
		tl, err := tx.Timeline(inc.ID)
		if err != nil {
			return err
		}
		p = publicIncident(inc, Current(tl))
		return nil
	})
	return p, err
}

// IncidentPublisher sends an incident's public state to a status page
// service (Atlassian Statuspage). ref is the incident's ID there from the
// last call ("" the first time); it returns the ID to keep.
type IncidentPublisher interface {
	Publish(ctx context.Context, pi PublicIncident, ref string) (string, error)
}

// SitePublisher writes the whole public status site.
type SitePublisher interface {
	PublishSite(ctx context.Context, incidents []PublicIncident, now time.Time) error
}

// published keeps an incident's ID at a public publisher (a Statuspage
// job's result).
func (w *txWork) published(incID, publisher, ref string) error {
	return w.change(incID, func(inc *Incident) error {
		if inc.Publications == nil {
			inc.Publications = map[string]string{}
		}
		inc.Publications[publisher] = ref
		return nil
	})
}
