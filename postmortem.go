package incidentbot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PostmortemSchemaVersion is the version of the JSON twin's schema
// (docs/postmortem-schema.md). It changes only when a field changes meaning
// or goes away. Version 2: start is the impact start when recorded; the
// timeline holds events only (postmortem material moved to records);
// impact, resolution and related incidents became objects; figures are
// rounded to what they mean.
const PostmortemSchemaVersion = 2

// Postmortem is the draft postmortem of an incident, derived from its
// record, its timeline and the team's history (read from the store's
// indexes) and nothing else: the Markdown draft, the HTML export and the
// JSON twin are renderings of it. Unknown facts are nil or empty, never
// invented; the renderings show a prompt in their place. Every text in it
// has passed CleanText; each rendering escapes it for its format.
type Postmortem struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	// DraftDate is the date of the draft (YYYY-MM-DD, UTC).
	DraftDate string `json:"draft_date"`

	IncidentID   string   `json:"incident_id"`
	Title        string   `json:"title"`
	Date         string   `json:"date"` // opening date, YYYY-MM-DD (UTC)
	Severity     Severity `json:"severity"`
	Status       Status   `json:"status"`
	Service      string   `json:"service"`
	PagerDutyID  string   `json:"pagerduty_id"`
	PagerDutyURL string   `json:"pagerduty_url"`
	Channel      string   `json:"channel"`
	// InitialSeverity is the severity the incident opened with, and
	// SeverityHistory every change after it, oldest first.
	InitialSeverity Severity         `json:"initial_severity"`
	SeverityHistory []SeverityChange `json:"severity_history"`
	Roles           []RoleHold       `json:"roles"`
	// Author is the commander's name ("" when there is none: a prompt).
	Author string `json:"author"`
	// Start is when impact started if that was recorded, else detection;
	// StartSource says which ("impact_started" or "detected").
	Start       time.Time  `json:"start"`
	StartSource string     `json:"start_source"`
	End         *time.Time `json:"end"` // resolved
	DurationSec *int64     `json:"duration_seconds"`

	// Summary is the summary given at resolution ("" when none was).
	Summary string `json:"summary"`
	// WhatHappened is a factual paragraph built from the recorded times.
	WhatHappened string `json:"what_happened"`
	Impact       Impact `json:"impact"`
	RootCause    string `json:"root_cause"`
	// Timeline holds the events: PagerDuty events, notes, status changes,
	// people's updates, pins, severity and role changes.
	Timeline []TimelineRow `json:"timeline"`
	// Records are the entries that record postmortem material rather than
	// events (impact, share affected, root cause, action items, public
	// name, missed cadences), each shown in its own section.
	Records       []TimelineRow `json:"records"`
	Detection     Detection     `json:"detection"`
	Metrics       Metrics       `json:"metrics"`
	Team          TeamFigures   `json:"team"`
	Resolution    []Step        `json:"resolution"`
	Communication Communication `json:"communication"`
	Availability  Availability  `json:"availability"`
	ActionItems   []ActionItem  `json:"action_items"`
	Participants  []Participant `json:"participants"`
	Related       []Related     `json:"related_incidents"`
	Phases        []Phase       `json:"phases"`
	KeyEvents     []TimelineRow `json:"key_events"`
	SeverityNote  string        `json:"severity_text"`
	Review        ReviewPrompts `json:"review"`
}

// SeverityChange is one change of severity.
type SeverityChange struct {
	At    time.Time `json:"at"`
	From  Severity  `json:"from"`
	To    Severity  `json:"to"`
	Actor string    `json:"actor"`
}

// RoleHold is who holds a role.
type RoleHold struct {
	Role   Role   `json:"role"`
	Person string `json:"person"`
}

// TimelineRow is one row of the timeline table (or of a record).
type TimelineRow struct {
	At     time.Time `json:"at"`
	Kind   EntryKind `json:"kind"`
	Event  string    `json:"event"`
	Actor  string    `json:"actor"`
	Source Source    `json:"source"`
	Link   string    `json:"link,omitempty"`
	// RecordedAt is when a backdated entry was typed.
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
}

// Impact is what was recorded about the impact.
type Impact struct {
	// Statements are the /incident impact texts, oldest first.
	Statements []TimelineRow `json:"statements"`
	// AffectedPercent is the share of users or requests affected
	// (/incident affected); nil when nobody recorded it.
	AffectedPercent *float64 `json:"affected_percent"`
	// From and To bound the impact: see Availability.
	From        time.Time  `json:"from"`
	To          *time.Time `json:"to"`
	DurationSec *int64     `json:"duration_seconds"`
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
// never happened. Mitigation is the end of impact (recorded, else the
// first monitoring status).
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

// TeamFigures set this incident's response times beside the team's, over
// the 90 days before it was detected, and its service's month to date.
type TeamFigures struct {
	// Known is false when no history was read (a draft built without the
	// store): every median is then unknown.
	Known bool      `json:"known"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Service is the service the service medians are of ("" for none).
	Service           string       `json:"service"`
	TimeToAcknowledge Comparison   `json:"time_to_acknowledge"`
	TimeToResolve     Comparison   `json:"time_to_resolve"`
	MonthToDate       *MonthToDate `json:"month_to_date"`
}

// Comparison is one response time of this incident beside the medians of
// the window's resolved incidents (all, and those of the same service),
// with how many incidents each median is of (nil medians: none).
type Comparison struct {
	ThisSec          *int64 `json:"this_incident_seconds"`
	AllMedianSec     *int64 `json:"all_median_seconds"`
	AllCount         int    `json:"all_count"`
	ServiceMedianSec *int64 `json:"service_median_seconds"`
	ServiceCount     int    `json:"service_count"`
}

// MonthToDate is the service's availability in the month the incident
// started, counting its incidents of that month up to this one.
type MonthToDate struct {
	Month     string `json:"month"` // YYYY-MM
	Incidents int    `json:"incidents"`
	// DowntimeMinutes is the sum of each incident's downtime weighted by
	// its share affected; an incident with no share counts fully, and
	// UpperBound says so.
	DowntimeMinutes     float64 `json:"downtime_minutes"`
	UpperBound          bool    `json:"upper_bound"`
	AvailabilityPercent float64 `json:"availability_percent"` // over a 30-day month
	BudgetUsedPercent   float64 `json:"budget_used_percent"`
	WithinSLO           bool    `json:"within_slo"`
}

// Step is one thing people did or said toward the resolution.
type Step struct {
	At    time.Time `json:"at"`
	Kind  EntryKind `json:"kind"`
	Text  string    `json:"text"`
	Actor string    `json:"actor"`
}

// Communication is what was said, where, and by whom.
type Communication struct {
	IncidentChannel    string `json:"incident_channel"`
	StakeholderChannel string `json:"stakeholder_channel"`
	UpdatesByPeople    int    `json:"updates_by_people"`
	UpdatesByBot       int    `json:"updates_by_bot"`
	// Updates is every published status update, oldest first.
	Updates []Update `json:"updates"`
	// Public says whether the incident reached the public status pages,
	// and StatusPage is what they showed, oldest first (empty if not).
	Public         bool          `json:"public"`
	StatusPage     []Update      `json:"status_page"`
	MissedCadences []TimelineRow `json:"missed_cadences"`
}

// Update is one published status update.
type Update struct {
	At     time.Time `json:"at"`
	Status Status    `json:"status,omitempty"`
	Text   string    `json:"text"`
	Actor  string    `json:"actor"`
	Source Source    `json:"source"`
	// ByBot marks the bot's holding update ("We are still working on
	// this issue"), published when the cadence ran out.
	ByBot bool `json:"by_bot"`
}

// Availability is the incident measured against the SLO. Downtime runs
// from impact start (else detection) to impact end (recorded with
// /incident mitigated, else the first monitoring status, else
// resolution); the budget consumed is downtime × share affected over the
// monthly budget. With no share recorded it is an upper bound.
type Availability struct {
	SLOPercent    float64   `json:"slo_percent"`
	BudgetMinutes float64   `json:"monthly_budget_minutes"` // over 30 days
	DowntimeFrom  time.Time `json:"downtime_from"`
	// DowntimeFromSource is "impact_started" or "detected".
	DowntimeFromSource string     `json:"downtime_from_source"`
	DowntimeTo         *time.Time `json:"downtime_to"`
	// DowntimeToSource is "mitigated" (recorded), "monitoring",
	// "resolved" or "" while it lasts.
	DowntimeToSource string   `json:"downtime_to_source"`
	DowntimeSec      *int64   `json:"downtime_seconds"`
	DowntimeMinutes  *float64 `json:"downtime_minutes"`
	AffectedPercent  *float64 `json:"affected_percent"`
	BudgetUsedPct    *float64 `json:"budget_used_percent"`
	// UpperBound: no share was recorded, so BudgetUsedPct assumes every
	// user was affected.
	UpperBound bool `json:"budget_used_is_upper_bound"`
	// Assumption says in one sentence what the figure assumed.
	Assumption string `json:"assumption"`
}

// Participant is one person who acted on the incident, in Slack or
// PagerDuty, under one name.
type Participant struct {
	Name        string `json:"name"`
	Roles       []Role `json:"roles"`
	SlackID     string `json:"slack_id,omitempty"`
	PagerDutyID string `json:"pagerduty_id,omitempty"`
	// Actions counts their timeline entries by kind; Did says it in words.
	Actions map[EntryKind]int `json:"actions"`
	Did     string            `json:"did"`
	FirstAt *time.Time        `json:"first_at"`
}

// maxRelated is how many related past incidents a draft lists.
const maxRelated = 5

// Related is an earlier incident on the same service or with a similar
// title.
type Related struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Date     string   `json:"date"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`
	// Why is "same_service", "similar_title" or both.
	Why         []string `json:"why"`
	DurationSec *int64   `json:"duration_seconds"`
	RootCause   string   `json:"root_cause"`
}

// Phase is one phase the incident reached, for the phase diagrams.
type Phase struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// ReviewPrompts are the sign-off frame the reference templates end with.
type ReviewPrompts struct {
	Author     string `json:"author"` // "" → prompt
	Reviewers  string `json:"reviewers"`
	Tracker    string `json:"tracker"`
	NextReview string `json:"next_review"`
}

// DraftInput is what a draft is derived from.
type DraftInput struct {
	Incident *Incident
	Timeline []Entry
	// History is what the store's indexes gave about earlier incidents
	// (zero: none read).
	History History
	// SLO in percent (99.9 when zero).
	SLO float64
	// StakeholderChannel is INCIDENTBOT_ANNOUNCE_CHANNEL ("" for none).
	StakeholderChannel string
	// Public says whether the incident reached the public status pages.
	Public bool
	// Now stamps the draft (and ends an ongoing incident's figures).
	Now time.Time
	// People is the directory the timeline was read through (nil: none);
	// it gives a participant known in Slack their PagerDuty ID too.
	People *People
}

// History is what a draft takes from earlier incidents (gatherHistory).
type History struct {
	Known        bool
	Since, Until time.Time
	// All and Service are the response times (seconds) of the window's
	// resolved incidents: all of them and those of the same service.
	All, Service Sample
	// Month is the service's earlier incidents in the month this one
	// started (nil: no service).
	Month   *MonthSum
	Related []Related
}

// Sample is response times of a set of incidents, in seconds.
type Sample struct {
	Ack, Resolve []int64
}

// MonthSum adds up a service's incidents in a month.
type MonthSum struct {
	Start     time.Time
	Incidents int
	// Minutes of downtime, each weighted by its share affected (fully
	// when none was recorded, which sets Unweighted).
	Minutes    float64
	Unweighted bool
}

func secs(from time.Time, to *time.Time) *int64 {
	if to == nil {
		return nil
	}
	s := int64(to.Sub(from).Round(time.Second) / time.Second)
	return &s
}

// round1 rounds to one decimal, as minutes and percents are meant.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

func ptrf(f float64) *float64 { return &f }

// DraftPostmortem derives the draft. It does no I/O.
func DraftPostmortem(in DraftInput) *Postmortem {
	inc := in.Incident
	slo := cmp.Or(in.SLO, 99.9)
	now := in.Now.UTC()
	p := &Postmortem{
		SchemaVersion: PostmortemSchemaVersion,
		GeneratedAt:   now,
		DraftDate:     now.Format("2006-01-02"),
		IncidentID:    inc.ID,
		Title:         CleanLine(inc.Title),
		Date:          inc.OpenedAt.UTC().Format("2006-01-02"),
		Severity:      inc.Severity,
		Status:        inc.Status,
		Service:       CleanLine(inc.Service),
		Channel:       CleanLine(inc.ChannelName),
		End:           inc.ResolvedAt,
		Summary:       CleanText(inc.Summary),
		RootCause:     CleanText(inc.RootCause),
		Roles:         []RoleHold{},
		Related:       []Related{},
		Resolution:    []Step{},
		Records:       []TimelineRow{},
	}
	if inc.Status.Open() {
		p.End = nil
	}
	if p.End != nil {
		end := p.End.UTC()
		p.End = &end
	}
	if pd := inc.PagerDuty; pd != nil {
		p.PagerDutyID, p.PagerDutyURL = CleanLine(pd.ID), safeURL(pd.URL)
	}
	for _, r := range Roles {
		if who, ok := inc.Roles[r]; ok {
			p.Roles = append(p.Roles, RoleHold{Role: r, Person: CleanLine(who.Display())})
		}
	}
	if c, ok := inc.Roles[RoleCommander]; ok {
		p.Author = CleanLine(c.Display())
	}
	p.Review = ReviewPrompts{Author: p.Author}
	p.ActionItems = make([]ActionItem, 0, len(inc.Actions))
	for _, a := range inc.Actions {
		a.Text = CleanLine(a.Text)
		if a.Owner != nil {
			o := *a.Owner
			o.Name = CleanLine(o.Name)
			a.Owner = &o
		}
		a.Tracked = slices.Clone(a.Tracked)
		for i, t := range a.Tracked {
			a.Tracked[i] = TrackedIssue{Tracker: CleanLine(t.Tracker), Key: CleanLine(t.Key), URL: safeURL(t.URL), Status: CleanLine(t.Status), Done: t.Done, SyncedAt: t.SyncedAt.UTC()}
		}
		p.ActionItems = append(p.ActionItems, a)
	}

	detected := inc.OpenedAt.UTC()
	p.Start, p.StartSource = detected, "detected"
	if s := inc.ImpactStartedAt; s != nil {
		p.Start, p.StartSource = s.UTC(), "impact_started"
	}
	p.DurationSec = secs(p.Start, p.End)

	entries := Current(in.Timeline)
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.At.Compare(b.At) })
	p.Timeline = make([]TimelineRow, 0, len(entries))
	p.Communication = Communication{
		IncidentChannel: p.Channel, StakeholderChannel: CleanLine(in.StakeholderChannel), Public: in.Public,
		Updates: []Update{}, StatusPage: []Update{}, MissedCadences: []TimelineRow{},
	}
	p.Impact = Impact{Statements: []TimelineRow{}}
	p.SeverityHistory = []SeverityChange{}
	identified := inc.IdentifiedAt
	for _, e := range entries {
		row := TimelineRow{At: e.At.UTC(), Kind: e.Kind, Event: eventText(e), Actor: actorText(e), Source: e.Source, Link: safeURL(e.Permalink), RecordedAt: e.RecordedAt}
		byBot := e.Source == SourceBot
		switch e.Kind {
		case EntryImpact, EntryAffected, EntryRootCause, EntryActionItem, EntryPublicName:
			p.Records = append(p.Records, row)
			if e.Kind == EntryImpact {
				row.Event = CleanText(e.Text)
				p.Impact.Statements = append(p.Impact.Statements, row)
			}
			continue
		case EntryCadenceMissed:
			p.Records = append(p.Records, row)
			p.Communication.MissedCadences = append(p.Communication.MissedCadences, row)
			continue
		case EntryImpactStarted:
			if st := inc.ImpactStartedAt; st != nil && !e.At.Equal(*st) {
				// A start corrected since: a record, not an event of the
				// incident (the timeline has the start that holds).
				row.Event += " (corrected since: " + st.UTC().Format("15:04 UTC") + ")"
				p.Records = append(p.Records, row)
				continue
			}
		case EntryStatusUpdate:
			u := Update{At: e.At.UTC(), Status: e.Status, Text: CleanText(e.Text), Actor: actorText(e), Source: e.Source, ByBot: byBot}
			p.Communication.Updates = append(p.Communication.Updates, u)
			if byBot {
				// The bot's holding updates are communication, not events.
				p.Communication.UpdatesByBot++
				continue
			}
			p.Communication.UpdatesByPeople++
		case EntrySeverityChanged:
			if from, to, ok := severityChange(e); ok {
				p.SeverityHistory = append(p.SeverityHistory, SeverityChange{At: e.At.UTC(), From: from, To: to, Actor: actorText(e)})
			}
		}
		p.Timeline = append(p.Timeline, row)
		if !byBot && (identified == nil || !e.At.Before(*identified)) {
			switch e.Kind {
			case EntryNote, EntryPinned, EntryStatusUpdate, EntryMitigated:
				p.Resolution = append(p.Resolution, Step{At: e.At.UTC(), Kind: e.Kind, Text: CleanText(stepText(e)), Actor: actorText(e)})
			case EntryResolved:
				if t := resolutionText(e); t != "" {
					p.Resolution = append(p.Resolution, Step{At: e.At.UTC(), Kind: e.Kind, Text: CleanText(t), Actor: actorText(e)})
				}
			}
		}
	}
	p.InitialSeverity = inc.Severity
	if len(p.SeverityHistory) > 0 {
		p.InitialSeverity = p.SeverityHistory[0].From
	}
	p.SeverityNote = severityText(p.InitialSeverity, p.SeverityHistory)
	if in.Public {
		type key struct {
			at   int64
			text string
		}
		bots := map[key]bool{}
		for _, cu := range p.Communication.Updates {
			if cu.ByBot {
				bots[key{cu.At.UnixNano(), cu.Text}] = true
			}
		}
		for _, u := range publicIncident(inc, entries).Updates {
			p.Communication.StatusPage = append(p.Communication.StatusPage, Update{At: u.At.UTC(), Status: u.Status, Text: u.Text, ByBot: bots[key{u.At.UnixNano(), u.Text}]})
		}
		slices.Reverse(p.Communication.StatusPage) // oldest first
	}

	p.Detection = Detection{DetectedAt: detected, ImpactStartedAt: utcPtr(inc.ImpactStartedAt)}
	switch {
	case inc.PagerDuty != nil:
		p.Detection.How = "PagerDuty page"
		if p.Service != "" {
			p.Detection.How += " on service " + p.Service
		}
	case inc.DeclaredBy != nil:
		p.Detection.How = "Declared in Slack by " + CleanLine(inc.DeclaredBy.Display())
	}
	if inc.ImpactStartedAt != nil {
		p.Detection.TimeToDetectSec = secs(*inc.ImpactStartedAt, &p.Detection.DetectedAt)
	}
	mitigated := utcPtr(inc.ImpactEnd())
	p.Metrics = Metrics{
		AcknowledgedAt: utcPtr(inc.AcknowledgedAt), IdentifiedAt: utcPtr(inc.IdentifiedAt), MitigatedAt: mitigated, ResolvedAt: p.End,
		TimeToAcknowledge: secs(detected, inc.AcknowledgedAt), TimeToIdentify: secs(detected, inc.IdentifiedAt),
		TimeToMitigate: secs(detected, mitigated), TimeToResolve: secs(detected, p.End),
	}

	p.Availability = availability(inc, p, slo)
	a := p.Availability
	p.Impact.AffectedPercent, p.Impact.From, p.Impact.To, p.Impact.DurationSec = a.AffectedPercent, a.DowntimeFrom, a.DowntimeTo, a.DowntimeSec
	p.Team = teamFigures(in.History, p, slo, now)
	p.Participants = participants(inc, entries)
	for i, pt := range p.Participants {
		// A Slack user the directory knows as a PagerDuty user too.
		if pt.PagerDutyID == "" && pt.SlackID != "" {
			p.Participants[i].PagerDutyID = CleanLine(in.People.PagerDutyIDOf(pt.SlackID))
		}
	}
	p.Related = append(p.Related, in.History.Related...)
	p.Phases = phases(p)
	p.KeyEvents = keyEvents(p)
	p.WhatHappened = whatHappened(p)
	return p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// availability measures the downtime against the SLO's monthly budget.
func availability(inc *Incident, p *Postmortem, slo float64) Availability {
	budget := (1 - slo/100) * 30 * 24 * 60
	a := Availability{SLOPercent: slo, BudgetMinutes: round1(budget), DowntimeFrom: p.Start, DowntimeFromSource: p.StartSource}
	switch {
	case inc.ImpactEndedAt != nil:
		a.DowntimeTo, a.DowntimeToSource = utcPtr(inc.ImpactEndedAt), "mitigated"
	case inc.MitigatedAt != nil:
		a.DowntimeTo, a.DowntimeToSource = utcPtr(inc.MitigatedAt), "monitoring"
	case p.End != nil:
		a.DowntimeTo, a.DowntimeToSource = p.End, "resolved"
	}
	if inc.AffectedPercent != nil {
		a.AffectedPercent = ptrf(*inc.AffectedPercent)
	}
	if a.DowntimeTo == nil {
		a.Assumption = "Impact has not ended: no budget figure yet."
		return a
	}
	a.DowntimeSec = secs(a.DowntimeFrom, a.DowntimeTo)
	down := float64(*a.DowntimeSec) / 60
	a.DowntimeMinutes = ptrf(round1(down))
	share := 1.0
	if a.AffectedPercent != nil {
		share = *a.AffectedPercent / 100
	} else {
		a.UpperBound = true
	}
	if budget > 0 {
		a.BudgetUsedPct = ptrf(round1(down * share / budget * 100))
	}
	from := map[string]string{"impact_started": "the recorded impact start", "detected": "detection"}[a.DowntimeFromSource]
	to := map[string]string{"mitigated": "the recorded end of impact", "monitoring": "the first monitoring status", "resolved": "resolution"}[a.DowntimeToSource]
	if a.UpperBound {
		a.Assumption = fmt.Sprintf("Counts the downtime from %s to %s as if every user was affected (no share was recorded with `/incident affected`), so the budget figure is an upper bound.", from, to)
	} else {
		a.Assumption = fmt.Sprintf("Counts the downtime from %s to %s, weighted by the %s of users or requests recorded as affected.", from, to, FormatPercent(*a.AffectedPercent))
	}
	return a
}

// weightedMinutes is an incident's downtime in minutes times its share
// affected, and whether the share was unknown (counted fully). ok is
// false while its impact lasts.
func weightedMinutes(inc *Incident) (minutes float64, unweighted, ok bool) {
	from := inc.OpenedAt
	if inc.ImpactStartedAt != nil {
		from = *inc.ImpactStartedAt
	}
	to := inc.ImpactEnd()
	if to == nil && !inc.Status.Open() {
		to = inc.ResolvedAt
	}
	if to == nil {
		return 0, false, false
	}
	m := max(to.Sub(from).Minutes(), 0)
	if inc.AffectedPercent == nil {
		return m, true, true
	}
	return m * *inc.AffectedPercent / 100, false, true
}

// median returns the median of xs (the mean of the middle two for an even
// count), nil for none.
func median(xs []int64) *int64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = int64(math.Round(float64(s[len(s)/2-1]+s[len(s)/2]) / 2))
	}
	return &m
}

func teamFigures(h History, p *Postmortem, slo float64, now time.Time) TeamFigures {
	t := TeamFigures{Known: h.Known, Since: h.Since.UTC(), Until: h.Until.UTC(), Service: p.Service}
	t.TimeToAcknowledge = Comparison{ThisSec: p.Metrics.TimeToAcknowledge, AllMedianSec: median(h.All.Ack), AllCount: len(h.All.Ack), ServiceMedianSec: median(h.Service.Ack), ServiceCount: len(h.Service.Ack)}
	t.TimeToResolve = Comparison{ThisSec: p.Metrics.TimeToResolve, AllMedianSec: median(h.All.Resolve), AllCount: len(h.All.Resolve), ServiceMedianSec: median(h.Service.Resolve), ServiceCount: len(h.Service.Resolve)}
	if h.Month == nil {
		return t
	}
	m := &MonthToDate{Month: h.Month.Start.UTC().Format("2006-01"), Incidents: h.Month.Incidents + 1, UpperBound: h.Month.Unweighted}
	mins := h.Month.Minutes
	a := p.Availability
	switch {
	case a.DowntimeSec != nil:
		share := 1.0
		if a.AffectedPercent != nil {
			share = *a.AffectedPercent / 100
		}
		mins += float64(*a.DowntimeSec) / 60 * share
	default:
		// Still going: its downtime so far, weighted by the share
		// affected as an ended incident's is; without one, an upper bound.
		share := 1.0
		if a.AffectedPercent != nil {
			share = *a.AffectedPercent / 100
		} else {
			m.UpperBound = true
		}
		mins += max(now.Sub(a.DowntimeFrom).Minutes(), 0) * share
	}
	m.UpperBound = m.UpperBound || a.UpperBound
	budget := (1 - slo/100) * 30 * 24 * 60
	m.DowntimeMinutes = round1(mins)
	m.AvailabilityPercent = math.Round((100-mins/(30*24*60)*100)*1000) / 1000
	if budget > 0 {
		m.BudgetUsedPercent = round1(mins / budget * 100)
	}
	m.WithinSLO = mins <= budget
	t.MonthToDate = m
	return t
}

// severityRe reads "sev2 → sev1" in entries recorded before severity
// changes carried their severities.
var severityRe = regexp.MustCompile(`(sev[1-4]) → (sev[1-4])`)

func severityChange(e Entry) (from, to Severity, ok bool) {
	if e.Severity != "" && e.PreviousSeverity != "" {
		return e.PreviousSeverity, e.Severity, true
	}
	m := severityRe.FindStringSubmatch(e.Text)
	if m == nil {
		return "", "", false
	}
	return Severity(m[1]), Severity(m[2]), true
}

// severityText is the severity history in words: "SEV2, escalated to
// SEV1 at 09:56 UTC".
func severityText(initial Severity, hist []SeverityChange) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(string(initial)))
	for _, c := range hist {
		verb := "lowered"
		if slices.Index(Severities, c.To) < slices.Index(Severities, c.From) {
			verb = "escalated"
		}
		fmt.Fprintf(&b, ", %s to %s at %s UTC", verb, strings.ToUpper(string(c.To)), c.At.Format("15:04"))
	}
	return b.String()
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

func stepText(e Entry) string {
	if e.Kind == EntryStatusUpdate && e.Status != "" {
		return "Update (" + string(e.Status) + "): " + e.Text
	}
	if e.Kind == EntryStatusUpdate {
		return "Update: " + e.Text
	}
	if e.Kind == EntryPinned {
		return "Pinned: " + e.Text
	}
	return e.Text
}

func actorText(e Entry) string {
	a := CleanLine(e.Actor.Display())
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
	t := CleanText(e.Text)
	switch e.Kind {
	case EntryStatusUpdate:
		if e.Status != "" {
			return fmt.Sprintf("Status update (%s): %s", e.Status, t)
		}
		return "Status update: " + t
	case EntryPinned:
		return "Pinned: " + t
	case EntryImpact:
		return "Impact: " + t
	case EntryRootCause:
		return "Root cause: " + t
	}
	return t
}

// phases are the phases the incident reached, in order.
func phases(p *Postmortem) []Phase {
	var out []Phase
	add := func(name string, at *time.Time) {
		if at != nil {
			out = append(out, Phase{Name: name, At: at.UTC()})
		}
	}
	add("Impact started", p.Detection.ImpactStartedAt)
	add("Detected", &p.Detection.DetectedAt)
	add("Acknowledged", p.Metrics.AcknowledgedAt)
	add("Identified", p.Metrics.IdentifiedAt)
	add("Mitigated", p.Metrics.MitigatedAt)
	add("Resolved", p.Metrics.ResolvedAt)
	slices.SortStableFunc(out, func(a, b Phase) int { return a.At.Compare(b.At) })
	return out
}

// maxKeyEvents bounds the events the timeline drawing marks.
const maxKeyEvents = 12

// keyEvents are the events the drawn timeline marks besides the phases:
// severity changes, people's status updates, backdated notes and pins,
// the earliest first, at most maxKeyEvents.
func keyEvents(p *Postmortem) []TimelineRow {
	out := []TimelineRow{}
	for _, r := range p.Timeline {
		switch {
		case r.Kind == EntrySeverityChanged, r.Kind == EntryStatusUpdate, r.Kind == EntryPinned, r.Kind == EntryReopened,
			r.Kind == EntryNote && r.RecordedAt != nil:
			out = append(out, r)
		}
		if len(out) == maxKeyEvents {
			break
		}
	}
	return out
}

// whatHappened states the recorded facts in one paragraph.
func whatHappened(p *Postmortem) string {
	var b strings.Builder
	d := p.Detection
	fmt.Fprintf(&b, "On %s", p.Start.Format("2006-01-02"))
	if d.ImpactStartedAt != nil {
		fmt.Fprintf(&b, ", impact began at %s UTC and", d.ImpactStartedAt.Format("15:04"))
	} else {
		b.WriteString(",")
	}
	fmt.Fprintf(&b, " “%s” (%s) was detected at %s UTC", p.Title, p.SeverityNote, d.DetectedAt.Format("15:04"))
	if d.How != "" {
		b.WriteString(" by " + lowerFirst(d.How))
	}
	if d.TimeToDetectSec != nil {
		fmt.Fprintf(&b, ", %s after impact began", Human(time.Duration(*d.TimeToDetectSec)*time.Second))
	}
	b.WriteString(".")
	var steps []string
	m := p.Metrics
	for _, s := range []struct {
		what string
		d    *int64
	}{{"acknowledged", m.TimeToAcknowledge}, {"cause identified", m.TimeToIdentify}, {"impact ended", m.TimeToMitigate}, {"resolved", m.TimeToResolve}} {
		switch {
		case s.d == nil:
		case *s.d < 0:
			steps = append(steps, s.what+" "+Human(time.Duration(-*s.d)*time.Second)+" before it was detected")
		default:
			steps = append(steps, s.what+" after "+Human(time.Duration(*s.d)*time.Second))
		}
	}
	if len(steps) > 0 {
		b.WriteString(" From detection: " + strings.Join(steps, ", ") + ".")
	}
	if a := p.Availability; a.DowntimeSec != nil {
		fmt.Fprintf(&b, " Impact lasted %s", Human(time.Duration(*a.DowntimeSec)*time.Second))
		if a.AffectedPercent != nil {
			fmt.Fprintf(&b, " for %s of users or requests", FormatPercent(*a.AffectedPercent))
		}
		b.WriteString(".")
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

// safeURL returns u when it is an http(s) URL with a host and without
// characters that could end a Markdown link, a table cell or an HTML
// attribute, else "".
func safeURL(u string) string {
	u = CleanLine(u)
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	if strings.ContainsAny(u, " <>\"'()`\\[]|") {
		return ""
	}
	if pu, err := url.Parse(u); err != nil || pu.Host == "" {
		return ""
	}
	return u
}

// Fingerprint identifies the draft's content, whenever it was generated:
// an unchanged draft is not uploaded twice.
func (p *Postmortem) Fingerprint() string {
	cp := *p
	cp.GeneratedAt, cp.DraftDate = time.Time{}, ""
	sum := sha256.Sum256(cp.Markdown())
	return hex.EncodeToString(sum[:16])
}

// FileName returns "<opening date>-<incident ID>", the base name of the
// exported files. It holds only digits, letters and '-'.
func (p *Postmortem) FileName() string { return p.Date + "-" + p.IncidentID }

// Postmortem drafts the postmortem of an incident ("INC-12" or a PagerDuty
// ID) as it stands now.
func (s *Service) Postmortem(ctx context.Context, id string) (*Postmortem, error) {
	var p *Postmortem
	err := s.Store.View(ctx, func(tx Tx) error {
		inc, err := LookupIncident(tx, id)
		if err != nil {
			return err
		}
		p, err = s.draft(tx, inc, s.now())
		return err
	})
	return p, err
}

// draft builds the postmortem inside a transaction.
func (s *Service) draft(tx Tx, inc *Incident, now time.Time) (*Postmortem, error) {
	tl, err := tx.Timeline(inc.ID)
	if err != nil {
		return nil, err
	}
	// One name per person: the directory's, for every role, owner, actor
	// and person a timeline entry names (people.go).
	inc, tl = s.People.ResolveIncident(inc), s.People.ResolveEntries(tl)
	h, err := gatherHistory(tx, inc)
	if err != nil {
		return nil, err
	}
	return DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: h, SLO: s.slo(), StakeholderChannel: s.stakeholderChannel(inc), Public: s.IsPublic(inc), Now: now, People: s.People}), nil
}

// PostmortemFiles are the renderings an Exporter writes.
type PostmortemFiles struct {
	Markdown, JSON, HTML []byte
}

// Exporter writes a postmortem draft's files (<name>.md, .json and .html)
// where people can find them and returns where the Markdown one is.
type Exporter interface {
	Export(ctx context.Context, name string, files PostmortemFiles) (string, error)
}

// JSON renders the JSON twin: compact (indenting a 10,000-entry draft
// costs a fifth of its rendering; `jq .` indents it), times RFC 3339 UTC.
func (p *Postmortem) JSON() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TrackedIn names the trackers the draft's action items are in ("Jira
// (OPS)", "GitHub"), Jira's first; none when no item is tracked.
func (p *Postmortem) TrackedIn() []string {
	var out []string
	for _, a := range p.ActionItems {
		for _, t := range a.Tracked {
			name := TrackerTitle(t.Tracker)
			if t.Tracker == TrackerJira {
				if proj, _, ok := strings.Cut(t.Key, "-"); ok && proj != "" {
					name += " (" + proj + ")"
				}
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		rank := func(s string) int {
			if strings.HasPrefix(s, "GitHub") {
				return 1
			}
			return 0
		}
		return cmp.Compare(rank(a), rank(b))
	})
	return out
}
