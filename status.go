package incidentbot

import (
	"context"
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

// PublicStatus maps an incident status to the four a status page shows:
// triggered, acknowledged and investigating are all "investigating".
func PublicStatus(s Status) Status {
	switch s {
	case StatusIdentified, StatusMonitoring, StatusResolved:
		return s
	}
	return StatusInvestigating
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
	return inc.ShownPublicly || slices.Contains(s.PublicSeverities, inc.Severity)
}

// publicIncident builds the public view from an incident and its timeline.
func publicIncident(inc *Incident, tl []Entry) PublicIncident {
	p := PublicIncident{
		ID: inc.ID, Name: inc.Title, Service: inc.Service, Severity: inc.Severity, Impact: ImpactOf(inc.Severity),
		Status: PublicStatus(inc.Status), StartedAt: inc.OpenedAt, UpdatedAt: inc.UpdatedAt,
		ImpactFrom: inc.OpenedAt, Updates: []PublicUpdate{},
	}
	if inc.PublicName != "" {
		p.Name = inc.PublicName
	}
	if inc.ImpactStartedAt != nil && inc.ImpactStartedAt.Before(p.ImpactFrom) {
		p.ImpactFrom = *inc.ImpactStartedAt
	}
	if inc.Status == StatusResolved {
		p.ResolvedAt = inc.ResolvedAt
	}
	switch {
	case inc.MitigatedAt != nil:
		p.ImpactTo = inc.MitigatedAt
	case inc.Status == StatusResolved:
		p.ImpactTo = inc.ResolvedAt
	}
	for i := len(tl) - 1; i >= 0; i-- {
		e := tl[i]
		if e.Kind != EntryStatusUpdate {
			continue
		}
		st := PublicStatus(cmpStatus(e.Status, inc.Status))
		p.Updates = append(p.Updates, PublicUpdate{ID: inc.ID + "-" + itoa(e.Seq), At: e.At, Status: st, Text: e.Text})
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
// open one and those resolved since `since`, newest first.
func (s *Service) PublicIncidents(ctx context.Context, since time.Time) ([]PublicIncident, error) {
	var out []PublicIncident
	err := s.Store.View(ctx, func(tx Tx) error {
		out = out[:0]
		incs, err := tx.Incidents(0, 0, func(inc *Incident) bool {
			return s.IsPublic(inc) && (inc.Status.Open() || (inc.ResolvedAt != nil && !inc.ResolvedAt.Before(since)))
		})
		if err != nil {
			return err
		}
		for _, inc := range incs {
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
