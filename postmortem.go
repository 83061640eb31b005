package incidentbot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PostmortemSchemaVersion is the version of the JSON twin's schema
// (docs/postmortem-schema.md). It changes only when a field changes meaning
// or goes away.
const PostmortemSchemaVersion = 1

// Postmortem is the draft postmortem of an incident, derived from its
// record and timeline and nothing else: the Markdown draft and the JSON
// twin are two renderings of it. Unknown facts are nil or empty, never
// invented; the Markdown shows a prompt in their place.
type Postmortem struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`

	IncidentID   string     `json:"incident_id"`
	Title        string     `json:"title"`
	Date         string     `json:"date"` // opening date, YYYY-MM-DD (UTC)
	Severity     Severity   `json:"severity"`
	Status       Status     `json:"status"`
	Service      string     `json:"service"`
	PagerDutyID  string     `json:"pagerduty_id"`
	PagerDutyURL string     `json:"pagerduty_url"`
	Channel      string     `json:"channel"`
	Roles        []RoleHold `json:"roles"`
	Start        time.Time  `json:"start"` // detected
	End          *time.Time `json:"end"`   // resolved
	DurationSec  *int64     `json:"duration_seconds"`

	// Summary is the summary given at resolution ("" when none was).
	Summary string `json:"summary"`
	// WhatHappened is a factual sentence built from the recorded times.
	WhatHappened  string        `json:"what_happened"`
	Impact        []string      `json:"impact"`
	RootCause     string        `json:"root_cause"`
	Timeline      []TimelineRow `json:"timeline"`
	Detection     Detection     `json:"detection"`
	Metrics       Metrics       `json:"metrics"`
	Resolution    []string      `json:"resolution"`
	Communication Communication `json:"communication"`
	Availability  Availability  `json:"availability"`
	ActionItems   []ActionItem  `json:"action_items"`
	Related       []Related     `json:"related_incidents"`
}

// RoleHold is who held a role.
type RoleHold struct {
	Role   Role   `json:"role"`
	Person string `json:"person"`
}

// TimelineRow is one row of the timeline table.
type TimelineRow struct {
	At     time.Time `json:"at"`
	Kind   EntryKind `json:"kind"`
	Event  string    `json:"event"`
	Actor  string    `json:"actor"`
	Source Source    `json:"source"`
	Link   string    `json:"link,omitempty"`
}

// Detection says how and when the incident was detected.
type Detection struct {
	How             string     `json:"how"`
	DetectedAt      time.Time  `json:"detected_at"`
	ImpactStartedAt *time.Time `json:"impact_started_at"`
	// TimeToDetectSec is detected − impact started, when that was recorded.
	TimeToDetectSec *int64 `json:"time_to_detect_seconds"`
}

// Metrics are the response times, each from detection; nil when the phase
// never happened.
type Metrics struct {
	AcknowledgedAt    *time.Time `json:"acknowledged_at"`
	IdentifiedAt      *time.Time `json:"identified_at"`
	MitigatedAt       *time.Time `json:"mitigated_at"`
	ResolvedAt        *time.Time `json:"resolved_at"`
	TimeToAcknowledge *int64     `json:"time_to_acknowledge_seconds"`
	TimeToIdentify    *int64     `json:"time_to_identify_seconds"`
	TimeToMitigate    *int64     `json:"time_to_mitigate_seconds"`
	TimeToResolve     *int64     `json:"time_to_resolve_seconds"`
}

// Communication lists what was published and which updates were missed.
type Communication struct {
	Updates        []Update      `json:"updates"`
	MissedCadences []TimelineRow `json:"missed_cadences"`
}

// Update is one published status update.
type Update struct {
	At     time.Time `json:"at"`
	Status Status    `json:"status,omitempty"`
	Text   string    `json:"text"`
	Actor  string    `json:"actor"`
	Source Source    `json:"source"`
}

// Availability is the incident measured against the SLO. Downtime runs
// from impact start (else detection) to mitigation (else resolution).
type Availability struct {
	SLOPercent      float64    `json:"slo_percent"`
	BudgetMinutes   float64    `json:"monthly_budget_minutes"` // over 30 days
	DowntimeFrom    time.Time  `json:"downtime_from"`
	DowntimeTo      *time.Time `json:"downtime_to"`
	DowntimeMinutes *float64   `json:"downtime_minutes"`
	BudgetUsedPct   *float64   `json:"budget_used_percent"`
	// The same for the whole incident, detection to resolution, since
	// reports often quote that figure.
	DurationMinutes   *float64 `json:"duration_minutes"`
	DurationBudgetPct *float64 `json:"duration_budget_percent"`
}

// maxRelated is how many related past incidents a draft lists.
const maxRelated = 5

// Related is an earlier incident on the same service.
type Related struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Date     string   `json:"date"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`
}

func secs(from time.Time, to *time.Time) *int64 {
	if to == nil {
		return nil
	}
	s := int64(to.Sub(from).Round(time.Second) / time.Second)
	return &s
}

func minutes(d time.Duration) *float64 {
	m := d.Minutes()
	return &m
}

// DraftPostmortem derives the draft from an incident, its timeline, earlier
// incidents on the same service and the SLO (percent, e.g. 99.9). It does no
// I/O. now stamps the draft (and ends an ongoing incident's downtime).
func DraftPostmortem(inc *Incident, timeline []Entry, related []*Incident, slo float64, now time.Time) *Postmortem {
	p := &Postmortem{
		SchemaVersion: PostmortemSchemaVersion,
		GeneratedAt:   now.UTC(),
		IncidentID:    inc.ID,
		Title:         inc.Title,
		Date:          inc.OpenedAt.UTC().Format("2006-01-02"),
		Severity:      inc.Severity,
		Status:        inc.Status,
		Service:       inc.Service,
		Channel:       inc.ChannelName,
		Start:         inc.OpenedAt.UTC(),
		End:           inc.ResolvedAt,
		Summary:       inc.Summary,
		RootCause:     inc.RootCause,
		Impact:        []string{},
		Resolution:    []string{},
		ActionItems:   slices.Clone(inc.Actions),
		Roles:         []RoleHold{},
		Related:       []Related{},
	}
	if inc.Status.Open() {
		p.End = nil
	}
	p.DurationSec = secs(p.Start, p.End)
	if pd := inc.PagerDuty; pd != nil {
		p.PagerDutyID, p.PagerDutyURL = pd.ID, pd.URL
	}
	for _, r := range Roles {
		if who, ok := inc.Roles[r]; ok {
			p.Roles = append(p.Roles, RoleHold{Role: r, Person: who.Display()})
		}
	}
	if p.ActionItems == nil {
		p.ActionItems = []ActionItem{}
	}

	entries := Current(timeline)
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.At.Compare(b.At) })
	p.Timeline = make([]TimelineRow, 0, len(entries))
	p.Communication = Communication{Updates: []Update{}, MissedCadences: []TimelineRow{}}
	var impacts []string
	for _, e := range entries {
		row := TimelineRow{At: e.At.UTC(), Kind: e.Kind, Event: eventText(e), Actor: actorText(e), Source: e.Source, Link: e.Permalink}
		p.Timeline = append(p.Timeline, row)
		switch e.Kind {
		case EntryImpact:
			impacts = append(impacts, e.Text)
		case EntryStatusUpdate:
			p.Communication.Updates = append(p.Communication.Updates, Update{At: e.At.UTC(), Status: e.Status, Text: e.Text, Actor: e.Actor.Display(), Source: e.Source})
			if e.Status == StatusMonitoring || e.Status == StatusIdentified {
				p.Resolution = append(p.Resolution, fmt.Sprintf("%s (%s): %s", e.At.UTC().Format("15:04 UTC"), e.Status, e.Text))
			}
		case EntryCadenceMissed:
			p.Communication.MissedCadences = append(p.Communication.MissedCadences, row)
		case EntryResolved:
			if t := resolutionText(e); t != "" {
				p.Resolution = append(p.Resolution, fmt.Sprintf("%s (resolved): %s", e.At.UTC().Format("15:04 UTC"), t))
			}
		}
	}
	p.Impact = append(p.Impact, impacts...)

	p.Detection = Detection{DetectedAt: inc.OpenedAt.UTC(), ImpactStartedAt: inc.ImpactStartedAt}
	switch {
	case inc.PagerDuty != nil:
		p.Detection.How = "PagerDuty page"
		if inc.Service != "" {
			p.Detection.How += " on service " + inc.Service
		}
	case inc.DeclaredBy != nil:
		p.Detection.How = "Declared in Slack by " + inc.DeclaredBy.Display()
	}
	if inc.ImpactStartedAt != nil {
		d := secs(*inc.ImpactStartedAt, &p.Detection.DetectedAt)
		p.Detection.TimeToDetectSec = d
	}
	p.Metrics = Metrics{
		AcknowledgedAt: inc.AcknowledgedAt, IdentifiedAt: inc.IdentifiedAt, MitigatedAt: inc.MitigatedAt, ResolvedAt: p.End,
		TimeToAcknowledge: secs(p.Start, inc.AcknowledgedAt), TimeToIdentify: secs(p.Start, inc.IdentifiedAt),
		TimeToMitigate: secs(p.Start, inc.MitigatedAt), TimeToResolve: secs(p.Start, p.End),
	}

	budget := (1 - slo/100) * 30 * 24 * 60
	a := Availability{SLOPercent: slo, BudgetMinutes: budget, DowntimeFrom: cmp.Or(derefTime(inc.ImpactStartedAt), p.Start)}
	a.DowntimeTo = inc.MitigatedAt
	if a.DowntimeTo == nil {
		a.DowntimeTo = p.End
	}
	if a.DowntimeTo != nil {
		a.DowntimeMinutes = minutes(a.DowntimeTo.Sub(a.DowntimeFrom))
		if budget > 0 {
			pct := *a.DowntimeMinutes / budget * 100
			a.BudgetUsedPct = &pct
		}
	}
	if p.End != nil {
		a.DurationMinutes = minutes(p.End.Sub(p.Start))
		if budget > 0 {
			pct := *a.DurationMinutes / budget * 100
			a.DurationBudgetPct = &pct
		}
	}
	p.Availability = a
	p.WhatHappened = whatHappened(p)

	for _, r := range related {
		if r.ID == inc.ID || !r.OpenedAt.Before(inc.OpenedAt) {
			continue
		}
		p.Related = append(p.Related, Related{ID: r.ID, Title: r.Title, Date: r.OpenedAt.UTC().Format("2006-01-02"), Severity: r.Severity, Status: r.Status})
	}
	return p
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// SameService reports whether two incidents concern the same service (the
// PagerDuty service when both have one, else the service name).
func SameService(a, b *Incident) bool {
	if a.PagerDuty != nil && b.PagerDuty != nil && a.PagerDuty.ServiceID != "" && b.PagerDuty.ServiceID != "" {
		return a.PagerDuty.ServiceID == b.PagerDuty.ServiceID
	}
	return a.Service != "" && strings.EqualFold(a.Service, b.Service)
}

func resolutionText(e Entry) string {
	_, t, ok := strings.Cut(e.Text, ": ")
	if !ok || e.Source != SourceSlack {
		return ""
	}
	return t
}

func actorText(e Entry) string {
	a := e.Actor.Display()
	switch e.Source {
	case SourcePagerDuty:
		if a != "PagerDuty" {
			a += " (PagerDuty)"
		}
	case SourceBot:
		a = "incidentbot"
	}
	return a
}

// eventText is the timeline table's "Event" cell.
func eventText(e Entry) string {
	switch e.Kind {
	case EntryNote:
		return e.Text
	case EntryStatusUpdate:
		if e.Status != "" {
			return fmt.Sprintf("Status update (%s): %s", e.Status, e.Text)
		}
		return "Status update: " + e.Text
	case EntryPinned:
		return "📌 " + e.Text
	case EntryImpact:
		return "Impact: " + e.Text
	case EntryRootCause:
		return "Root cause: " + e.Text
	}
	return e.Text
}

// whatHappened states the recorded facts in one paragraph.
func whatHappened(p *Postmortem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "On %s at %s UTC, %q (%s) was detected", p.Start.Format("2006-01-02"), p.Start.Format("15:04"), p.Title, strings.ToUpper(string(p.Severity)))
	if p.Detection.How != "" {
		b.WriteString(" by " + lowerFirst(p.Detection.How))
	}
	b.WriteString(".")
	var steps []string
	for _, s := range []struct {
		what string
		d    *int64
	}{{"acknowledged", p.Metrics.TimeToAcknowledge}, {"the cause identified", p.Metrics.TimeToIdentify}, {"mitigated", p.Metrics.TimeToMitigate}, {"resolved", p.Metrics.TimeToResolve}} {
		if s.d != nil {
			steps = append(steps, s.what+" after "+Human(time.Duration(*s.d)*time.Second))
		}
	}
	if len(steps) > 0 {
		b.WriteString(" It was " + joinAnd(steps) + ".")
	}
	if p.End == nil {
		b.WriteString(" It is not resolved yet.")
	}
	return b.String()
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	if strings.HasPrefix(s, "PagerDuty") {
		return "a " + s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// Fingerprint identifies the draft's content, whenever it was generated:
// an unchanged draft is not uploaded twice.
func (p *Postmortem) Fingerprint() string {
	cp := *p
	cp.GeneratedAt = time.Time{}
	sum := sha256.Sum256(cp.Markdown())
	return hex.EncodeToString(sum[:16])
}

// FileName returns "<opening date>-<incident ID>", the base name of the
// exported files. It holds only digits, letters and '-'.
func (p *Postmortem) FileName() string { return p.Date + "-" + p.IncidentID }

// draft builds the postmortem inside a transaction.
func draft(tx Tx, inc *Incident, slo float64, now time.Time) (*Postmortem, error) {
	tl, err := tx.Timeline(inc.ID)
	if err != nil {
		return nil, err
	}
	// The newest earlier incidents on the same service, from the service
	// index.
	var related []*Incident
	err = tx.ServiceIncidents(ServiceKeys(inc), inc.Number, func(o *Incident) bool {
		if SameService(o, inc) && o.OpenedAt.Before(inc.OpenedAt) {
			related = append(related, o)
		}
		return len(related) < maxRelated
	})
	if err != nil {
		return nil, err
	}
	return DraftPostmortem(inc, tl, related, slo, now), nil
}

// Postmortem drafts the postmortem of an incident ("INC-12" or a PagerDuty
// ID) as it stands now.
func (s *Service) Postmortem(ctx context.Context, id string) (*Postmortem, error) {
	var p *Postmortem
	err := s.Store.View(ctx, func(tx Tx) error {
		inc, err := LookupIncident(tx, id)
		if err != nil {
			return err
		}
		p, err = draft(tx, inc, s.slo(), s.now())
		return err
	})
	return p, err
}

// Exporter writes a postmortem draft (Markdown and JSON) where people can
// find it and returns where that is.
type Exporter interface {
	Export(ctx context.Context, name string, markdown, jsonTwin []byte) (string, error)
}
