package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// crashHAIncidents is the two-replica storm's size: as many incidents as
// the single-process crash test.
const crashHAIncidents = crashIncidents

// leading reports whether a replica says incidentbot_leader 1 (false when
// it does not answer).
func (b *crashBot) leading() bool {
	res, err := crashAPIClient.Get(b.base + "/metrics")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return err == nil && strings.Contains(string(body), "\nincidentbot_leader 1\n")
}

// Two replicas of the real binary share one PostgreSQL schema; every
// delivery of a 300-incident storm (a trigger and a note each, every one
// delivered twice under two webhook IDs) goes to either replica at random,
// and the leader is SIGKILLed twice (once during the storm, once while
// the outbox drains) and restarted. Nothing is lost: exactly one incident
// and one channel per PagerDuty incident, every note in its channel (at
// least once, repeats bounded by the calls in flight at each kill), and
// each takeover is timed.
func TestCrashHA_TwoReplicasLeaderKilledTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the binary and storms two replicas")
	}
	schemaURL := pgtest.SchemaURL(t)
	dir := t.TempDir()
	bin := crashBuildBot(t, dir)

	slack := slackfake.New()
	t.Cleanup(slack.Close)
	slack.AddUser("UALICE", "alice", "alice@example.com")
	slack.CreateChannelDirect("incidents", "UHUMAN", false)
	pd := pagerfake.New()
	t.Cleanup(pd.Close)
	pd.AddUser(pagerfake.User{ID: "PALICE", Name: "Alice Chen", Email: "alice@example.com"})

	bots := make([]*crashBot, 2)
	for i := range bots {
		b := &crashBot{t: t, bin: bin, base: "http://" + crashFreeAddr(t), logPath: filepath.Join(dir, fmt.Sprintf("bot%d.log", i))}
		b.env = crashChildEnv(
			"SLACK_BOT_TOKEN="+slackfake.DefaultToken,
			"SLACK_SIGNING_SECRET=x",
			"SLACK_API_URL="+slack.URL(),
			"PAGERDUTY_WEBHOOK_SECRETS="+crashSecret,
			"PAGERDUTY_API_TOKEN="+pd.Token(),
			"PAGERDUTY_API_URL="+pd.URL(),
			"PAGERDUTY_FROM=alice@example.com",
			"INCIDENTBOT_ADDR="+strings.TrimPrefix(b.base, "http://"),
			"INCIDENTBOT_DATABASE_URL="+schemaURL,
			"INCIDENTBOT_ADMIN_TOKEN="+crashAdminToken,
			"INCIDENTBOT_ANNOUNCE_CHANNEL=#incidents",
			"INCIDENTBOT_EXPORT_DIR="+filepath.Join(dir, fmt.Sprintf("pm%d", i)),
			"INCIDENTBOT_UPDATE_CADENCE=sev1=0,sev2=0,sev3=0,sev4=0",
			"INCIDENTBOT_SLACK_RATE_SCALE=200",
		)
		t.Cleanup(b.cleanup)
		b.start()
		bots[i] = b
	}

	// The deliveries: a trigger and a note per incident, each under two
	// webhook IDs with one event ID, shuffled so a note may come first.
	type delivery struct{ webhookID, pdID string }
	var sends []delivery
	bodies := map[delivery][]byte{}
	noteText := map[string]string{}
	alice := pagerfake.UserRef("PALICE", "Alice Chen")
	for i := range crashHAIncidents {
		id := fmt.Sprintf("P%04d", i+1)
		inc := pd.AddIncident(pagerfake.Incident{
			ID: id, Number: 1000 + i, Title: fmt.Sprintf("HA storm %s checkout errors", id),
			Urgency: "high", PriorityName: "P2", ServiceID: "PCHK", ServiceName: "Checkout",
			AssigneeIDs: []string{"PALICE"}, CreatedAt: crashT0.Add(time.Duration(i) * time.Second),
		})
		data, ok := pd.IncidentData(id)
		if !ok {
			t.Fatalf("pagerfake has no incident %s", id)
		}
		noteText[id] = fmt.Sprintf("ha note %s", id)
		evs := []pagerfake.Event{
			{ID: "ev-trig-" + id, Type: "incident.triggered", OccurredAt: inc.CreatedAt, Agent: &alice, Data: data},
			{ID: "ev-note-" + id, Type: "incident.annotated", OccurredAt: inc.CreatedAt.Add(time.Minute), Agent: &alice,
				Data: pagerfake.NoteData(id, inc.Title, "N"+id, noteText[id])},
		}
		for _, ev := range evs {
			for copyN := range crashCopies {
				d := delivery{webhookID: fmt.Sprintf("W-%s-%d", ev.ID, copyN), pdID: id}
				sends = append(sends, d)
				bodies[d] = ev.JSON()
			}
		}
	}
	sort.Slice(sends, func(i, j int) bool { return (i*7919)%len(sends) < (j*7919)%len(sends) })

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashSenders}}
	var next, accepted atomic.Int64
	var lost sync.Map // deliveries never answered 2xx
	storm := func(ctx context.Context) {
		for {
			n := int(next.Add(1)) - 1
			if n >= len(sends) {
				return
			}
			d := sends[n]
			// Like PagerDuty: retry until a 2xx, on either replica.
			for attempt := 0; ; attempt++ {
				b := bots[(n+attempt)%2]
				s := &pagerfake.Sender{URL: b.base + "/webhooks/pagerduty", Secrets: []string{crashSecret}, Client: client}
				status, err := s.Send(ctx, d.webhookID, bodies[d])
				if err == nil && status/100 == 2 {
					accepted.Add(1)
					break
				}
				if ctx.Err() != nil {
					lost.Store(d, true)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	stormCtx, stopStorm := context.WithTimeout(context.Background(), crashStormBudget)
	defer stopStorm()
	var wg sync.WaitGroup
	for range crashSenders {
		wg.Add(1)
		go func() { defer wg.Done(); storm(stormCtx) }()
	}

	leader := func() (int, bool) {
		for i, b := range bots {
			if b.leading() {
				return i, true
			}
		}
		return -1, false
	}
	var takeovers []time.Duration
	killLeader := func(when string) {
		t.Helper()
		var li int
		waitFor(t, "a leader before the kill "+when, func() bool { var ok bool; li, ok = leader(); return ok })
		killedAt := bots[li].kill()
		other := bots[1-li]
		deadline := killedAt.Add(20 * time.Second)
		for !other.leading() {
			if time.Now().After(deadline) {
				t.Fatalf("no takeover within 20 s of SIGKILL of the leader (%s)", when)
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := time.Since(killedAt)
		takeovers = append(takeovers, d)
		t.Logf("kill %s: replica %d SIGKILLed; replica %d took over after %v", when, li, 1-li, d.Round(time.Millisecond))
		bots[li].start()
	}
	// Kill #1 a third of the way through the storm.
	waitFor(t, "a third of the storm", func() bool { return accepted.Load() >= int64(len(sends)/3) })
	killLeader("during the storm")
	wg.Wait()
	stopStorm()
	lostN := 0
	lost.Range(func(any, any) bool { lostN++; return true })
	if lostN > 0 || accepted.Load() != int64(len(sends)) {
		t.Fatalf("%d of %d deliveries accepted, %d lost", accepted.Load(), len(sends), lostN)
	}
	// Kill #2 while the outbox drains (if it has not drained already).
	killLeader("while the outbox drains")
	drainDeadline := time.Now().Add(crashDrainBudget)
	for {
		n, err := bots[0].pending()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(drainDeadline) {
			t.Fatalf("outbox not drained %v after the second kill (pending %d, %v)", crashDrainBudget, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// One incident and one channel per PagerDuty incident.
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	if err := bots[1].api("/api/incidents?limit=1000", &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Incidents) != crashHAIncidents {
		t.Errorf("%d incidents, want %d", len(list.Incidents), crashHAIncidents)
	}
	channels := map[string]bool{}
	for _, inc := range list.Incidents {
		if inc.ChannelID == "" {
			t.Errorf("%s has no channel", inc.ID)
		}
		channels[inc.ChannelID] = true
	}
	if len(channels) != crashHAIncidents {
		t.Errorf("%d distinct channels, want %d", len(channels), crashHAIncidents)
	}
	// Slack holds exactly those channels (and the stakeholder channel).
	if n := len(slack.Channels()); n != crashHAIncidents+1 {
		t.Errorf("Slack has %d channels, want exactly %d (one per incident, and #incidents)", n, crashHAIncidents+1)
	}
	// Every note posted, repeats bounded by what was in flight at the kills.
	posted := map[string]int{}
	for _, c := range slack.CallsTo("chat.postMessage") {
		if !c.OK {
			continue
		}
		body := c.Params.Get("text") + c.Params.Get("blocks")
		if i := strings.Index(body, "ha note P"); i >= 0 && len(body) >= i+13 {
			posted[body[i+8:i+13]]++
		}
	}
	dups := 0
	for id := range noteText {
		switch n := posted[id]; {
		case n == 0:
			t.Errorf("the note of %s was never posted", id)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > crashMaxDuplicatePosts {
		t.Errorf("%d repeated note posts, want at most %d (the calls in flight at two kills)", dups, crashMaxDuplicatePosts)
	}
	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	t.Logf("%d deliveries to two replicas, 0 lost; %d incidents, %d channels; %d repeated note posts; takeovers %v (worst %v)",
		len(sends), len(list.Incidents), len(channels), dups, takeovers, worst.Round(time.Millisecond))
	if worst > 10*time.Second {
		t.Errorf("a takeover took %v, want at most 10 s", worst)
	}
}
