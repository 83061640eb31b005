package incidentbot_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

// past describes one earlier incident for a history.
type past struct {
	title, service string
	opened         time.Time
	ack, resolve   time.Duration
	affected       float64 // 0: not recorded
	rootCause      string
}

// storeHistory stores the past incidents in order (INC-1, INC-2, ...) and
// then the incident being drafted, and returns its ID.
func storeHistory(t testing.TB, db *store.DB, ps []past, now *incidentbot.Incident) string {
	t.Helper()
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for _, p := range append(ps, past{}) {
			n, err := tx.NextIncidentNumber()
			if err != nil {
				return err
			}
			inc := now
			if n <= len(ps) {
				ack, res := p.opened.Add(p.ack), p.opened.Add(p.resolve)
				inc = &incidentbot.Incident{Title: p.title, Service: p.service, Status: incidentbot.StatusResolved, Severity: incidentbot.Sev2,
					OpenedAt: p.opened, AcknowledgedAt: &ack, ResolvedAt: &res, RootCause: p.rootCause}
				if p.service == "API" {
					inc.PagerDuty = &incidentbot.PagerLink{ID: fmt.Sprintf("PD%d", n), ServiceID: "PAPI"}
				}
				if p.affected > 0 {
					a := p.affected
					inc.AffectedPercent = &a
				}
			}
			inc.ID, inc.Number = incidentbot.IncidentID(n), n
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return now.ID
}

// The team figures and related incidents come from the stored history:
// medians of the 90 days before the incident (all, and the service's) with
// their counts, the service's month to date, and related incidents by
// service and by title, newest first, at most five.
func TestPostmortem_TeamFiguresAndRelatedFromTheStore(t *testing.T) {
	db := storetest.MustOpen(t)
	s := &incidentbot.Service{Store: db, SLO: 99.9}
	day := time.Date(2025, 10, 20, 9, 0, 0, 0, time.UTC)
	ps := []past{
		{"API health check failures", "API", day.AddDate(0, 0, -120), time.Minute, time.Hour, 0, "old leak"},             // 1: outside the window
		{"Search latency", "Search", day.AddDate(0, 0, -60), 2 * time.Minute, 40 * time.Minute, 0, ""},                   // 2
		{"API errors after deploy", "API", day.AddDate(0, 0, -30), 4 * time.Minute, 20 * time.Minute, 0, "bad deploy"},   // 3
		{"Checkout health check failures", "Checkout", day.AddDate(0, 0, -25), 6 * time.Minute, 30 * time.Minute, 0, ""}, // 4: similar title
		{"API slow", "API", day.AddDate(0, 0, -15), 8 * time.Minute, 50 * time.Minute, 50, "GC pauses"},                  // 5: this month, 50%
		{"Search index rebuild", "Search", day.AddDate(0, 0, -2), 10 * time.Minute, 10 * time.Minute, 0, ""},             // 6
	}
	now := &incidentbot.Incident{Title: "API health check failures", Service: "API", PagerDuty: &incidentbot.PagerLink{ID: "PDNOW", ServiceID: "PAPI"},
		Severity: incidentbot.Sev1, Status: incidentbot.StatusResolved, OpenedAt: day, AcknowledgedAt: tp(day.Add(3 * time.Minute)), ResolvedAt: tp(day.Add(30 * time.Minute))}
	id := storeHistory(t, db, ps, now)
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	tf := p.Team
	// All incidents in the window: 2..6 (1 is 120 days old).
	if tf.TimeToAcknowledge.AllCount != 5 || *tf.TimeToAcknowledge.AllMedianSec != 360 || *tf.TimeToResolve.AllMedianSec != 30*60 {
		t.Errorf("all incidents: ack %+v resolve %+v; want 5 incidents, medians 6 min and 30 min", tf.TimeToAcknowledge, tf.TimeToResolve)
	}
	// The service's: 3 and 5.
	if tf.TimeToAcknowledge.ServiceCount != 2 || *tf.TimeToAcknowledge.ServiceMedianSec != 6*60 || *tf.TimeToResolve.ServiceMedianSec != 35*60 {
		t.Errorf("service API: ack %+v resolve %+v; want 2 incidents, medians 6 min and 35 min", tf.TimeToAcknowledge, tf.TimeToResolve)
	}
	// Month to date (October, API): INC-5 (50 min at 50% = 25) and this
	// one (30 min, no share: fully, an upper bound).
	mt := tf.MonthToDate
	want := 25.0 + 30
	if mt == nil || mt.Month != "2025-10" || mt.Incidents != 2 || mt.DowntimeMinutes != want || !mt.UpperBound ||
		mt.AvailabilityPercent != math.Round((100-want/43200*100)*1000)/1000 || mt.WithinSLO {
		t.Errorf("month to date = %+v; want 2 incidents, %v min, an upper bound, outside the SLO", mt, want)
	}
	// Related: the service's (5, 3, 1) and the similar title (4, 1),
	// newest first.
	var got []string
	for _, r := range p.Related {
		got = append(got, fmt.Sprintf("%s %v %s %s", r.ID, r.Why, r.RootCause, incidentbot.Human(time.Duration(*r.DurationSec)*time.Second)))
	}
	wantRel := []string{"INC-5 [same_service] GC pauses 50 min", "INC-4 [similar_title]  30 min", "INC-3 [same_service] bad deploy 20 min", "INC-1 [same_service similar_title] old leak 1 h"}
	if !slices.Equal(got, wantRel) {
		t.Errorf("related =\n%v\nwant\n%v", got, wantRel)
	}
}

// With more than five candidates, the five newest are listed.
func TestPostmortem_RelatedAtMostFive(t *testing.T) {
	db := storetest.MustOpen(t)
	s := &incidentbot.Service{Store: db}
	day := time.Date(2025, 10, 20, 9, 0, 0, 0, time.UTC)
	var ps []past
	for i := range 8 {
		ps = append(ps, past{title: "Redis node down", service: "Cache", opened: day.AddDate(0, 0, -8+i), ack: time.Minute, resolve: time.Hour})
	}
	id := storeHistory(t, db, ps, &incidentbot.Incident{Title: "Redis node down again", Service: "Other", Status: incidentbot.StatusTriggered, OpenedAt: day})
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range p.Related {
		ids = append(ids, r.ID)
	}
	if want := []string{"INC-8", "INC-7", "INC-6", "INC-5", "INC-4"}; !slices.Equal(ids, want) {
		t.Errorf("related = %v, want %v", ids, want)
	}
}

// The draft names people through the directory: a PagerDuty user mapped
// to a Slack user is that person, under the Slack name, whatever name
// PagerDuty gave.
func TestPostmortem_ParticipantsThroughThePeopleDirectory(t *testing.T) {
	db := storetest.MustOpen(t)
	people := &incidentbot.People{}
	people.Put(incidentbot.Profile{ID: "U1", Name: "Alice Chen", CheckedAt: time.Now()}, incidentbot.Profile{ID: "PA", Name: "A. Chen", SlackID: "U1", CheckedAt: time.Now()})
	s := &incidentbot.Service{Store: db, People: people}
	day := time.Date(2025, 10, 20, 9, 0, 0, 0, time.UTC)
	id := storeHistory(t, db, nil, &incidentbot.Incident{Title: "x", Status: incidentbot.StatusTriggered, OpenedAt: day, Roles: map[incidentbot.Role]incidentbot.Person{incidentbot.RoleCommander: {ID: "U1"}}})
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for _, e := range []incidentbot.Entry{
			{At: day, Kind: incidentbot.EntryAcknowledged, Actor: incidentbot.Person{ID: "PA", Name: "A. Chen"}, Source: incidentbot.SourcePagerDuty, Text: "ack"},
			{At: day.Add(time.Minute), Kind: incidentbot.EntryNote, Actor: incidentbot.Person{ID: "U1"}, Source: incidentbot.SourceSlack, Text: "note"},
		} {
			if err := tx.AppendEntry(id, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Participants) != 1 || p.Participants[0].Name != "Alice Chen" || p.Participants[0].Did != "acknowledged, 1 note" || p.Participants[0].Roles[0] != incidentbot.RoleCommander {
		t.Errorf("participants = %+v, want Alice Chen once, commander, with both actions", p.Participants)
	}
}

func tp(t time.Time) *time.Time { return &t }
