package incidentbot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/outbox"
	"github.com/incidentbot/incidentbot/internal/store"
)

// storyChat is a Chat that accepts everything and lets a test act while a
// post is in flight (onPost runs before the post returns).
type storyChat struct {
	mu     sync.Mutex
	n      int
	posts  []incidentbot.Message
	onPost func(channel string, msg incidentbot.Message) error
}

func (c *storyChat) BotUserID(context.Context) (string, error) { return "UBOT", nil }
func (c *storyChat) CreateChannel(_ context.Context, name string, _ bool) (incidentbot.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return incidentbot.Channel{ID: fmt.Sprintf("C%03d", c.n), Name: name}, nil
}
func (c *storyChat) FindChannel(context.Context, string, bool) (incidentbot.Channel, bool, error) {
	return incidentbot.Channel{}, false, nil
}
func (c *storyChat) RenameChannel(_ context.Context, id, name string) (incidentbot.Channel, error) {
	return incidentbot.Channel{ID: id, Name: name}, nil
}
func (c *storyChat) SetTopic(context.Context, string, string) error { return nil }
func (c *storyChat) UserByEmail(context.Context, string) (string, error) {
	return "", incidentbot.Errorf(incidentbot.ENOTFOUND, "users_not_found")
}
func (c *storyChat) Invite(context.Context, string, ...string) error { return nil }
func (c *storyChat) Post(_ context.Context, channel string, msg incidentbot.Message) (incidentbot.Posted, error) {
	if c.onPost != nil {
		if err := c.onPost(channel, msg); err != nil {
			return incidentbot.Posted{}, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, msg)
	return incidentbot.Posted{Channel: channel, TS: fmt.Sprintf("%d.000100", len(c.posts))}, nil
}
func (c *storyChat) Update(context.Context, incidentbot.Posted, incidentbot.Message) error {
	return nil
}
func (c *storyChat) UserProfile(_ context.Context, id string) (incidentbot.SlackUser, error) {
	return incidentbot.SlackUser{ID: id}, nil
}
func (c *storyChat) Respond(context.Context, string, incidentbot.Message) error { return nil }
func (c *storyChat) Upload(context.Context, string, string, string, []byte, string) (string, error) {
	return "", nil
}
func (c *storyChat) Pin(context.Context, string, string) error { return nil }
func (c *storyChat) Message(context.Context, string, string) (incidentbot.SlackMessage, error) {
	return incidentbot.SlackMessage{}, incidentbot.Errorf(incidentbot.ENOTFOUND, "message_not_found")
}

// digested returns how many incidents the digests posted so far listed.
func (c *storyChat) digested() (digests, incidents int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.posts {
		if strings.HasPrefix(m.Text, "Alert storm") {
			digests++
			incidents += strings.Count(m.Body, "• ")
		}
	}
	return digests, incidents
}

// outboxRun is an outbox runner performing a test's jobs.
type outboxRun struct {
	*outbox.Runner
	stop func()
}

// runOutbox runs the outbox over js (on its service's store, woken by its
// commits), with fast retries, and returns it with a stop that waits for
// it (also run at the test's end).
func runOutbox(t *testing.T, js *incidentbot.Jobs) outboxRun {
	t.Helper()
	r := &outbox.Runner{Performer: js, Backoff: func(int) time.Duration { return 10 * time.Millisecond }}
	js.Lanes = r
	if js.Service.Enqueued == nil {
		js.Service.Enqueued = r.Wake
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("outbox runner: %v", err)
		}
	}()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return outboxRun{Runner: r, stop: stop}
}

func unannounced(t *testing.T, db *store.DB) []string {
	t.Helper()
	var ids []string
	err := db.View(context.Background(), func(tx incidentbot.Tx) error {
		incs, err := tx.ListIncidents(0, 0, "")
		for _, i := range incs {
			if i.Announcement == nil {
				ids = append(ids, i.ID)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func page(t *testing.T, s *incidentbot.Service, id string) {
	t.Helper()
	if _, err := s.IngestPagerDuty(context.Background(), "W-"+id, pd(id, incidentbot.EventTriggered, t0)); err != nil {
		t.Fatal(err)
	}
}

// A page that joins the storm while its digest is being posted is in the
// next digest: the one in flight must not forget it.
func TestDigest_PageDuringThePostIsAnnouncedNext(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	s.DigestAfter = 2
	s.DigestCollect = 20 * time.Millisecond
	chat := &storyChat{}
	var once sync.Once
	chat.onPost = func(_ string, msg incidentbot.Message) error {
		if strings.HasPrefix(msg.Text, "Alert storm") {
			once.Do(func() {
				if _, err := s.IngestPagerDuty(context.Background(), "W-PLATE", pd("PLATE", incidentbot.EventTriggered, t0)); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	}
	for i := range 5 {
		page(t, s, fmt.Sprintf("P%d", i))
	}
	runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitUntil(t, "every incident announced", func() bool { return len(unannounced(t, db)) == 0 })
	// P0, P1 singly; P2–P4 in the first digest, PLATE in a second.
	if digests, n := chat.digested(); digests != 2 || n != 4 {
		t.Errorf("%d digests listing %d incidents, want 2 listing 4", digests, n)
	}
}

// A digest that fails for good does not block the next storm's digest,
// which lists the incidents the failed one could not announce.
func TestDigest_DeadLetterDoesNotBlockTheNext(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	s.DigestAfter = 2
	s.DigestCollect = 20 * time.Millisecond
	chat := &storyChat{}
	var mu sync.Mutex
	refuse := true
	chat.onPost = func(_ string, msg incidentbot.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse && strings.HasPrefix(msg.Text, "Alert storm") {
			return incidentbot.Errorf(incidentbot.EREJECTED, "channel_not_found")
		}
		return nil
	}
	for i := range 4 {
		page(t, s, fmt.Sprintf("P%d", i))
	}
	w := runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitDigestDead(t, db)
	mu.Lock()
	refuse = false
	mu.Unlock()
	page(t, s, "PNEXT")
	w.Wake()
	waitUntil(t, "every incident announced", func() bool { return len(unannounced(t, db)) == 0 })
	if digests, n := chat.digested(); digests != 1 || n != 3 {
		t.Errorf("%d digests listing %d incidents, want 1 listing 3 (P2, P3, PNEXT)", digests, n)
	}
}

// A storm digest that fails for good, with no storm page after it, does not
// hold its incidents' stakeholder replies for ever (each waited 250 ms at a
// time for a digest that was not coming, never a dead letter): the replies
// are dropped, as for a failed announcement, and each incident says why.
func TestDigest_DeadLetterWithNoStormAfter_DoesNotHoldTheReplies(t *testing.T) {
	s, db := mustService(t)
	s.PagerSync = false
	s.DigestAfter = 2
	s.DigestCollect = 20 * time.Millisecond
	chat := &storyChat{}
	chat.onPost = func(_ string, msg incidentbot.Message) error {
		if strings.HasPrefix(msg.Text, "Alert storm") {
			return incidentbot.Errorf(incidentbot.EREJECTED, "channel_not_found")
		}
		return nil
	}
	for i := range 4 {
		page(t, s, fmt.Sprintf("P%d", i))
	}
	runOutbox(t, &incidentbot.Jobs{Service: s, Chat: chat})
	waitDigestDead(t, db)
	mustIngest(t, s, "W-P3-resolved", pd("P3", incidentbot.EventResolved, t0.Add(time.Minute)))
	waitUntil(t, "P3's resolution reply to be done with", func() bool {
		_, _, jobs := state(t, db, "P3")
		return count(jobs, incidentbot.JobAnnounceResolved) == 0
	})
	inc, _, _ := state(t, db, "P3")
	found := false
	for _, p := range inc.Problems {
		found = found || p.Job == incidentbot.JobAnnounceDigest && strings.Contains(p.Message, "storm digest")
	}
	if !found {
		t.Errorf("P3's problems %+v do not say its storm digest failed", inc.Problems)
	}
}

// waitDigestDead waits for the storm digest's dead letter, by its kind:
// other jobs may fail for good too (storyChat knows no Slack user for the
// assignees' invites), in any order.
func waitDigestDead(t *testing.T, db incidentbot.Store) {
	t.Helper()
	waitUntil(t, "the digest's dead letter", func() bool {
		var dead []*incidentbot.Job
		if err := db.View(context.Background(), func(tx incidentbot.Tx) error {
			var err error
			dead, err = tx.DeadLetters()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, j := range dead {
			if j.Kind == incidentbot.JobAnnounceDigest {
				return true
			}
		}
		return false
	})
}
