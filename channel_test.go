package incidentbot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/outbox"
)

// channelChat is a storyChat with channels as Slack keeps them: a create
// of a taken name is name_taken; creates follow a script first ("lost": the
// channel is made and the answer lost; "503": Slack fails, nothing made);
// a new channel is left out of the listing for its first lag lookups; and
// auth.test fails its first botFails calls.
type channelChat struct {
	storyChat
	mu       sync.Mutex
	channels map[string]incidentbot.Channel
	script   []string
	lag      int
	looked   map[string]int
	creates  []string
	botFails int
	botCalls int
	// botHold, when set, holds every auth.test until it is closed.
	botHold chan struct{}
}

var slack503 = &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "Slack answered 503"}

func (c *channelChat) BotUserID(ctx context.Context) (string, error) {
	c.mu.Lock()
	c.botCalls++
	fail := c.botCalls <= c.botFails
	hold := c.botHold
	c.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if fail {
		return "", &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "auth.test: Slack answered 503"}
	}
	return "UBOT", nil
}

func (c *channelChat) CreateChannel(_ context.Context, name string, _ bool) (incidentbot.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.creates = append(c.creates, name)
	answer := ""
	if len(c.script) > 0 {
		answer, c.script = c.script[0], c.script[1:]
	}
	if answer == "503" {
		return incidentbot.Channel{}, slack503
	}
	if _, taken := c.channels[name]; taken {
		return incidentbot.Channel{}, incidentbot.Errorf(incidentbot.EREJECTED, "name_taken")
	}
	ch := incidentbot.Channel{ID: "C" + name, Name: name, Creator: "UBOT", Created: time.Now().UTC().Truncate(time.Second)}
	if c.channels == nil {
		c.channels = map[string]incidentbot.Channel{}
	}
	c.channels[name] = ch
	if answer == "lost" {
		return incidentbot.Channel{}, slack503
	}
	return ch, nil
}

func (c *channelChat) FindChannel(_ context.Context, name string, _ bool) (incidentbot.Channel, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.channels[name]
	if !ok {
		return incidentbot.Channel{}, false, nil
	}
	if c.looked == nil {
		c.looked = map[string]int{}
	}
	if c.looked[name]++; c.looked[name] <= c.lag {
		return incidentbot.Channel{}, false, nil // the listing lags behind
	}
	return ch, true, nil
}

func (c *channelChat) channelCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.channels)
}

func (c *channelChat) createCalls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.creates...)
}

// Slack made the channel but its answer was lost, then an outage failed
// the next creates: the job has 3 attempts when its name comes back taken
// and, the listing lagging, not listed yet. It asks again and adopts its own
// channel. Counted on the job's attempts (< 3), the outage used up the asks
// and a second channel, -2, was made.
func TestJobs_CreateChannel_TakenNotListedAfterAnOutage_AdoptsItsOwnChannel(t *testing.T) {
	s, db := mustService(t)
	chat := &channelChat{script: []string{"lost", "503", "503"}, lag: 1}
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	run := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "the outbox drained", func() bool { return run.Stats().Depth == 0 && storedJobs(t, db) == 0 })
	inc, _, _ := state(t, db, "P1")
	creates := chat.createCalls()
	if len(creates) != 5 || strings.HasSuffix(creates[len(creates)-1], "-2") {
		t.Fatalf("conversations.create calls %q; want 5 of one name: lost, 503, 503, name_taken twice", creates)
	}
	if want := "C" + creates[0]; inc.ChannelID != want || chat.channelCount() != 1 {
		t.Errorf("incident channel %q, %d channels in Slack; want the first one, %q, adopted", inc.ChannelID, chat.channelCount(), want)
	}
}

// A name taken and never listed (a private channel, or a listing that does
// not catch up) is asked about 3 times, then the next name is used.
func TestJobs_CreateChannel_TakenNeverListed_NextNameAfterThreeAsks(t *testing.T) {
	s, db := mustService(t)
	chat := &channelChat{script: []string{"lost"}, lag: 1000}
	mustIngest(t, s, "", pd("P1", incidentbot.EventTriggered, t0))
	run := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "the outbox drained", func() bool { return run.Stats().Depth == 0 && storedJobs(t, db) == 0 })
	inc, _, _ := state(t, db, "P1")
	creates := chat.createCalls()
	// lost, then taken-not-listed three times, then taken once more and on to -2.
	if len(creates) != 6 || creates[4] != creates[0] || creates[5] != creates[0]+"-2" || inc.ChannelID != "C"+creates[0]+"-2" {
		t.Errorf("conversations.create calls %q, channel %q; want the name 5 times, then %s-2 used", creates, inc.ChannelID, creates[0])
	}
}

// After a restart every create job needs the bot's user ID: one auth.test
// is made and the other jobs wait for it without counting an attempt
// (they used to call it all at once); a failed one is asked again, one at a
// time, and once known it is never asked again.
func TestJobs_CreateChannel_BotUserIDAskedOnceAtATime(t *testing.T) {
	s, db := mustService(t)
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	chat := &channelChat{botFails: 2, botHold: hold}
	for _, id := range []string{"P1", "P2", "P3", "P4", "P5"} {
		mustIngest(t, s, "", pd(id, incidentbot.EventTriggered, t0))
	}
	var mu sync.Mutex
	deferred := 0
	js := &incidentbot.Jobs{Service: s, Chat: chat}
	r := &outbox.Runner{Performer: js, Backoff: func(int) time.Duration { return 10 * time.Millisecond },
		Observe: func(kind incidentbot.JobKind, result string, _ time.Duration) {
			if kind == incidentbot.JobCreateChannel && result == outbox.ResultDeferred {
				mu.Lock()
				deferred++
				mu.Unlock()
			}
		}}
	js.Lanes, s.Enqueued = r, r.Wake
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { release(); cancel(); <-done })
	botCalls := func() int {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return chat.botCalls
	}
	waitUntil(t, "the other create jobs to wait for the auth.test in flight, or to call it too", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return deferred >= 4 || botCalls() > 1
	})
	if calls := botCalls(); calls != 1 {
		t.Errorf("%d auth.test calls in flight for 5 create jobs, want 1", calls)
	}
	release()
	waitUntil(t, "the outbox drained", func() bool { return r.Stats().Depth == 0 && storedJobs(t, db) == 0 })
	if calls := botCalls(); calls != 3 || chat.channelCount() != 5 {
		t.Errorf("%d auth.test calls (2 failing), %d channels; want 3 calls (one at a time until one succeeded), 5 channels", calls, chat.channelCount())
	}
	for _, id := range []string{"P1", "P2", "P3", "P4", "P5"} {
		if inc, _, _ := state(t, db, id); inc.ChannelID == "" {
			t.Errorf("%s has no channel", id)
		}
	}
}

// noChannelChat refuses every channel creation for good.
type noChannelChat struct{ storyChat }

func (c *noChannelChat) CreateChannel(context.Context, string, bool) (incidentbot.Channel, error) {
	return incidentbot.Channel{}, incidentbot.Errorf(incidentbot.EREJECTED, "restricted_action")
}

// When the incident channel cannot be created, the announcement tells the
// stakeholders where to follow the incident and its thread still hears of
// it: the resolution's reply too (it was a dead letter at once, "the
// incident channel could not be created", and the thread never said the
// incident was resolved).
func TestJobs_ChannelFailed_ResolutionStillReachesTheThread(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	chat := &noChannelChat{}
	mustIngest(t, s, "W1", pd("P1", incidentbot.EventTriggered, t0))
	runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "the announcement", func() bool {
		inc, _, _ := state(t, db, "P1")
		return inc.Announcement != nil && inc.ChannelFailed
	})
	mustIngest(t, s, "W2", pd("P1", incidentbot.EventResolved, t0.Add(10*time.Minute)))
	waitUntil(t, "the outbox to drain", func() bool {
		_, _, jobs := state(t, db, "P1")
		return len(jobs) == 0
	})
	inc, _, _ := state(t, db, "P1")
	for _, p := range inc.Problems {
		if p.Job == incidentbot.JobAnnounceResolved {
			t.Errorf("the resolution's reply failed: %s", p.Message)
		}
	}
	chat.mu.Lock()
	defer chat.mu.Unlock()
	for _, m := range chat.posts {
		if m.ThreadTS == inc.Announcement.TS && strings.Contains(m.Text, inc.ID+" resolved") {
			return
		}
	}
	t.Errorf("no resolution reply in the stakeholder thread; posts: %+v", chat.posts)
}
