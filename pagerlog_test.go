package incidentbot_test

import (
	"context"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

// pulled is ev as pull mode reads it: the log entry's ID, its time in
// whole seconds (PagerDuty's log renders seconds, the webhook milliseconds).
func pulled(ev incidentbot.PagerEvent, logID string) incidentbot.PagerEvent {
	ev.ID, ev.OccurredAt = logID, ev.OccurredAt.Truncate(time.Second)
	return ev
}

func mustIngestLog(t *testing.T, s *incidentbot.Service, cursor string, evs ...incidentbot.PagerEvent) []incidentbot.Outcome {
	t.Helper()
	outs, err := s.IngestPagerDutyLog(context.Background(), evs, cursor)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// TestService_IngestPagerDutyLog_AHappeningDeliveredBothWaysAppliesOnce:
// with webhooks and pull mode both on, the webhook and the log entry of one
// acknowledgement (different IDs, times a second boundary apart) give one
// timeline entry, whichever comes first; a second log entry of the same
// kind later is its own happening.
func TestService_IngestPagerDutyLog_AHappeningDeliveredBothWaysAppliesOnce(t *testing.T) {
	s, db := mustService(t)
	s.Now = func() time.Time { return t0.Add(time.Hour) }
	mustIngest(t, s, "W1", pd("PINC1", incidentbot.EventTriggered, t0.Add(900*time.Millisecond)))
	// The log entry of the trigger, stamped in the next second.
	trig := pulled(pd("PINC1", incidentbot.EventTriggered, t0.Add(time.Second)), "QTRIG")
	ack := pd("PINC1", incidentbot.EventAcknowledged, t0.Add(time.Minute+300*time.Millisecond))
	outs := mustIngestLog(t, s, "c1", trig, pulled(ack, "QACK"))
	if outs[0] != incidentbot.OutcomeDuplicate || outs[1] != incidentbot.OutcomeApplied {
		t.Fatalf("outcomes %v, want the trigger a duplicate of its webhook and the ack applied", outs)
	}
	if got := mustIngest(t, s, "W2", ack); got != incidentbot.OutcomeDuplicate {
		t.Errorf("the ack's webhook after its log entry: %s, want duplicate", got)
	}
	note := pd("PINC1", incidentbot.EventAnnotated, t0.Add(2*time.Minute+500*time.Millisecond))
	note.Incident, note.Text = nil, "Rolling back"
	mustIngest(t, s, "W3", note)
	other := note
	other.Text = "Rollback done"
	outs = mustIngestLog(t, s, "c2", pulled(note, "QNOTE"), pulled(other, "QNOTE2"), pulled(ack, "QACK"))
	if outs[0] != incidentbot.OutcomeDuplicate || outs[1] != incidentbot.OutcomeApplied || outs[2] != incidentbot.OutcomeDuplicate {
		t.Errorf("outcomes %v, want the note's copy a duplicate, another note in the same second applied, the ack's log entry again a duplicate", outs)
	}
	later := pd("PINC1", incidentbot.EventAcknowledged, t0.Add(10*time.Minute))
	if outs := mustIngestLog(t, s, "c3", pulled(later, "QACK2")); outs[0] != incidentbot.OutcomeApplied {
		t.Errorf("a later acknowledgement: %v, want applied", outs)
	}
	_, tl, _ := state(t, db, "PINC1")
	kinds := map[incidentbot.EntryKind]int{}
	for _, e := range tl {
		kinds[e.Kind]++
	}
	if kinds[incidentbot.EntryPaged] != 1 || kinds[incidentbot.EntryAcknowledged] != 2 || kinds[incidentbot.EntryNote] != 2 {
		t.Errorf("timeline kinds %v, want 1 paged, 2 acknowledged, 2 notes", kinds)
	}
	cur, err := s.Cursor(context.Background(), incidentbot.PagerDutyLogCursor)
	if err != nil || cur != "c3" {
		t.Errorf("cursor = %q (%v), want the last batch's", cur, err)
	}
}

// TestService_IngestPagerDutyLog_CursorAndEventsSurviveARestartTogether:
// the cursor is written with the events it covers; after reopening the
// file a re-read of the same entries repeats none of them.
func TestService_IngestPagerDutyLog_CursorAndEventsSurviveARestartTogether(t *testing.T) {
	path := t.TempDir() + "/bot.db"
	db := storetest.MustOpenAt(t, path)
	s := &incidentbot.Service{Store: db, ChannelPrefix: "inc"}
	trig := pulled(pd("PINC2", incidentbot.EventTriggered, t0), "Q1")
	mustIngestLog(t, s, "2025-10-14T03:15:30Z", trig)
	db = storetest.MustReopen(t, db)
	s = &incidentbot.Service{Store: db, ChannelPrefix: "inc"}
	cur, err := s.Cursor(context.Background(), incidentbot.PagerDutyLogCursor)
	if err != nil || cur != "2025-10-14T03:15:30Z" {
		t.Fatalf("cursor after a restart = %q (%v)", cur, err)
	}
	outs := mustIngestLog(t, s, "2025-10-14T03:16:00Z", trig, pulled(pd("PINC2", incidentbot.EventResolved, t0.Add(20*time.Second)), "Q2"))
	if outs[0] != incidentbot.OutcomeDuplicate || outs[1] != incidentbot.OutcomeApplied {
		t.Errorf("outcomes %v, want the re-read trigger a duplicate and the resolve applied", outs)
	}
	inc, tl, _ := state(t, db, "PINC2")
	if inc.Status != incidentbot.StatusResolved || len(tl) != 2 {
		t.Errorf("status %s with %d entries, want resolved with paged + resolved", inc.Status, len(tl))
	}
}

// TestService_IngestPagerDutyLog_TriggerAfterResolutionReopens: the log
// has no reopen type; a trigger after the resolution is the reopening,
// and the reopened webhook of the same happening is its duplicate.
func TestService_IngestPagerDutyLog_TriggerAfterResolutionReopens(t *testing.T) {
	s, db := mustService(t)
	s.Now = func() time.Time { return t0.Add(time.Hour) }
	mustIngestLog(t, s, "c1",
		pulled(pd("PINC3", incidentbot.EventTriggered, t0), "Q1"),
		pulled(pd("PINC3", incidentbot.EventResolved, t0.Add(time.Minute)), "Q2"),
		pulled(pd("PINC3", incidentbot.EventTriggered, t0.Add(2*time.Minute)), "Q3"))
	inc, tl, _ := state(t, db, "PINC3")
	if inc.Status != incidentbot.StatusTriggered || tl[len(tl)-1].Kind != incidentbot.EntryReopened {
		t.Fatalf("status %s, last entry %s; want triggered and reopened", inc.Status, tl[len(tl)-1].Kind)
	}
	if got := mustIngest(t, s, "W", pd("PINC3", incidentbot.EventReopened, t0.Add(2*time.Minute+400*time.Millisecond))); got != incidentbot.OutcomeDuplicate {
		t.Errorf("the reopened webhook after its log entry: %s, want duplicate", got)
	}
}

// TestService_IngestPagerDutyLog_MalformedEntryIsSkippedNotBlocking: an
// entry that names no incident is skipped; the others and the cursor
// commit.
func TestService_IngestPagerDutyLog_MalformedEntryIsSkippedNotBlocking(t *testing.T) {
	s, db := mustService(t)
	bad := pulled(pd("", incidentbot.EventAcknowledged, t0), "QBAD")
	outs := mustIngestLog(t, s, "c1", bad, pulled(pd("PINC4", incidentbot.EventTriggered, t0), "Q1"))
	if outs[0] != incidentbot.OutcomeIgnored || outs[1] != incidentbot.OutcomeApplied {
		t.Errorf("outcomes %v, want ignored then applied", outs)
	}
	if _, tl, _ := state(t, db, "PINC4"); len(tl) != 1 {
		t.Errorf("%d entries, want the paged one", len(tl))
	}
}
