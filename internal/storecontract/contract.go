// Package storecontract is the behaviour every incidentbot.Store must
// have, as one table of tests that each store's package runs against its
// own implementation: internal/store (bbolt) and internal/postgres (a real
// PostgreSQL server).
//
//	func TestContract(t *testing.T) {
//		storecontract.Run(t, func(t *testing.T) incidentbot.Store { return storetest.MustOpen(t) })
//	}
//
// A new Tx method gets its rows here, so both stores stay honest. It is
// imported by tests only.
package storecontract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Opener returns a new, empty store that lives until the test ends.
type Opener func(t *testing.T) incidentbot.Store

// Case is one row of the contract.
type Case struct {
	Name string
	Run  func(t *testing.T, s incidentbot.Store)
}

// Run runs every case against a fresh store from open.
func Run(t *testing.T, open Opener) {
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, open(t)) })
	}
}

// Cases is the contract.
var Cases = []Case{
	{"Update_IncidentFoundByIDPagerDutyAndChannel", incidentLookups},
	{"Update_FailedFunctionLeavesNothing", failedLeavesNothing},
	{"Update_ConcurrentFailuresDoNotSinkOthers", failuresDoNotSinkOthers},
	{"Update_PanicIsAnError", panicIsAnError},
	{"Tx_Lookups_UnknownIsNotFound", unknownIsNotFound},
	{"Tx_NextIncidentNumber_SequentialWithoutGaps", numbersWithoutGaps},
	{"Tx_NextIncidentNumber_ConcurrentAreUnique", numbersConcurrent},
	{"Tx_SeenDelivery_ConcurrentCheckThenMarkLetsOneThrough", dedupeRace},
	{"Tx_MarkDelivery_AgainAndForget", markAgainAndForget},
	{"Tx_MarkAnswered_AReplayReadsTheAnswer", answers},
	{"Tx_PutIncident_OnePerPagerDutyIncidentUnderConcurrentOpens", oneIncidentPerPagerDuty},
	{"Tx_PutIncident_ConcurrentChangesAreNotLost", noLostUpdates},
	{"Tx_PutIncident_ChangesReadFromAListAreNotLost", noLostUpdatesFromLists},
	{"Tx_PutIncident_OddBytesRoundTrip", oddBytes},
	{"Tx_ListIncidents_NewestFirstWithCursor", listNewestFirst},
	{"Tx_ListIncidents_ByStatus", listByStatus},
	{"Tx_ResolvedSince_FollowsReopeningAndNewResolution", resolvedSince},
	{"Tx_ServiceIncidents_ByIDOrNameNewestFirstAndBounded", serviceIncidents},
	{"Tx_TitleIncidents_SharedWordsNewestFirstFollowingRenames", titleIncidents},
	{"Tx_TitleIncidents_ReadsAtMostTitleScanPerWord", titleScanBound},
	{"Tx_StormIncidents_UntilAnnounced", stormIncidents},
	{"Tx_ActionIncidents_WhileAnItemIsOpenWhateverTheirAge", actionIncidents},
	{"Tx_OpenIncidents_NewestFirst", openIncidents},
	{"Tx_AppendEntry_ConsecutiveSeqsUnderConcurrentWriters", appendConcurrent},
	{"Tx_AppendEntry_RolledBackTakesNoSeq", appendRolledBack},
	{"Tx_AppendEntry_BeforeItsIncidentIsPut", appendBeforePut},
	{"Tx_Jobs_EnqueueUpdateDeleteInIDOrder", jobsBasics},
	{"Tx_Jobs_ALaneIsNeverSeenWithAGapThatFillsLater", laneOrder},
	{"Tx_DeadLetters_Kept", deadLetters},
	{"Tx_Pending_TakeRemovesThem", pendingEvents},
	{"Tx_SetCursor_KeptWithItsTransactionOnly", cursors},
	{"Tx_PutProfile_ReplacesAndListsInIDOrder", profiles},
	{"Tx_PutProfile_RolledBackLeavesNothing", profilesRolledBack},
	{"View_LongReadStopsWhenItsContextEnds", longReadStops},
	{"Store_PruneDeliveries_KeepsRecent", pruneDeliveries},
	{"Store_Writable", writable},
}

var i0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func update(t *testing.T, s incidentbot.Store, fn func(tx incidentbot.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s incidentbot.Store, fn func(tx incidentbot.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// newIncident reserves a number and stores an incident shaped by each.
func newIncident(tx incidentbot.Tx, each func(inc *incidentbot.Incident)) (*incidentbot.Incident, error) {
	n, err := tx.NextIncidentNumber()
	if err != nil {
		return nil, err
	}
	inc := &incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n, Status: incidentbot.StatusTriggered, OpenedAt: i0.Add(time.Duration(n) * time.Hour)}
	if each != nil {
		each(inc)
	}
	return inc, tx.PutIncident(inc)
}

// putIncidents stores incidents 1..n, shaped by each.
func putIncidents(t *testing.T, s incidentbot.Store, n int, each func(inc *incidentbot.Incident)) {
	t.Helper()
	update(t, s, func(tx incidentbot.Tx) error {
		for range n {
			if _, err := newIncident(tx, each); err != nil {
				return err
			}
		}
		return nil
	})
}

func numbers(incs []*incidentbot.Incident) []int {
	out := make([]int, len(incs))
	for i, inc := range incs {
		out[i] = inc.Number
	}
	return out
}

func resolve(inc *incidentbot.Incident, at time.Time) {
	inc.Status = incidentbot.StatusResolved
	inc.ResolvedAt = &at
}

func incidentLookups(t *testing.T, s incidentbot.Store) {
	update(t, s, func(tx incidentbot.Tx) error {
		inc, err := newIncident(tx, func(inc *incidentbot.Incident) {
			inc.Title, inc.PagerDuty, inc.ChannelID = "disk full", &incidentbot.PagerLink{ID: "PABC"}, "C1"
		})
		if err != nil {
			return err
		}
		if err := tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "one"}); err != nil {
			return err
		}
		return tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "two"})
	})
	view(t, s, func(tx incidentbot.Tx) error {
		for _, get := range []func() (*incidentbot.Incident, error){
			func() (*incidentbot.Incident, error) { return tx.Incident("INC-1") },
			func() (*incidentbot.Incident, error) { return tx.IncidentByPagerDutyID("PABC") },
			func() (*incidentbot.Incident, error) { return tx.IncidentByChannel("C1") },
		} {
			inc, err := get()
			if err != nil {
				return err
			}
			if got, want := inc.Title, "disk full"; got != want {
				t.Errorf("title = %q, want %q", got, want)
			}
		}
		tl, err := tx.Timeline("INC-1")
		if err != nil {
			return err
		}
		if len(tl) != 2 || tl[0].Text != "one" || tl[1].Text != "two" || tl[0].Seq != 1 || tl[1].Seq != 2 {
			t.Errorf("timeline = %+v, want one (seq 1) then two (seq 2)", tl)
		}
		return nil
	})
	// A channel recorded later is found too, and the old index follows a
	// change of PagerDuty ID.
	update(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		inc.ChannelID = "C2"
		return tx.PutIncident(inc)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.IncidentByChannel("C2")
		if err != nil {
			return err
		}
		if inc.ID != "INC-1" {
			t.Errorf("channel C2 → %s, want INC-1", inc.ID)
		}
		return nil
	})
}

func failedLeavesNothing(t *testing.T, s incidentbot.Store) {
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
		if err := tx.MarkDelivery("k", i0); err != nil {
			return err
		}
		if _, err := newIncident(tx, nil); err != nil {
			return err
		}
		if err := tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	view(t, s, func(tx incidentbot.Tx) error {
		seen, err := tx.SeenDelivery("k")
		if err != nil {
			return err
		}
		_, ierr := tx.Incident("INC-1")
		jobs := 0
		if err := tx.Jobs(0, func(*incidentbot.Job) bool { jobs++; return true }); err != nil {
			return err
		}
		if seen || incidentbot.ErrorCode(ierr) != incidentbot.ENOTFOUND || jobs != 0 {
			t.Errorf("after a failed Update: delivery seen %v, incident err %v, %d jobs; want nothing kept", seen, ierr, jobs)
		}
		return nil
	})
}

func failuresDoNotSinkOthers(t *testing.T, s incidentbot.Store) {
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 64)
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx incidentbot.Tx) error {
				if err := tx.MarkDelivery(key(i), time.Now()); err != nil {
					return err
				}
				if i%7 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	view(t, s, func(tx incidentbot.Tx) error {
		for i, err := range errs {
			seen, serr := tx.SeenDelivery(key(i))
			if serr != nil {
				return serr
			}
			if i%7 == 0 {
				if !errors.Is(err, boom) || seen {
					t.Errorf("member %d: err=%v seen=%v, want boom and rolled back", i, err, seen)
				}
			} else if err != nil || !seen {
				t.Errorf("member %d: err=%v seen=%v, want committed", i, err, seen)
			}
		}
		return nil
	})
}

func panicIsAnError(t *testing.T, s incidentbot.Store) {
	if err := s.Update(context.Background(), func(incidentbot.Tx) error { panic("bad") }); err == nil {
		t.Fatal("want an error from a panicking function")
	}
	if err := s.Update(context.Background(), func(tx incidentbot.Tx) error { return tx.MarkDelivery("after", i0) }); err != nil {
		t.Fatalf("store unusable after a panic: %v", err)
	}
}

func unknownIsNotFound(t *testing.T, s incidentbot.Store) {
	view(t, s, func(tx incidentbot.Tx) error {
		for name, get := range map[string]func() (*incidentbot.Incident, error){
			"Incident":              func() (*incidentbot.Incident, error) { return tx.Incident("INC-99") },
			"Incident(bad id)":      func() (*incidentbot.Incident, error) { return tx.Incident("nope") },
			"IncidentByPagerDutyID": func() (*incidentbot.Incident, error) { return tx.IncidentByPagerDutyID("PNONE") },
			"IncidentByChannel":     func() (*incidentbot.Incident, error) { return tx.IncidentByChannel("CNONE") },
		} {
			if _, err := get(); incidentbot.ErrorCode(err) != incidentbot.ENOTFOUND {
				t.Errorf("%s of an unknown incident: %v, want ENOTFOUND", name, err)
			}
		}
		tl, err := tx.Timeline("INC-99")
		if err != nil || len(tl) != 0 {
			t.Errorf("Timeline of an unknown incident = %v, %v; want none", tl, err)
		}
		return nil
	})
}

func numbersWithoutGaps(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 2, nil)
	boom := errors.New("boom")
	if err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
		if _, err := tx.NextIncidentNumber(); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var n int
	update(t, s, func(tx incidentbot.Tx) error {
		var err error
		n, err = tx.NextIncidentNumber()
		return err
	})
	if n != 3 {
		t.Errorf("number after 1, 2 and a rolled-back reservation = %d, want 3", n)
	}
}

func numbersConcurrent(t *testing.T, s incidentbot.Store) {
	const writers = 24
	got := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				inc, err := newIncident(tx, nil)
				if err != nil {
					return err
				}
				got[i] = inc.Number
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("numbers = %v, want 1..%d each once", got, writers)
		}
	}
}

// dedupeRace: many transactions check a delivery key and mark it when it
// is absent, at once: exactly one of them may find it absent and commit.
func dedupeRace(t *testing.T, s incidentbot.Store) {
	const writers = 16
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := false
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				first = false
				seen, err := tx.SeenDelivery("pd-webhook:W1")
				if err != nil || seen {
					return err
				}
				first = true
				if err := tx.MarkDelivery("pd-webhook:W1", i0); err != nil {
					return err
				}
				_, err = newIncident(tx, nil)
				return err
			})
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d transactions committed as the first to see the key, want 1", n)
	}
	view(t, s, func(tx incidentbot.Tx) error {
		incs, err := tx.ListIncidents(0, 0, "")
		if err != nil {
			return err
		}
		if len(incs) != 1 {
			t.Errorf("%d incidents, want 1 (one per delivery)", len(incs))
		}
		return nil
	})
}

func markAgainAndForget(t *testing.T, s incidentbot.Store) {
	update(t, s, func(tx incidentbot.Tx) error { return tx.MarkDelivery("k", i0) })
	// Marking a key that exists (without reading it) is fine.
	update(t, s, func(tx incidentbot.Tx) error { return tx.MarkDelivery("k", i0.Add(time.Hour)) })
	update(t, s, func(tx incidentbot.Tx) error {
		seen, err := tx.SeenDelivery("k")
		if err != nil || !seen {
			return fmt.Errorf("seen = %v, %v; want true", seen, err)
		}
		return tx.MarkDelivery("k", i0.Add(2*time.Hour))
	})
	update(t, s, func(tx incidentbot.Tx) error { return tx.ForgetDelivery("k") })
	view(t, s, func(tx incidentbot.Tx) error {
		seen, err := tx.SeenDelivery("k")
		if seen {
			t.Error("a forgotten key is still seen")
		}
		return err
	})
}

// answers: a key recorded with its answer reads back with it (and is seen
// like any delivery); a key recorded with MarkDelivery has no answer; an
// unknown key is not ok. Concurrent first answers: one wins, the others
// read it on their retry.
func answers(t *testing.T, s incidentbot.Store) {
	update(t, s, func(tx incidentbot.Tx) error {
		if err := tx.MarkAnswered("slack-request:a", i0, []byte(`{"text":"Noted."}`)); err != nil {
			return err
		}
		return tx.MarkDelivery("plain", i0)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		ans, ok, err := tx.DeliveryAnswer("slack-request:a")
		if err != nil {
			return err
		}
		if !ok || string(ans) != `{"text":"Noted."}` {
			t.Errorf("answer = %q, %v; want the recorded one", ans, ok)
		}
		if seen, err := tx.SeenDelivery("slack-request:a"); err != nil || !seen {
			t.Errorf("an answered key is not seen (%v)", err)
		}
		if ans, ok, err := tx.DeliveryAnswer("plain"); err != nil || !ok || len(ans) != 0 {
			t.Errorf("a plain delivery key: answer %q, ok %v, err %v; want empty, true, nil", ans, ok, err)
		}
		if _, ok, err := tx.DeliveryAnswer("unknown"); err != nil || ok {
			t.Errorf("an unknown key: ok %v, err %v; want false, nil", ok, err)
		}
		return nil
	})
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				ans, ok, err := tx.DeliveryAnswer("slack-request:b")
				if err != nil {
					return err
				}
				if ok {
					got[i] = string(ans)
					return nil
				}
				got[i] = fmt.Sprintf("answer %d", i)
				return tx.MarkAnswered("slack-request:b", i0, []byte(got[i]))
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatalf("concurrent first answers: %q; want one answer for all", got)
		}
	}
}

// oneIncidentPerPagerDuty: transactions that each look the PagerDuty
// incident up and open it when it is unknown, at once, end with one
// incident; the others find it.
func oneIncidentPerPagerDuty(t *testing.T, s incidentbot.Store) {
	const writers = 16
	var opened atomic.Int32
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			didOpen := false
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				didOpen = false
				inc, err := tx.IncidentByPagerDutyID("PSAME")
				switch {
				case incidentbot.ErrorCode(err) == incidentbot.ENOTFOUND:
					didOpen = true
					inc, err = newIncident(tx, func(inc *incidentbot.Incident) { inc.PagerDuty = &incidentbot.PagerLink{ID: "PSAME"} })
					if err != nil {
						return err
					}
				case err != nil:
					return err
				}
				return tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "delivery"})
			})
			if err != nil {
				t.Error(err)
			}
			if didOpen {
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := opened.Load(); n != 1 {
		t.Errorf("%d transactions opened the incident, want 1", n)
	}
	view(t, s, func(tx incidentbot.Tx) error {
		incs, err := tx.ListIncidents(0, 0, "")
		if err != nil {
			return err
		}
		if len(incs) != 1 || incs[0].Number != 1 {
			t.Errorf("incidents = %v, want only INC-1", numbers(incs))
		}
		tl, err := tx.Timeline("INC-1")
		if err != nil {
			return err
		}
		if len(tl) != writers {
			t.Errorf("%d timeline entries, want %d (every delivery applied to the one incident)", len(tl), writers)
		}
		return nil
	})
}

func problemsOf(t *testing.T, s incidentbot.Store, id string) int {
	t.Helper()
	n := 0
	view(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.Incident(id)
		if err != nil {
			return err
		}
		n = len(inc.Problems)
		return nil
	})
	return n
}

func noLostUpdates(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 1, nil)
	const writers = 16
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				inc, err := tx.Incident("INC-1")
				if err != nil {
					return err
				}
				inc.Problems = append(inc.Problems, incidentbot.Problem{Message: fmt.Sprint(i)})
				return tx.PutIncident(inc)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := problemsOf(t, s, "INC-1"); n != writers {
		t.Errorf("%d problems recorded, want %d (no change lost)", n, writers)
	}
}

func noLostUpdatesFromLists(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 2, nil)
	const writers = 12
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				var list []*incidentbot.Incident
				var err error
				if i%2 == 0 {
					list, err = tx.OpenIncidents()
				} else {
					list, err = tx.ListIncidents(0, 10, "")
				}
				if err != nil {
					return err
				}
				for _, inc := range list {
					if inc.Number != 1 {
						continue
					}
					inc.Problems = append(inc.Problems, incidentbot.Problem{Message: fmt.Sprint(i)})
					if err := tx.AppendEntry(inc.ID, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: fmt.Sprint(i)}); err != nil {
						return err
					}
					return tx.PutIncident(inc)
				}
				return errors.New("INC-1 not listed")
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := problemsOf(t, s, "INC-1"); n != writers {
		t.Errorf("%d problems recorded, want %d (no change lost)", n, writers)
	}
	// A transaction that lost the race and ran again left nothing of its
	// first run: one entry per writer.
	view(t, s, func(tx incidentbot.Tx) error {
		tl, err := tx.Timeline("INC-1")
		if err == nil && len(tl) != writers {
			t.Errorf("%d timeline entries, want %d (a failed run's writes committed)", len(tl), writers)
		}
		return err
	})
}

func oddBytes(t *testing.T, s incidentbot.Store) {
	odd := "P\x00\xff\xfeZ"
	update(t, s, func(tx incidentbot.Tx) error {
		if _, err := newIncident(tx, func(inc *incidentbot.Incident) {
			inc.Title = "nul \x00 and \u2603"
			inc.PagerDuty = &incidentbot.PagerLink{ID: odd}
			inc.ChannelID = "C\x00"
		}); err != nil {
			return err
		}
		if err := tx.AppendEntry("INC-1", &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "\x00"}); err != nil {
			return err
		}
		if _, err := tx.AddPending(odd, incidentbot.PagerEvent{ID: "e\x00"}); err != nil {
			return err
		}
		return tx.MarkDelivery("pd-event:"+odd, i0)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.IncidentByPagerDutyID(odd)
		if err != nil {
			return err
		}
		if inc.Title != "nul \x00 and \u2603" {
			t.Errorf("title = %q", inc.Title)
		}
		if _, err := tx.IncidentByChannel("C\x00"); err != nil {
			return err
		}
		seen, err := tx.SeenDelivery("pd-event:" + odd)
		if err != nil || !seen {
			t.Errorf("odd delivery key seen = %v, %v", seen, err)
		}
		return nil
	})
}

func listNewestFirst(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 5, nil)
	view(t, s, func(tx incidentbot.Tx) error {
		page, err := tx.ListIncidents(0, 2, "")
		if err != nil {
			return err
		}
		if got := numbers(page); !slices.Equal(got, []int{5, 4}) {
			t.Errorf("first page = %v", got)
		}
		if page, err = tx.ListIncidents(4, 10, ""); err != nil {
			return err
		}
		if got := numbers(page); !slices.Equal(got, []int{3, 2, 1}) {
			t.Errorf("page before 4 = %v", got)
		}
		return nil
	})
}

func listByStatus(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 6, func(inc *incidentbot.Incident) {
		if inc.Number%2 == 0 {
			resolve(inc, inc.OpenedAt.Add(time.Minute))
		}
	})
	view(t, s, func(tx incidentbot.Tx) error {
		for _, c := range []struct {
			status        string
			before, limit int
			want          []int
		}{
			{"", 0, 0, []int{6, 5, 4, 3, 2, 1}},
			{"open", 0, 0, []int{5, 3, 1}},
			{"open", 5, 1, []int{3}},
			{"resolved", 0, 2, []int{6, 4}},
			{"resolved", 4, 10, []int{2}},
		} {
			got, err := tx.ListIncidents(c.before, c.limit, c.status)
			if err != nil {
				return err
			}
			if !slices.Equal(numbers(got), c.want) {
				t.Errorf("ListIncidents(%d, %d, %q) = %v, want %v", c.before, c.limit, c.status, numbers(got), c.want)
			}
		}
		return nil
	})
}

func resolvedSince(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 4, func(inc *incidentbot.Incident) {
		resolve(inc, i0.Add(time.Duration(inc.Number)*24*time.Hour))
	})
	// INC-2 reopens; INC-1 is resolved again, later than every other.
	update(t, s, func(tx incidentbot.Tx) error {
		two, err := tx.Incident("INC-2")
		if err != nil {
			return err
		}
		two.Status = incidentbot.StatusTriggered
		if err := tx.PutIncident(two); err != nil {
			return err
		}
		one, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		resolve(one, i0.Add(10*24*time.Hour))
		return tx.PutIncident(one)
	})
	var got []int
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.ResolvedSince(i0.Add(3*24*time.Hour), func(inc *incidentbot.Incident) bool {
			got = append(got, inc.Number)
			return true
		})
	})
	if want := []int{1, 4, 3}; !slices.Equal(got, want) {
		t.Errorf("resolved since day 3, latest first = %v, want %v", got, want)
	}
	// Many resolved: the walk goes past one page and stops when asked.
	putIncidents(t, s, 150, func(inc *incidentbot.Incident) { resolve(inc, i0.Add(time.Duration(inc.Number)*time.Hour)) })
	all, asked := 0, 0
	view(t, s, func(tx incidentbot.Tx) error {
		if err := tx.ResolvedSince(i0, func(*incidentbot.Incident) bool { all++; return true }); err != nil {
			return err
		}
		return tx.ResolvedSince(i0, func(*incidentbot.Incident) bool { asked++; return asked < 70 })
	})
	if all != 153 || asked != 70 {
		t.Errorf("walked %d of 153 resolved incidents, stopped after %d of 70", all, asked)
	}
}

func serviceIncidents(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 8, func(inc *incidentbot.Incident) {
		switch inc.Number % 4 {
		case 0:
			inc.Service = "Checkout" // by name only (declared)
		case 1:
			inc.Service = "checkout API"
			inc.PagerDuty = &incidentbot.PagerLink{ID: "P" + inc.ID, ServiceID: "PCHK"}
		case 2:
			inc.Service = "Search"
		}
	})
	var got []int
	reads := 0
	view(t, s, func(tx incidentbot.Tx) error {
		keys := incidentbot.ServiceKeys(&incidentbot.Incident{Service: "CHECKOUT", PagerDuty: &incidentbot.PagerLink{ServiceID: "PCHK"}})
		return tx.ServiceIncidents(keys, 8, func(inc *incidentbot.Incident) bool {
			reads++
			got = append(got, inc.Number)
			return len(got) < 2
		})
	})
	if want := []int{5, 4}; !slices.Equal(got, want) || reads != 2 {
		t.Errorf("service incidents below 8 = %v after %d reads, want %v after 2", got, reads, want)
	}
	got = nil
	view(t, s, func(tx incidentbot.Tx) error {
		keys := incidentbot.ServiceKeys(&incidentbot.Incident{Service: "checkout"})
		return tx.ServiceIncidents(keys, 0, func(inc *incidentbot.Incident) bool { got = append(got, inc.Number); return true })
	})
	if want := []int{8, 4}; !slices.Equal(got, want) {
		t.Errorf("incidents of service name checkout = %v, want %v", got, want)
	}
}

func titleIncidents(t *testing.T, s incidentbot.Store) {
	titles := []string{"API health check failures", "Checkout API errors", "Search latency", "API health degraded", "Database failover"}
	putIncidents(t, s, len(titles), func(inc *incidentbot.Incident) { inc.Title = titles[inc.Number-1] })
	query := func(title string, minShared, before, most int) []int {
		var got []int
		view(t, s, func(tx incidentbot.Tx) error {
			got = nil
			return tx.TitleIncidents(incidentbot.TitleWords(title), minShared, before, func(inc *incidentbot.Incident) bool {
				got = append(got, inc.Number)
				return most == 0 || len(got) < most
			})
		})
		return got
	}
	for _, c := range []struct {
		title                   string
		minShared, before, most int
		want                    []int
	}{
		{"API health check failures", 2, 0, 0, []int{4, 1}},
		{"api HEALTH check failures!", 2, 4, 0, []int{1}},
		{"API", 1, 0, 0, []int{4, 2, 1}},
		{"API", 1, 0, 2, []int{4, 2}},
		{"the and of", 1, 0, 0, nil},
		{"Latency of search", 2, 0, 0, []int{3}},
	} {
		if got := query(c.title, c.minShared, c.before, c.most); !slices.Equal(got, c.want) {
			t.Errorf("TitleIncidents(%q, %d, before %d, at most %d) = %v, want %v", c.title, c.minShared, c.before, c.most, got, c.want)
		}
	}
	// A renamed incident is found under its new words only.
	update(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.Incident("INC-4")
		if err != nil {
			return err
		}
		inc.Title = "Database migration stuck"
		return tx.PutIncident(inc)
	})
	if got := query("API health", 2, 0, 0); !slices.Equal(got, []int{1}) {
		t.Errorf("after renaming INC-4, API health = %v, want [1]", got)
	}
	if got := query("database", 1, 0, 0); !slices.Equal(got, []int{5, 4}) {
		t.Errorf("after renaming INC-4, database = %v, want [5 4]", got)
	}
}

func titleScanBound(t *testing.T, s incidentbot.Store) {
	n := incidentbot.TitleScan + 50
	putIncidents(t, s, n, func(inc *incidentbot.Incident) { inc.Title = "Noisy API alert" })
	got, newest := 0, 0
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.TitleIncidents([]string{"api", "noisy"}, 2, 0, func(inc *incidentbot.Incident) bool {
			if got == 0 {
				newest = inc.Number
			}
			got++
			return true
		})
	})
	if got != incidentbot.TitleScan || newest != n {
		t.Errorf("read %d incidents of %d sharing the words (newest %d), want the newest %d (from %d)", got, n, newest, incidentbot.TitleScan, n)
	}
}

// actionIncidents: the follow-up index holds the incidents with an action
// item not done, old or new, open or resolved, and lets them go when every
// item is done.
func actionIncidents(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 4, func(inc *incidentbot.Incident) {
		switch inc.Number {
		case 1: // long resolved, one item still open
			resolve(inc, i0.Add(-3*365*24*time.Hour))
			inc.Actions = []incidentbot.ActionItem{{N: 1, Text: "Add an alert", Status: "done"}, {N: 2, Text: "Runbook", Status: "open"}}
		case 3:
			inc.Actions = []incidentbot.ActionItem{{N: 1, Text: "Raise the pool", Status: "open"}}
		case 4:
			inc.Actions = []incidentbot.ActionItem{{N: 1, Text: "Done already", Status: "done"}}
		}
	})
	check := func(want []int) {
		t.Helper()
		view(t, s, func(tx incidentbot.Tx) error {
			incs, err := tx.ActionIncidents()
			if err != nil {
				return err
			}
			if got := numbers(incs); !slices.Equal(got, want) {
				t.Errorf("ActionIncidents = %v, want %v", got, want)
			}
			return nil
		})
	}
	check([]int{3, 1})
	update(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.Incident("INC-3")
		if err != nil {
			return err
		}
		inc.Actions[0].Status = "done"
		return tx.PutIncident(inc)
	})
	check([]int{1})
}

func stormIncidents(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 3, func(inc *incidentbot.Incident) { inc.InDigest = inc.Number != 2 })
	update(t, s, func(tx incidentbot.Tx) error {
		one, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		one.Announcement = &incidentbot.Posted{Channel: "C1", TS: "1.1", Digest: true}
		return tx.PutIncident(one)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		storm, err := tx.StormIncidents()
		if err != nil {
			return err
		}
		if got := numbers(storm); !slices.Equal(got, []int{3}) {
			t.Errorf("storm = %v, want [3]", got)
		}
		return nil
	})
}

func openIncidents(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 4, func(inc *incidentbot.Incident) {
		if inc.Number == 2 {
			resolve(inc, i0)
		}
	})
	view(t, s, func(tx incidentbot.Tx) error {
		open, err := tx.OpenIncidents()
		if err != nil {
			return err
		}
		if got := numbers(open); !slices.Equal(got, []int{4, 3, 1}) {
			t.Errorf("open = %v, want [4 3 1]", got)
		}
		return nil
	})
}

func appendConcurrent(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 1, nil)
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
				for k := range each {
					if err := tx.AppendEntry("INC-1", &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: fmt.Sprintf("%d/%d", i, k)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx incidentbot.Tx) error {
		tl, err := tx.Timeline("INC-1")
		if err != nil {
			return err
		}
		if len(tl) != writers*each {
			t.Fatalf("%d entries, want %d", len(tl), writers*each)
		}
		for i, e := range tl {
			if e.Seq != uint64(i+1) {
				t.Fatalf("entry %d has seq %d, want %d (consecutive)", i, e.Seq, i+1)
			}
		}
		// One transaction's entries stay together and in order.
		for i := 0; i < len(tl); i += each {
			var w0 int
			fmt.Sscanf(tl[i].Text, "%d/", &w0)
			for k := range each {
				if want := fmt.Sprintf("%d/%d", w0, k); tl[i+k].Text != want {
					t.Fatalf("entry %d = %q, want %q", i+k, tl[i+k].Text, want)
				}
			}
		}
		return nil
	})
}

func appendRolledBack(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 1, nil)
	boom := errors.New("boom")
	if err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
		if err := tx.AppendEntry("INC-1", &incidentbot.Entry{Text: "lost"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var e incidentbot.Entry
	update(t, s, func(tx incidentbot.Tx) error {
		e = incidentbot.Entry{Text: "kept"}
		return tx.AppendEntry("INC-1", &e)
	})
	if e.Seq != 1 {
		t.Errorf("seq after a rolled-back append = %d, want 1", e.Seq)
	}
}

// appendBeforePut: opening an incident appends its first entry before it
// writes the incident, in one transaction.
func appendBeforePut(t *testing.T, s incidentbot.Store) {
	update(t, s, func(tx incidentbot.Tx) error {
		n, err := tx.NextIncidentNumber()
		if err != nil {
			return err
		}
		id := incidentbot.IncidentID(n)
		if err := tx.AppendEntry(id, &incidentbot.Entry{Kind: incidentbot.EntryPaged, Text: "paged"}); err != nil {
			return err
		}
		if err := tx.PutIncident(&incidentbot.Incident{ID: id, Number: n, Status: incidentbot.StatusTriggered}); err != nil {
			return err
		}
		return tx.AppendEntry(id, &incidentbot.Entry{Kind: incidentbot.EntryNote, Text: "after"})
	})
	update(t, s, func(tx incidentbot.Tx) error {
		inc, err := tx.Incident("INC-1")
		if err != nil {
			return err
		}
		e := incidentbot.Entry{Text: "later"}
		if err := tx.AppendEntry(inc.ID, &e); err != nil {
			return err
		}
		if e.Seq != 3 {
			t.Errorf("third entry has seq %d, want 3", e.Seq)
		}
		return tx.PutIncident(inc)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		tl, err := tx.Timeline("INC-1")
		if err == nil && (len(tl) != 3 || tl[0].Text != "paged" || tl[2].Seq != 3) {
			t.Errorf("timeline = %+v", tl)
		}
		return err
	})
}

func jobsBasics(t *testing.T, s incidentbot.Store) {
	var ids []uint64
	update(t, s, func(tx incidentbot.Tx) error {
		ids = ids[:0]
		for i := range 4 {
			j := &incidentbot.Job{Kind: incidentbot.JobPost, Lane: fmt.Sprintf("L%d", i%2), Text: fmt.Sprint(i)}
			if err := tx.Enqueue(j); err != nil {
				return err
			}
			ids = append(ids, j.ID)
		}
		return nil
	})
	if !slices.IsSorted(ids) || slices.Compact(slices.Clone(ids)) == nil || len(slices.Compact(slices.Clone(ids))) != 4 {
		t.Fatalf("IDs = %v, want 4 increasing", ids)
	}
	update(t, s, func(tx incidentbot.Tx) error {
		j := &incidentbot.Job{ID: ids[1], Kind: incidentbot.JobPost, Lane: "L1", Text: "1", Attempts: 3, LastError: "boom"}
		if err := tx.PutJob(j); err != nil {
			return err
		}
		return tx.DeleteJob(ids[2])
	})
	var got []*incidentbot.Job
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.Jobs(ids[0], func(j *incidentbot.Job) bool { got = append(got, j); return true })
	})
	var seen []uint64
	for _, j := range got {
		seen = append(seen, j.ID)
	}
	// A store may hand back lower IDs too; above after, exactly these.
	var above []uint64
	for _, id := range seen {
		if id > ids[0] {
			above = append(above, id)
		}
	}
	if want := []uint64{ids[1], ids[3]}; !slices.Equal(above, want) || !slices.IsSorted(seen) {
		t.Fatalf("jobs after %d = %v, want %v in ID order", ids[0], seen, want)
	}
	for _, j := range got {
		if j.ID == ids[1] && (j.Attempts != 3 || j.LastError != "boom" || j.Lane != "L1") {
			t.Errorf("rewritten job = %+v", j)
		}
	}
	n := 0
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(*incidentbot.Job) bool { n++; return n < 2 })
	})
	if n != 2 {
		t.Errorf("Jobs went on after fn returned false: %d calls", n)
	}
}

// laneOrder: writers enqueue jobs of one lane at once while a reader
// looks; no look may see a job of the lane while a lower ID of the lane,
// committed later, was missing (the runner would run them out of order).
func laneOrder(t *testing.T, s incidentbot.Store) {
	const writers, each = 8, 10
	stop := make(chan struct{})
	var looks [][]uint64
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			var ids []uint64
			err := s.View(context.Background(), func(tx incidentbot.Tx) error {
				ids = ids[:0]
				return tx.Jobs(0, func(j *incidentbot.Job) bool {
					if j.Lane == "INC-1" {
						ids = append(ids, j.ID)
					}
					return true
				})
			})
			if err != nil {
				t.Error(err)
				return
			}
			looks = append(looks, ids)
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
					// Another lane first, so the transactions interleave.
					if err := tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: fmt.Sprintf("side-%d", i)}); err != nil {
						return err
					}
					if err := tx.MarkDelivery(fmt.Sprintf("w%d-%d", i, k), i0); err != nil {
						return err
					}
					return tx.Enqueue(&incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"})
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	var final []uint64
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(j *incidentbot.Job) bool {
			if j.Lane == "INC-1" {
				final = append(final, j.ID)
			}
			return true
		})
	})
	if len(final) != writers*each {
		t.Fatalf("%d jobs in the lane, want %d", len(final), writers*each)
	}
	for _, look := range looks {
		if len(look) == 0 {
			continue
		}
		top := look[len(look)-1]
		for _, id := range final {
			if id < top && !slices.Contains(look, id) {
				t.Fatalf("a look saw job %d of the lane while job %d, lower, was not visible yet", top, id)
			}
		}
	}
	t.Logf("%d looks at the lane while it filled", len(looks))
}

func deadLetters(t *testing.T, s incidentbot.Store) {
	at := i0
	update(t, s, func(tx incidentbot.Tx) error {
		j := &incidentbot.Job{Kind: incidentbot.JobPost, Lane: "INC-1"}
		if err := tx.Enqueue(j); err != nil {
			return err
		}
		if err := tx.DeleteJob(j.ID); err != nil {
			return err
		}
		j.FailedAt, j.LastError = &at, "channel_not_found"
		return tx.PutDeadLetter(j)
	})
	view(t, s, func(tx incidentbot.Tx) error {
		dl, err := tx.DeadLetters()
		if err != nil {
			return err
		}
		if len(dl) != 1 || dl[0].LastError != "channel_not_found" || dl[0].FailedAt == nil || !dl[0].FailedAt.Equal(at) {
			t.Errorf("dead letters = %+v", dl)
		}
		n := 0
		if err := tx.Jobs(0, func(*incidentbot.Job) bool { n++; return true }); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("%d jobs left, want none", n)
		}
		return nil
	})
}

func pendingEvents(t *testing.T, s incidentbot.Store) {
	var first1, first2, first3 bool
	update(t, s, func(tx incidentbot.Tx) error {
		var err error
		if first1, err = tx.AddPending("P1", incidentbot.PagerEvent{ID: "e1"}); err != nil {
			return err
		}
		if first2, err = tx.AddPending("P1", incidentbot.PagerEvent{ID: "e2"}); err != nil {
			return err
		}
		first3, err = tx.AddPending("P2", incidentbot.PagerEvent{ID: "e3"})
		return err
	})
	if !first1 || first2 || !first3 {
		t.Errorf("first = %v, %v, %v; want true, false, true", first1, first2, first3)
	}
	var taken, again []incidentbot.PagerEvent
	update(t, s, func(tx incidentbot.Tx) error {
		var err error
		if taken, err = tx.TakePending("P1"); err != nil {
			return err
		}
		again, err = tx.TakePending("P1")
		return err
	})
	if len(taken) != 2 || taken[0].ID != "e1" || taken[1].ID != "e2" {
		t.Errorf("TakePending = %v, want e1, e2", taken)
	}
	if len(again) != 0 {
		t.Errorf("second TakePending = %v, want none", again)
	}
	update(t, s, func(tx incidentbot.Tx) error {
		first, err := tx.AddPending("P1", incidentbot.PagerEvent{ID: "e4"})
		if err == nil && !first {
			t.Error("the first event kept after a take is not reported first")
		}
		return err
	})
}

func longReadStops(t *testing.T, s incidentbot.Store) {
	putIncidents(t, s, 300, nil)
	ctx, cancel := context.WithCancel(context.Background())
	read := 0
	err := s.View(ctx, func(tx incidentbot.Tx) error {
		cancel() // the request went away after the read began
		incs, err := tx.ListIncidents(0, 1000, "")
		read = len(incs)
		return err
	})
	if !errors.Is(err, context.Canceled) || read != 0 {
		t.Errorf("read %d incidents, err %v; want the read stopped with context.Canceled", read, err)
	}
}

func pruneDeliveries(t *testing.T, s incidentbot.Store) {
	p, ok := s.(interface {
		PruneDeliveries(cutoff time.Time) (int, error)
	})
	if !ok {
		t.Fatalf("%T has no PruneDeliveries", s)
	}
	now := time.Now()
	update(t, s, func(tx incidentbot.Tx) error {
		if err := tx.MarkDelivery("old", now.Add(-8*24*time.Hour)); err != nil {
			return err
		}
		return tx.MarkDelivery("recent", now.Add(-73*time.Hour))
	})
	n, err := p.PruneDeliveries(now.Add(-7 * 24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	view(t, s, func(tx incidentbot.Tx) error {
		old, err := tx.SeenDelivery("old")
		if err != nil {
			return err
		}
		recent, err := tx.SeenDelivery("recent")
		if old || !recent {
			t.Errorf("after pruning: old seen %v, 73 h old seen %v; want false, true", old, recent)
		}
		return err
	})
}

func writable(t *testing.T, s incidentbot.Store) {
	w, ok := s.(interface {
		Writable(ctx context.Context) error
	})
	if !ok {
		t.Fatalf("%T has no Writable", s)
	}
	if err := w.Writable(context.Background()); err != nil {
		t.Errorf("Writable = %v", err)
	}
}

// cursors: a poller's position is "" until set, replaced by a later set,
// kept per name, and rolled back with a failed transaction (it is written
// with the events it covers).
func cursors(t *testing.T, s incidentbot.Store) {
	read := func(name string) string {
		t.Helper()
		var v string
		view(t, s, func(tx incidentbot.Tx) error {
			var err error
			v, err = tx.Cursor(name)
			return err
		})
		return v
	}
	if got := read("pagerduty-log"); got != "" {
		t.Fatalf("a cursor never set = %q, want \"\"", got)
	}
	update(t, s, func(tx incidentbot.Tx) error { return tx.SetCursor("pagerduty-log", "2025-06-01T09:00:00Z") })
	update(t, s, func(tx incidentbot.Tx) error {
		if err := tx.SetCursor("pagerduty-log", "2025-06-01T09:00:15Z"); err != nil {
			return err
		}
		// Read back inside the transaction that wrote it.
		if v, err := tx.Cursor("pagerduty-log"); err != nil || v != "2025-06-01T09:00:15Z" {
			t.Errorf("inside its transaction the cursor = %q (%v), want the value just set", v, err)
		}
		return tx.SetCursor("other", "x")
	})
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
		if err := tx.MarkDelivery("pd-log:Q1", i0); err != nil {
			return err
		}
		if err := tx.SetCursor("pagerduty-log", "2025-06-01T09:00:30Z"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if got := read("pagerduty-log"); got != "2025-06-01T09:00:15Z" {
		t.Errorf("after a failed transaction the cursor = %q, want the last committed one", got)
	}
	if got := read("other"); got != "x" {
		t.Errorf("another cursor = %q, want x", got)
	}
	view(t, s, func(tx incidentbot.Tx) error {
		if seen, err := tx.SeenDelivery("pd-log:Q1"); err != nil || seen {
			t.Errorf("the failed transaction's delivery key is seen (%v)", err)
		}
		return nil
	})
}

// Profiles are kept by ID (a later put replaces), listed in ID order with
// every field, odd bytes included, and the listing stops when fn says so.
func profiles(t *testing.T, s incidentbot.Store) {
	list := func() []incidentbot.Profile {
		t.Helper()
		var out []incidentbot.Profile
		view(t, s, func(tx incidentbot.Tx) error {
			out = out[:0]
			return tx.Profiles(func(p *incidentbot.Profile) bool { out = append(out, *p); return true })
		})
		return out
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("a new store lists %d profiles", len(got))
	}
	sarah := incidentbot.Profile{ID: "USARAH", Name: "Sarah Kim", Email: "sarah@example.com", CheckedAt: i0}
	pd := incidentbot.Profile{ID: "PSARAH", Name: "Sarah K.", Email: "sarah@example.com", SlackID: "USARAH", CheckedAt: i0}
	odd := incidentbot.Profile{ID: "U\x00é", Name: "Zoë \x00 \u202e", Missing: true, CheckedAt: i0}
	update(t, s, func(tx incidentbot.Tx) error {
		for _, p := range []incidentbot.Profile{sarah, pd, odd} {
			if err := tx.PutProfile(&p); err != nil {
				return err
			}
		}
		return nil
	})
	renamed := sarah
	renamed.Name, renamed.CheckedAt = "Sarah Kim-Lee", i0.Add(time.Hour)
	update(t, s, func(tx incidentbot.Tx) error { return tx.PutProfile(&renamed) })
	got := list()
	want := []incidentbot.Profile{pd, odd, renamed}
	if len(got) != len(want) {
		t.Fatalf("profiles = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Name != want[i].Name || got[i].Email != want[i].Email || got[i].SlackID != want[i].SlackID ||
			got[i].Missing != want[i].Missing || !got[i].CheckedAt.Equal(want[i].CheckedAt) {
			t.Errorf("profile %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	n := 0
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.Profiles(func(*incidentbot.Profile) bool { n++; return false })
	})
	if n != 1 {
		t.Errorf("fn returning false saw %d profiles, want 1", n)
	}
	if err := s.Update(context.Background(), func(tx incidentbot.Tx) error { return tx.PutProfile(&incidentbot.Profile{}) }); incidentbot.ErrorCode(err) != incidentbot.EINVALID {
		t.Errorf("a profile without an ID: %v, want EINVALID", err)
	}
}

// A profile put in a transaction that fails is not kept.
func profilesRolledBack(t *testing.T, s incidentbot.Store) {
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx incidentbot.Tx) error {
		if err := tx.PutProfile(&incidentbot.Profile{ID: "UGONE", Name: "Gone", CheckedAt: i0}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	n := 0
	view(t, s, func(tx incidentbot.Tx) error {
		return tx.Profiles(func(*incidentbot.Profile) bool { n++; return true })
	})
	if n != 0 {
		t.Errorf("%d profiles after a rolled-back put", n)
	}
}
