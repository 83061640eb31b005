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
)

// memTracker is a tracker in memory: issues by key, with done states a
// test changes as a person in the tracker would.
type memTracker struct {
	name   string
	mu     sync.Mutex
	issues map[string]*incidentbot.TrackerIssue
	order  []string
	closes int
	fail   error
}

func newMemTracker(name string) *memTracker {
	return &memTracker{name: name, issues: map[string]*incidentbot.TrackerIssue{}}
}

func (m *memTracker) Name() string { return m.name }

func (m *memTracker) Create(_ context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return incidentbot.TrackerIssue{}, m.fail
	}
	key := fmt.Sprintf("%s-%d", strings.ToUpper(m.name[:3]), len(m.order)+1)
	is := &incidentbot.TrackerIssue{Key: key, URL: "https://tracker.example/" + key, IncidentID: it.IncidentID, N: it.N, Status: "To Do"}
	m.issues[key] = is
	m.order = append(m.order, key)
	return *is, nil
}

func (m *memTracker) Close(_ context.Context, key string) (incidentbot.TrackerIssue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closes++
	is := m.issues[key]
	is.Done, is.Status = true, "Done"
	return *is, nil
}

func (m *memTracker) Changed(context.Context, time.Time) ([]incidentbot.TrackerIssue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []incidentbot.TrackerIssue
	for _, k := range m.order {
		out = append(out, *m.issues[k])
	}
	return out, nil
}

func (m *memTracker) set(key string, done bool, status string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	is := m.issues[key]
	is.Done, is.Status, is.UpdatedAt = done, status, at
}

// runJobs performs the stored jobs of the given kinds, oldest first, until
// none is left.
func runJobs(t *testing.T, js *incidentbot.Jobs, db *store.DB, kinds ...incidentbot.JobKind) {
	t.Helper()
	for range 10 {
		var todo []*incidentbot.Job
		if err := db.View(context.Background(), func(tx incidentbot.Tx) error {
			return tx.Jobs(0, func(j *incidentbot.Job) bool {
				for _, k := range kinds {
					if j.Kind == k {
						todo = append(todo, j)
					}
				}
				return true
			})
		}); err != nil {
			t.Fatal(err)
		}
		if len(todo) == 0 {
			return
		}
		for _, j := range todo {
			if err := js.Perform(context.Background(), j); err != nil {
				t.Fatalf("job %s: %v", j.Kind, err)
			}
		}
	}
}

func trackedSetup(t *testing.T) (*incidentbot.Service, *incidentbot.Jobs, *store.DB, *memTracker, *memTracker, *time.Time) {
	t.Helper()
	s, db := mustService(t)
	now := t0
	s.Now = func() time.Time { return now }
	jira, gh := newMemTracker(incidentbot.TrackerJira), newMemTracker(incidentbot.TrackerGitHub)
	s.Trackers = []string{jira.Name(), gh.Name()}
	js := &incidentbot.Jobs{Service: s, Trackers: map[string]incidentbot.Tracker{jira.Name(): jira, gh.Name(): gh}}
	mustIngest(t, s, "", pd("PINC1", "incident.triggered", t0))
	for _, text := range []string{"Add a canary", "Page on config drift"} {
		mustRun(t, s, incidentbot.Cmd{Name: "action", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "UALICE"}, Action: &incidentbot.ActionItem{Text: text}})
	}
	return s, js, db, jira, gh, &now
}

func TestTracker_ActionItem_IsCreatedInEachTrackerOnce(t *testing.T) {
	_, js, db, jira, gh, _ := trackedSetup(t)
	runJobs(t, js, db, incidentbot.JobTrackerCreate)
	inc, tl, _ := state(t, db, "PINC1")
	for _, a := range inc.Actions {
		if len(a.Tracked) != 2 || a.TrackedIn(incidentbot.TrackerJira) == nil || a.TrackedIn(incidentbot.TrackerGitHub) == nil {
			t.Errorf("item %d tracked = %+v", a.N, a.Tracked)
		}
	}
	if len(jira.order) != 2 || len(gh.order) != 2 {
		t.Fatalf("issues: jira %v, github %v", jira.order, gh.order)
	}
	tracked := 0
	for _, e := range tl {
		if strings.Contains(e.Text, "is tracked in Jira as JIR-") {
			tracked++
		}
	}
	if tracked != 2 {
		t.Errorf("%d 'tracked in Jira' entries, want 2", tracked)
	}
}

func TestTracker_DoneFromSlack_ClosesTheIssues(t *testing.T) {
	s, js, db, jira, gh, _ := trackedSetup(t)
	runJobs(t, js, db, incidentbot.JobTrackerCreate)
	mustRun(t, s, incidentbot.Cmd{Name: "action done", IncidentID: "INC-1", N: 1, Actor: incidentbot.Person{ID: "UALICE"}})
	runJobs(t, js, db, incidentbot.JobTrackerClose)
	if !jira.issues["JIR-1"].Done || !gh.issues["GIT-1"].Done || jira.issues["JIR-2"].Done {
		t.Fatalf("jira %+v, github %+v", jira.issues, gh.issues)
	}
	inc, _, _ := state(t, db, "PINC1")
	if ti := inc.Actions[0].TrackedIn(incidentbot.TrackerJira); !ti.Done || ti.Status != "Done" {
		t.Errorf("tracked = %+v", ti)
	}
}

func TestTracker_DoneBeforeTheIssueExists_ClosesItOnceMade(t *testing.T) {
	s, js, db, jira, _, _ := trackedSetup(t)
	mustRun(t, s, incidentbot.Cmd{Name: "action done", IncidentID: "INC-1", N: 2, Actor: incidentbot.Person{ID: "UALICE"}})
	runJobs(t, js, db, incidentbot.JobTrackerCreate, incidentbot.JobTrackerClose)
	if !jira.issues["JIR-2"].Done {
		t.Fatalf("the issue of an item done before it was made is open: %+v", jira.issues["JIR-2"])
	}
}

func TestTracker_SyncTracker_DoneAndReopenedThereFollowOnTheItem(t *testing.T) {
	s, js, db, jira, gh, now := trackedSetup(t)
	runJobs(t, js, db, incidentbot.JobTrackerCreate)
	*now = t0.Add(time.Hour)
	jira.set("JIR-2", true, "Done", t0.Add(50*time.Minute))
	n, err := s.SyncTracker(context.Background(), jira, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("sync: %d, %v", n, err)
	}
	inc, tl, jobs := state(t, db, "PINC1")
	a := inc.Actions[1]
	if a.Status != "done" || a.DoneAt == nil || !a.DoneAt.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("item = %+v", a)
	}
	if last := tl[len(tl)-1]; !strings.Contains(last.Text, "Action item 2 done in Jira (JIR-2)") || !last.At.Equal(t0.Add(50*time.Minute)) {
		t.Errorf("last entry = %+v", last)
	}
	if count(jobs, incidentbot.JobTrackerClose) != 1 {
		t.Errorf("the GitHub issue is not closed after Jira's done")
	}
	runJobs(t, js, db, incidentbot.JobTrackerClose)
	if !gh.issues["GIT-2"].Done {
		t.Error("GitHub issue still open")
	}
	// Reading the same again changes nothing.
	if n, err := s.SyncTracker(context.Background(), jira, time.Minute); err != nil || n != 0 {
		t.Fatalf("second sync: %d, %v", n, err)
	}
	jira.set("JIR-2", false, "To Do", t0.Add(70*time.Minute))
	*now = t0.Add(80 * time.Minute)
	if n, err := s.SyncTracker(context.Background(), jira, time.Minute); err != nil || n != 1 {
		t.Fatalf("reopen sync: %d, %v", n, err)
	}
	inc, tl, _ = state(t, db, "PINC1")
	if a := inc.Actions[1]; a.Status != "open" || a.DoneAt != nil || a.TrackedIn(incidentbot.TrackerJira).Status != "To Do" {
		t.Fatalf("reopened item = %+v", a)
	}
	if last := tl[len(tl)-1]; !strings.Contains(last.Text, "reopened in Jira") {
		t.Errorf("last entry = %q", last.Text)
	}
	var cur string
	if err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		var err error
		cur, err = tx.Cursor(incidentbot.TrackerCursor(incidentbot.TrackerJira))
		return err
	}); err != nil || cur != t0.Add(80*time.Minute).Format(time.RFC3339) {
		t.Errorf("cursor = %q, %v", cur, err)
	}
}

func TestTracker_SyncTracker_DoneInSlackWhileItsCloseWaits_IsNotReopened(t *testing.T) {
	s, js, db, jira, _, _ := trackedSetup(t)
	runJobs(t, js, db, incidentbot.JobTrackerCreate)
	mustRun(t, s, incidentbot.Cmd{Name: "action done", IncidentID: "INC-1", N: 1, Actor: incidentbot.Person{ID: "UALICE"}})
	// The close job has not run: Jira still says open.
	if n, err := s.SyncTracker(context.Background(), jira, time.Minute); err != nil || n != 0 {
		t.Fatalf("sync: %d, %v", n, err)
	}
	if inc, _, _ := state(t, db, "PINC1"); inc.Actions[0].Status != "done" {
		t.Fatalf("item reopened by a poll that ran before its close: %+v", inc.Actions[0])
	}
}

func TestTracker_PermanentRefusal_IsToldOnce(t *testing.T) {
	_, js, db, jira, _, _ := trackedSetup(t)
	jira.fail = incidentbot.Errorf(incidentbot.EREJECTED, "jira: create issue: Jira answered 400: project: valid project is required")
	var failed *incidentbot.Job
	if err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(j *incidentbot.Job) bool {
			if j.Kind == incidentbot.JobTrackerCreate && j.Tracker == incidentbot.TrackerJira {
				failed = j
				return false
			}
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
	err := js.Perform(context.Background(), failed)
	if incidentbot.IsTransient(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if err := js.Fail(context.Background(), failed, err); err != nil {
		t.Fatal(err)
	}
	inc, _, _ := state(t, db, "PINC1")
	if len(inc.Problems) != 1 || !strings.Contains(inc.Problems[0].Message, "could not create the Jira issue of action item 1: jira: create issue: Jira answered 400: project: valid project is required") {
		t.Fatalf("problems = %+v", inc.Problems)
	}
}

func TestFollowups_WeeklyOverdueList_PostedOncePerWeek(t *testing.T) {
	s, db := mustService(t)
	now := time.Date(2025, 10, 20, 9, 30, 0, 0, time.UTC) // a Monday
	s.Now = func() time.Time { return now }
	mustIngest(t, s, "", pd("PINC1", "incident.triggered", t0))
	for _, a := range []incidentbot.ActionItem{
		{Text: "Overdue one", Due: "2025-10-15", Owner: &incidentbot.Person{ID: "UALICE", Name: "Alice Chen"}},
		{Text: "Due later", Due: "2025-12-01"},
		{Text: "No date"},
	} {
		mustRun(t, s, incidentbot.Cmd{Name: "action", IncidentID: "INC-1", Actor: incidentbot.Person{ID: "UBOB"}, Action: &a})
	}
	r := mustRun(t, s, incidentbot.Cmd{Name: "followups", Actor: incidentbot.Person{ID: "UBOB"}})
	lines := strings.Split(strings.TrimSpace(r.Text), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "3, 1 overdue") || !strings.Contains(lines[1], "Overdue one") || !strings.Contains(lines[1], "*overdue* (due 2025-10-15)") || !strings.Contains(lines[1], "<@UALICE>") || !strings.Contains(lines[2], "Due later") || !strings.Contains(lines[3], "No date") {
		t.Fatalf("followups:\n%s", r.Text)
	}
	posted := func() int {
		_, _, jobs := state(t, db, "PINC1")
		return count(jobs, incidentbot.JobFollowups)
	}
	if n, err := s.CheckFollowups(context.Background()); err != nil || n != 1 || posted() != 1 {
		t.Fatalf("first check: %d, %v, %d jobs", n, err, posted())
	}
	now = now.Add(3 * 24 * time.Hour)
	if n, err := s.CheckFollowups(context.Background()); err != nil || n != 0 || posted() != 1 {
		t.Fatalf("same week: %d, %v, %d jobs", n, err, posted())
	}
	now = time.Date(2025, 10, 27, 9, 1, 0, 0, time.UTC) // the next Monday's slot
	if n, err := s.CheckFollowups(context.Background()); err != nil || n != 1 || posted() != 2 {
		t.Fatalf("next week: %d, %v, %d jobs", n, err, posted())
	}
}

func TestFollowupsSlot_IsTheLatestMondayNineUTC(t *testing.T) {
	for at, want := range map[string]string{
		"2025-10-20T09:00:00Z": "2025-10-20T09:00:00Z",
		"2025-10-20T08:59:00Z": "2025-10-13T09:00:00Z",
		"2025-10-26T23:00:00Z": "2025-10-20T09:00:00Z",
		"2025-10-22T12:00:00Z": "2025-10-20T09:00:00Z",
	} {
		now, _ := time.Parse(time.RFC3339, at)
		if got := incidentbot.FollowupsSlot(now).Format(time.RFC3339); got != want {
			t.Errorf("FollowupsSlot(%s) = %s, want %s", at, got, want)
		}
	}
}

func TestItemLabel_RoundTrips(t *testing.T) {
	id, n, ok := incidentbot.ParseItemLabel(incidentbot.ItemLabel("INC-12", 3))
	if !ok || id != "INC-12" || n != 3 {
		t.Fatalf("= %s %d %v", id, n, ok)
	}
	for _, bad := range []string{"INC-12", "inc-x-action-3", "INC-12-action-03", "INC-12-action-0", "INC-12-action-", "foo-action-1"} {
		if _, _, ok := incidentbot.ParseItemLabel(bad); ok {
			t.Errorf("ParseItemLabel(%q) accepted", bad)
		}
	}
}

// An action item left open on an incident resolved years ago is still a
// follow-up (the stores' index of open items, not a window of recent
// resolutions), and one marked done drops off.
func TestFollowups_AnOldIncidentsOpenItemIsListed(t *testing.T) {
	s, _ := mustService(t)
	old := t0.AddDate(-3, 0, 0)
	s.Now = func() time.Time { return old }
	mustIngest(t, s, "", pd("POLD", "incident.triggered", old))
	bob := incidentbot.Person{ID: "UBOB"}
	mustRun(t, s, incidentbot.Cmd{Name: "action", IncidentID: "INC-1", Actor: bob, Action: &incidentbot.ActionItem{Text: "Replace the failing disk array"}})
	mustRun(t, s, incidentbot.Cmd{Name: "resolve", IncidentID: "INC-1", Actor: bob})
	s.Now = func() time.Time { return t0 }
	r := mustRun(t, s, incidentbot.Cmd{Name: "followups", Actor: bob})
	if !strings.Contains(r.Text, "Replace the failing disk array") {
		t.Fatalf("followups three years on:\n%s", r.Text)
	}
	mustRun(t, s, incidentbot.Cmd{Name: "action done", IncidentID: "INC-1", N: 1, Actor: bob})
	if r := mustRun(t, s, incidentbot.Cmd{Name: "followups", Actor: bob}); strings.Contains(r.Text, "Replace the failing disk array") {
		t.Errorf("a done item is still a follow-up:\n%s", r.Text)
	}
}

// Jira: JIR-2 moved to Done at T1 (delivery A, its first attempt answered
// 503), then back to To Do at T2 (delivery B, applied). Jira retries A
// later: its state is older than the one applied, and it marked the item
// done and queued the close of the GitHub issue.
func TestTrackers_AnOlderStateRetriedAfterANewer_IsNotApplied(t *testing.T) {
	s, js, db, _, _, now := trackedSetup(t)
	runJobs(t, js, db, incidentbot.JobTrackerCreate)
	ctx := context.Background()
	t1, t2 := t0.Add(50*time.Minute), t0.Add(51*time.Minute)
	*now = t0.Add(52 * time.Minute)
	base := incidentbot.TrackerIssue{Key: "JIR-2", IncidentID: "INC-1", N: 2}
	b := base
	b.Done, b.Status, b.UpdatedAt = false, "To Do", t2
	if _, _, err := s.ObserveTracker(ctx, incidentbot.TrackerJira, "jira-delivery:B", []incidentbot.TrackerIssue{b}); err != nil {
		t.Fatal(err)
	}
	*now = t0.Add(60 * time.Minute)
	a := base
	a.Done, a.Status, a.UpdatedAt = true, "Done", t1
	out, n, err := s.ObserveTracker(ctx, incidentbot.TrackerJira, "jira-delivery:A", []incidentbot.TrackerIssue{a})
	if err != nil {
		t.Fatal(err)
	}
	inc, _, jobs := state(t, db, "PINC1")
	t.Logf("retry of A: %s, %d changed; item 2 = %s; close jobs %d", out, n, inc.Actions[1].Status, count(jobs, incidentbot.JobTrackerClose))
	if inc.Actions[1].Status == "done" || count(jobs, incidentbot.JobTrackerClose) > 0 {
		t.Errorf("a delivery older than the applied state (issue updated %s < %s) marked the item done and queued closing the GitHub issue", t1.Format("15:04"), t2.Format("15:04"))
	}
}
