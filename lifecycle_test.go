package incidentbot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

func mustService(t *testing.T) (*incidentbot.Service, *store.DB) {
	t.Helper()
	db := storetest.MustOpen(t)
	return &incidentbot.Service{Store: db, ChannelPrefix: "inc", AnnounceChannel: "#incidents", PagerSync: true}, db
}

// mustIngest delivers ev as the webhook handler does (webhookID "" for
// none) and fails the test on an error.
func mustIngest(t *testing.T, s *incidentbot.Service, webhookID string, ev incidentbot.PagerEvent) incidentbot.Outcome {
	t.Helper()
	out, err := s.IngestPagerDuty(context.Background(), webhookID, ev)
	if err != nil {
		t.Fatalf("IngestPagerDuty(%s %s): %v", ev.Type, ev.IncidentID, err)
	}
	return out
}

// mustRun runs a command and fails the test on an error.
func mustRun(t *testing.T, s *incidentbot.Service, c incidentbot.Cmd) incidentbot.Reply {
	t.Helper()
	r, err := s.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.Name, c.IncidentID, err)
	}
	return r
}

var t0 = time.Date(2025, 10, 14, 3, 15, 0, 0, time.UTC)

func pd(id, typ string, at time.Time) incidentbot.PagerEvent {
	return incidentbot.PagerEvent{
		ID: fmt.Sprintf("%s-%s-%d", id, typ, at.Unix()), Type: typ, OccurredAt: at, IncidentID: id,
		Agent: incidentbot.Person{ID: "PUSER", Name: "Alice"},
		Incident: &incidentbot.PagerIncident{
			ID: id, Number: 42, Title: "API health check failures", Urgency: "high", Priority: "P1",
			ServiceName: "API", CreatedAt: t0, Assignees: []incidentbot.Person{{ID: "PALICE", Name: "Alice"}},
		},
	}
}

func state(t *testing.T, db *store.DB, pdID string) (*incidentbot.Incident, []incidentbot.Entry, []*incidentbot.Job) {
	t.Helper()
	var inc *incidentbot.Incident
	var tl []incidentbot.Entry
	var jobs []*incidentbot.Job
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		var err error
		if inc, err = tx.IncidentByPagerDutyID(pdID); err != nil {
			return err
		}
		if tl, err = tx.Timeline(inc.ID); err != nil {
			return err
		}
		return tx.Jobs(0, func(j *incidentbot.Job) bool { jobs = append(jobs, j); return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	return inc, tl, jobs
}

func count(jobs []*incidentbot.Job, kind incidentbot.JobKind) int {
	n := 0
	for _, j := range jobs {
		if j.Kind == kind {
			n++
		}
	}
	return n
}

func TestService_IngestPagerDuty_SameDeliveryTenTimesAtOnce(t *testing.T) {
	s, db := mustService(t)
	ev := pd("P1", incidentbot.EventTriggered, t0)
	var wg sync.WaitGroup
	outs := make(chan incidentbot.Outcome, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.IngestPagerDuty(context.Background(), "W1", ev)
			if err != nil {
				t.Error(err)
			}
			outs <- out
		}()
	}
	wg.Wait()
	close(outs)
	applied := 0
	for o := range outs {
		if o == incidentbot.OutcomeApplied {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("applied %d times, want 1", applied)
	}
	inc, tl, jobs := state(t, db, "P1")
	if inc.ID != "INC-1" || inc.Severity != incidentbot.Sev1 || len(tl) != 1 {
		t.Errorf("incident %s %s, timeline %d entries", inc.ID, inc.Severity, len(tl))
	}
	if count(jobs, incidentbot.JobCreateChannel) != 1 || count(jobs, incidentbot.JobInvite) != 1 || count(jobs, incidentbot.JobAnnounce) != 1 {
		t.Errorf("jobs = %d create, %d invite, %d announce; want 1 each", count(jobs, incidentbot.JobCreateChannel), count(jobs, incidentbot.JobInvite), count(jobs, incidentbot.JobAnnounce))
	}
	// The same event under another webhook ID (a second subscription) is a duplicate too.
	if out := mustIngest(t, s, "W2", ev); out != incidentbot.OutcomeDuplicate {
		t.Errorf("same event, other webhook ID: %s, want duplicate", out)
	}
}

func TestService_IngestPagerDuty_AckBeforeTrigger(t *testing.T) {
	s, db := mustService(t)
	mustIngest(t, s, "", pd("P1", incidentbot.EventAcknowledged, t0.Add(30*time.Second)))
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	inc, tl, jobs := state(t, db, "P1")
	if inc.Status != incidentbot.StatusAcknowledged {
		t.Errorf("status = %s, want acknowledged (the late trigger must not move it back)", inc.Status)
	}
	if inc.AcknowledgedAt == nil || !inc.AcknowledgedAt.Equal(t0.Add(30*time.Second)) || !inc.OpenedAt.Equal(t0) {
		t.Errorf("acknowledged %v opened %v", inc.AcknowledgedAt, inc.OpenedAt)
	}
	// The first to acknowledge, with no commander yet, commands: the
	// acknowledgement's entry says so.
	if len(tl) != 2 || tl[0].Kind != incidentbot.EntryPaged || tl[1].Kind != incidentbot.EntryAcknowledged ||
		!strings.HasSuffix(tl[1].Text, "the first to acknowledge: now the commander") || inc.Roles[incidentbot.RoleCommander].ID != "PUSER" {
		t.Errorf("timeline = %+v, commander %+v", tl, inc.Roles)
	}
	if count(jobs, incidentbot.JobCreateChannel) != 1 {
		t.Errorf("%d channel jobs, want 1", count(jobs, incidentbot.JobCreateChannel))
	}
}

func TestService_IngestPagerDuty_NoteBeforeIncidentWaitsForIt(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	note := incidentbot.PagerEvent{ID: "N1", Type: incidentbot.EventAnnotated, OccurredAt: t0.Add(time.Minute), IncidentID: "P1", Text: "looking at the pool"}
	out, err := s.IngestPagerDuty(ctx, "", note)
	if err != nil || out != incidentbot.OutcomePending {
		t.Fatalf("note first: %s, %v; want pending", out, err)
	}
	var fetch int
	err = db.View(ctx, func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(j *incidentbot.Job) bool {
			if j.Kind == incidentbot.JobFetchIncident && j.PagerID == "P1" {
				fetch++
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fetch != 1 {
		t.Errorf("%d fetch jobs, want 1", fetch)
	}
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	_, tl, _ := state(t, db, "P1")
	if len(tl) != 2 || tl[1].Kind != incidentbot.EntryNote || tl[1].Text != "looking at the pool" || !tl[1].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("timeline = %+v", tl)
	}
	// The fetched copy arriving later changes nothing.
	inc, err := s.OpenFromPagerDuty(ctx, pd("P1", incidentbot.EventTriggered, t0).Incident)
	if err != nil || inc.ID != "INC-1" {
		t.Errorf("OpenFromPagerDuty = %v, %v", inc, err)
	}
}

func TestService_IngestPagerDuty_StatusRules(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	steps := []struct {
		typ  string
		at   time.Duration
		want incidentbot.Status
	}{
		{incidentbot.EventTriggered, 0, incidentbot.StatusTriggered},
		{incidentbot.EventAcknowledged, time.Minute, incidentbot.StatusAcknowledged},
		{incidentbot.EventUnacknowledged, 2 * time.Minute, incidentbot.StatusTriggered},
		{incidentbot.EventAcknowledged, 3 * time.Minute, incidentbot.StatusAcknowledged},
		{incidentbot.EventResolved, 10 * time.Minute, incidentbot.StatusResolved},
		{incidentbot.EventReopened, 11 * time.Minute, incidentbot.StatusTriggered},
		{incidentbot.EventResolved, 12 * time.Minute, incidentbot.StatusResolved},
	}
	for _, st := range steps {
		if _, err := s.IngestPagerDuty(ctx, "", pd("P1", st.typ, t0.Add(st.at))); err != nil {
			t.Fatal(err)
		}
		if inc, _, _ := state(t, db, "P1"); inc.Status != st.want {
			t.Fatalf("after %s: status %s, want %s", st.typ, inc.Status, st.want)
		}
	}
	inc, tl, _ := state(t, db, "P1")
	if !inc.AcknowledgedAt.Equal(t0.Add(time.Minute)) || !inc.ResolvedAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("first acknowledged %v, first resolved %v", inc.AcknowledgedAt, inc.ResolvedAt)
	}
	if len(tl) != len(steps) {
		t.Errorf("%d timeline entries, want %d", len(tl), len(steps))
	}
}

func TestService_IngestPagerDuty_PriorityUpdatedChangesSeverity(t *testing.T) {
	s, db := mustService(t)
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	ev := pd("P1", incidentbot.EventPriorityUpdated, t0.Add(time.Minute))
	ev.Incident.Priority = "P3"
	mustIngest(t, s, "", ev)
	inc, tl, jobs := state(t, db, "P1")
	if inc.Severity != incidentbot.Sev3 || tl[len(tl)-1].Kind != incidentbot.EntrySeverityChanged {
		t.Errorf("severity %s, last entry %s", inc.Severity, tl[len(tl)-1].Kind)
	}
	if count(jobs, incidentbot.JobSetTopic) != 2 {
		t.Errorf("%d topic jobs, want 2 (opening and severity change)", count(jobs, incidentbot.JobSetTopic))
	}
}

func TestService_IngestPagerDuty_UnknownTypeIgnored(t *testing.T) {
	s, _ := mustService(t)
	out, err := s.IngestPagerDuty(context.Background(), "", incidentbot.PagerEvent{ID: "X", Type: "service.updated"})
	if err != nil || out != incidentbot.OutcomeIgnored {
		t.Errorf("got %s, %v; want ignored", out, err)
	}
}

func TestService_IngestPagerDuty_ReopenArrivingBeforeResolve(t *testing.T) {
	s, db := mustService(t)
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustIngest(t, s, "", pd("P1", incidentbot.EventReopened, t0.Add(20*time.Minute)))
	mustIngest(t, s, "", pd("P1", incidentbot.EventResolved, t0.Add(10*time.Minute)))
	inc, _, _ := state(t, db, "P1")
	if inc.Status != incidentbot.StatusTriggered || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("status %s resolved_at %v; want triggered (the reopening is newer) with the first resolution kept", inc.Status, inc.ResolvedAt)
	}
}

func TestService_IngestPagerDuty_FirstEventCarriesPagerDutyStatus(t *testing.T) {
	s, db := mustService(t)
	ev := pd("P1", incidentbot.EventEscalated, t0.Add(5*time.Minute))
	ev.Incident.Status = "acknowledged"
	mustIngest(t, s, "", ev)
	inc, _, _ := state(t, db, "P1")
	if inc.Status != incidentbot.StatusAcknowledged {
		t.Errorf("status %s, want acknowledged as PagerDuty reported", inc.Status)
	}
}

// Our own acknowledgement comes back from PagerDuty: no second entry, but
// the state rules still apply (PagerDuty may have unacknowledged meanwhile).
func TestService_EchoOfOwnAck_NoSecondEntryButStateApplies(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	inc, _, _ := state(t, db, "P1")
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "ack", IncidentID: inc.ID, Actor: incidentbot.Person{ID: "U1", Name: "alice"}}); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, "", pd("P1", incidentbot.EventAcknowledged, time.Now().Add(time.Second)))
	_, tl, jobs := state(t, db, "P1")
	acks := 0
	for _, e := range tl {
		if e.Kind == incidentbot.EntryAcknowledged {
			acks++
		}
	}
	if acks != 1 || count(jobs, incidentbot.JobPagerAck) != 1 {
		t.Errorf("%d ack entries, %d PagerDuty ack jobs; want 1 and 1", acks, count(jobs, incidentbot.JobPagerAck))
	}
}

// Catching up with PagerDuty's REST API records a stand-in; the real
// webhook, arriving later, replaces it rather than adding a second entry.
func TestService_CatchUpThenRealWebhook_OneCurrentEntry(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	pi := pd("P1", incidentbot.EventAcknowledged, t0).Incident
	pi.Status, pi.StatusChangedAt = "acknowledged", t0.Add(40*time.Second)
	fake := fakePager{open: []incidentbot.PagerIncident{*pi}}
	if _, changed, err := s.Reconcile(ctx, fake); err != nil || changed != 1 {
		t.Fatalf("reconcile: %d changed, %v", changed, err)
	}
	mustIngest(t, s, "W-late", pd("P1", incidentbot.EventAcknowledged, t0.Add(30*time.Second)))
	inc, tl, _ := state(t, db, "P1")
	cur := incidentbot.Current(tl)
	acks := 0
	for _, e := range cur {
		if e.Kind == incidentbot.EntryAcknowledged {
			acks++
			if e.Actor.Name != "Alice" {
				t.Errorf("current ack by %q, want the real one (Alice)", e.Actor.Name)
			}
		}
	}
	if acks != 1 || !inc.AcknowledgedAt.Equal(t0.Add(30*time.Second)) {
		t.Errorf("%d current acks, acknowledged at %v", acks, inc.AcknowledgedAt)
	}
	// A second catch-up finds nothing to do.
	if _, changed, err := s.Reconcile(ctx, fake); err != nil || changed != 0 {
		t.Errorf("second reconcile changed %d, %v", changed, err)
	}
}

type fakePager struct{ open []incidentbot.PagerIncident }

func (f fakePager) User(_ context.Context, id string) (incidentbot.PagerUser, error) {
	return incidentbot.PagerUser{ID: id}, nil
}
func (f fakePager) UserByEmail(context.Context, string) (incidentbot.PagerUser, error) {
	return incidentbot.PagerUser{}, incidentbot.Errorf(incidentbot.EREJECTED, "no user")
}
func (f fakePager) EscalationPolicies(context.Context) ([]incidentbot.EscalationPolicy, error) {
	return nil, nil
}
func (f fakePager) RequestResponders(context.Context, string, string, string, string, []incidentbot.ResponderTarget) ([]incidentbot.Person, error) {
	return nil, incidentbot.Errorf(incidentbot.EREJECTED, "not in this fake")
}
func (f fakePager) Incident(_ context.Context, id string) (*incidentbot.PagerIncident, error) {
	for _, p := range f.open {
		if p.ID == id {
			return &p, nil
		}
	}
	return nil, incidentbot.Errorf(incidentbot.ENOTFOUND, "no %s", id)
}
func (f fakePager) OpenIncidents(context.Context) ([]incidentbot.PagerIncident, error) {
	return f.open, nil
}
func (f fakePager) SetStatus(context.Context, string, string, string) error { return nil }
func (f fakePager) AddNote(context.Context, string, string, string) error   { return nil }

// Without a PagerDuty API token nothing is mirrored (and nothing fails).
func TestService_NoPagerSync_NoPagerDutyJobs(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	ctx := context.Background()
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	for _, name := range []string{"ack", "note", "resolve"} {
		if _, err := s.Run(ctx, incidentbot.Cmd{Name: name, IncidentID: "INC-1", Text: "x", Actor: incidentbot.Person{ID: "U1"}}); err != nil {
			t.Fatal(err)
		}
	}
	inc, _, jobs := state(t, db, "P1")
	if n := count(jobs, incidentbot.JobPagerAck) + count(jobs, incidentbot.JobPagerNote) + count(jobs, incidentbot.JobPagerResolve); n != 0 || len(inc.Echoes) != 0 {
		t.Errorf("%d PagerDuty jobs, %d echoes; want none", n, len(inc.Echoes))
	}
}

// An incident resolved in Slack whose resolve has not reached PagerDuty yet
// (the job pending, retrying or dead) is still open there: catching up must
// not take that for a reopening. A change in PagerDuty after our resolve,
// once no resolve of ours is expected back, is one.
func TestService_Reconcile_SlackResolveOnItsWayIsNotAReopen(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	now := t0.Add(10 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "resolve", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "U1", Name: "bob"}}); err != nil {
		t.Fatal(err)
	}
	pi := pd("P1", incidentbot.EventAcknowledged, t0).Incident
	pi.Status = "acknowledged"
	for _, c := range []struct {
		name      string
		changedAt time.Time
		now       time.Time
		reopen    bool
	}{
		{"PagerDuty's last change before our resolve", t0.Add(time.Minute), now.Add(time.Minute), false},
		{"PagerDuty's time unknown", time.Time{}, now.Add(time.Minute), false},
		{"a change after our resolve while ours is not yet in PagerDuty", now.Add(5 * time.Minute), now.Add(26 * time.Hour), false},
		{"a change after our resolve reached PagerDuty", now.Add(2 * time.Hour), now.Add(2*time.Hour + time.Minute), true},
	} {
		if c.reopen {
			// The outbox delivers the resolve to PagerDuty.
			stop := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: &storyChat{}, Pager: fakePager{}, PagerFrom: "oncall@example.com"}).stop
			waitUntil(t, "the resolve sent to PagerDuty", func() bool {
				inc, _, _ := state(t, db, "P1")
				return len(inc.Echoes) == 1 && inc.Echoes[0].Sent
			})
			stop()
		}
		pi.StatusChangedAt = c.changedAt
		s.Now = func() time.Time { return c.now }
		if _, _, err := s.Reconcile(ctx, fakePager{open: []incidentbot.PagerIncident{*pi}}); err != nil {
			t.Fatal(err)
		}
		inc, tl, _ := state(t, db, "P1")
		reopened := false
		for _, e := range tl {
			if e.Kind == incidentbot.EntryReopened {
				reopened = true
			}
		}
		if reopened != c.reopen || (inc.Status == incidentbot.StatusResolved) == c.reopen {
			t.Errorf("%s: status %s, reopened entry %v; want reopened %v", c.name, inc.Status, reopened, c.reopen)
		}
	}
}

// Changing the status of a page that nobody acknowledged acknowledges it:
// the time to acknowledge is recorded, PagerDuty stops escalating, and its
// echo adds nothing.
func TestService_StatusFromTriggeredAcknowledges(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	now := t0.Add(3 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "status", Status: incidentbot.StatusInvestigating, IncidentID: "INC-1", Text: "Looking at the API errors", Actor: incidentbot.Person{ID: "U1", Name: "bob"}}); err != nil {
		t.Fatal(err)
	}
	// PagerDuty tells us about the acknowledgement the bot made.
	echo := pd("P1", incidentbot.EventAcknowledged, now.Add(2*time.Second))
	if _, err := s.IngestPagerDuty(ctx, "W-echo", echo); err != nil {
		t.Fatal(err)
	}
	inc, tl, jobs := state(t, db, "P1")
	if inc.AcknowledgedAt == nil || !inc.AcknowledgedAt.Equal(now) || inc.Status != incidentbot.StatusInvestigating {
		t.Errorf("acknowledged at %v, status %s; want %v, investigating", inc.AcknowledgedAt, inc.Status, now)
	}
	acks := 0
	for _, e := range tl {
		if e.Kind == incidentbot.EntryAcknowledged {
			acks++
		}
	}
	if acks != 1 || count(jobs, incidentbot.JobPagerAck) != 1 {
		t.Errorf("%d ack entries, %d PagerDuty ack jobs; want 1 and 1", acks, count(jobs, incidentbot.JobPagerAck))
	}
	// A second status change is no second acknowledgement.
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "status", Status: incidentbot.StatusIdentified, IncidentID: "INC-1", Actor: incidentbot.Person{ID: "U1", Name: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, jobs := state(t, db, "P1"); count(jobs, incidentbot.JobPagerAck) != 1 {
		t.Errorf("%d PagerDuty ack jobs after a second status change, want 1", count(jobs, incidentbot.JobPagerAck))
	}
}

// PagerDuty may take our acknowledgement hours late (its API was down and
// the outbox kept retrying): its echo still adds no second entry, even
// after other actions in between.
func TestService_LateEchoAfterLongRetries_NoSecondEntry(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	bob := incidentbot.Person{ID: "U1", Name: "bob"}
	mustRun(t, s, incidentbot.Cmd{Name: "ack", IncidentID: "INC-1", Actor: bob})
	now = now.Add(3 * time.Hour)
	mustRun(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", Actor: bob, Text: "still retrying PagerDuty"})
	mustIngest(t, s, "W-echo", pd("P1", incidentbot.EventAcknowledged, now.Add(time.Second)))
	_, tl, _ := state(t, db, "P1")
	if n := kindCount(tl, incidentbot.EntryAcknowledged); n != 1 {
		t.Errorf("%d acknowledgement entries, want 1", n)
	}
}

type refusingPager struct{ fakePager }

func (refusingPager) SetStatus(context.Context, string, string, string) error {
	return incidentbot.Errorf(incidentbot.EREJECTED, "Incident Not Found")
}

// A PagerDuty action that fails for good will never echo: the echo is
// dropped with the dead letter, so a later real event is recorded.
func TestService_DeadPagerDutyAction_DropsItsEcho(t *testing.T) {
	s, db := mustService(t)
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustRun(t, s, incidentbot.Cmd{Name: "ack", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "U1", Name: "bob"}})
	if inc, _, _ := state(t, db, "P1"); len(inc.Echoes) != 1 {
		t.Fatalf("echoes = %+v, want the ack's", inc.Echoes)
	}
	runOutbox(t, &incidentbot.Jobs{Service: s, Chat: &storyChat{}, Pager: refusingPager{}, PagerFrom: "oncall@example.com"})
	// The acknowledgement's job is not the only one to fail for good here
	// (storyChat knows no Slack user for the assignee: the invite fails
	// too, in either order), so it is waited for by its own problem.
	ackProblems := func(inc *incidentbot.Incident) int {
		n := 0
		for _, p := range inc.Problems {
			if p.Job == incidentbot.JobPagerAck {
				n++
			}
		}
		return n
	}
	waitUntil(t, "the acknowledgement's dead letter", func() bool {
		inc, _, _ := state(t, db, "P1")
		return ackProblems(inc) > 0
	})
	inc, _, _ := state(t, db, "P1")
	if len(inc.Echoes) != 0 || ackProblems(inc) != 1 {
		t.Errorf("after the dead letter: echoes %+v, problems %+v; want none and one for %s", inc.Echoes, inc.Problems, incidentbot.JobPagerAck)
	}
}

// A title changed in PagerDuty arrives with the next event that carries the
// incident (here an escalation: no status or severity change). The kickoff
// and the thread followed, but not the announcement (its header is the
// title) nor the public pages (they show the title while no public name is
// set).
func TestPagerDuty_TitleRenamedThere_UpdatesTheAnnouncementAndPublicPages(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	s.Statuspage, s.Site = true, true
	s.PublicSeverities = []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2}
	mustIngest(t, s, "W1", pd("P1", incidentbot.EventTriggered, t0))
	// Drop the jobs of the opening, as if the outbox had done them.
	if err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		var ids []uint64
		if err := tx.Jobs(0, func(j *incidentbot.Job) bool { ids = append(ids, j.ID); return true }); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.DeleteJob(id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ev := pd("P1", incidentbot.EventEscalated, t0.Add(5*time.Minute))
	ev.Incident.Title = "Checkout is down"
	mustIngest(t, s, "W2", ev)
	inc, _, jobs := state(t, db, "P1")
	kinds := map[incidentbot.JobKind]int{}
	for _, j := range jobs {
		kinds[j.Kind]++
	}
	t.Logf("title now %q; jobs: %v", inc.Title, kinds)
	if inc.Title != "Checkout is down" {
		t.Fatalf("title %q", inc.Title)
	}
	if kinds[incidentbot.JobUpdateAnnouncement] == 0 {
		t.Errorf("no update_announcement: the stakeholder post keeps the old title in its header")
	}
	if kinds[incidentbot.JobPublishStatuspage] == 0 || kinds[incidentbot.JobPublishSite] == 0 {
		t.Errorf("no publish_statuspage/publish_site: the public pages keep the old name (no public name set)")
	}
}

// A note typed in Slack is mirrored to PagerDuty and its echo expected; an
// unacknowledgement (PagerDuty's ack timeout) that arrives before the note's
// webhook dropped every expected echo, and the bot's own note came back as a
// second note entry (and a second channel post).
func TestPagerDuty_UnacknowledgedBeforeANotesEcho_NoteRecordedOnce(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	mustIngest(t, s, "", pd("P1", incidentbot.EventAcknowledged, t0.Add(time.Minute)))
	inc, _, _ := state(t, db, "P1")
	now := time.Now()
	if _, err := s.Run(ctx, incidentbot.Cmd{Name: "note", IncidentID: inc.ID, Actor: incidentbot.Person{ID: "U1", Name: "alice"}, Text: "failing over the primary"}); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, "", pd("P1", incidentbot.EventUnacknowledged, now.Add(time.Second)))
	echo := incidentbot.PagerEvent{ID: "N-echo", Type: incidentbot.EventAnnotated, OccurredAt: now.Add(2 * time.Second), IncidentID: "P1",
		Agent: incidentbot.Person{ID: "PALICE", Name: "Alice"}, Text: "failing over the primary"}
	mustIngest(t, s, "W-echo", echo)
	_, tl, _ := state(t, db, "P1")
	notes := 0
	for _, e := range tl {
		if e.Kind == incidentbot.EntryNote {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d note entries for one note typed in Slack, want 1", notes)
	}
}
