package incidentbot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// An event stamped far in the future (a PagerDuty clock gone wrong, or a
// forged time) is recorded when it arrived, and its entry says so.
func TestService_IngestPagerDuty_FutureTimeIsRecordedAtArrival(t *testing.T) {
	s, db := mustService(t)
	now := t0.Add(10 * time.Minute)
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	mustIngest(t, s, "", pd("P1", incidentbot.EventAcknowledged, future))
	inc, tl, _ := state(t, db, "P1")
	if inc.AcknowledgedAt == nil || !inc.AcknowledgedAt.Equal(now) {
		t.Errorf("acknowledged at %v, want the arrival %v", inc.AcknowledgedAt, now)
	}
	last := tl[len(tl)-1]
	if !last.At.Equal(now) || !strings.Contains(last.Text, "2099-01-01 00:00:00 UTC, in the future") {
		t.Errorf("entry at %v: %q; want it at the arrival, saying PagerDuty's time was in the future", last.At, last.Text)
	}
	// A few seconds ahead (ordinary clock skew) is kept as stamped.
	ahead := now.Add(30 * time.Second)
	mustIngest(t, s, "", pd("P1", incidentbot.EventAnnotated, ahead))
	_, tl, _ = state(t, db, "P1")
	if got := tl[len(tl)-1].At; !got.Equal(ahead) {
		t.Errorf("an event 30 s ahead was recorded at %v, want %v", got, ahead)
	}
}

// Identifiers longer than any real one are malformed input (400), not a
// failure to record (503, retried by PagerDuty for two days).
func TestService_IngestPagerDuty_OversizedIdentifiersAreInvalid(t *testing.T) {
	s, _ := mustService(t)
	ctx := context.Background()
	long := strings.Repeat("x", 60<<10)
	for _, c := range []struct {
		name      string
		webhookID string
		ev        incidentbot.PagerEvent
	}{
		{"X-Webhook-Id", long, pd("P1", incidentbot.EventTriggered, t0)},
		{"event.id", "", func() incidentbot.PagerEvent { e := pd("P1", incidentbot.EventTriggered, t0); e.ID = long; return e }()},
		{"the incident ID", "", func() incidentbot.PagerEvent {
			e := pd("P1", incidentbot.EventTriggered, t0)
			e.IncidentID, e.Incident.ID = long, long
			return e
		}()},
	} {
		_, err := s.IngestPagerDuty(ctx, c.webhookID, c.ev)
		if incidentbot.ErrorCode(err) != incidentbot.EINVALID || !strings.Contains(incidentbot.ErrorMessage(err), c.name) || len(incidentbot.ErrorMessage(err)) > 200 {
			t.Errorf("%s of 60 KB: %v; want a short EINVALID naming it", c.name, err)
		}
	}
	if _, err := s.IngestSlackEvent(ctx, strings.Repeat("E", 40<<10), incidentbot.SlackEvent{Kind: "delete", Channel: "C1", TS: "1.2"}); incidentbot.ErrorCode(err) != incidentbot.EINVALID {
		t.Errorf("a 40 KB Slack event_id: %v, want EINVALID", err)
	}
}

// A signed request seen again (a replay inside Slack's window) is applied
// once and answered as the first time.
func TestService_Run_ReplayedRequestAppliesOnceWithTheFirstAnswer(t *testing.T) {
	s, db := mustService(t)
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	c := incidentbot.Cmd{Name: "action", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "U1", Name: "bob"},
		Action: &incidentbot.ActionItem{Text: "Alert on pool saturation"}, DeliveryKey: "slack-request:abc"}
	first := mustRun(t, s, c)
	again := mustRun(t, s, c)
	if first.Replayed || !again.Replayed || again.Text != first.Text || again.InChannel != first.InChannel {
		t.Errorf("first %+v, replay %+v: want the replay marked and answered the same", first, again)
	}
	inc, _, _ := state(t, db, "P1")
	if len(inc.Actions) != 1 {
		t.Errorf("%d action items after a replay, want 1", len(inc.Actions))
	}
	// Another request (another signature) with the same text is new work.
	c.DeliveryKey = "slack-request:def"
	mustRun(t, s, c)
	if inc, _, _ := state(t, db, "P1"); len(inc.Actions) != 2 {
		t.Errorf("%d action items after a second request, want 2", len(inc.Actions))
	}
}

// With INCIDENTBOT_RESPONDERS set, what reaches the public is for
// responders only; the timeline stays open to everyone.
func TestService_Run_PublicActionsAreForRespondersOnly(t *testing.T) {
	s, _ := mustService(t)
	s.PublicSeverities = []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2}
	s.MayManage = func(id string) bool { return id == "UIC" }
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0)) // P1: sev1, public
	outsider := incidentbot.Person{ID: "UOUT", Name: "visitor"}
	for _, c := range []incidentbot.Cmd{
		{Name: "public", IncidentID: "INC-1", Actor: outsider, Text: "Everything is down"},
		{Name: "status", IncidentID: "INC-1", Actor: outsider, Status: incidentbot.StatusIdentified, Text: "We found it"},
		{Name: "update", IncidentID: "INC-1", Actor: outsider, Text: "Still down"},
		{Name: "declare", Actor: outsider, Text: "Checkout down", Severity: incidentbot.Sev1},
		// No public name: the title is what the public pages show.
		{Name: "title", IncidentID: "INC-1", Actor: outsider, Text: "We were hacked"},
	} {
		if _, err := s.Run(context.Background(), c); incidentbot.ErrorCode(err) != incidentbot.EFORBIDDEN {
			t.Errorf("%s by a non-responder: %v, want EFORBIDDEN", c.Name, err)
		}
	}
	mustRun(t, s, incidentbot.Cmd{Name: "note", IncidentID: "INC-1", Actor: outsider, Text: "I see errors too"})
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Actor: outsider, Text: "Flaky test runner", Severity: incidentbot.Sev3})
	mustRun(t, s, incidentbot.Cmd{Name: "update", IncidentID: "INC-2", Actor: outsider, Text: "Rerunning"}) // not public
	mustRun(t, s, incidentbot.Cmd{Name: "status", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "UIC"}, Status: incidentbot.StatusIdentified, Text: "We found it"})
	mustRun(t, s, incidentbot.Cmd{Name: "title", IncidentID: "INC-2", Actor: outsider, Text: "Flaky CI runner"}) // not public
	// Once a public name is set, the title is internal again.
	mustRun(t, s, incidentbot.Cmd{Name: "public", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "UIC"}, Text: "Checkout errors"})
	mustRun(t, s, incidentbot.Cmd{Name: "title", IncidentID: "INC-1", Actor: outsider, Text: "Pool exhausted in checkout-db"})
	if p, err := s.PublicIncident(context.Background(), "INC-1"); err != nil || p.Name != "Checkout errors" {
		t.Errorf("public name %q (%v), want the responders' “Checkout errors”", p.Name, err)
	}
}

// The answer to a button of an incident the database does not know (an
// old message after a restore) is not tied to that incident, and a job
// whose incident is gone ends as a dead letter instead of retrying forever.
func TestJobs_VanishedIncident_EndsAsADeadLetter(t *testing.T) {
	s, db := mustService(t)
	ctx := context.Background()
	if err := s.Notify(ctx, "INC-41", "https://hooks.slack.com/actions/T1/1/x", "There is no incident INC-41."); err != nil {
		t.Fatal(err)
	}
	// A job left behind by an incident that is no longer there.
	if err := db.Update(ctx, func(tx incidentbot.Tx) error {
		return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobSetTopic, IncidentID: "INC-42", Lane: "INC-42", CreatedAt: t0, NextAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	chat := &countingChat{}
	run := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "the dead letter", func() bool { return run.Stats().DeadLetters == 1 && run.Stats().Depth == 0 })
	var dead []*incidentbot.Job
	if err := db.View(ctx, func(tx incidentbot.Tx) error {
		var err error
		dead, err = tx.DeadLetters()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].IncidentID != "INC-42" || chat.responds() != 1 {
		t.Errorf("dead letters %+v, %d responses; want the INC-42 job dead and the answer sent", dead, chat.responds())
	}
}

// countingChat is a storyChat that counts invitations and responses.
type countingChat struct {
	storyChat
	mu       sync.Mutex
	invites  map[string]int
	response int
}

func (c *countingChat) Invite(_ context.Context, _ string, users ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.invites == nil {
		c.invites = map[string]int{}
	}
	for _, u := range users {
		c.invites[u]++
	}
	return nil
}

func (c *countingChat) Respond(context.Context, string, incidentbot.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.response++
	return nil
}

func (c *countingChat) responds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.response
}

func (c *countingChat) invitesOf(u string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invites[u]
}

// A person invited once is not invited again (the declarer who then takes
// command, a commander assigned twice).
func TestJobs_Invite_SamePersonOnce(t *testing.T) {
	s, db := mustService(t)
	bob := incidentbot.Person{ID: "UBOB", Name: "bob"}
	mustRun(t, s, incidentbot.Cmd{Name: "declare", Actor: bob, Text: "Queue backlog"})
	mustRun(t, s, incidentbot.Cmd{Name: "commander", IncidentID: "INC-1", Actor: bob})
	mustRun(t, s, incidentbot.Cmd{Name: "role", Role: incidentbot.RoleScribe, IncidentID: "INC-1", Actor: bob})
	chat := &countingChat{}
	run := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "the outbox drained", func() bool { return run.Stats().Depth == 0 && storedJobs(t, db) == 0 })
	if n := chat.invitesOf("UBOB"); n != 1 {
		t.Errorf("bob invited %d times, want once", n)
	}
}

// storedJobs counts the jobs in the outbox.
func storedJobs(t *testing.T, db incidentbot.Store) int {
	t.Helper()
	n := 0
	if err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(*incidentbot.Job) bool { n++; return true })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
