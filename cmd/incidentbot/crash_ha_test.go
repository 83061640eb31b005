package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// The two-replica storm's size and Slack faults are the single-process
// crash test's: 300 incidents, Slack answering 429 (Retry-After: 1) to 5%
// of its calls (crash429Rate), and 503 to every call for crashOutage, here
// halfway through the storm.
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

// Two replicas of the real binary share one PostgreSQL schema. The storm of
// the single-process crash test (300 incidents: triggered, acknowledged 30
// s later, a note 60 s later, every delivery under two webhook IDs,
// shuffled) goes to either replica; Slack answers 429 to 5% of the calls
// and 503 to all of them for 3 s halfway; the leader is SIGKILLed twice
// (during the storm and while the outbox drains) and restarted. Nothing is
// lost: exactly one incident and one channel per PagerDuty incident, every
// acknowledgement and note on its timeline exactly once with the status
// and acknowledgement time PagerDuty gave, every note in its channel
// (repeats bounded by the calls in flight at the kills), no dead letters;
// each takeover is timed. Replay with the seed it logs: CRASH_SEED=<seed>
// go test -run TestCrashHA -count=1 -v ./cmd/incidentbot/
func TestCrashHA_TwoReplicasLeaderKilledTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the binary and storms two replicas")
	}
	began := time.Now()
	schemaURL := pgtest.SchemaURL(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d; replay: CRASH_SEED=%d go test -run TestCrashHA -count=1 -v ./cmd/incidentbot/", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	bin := crashBuildBot(t, dir)

	slack := slackfake.New()
	t.Cleanup(slack.Close)
	slack.AddUser("UALICE", "alice", "alice@example.com")
	slack.CreateChannelDirect("incidents", "UHUMAN", false)
	pd := pagerfake.New()
	t.Cleanup(pd.Close)
	pd.AddUser(pagerfake.User{ID: "PALICE", Name: "Alice Chen", Email: "alice@example.com"})

	// The deliveries, as in TestCrash_StormWithTwoKills.
	sends, pdIDs, noteText, ackAt := crashDeliveries(t, pd, rng, crashHAIncidents, crashStormShape{
		title: "HA storm %s checkout errors", note: "ha note %s: pool exhausted on shard %d", noteID: "N", webhook: "W-%d-%s-%c"}, seed)
	pd.Reset()
	rng.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })
	kill2Frac := 0.2 + 0.6*rng.Float64() // kill #2 once pending fell to this share of its level at the storm's end
	t.Logf("%d deliveries (%d incidents × 3 events × %d copies) to two replicas, %d senders; Slack: %.0f%% 429 (Retry-After: 1), 503 for %s halfway; kill #1 at a third, kill #2 at %.0f%% of the pending outbox",
		len(sends), crashHAIncidents, crashCopies, crashSenders, 100*crash429Rate, crashOutage, 100*kill2Frac)

	bots := make([]*crashBot, 2)
	for i := range bots {
		b := &crashBot{t: t, bin: bin, base: "http://" + crashFreeAddr(t), logPath: filepath.Join(dir, fmt.Sprintf("bot%d.log", i)), seed: seed}
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
	slack.SetChaos(slackfake.Chaos{Rate429: crash429Rate, RetryAfter: crash429After, Seed: seed})

	counter := &crashSendCounter{base: &http.Transport{MaxIdleConnsPerHost: crashSenders, IdleConnTimeout: 30 * time.Second}}
	client := &http.Client{Timeout: 5 * time.Second, Transport: counter}
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
				status, err := s.Send(ctx, d.webhookID, d.body)
				if err == nil && status/100 == 2 {
					accepted.Add(1)
					break
				}
				if ctx.Err() != nil {
					lost.Store(d.webhookID, true)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	stormCtx, stopStorm := context.WithTimeout(context.Background(), crashStormBudget)
	defer stopStorm()
	stormStart := time.Now()
	var wg sync.WaitGroup
	t.Cleanup(func() { stopStorm(); wg.Wait() }) // no sender outlives the test
	for range crashSenders {
		wg.Go(func() { storm(stormCtx) })
	}

	// Halfway through the storm, Slack fails every call for a while: from
	// when half the deliveries are in and a replica leads (the outbox
	// calls Slack; the first takeover may still be under way).
	outageDone := make(chan struct{})
	var outageAt atomic.Int64 // unix nanoseconds
	go func() {
		defer close(outageDone)
		for accepted.Load() < int64(len(sends)/2) || !(bots[0].leading() || bots[1].leading()) {
			if stormCtx.Err() != nil && accepted.Load() < int64(len(sends)) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		outageAt.Store(time.Now().UnixNano())
		crashSlackOutage(slack, crashOutage)
	}()

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
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var ok bool
			if li, ok = leader(); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no replica says incidentbot_leader 1 30 s before the kill %s", when)
			}
		}
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
	// Waited for as long as the senders keep trying (waitFor's 15 s is
	// too short for a storm on a loaded CI machine).
	for accepted.Load() < int64(len(sends)/3) {
		if stormCtx.Err() != nil {
			t.Fatalf("%d of %d deliveries accepted in %s: the storm did not reach a third", accepted.Load(), len(sends), crashStormBudget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	killLeader("during the storm")
	wg.Wait()
	stormDone := time.Now()
	stopStorm()
	<-outageDone
	lostN := 0
	lost.Range(func(any, any) bool { lostN++; return true })
	if lostN > 0 || accepted.Load() != int64(len(sends)) {
		t.Fatalf("%d of %d deliveries accepted, %d lost", accepted.Load(), len(sends), lostN)
	}
	t.Logf("storm: %d deliveries accepted in %s (%d HTTP attempts, %d without an answer); Slack outage from %s into the storm",
		accepted.Load(), stormDone.Sub(stormStart).Round(time.Millisecond), counter.requests.Load(), counter.failures.Load(),
		time.Unix(0, outageAt.Load()).Sub(stormStart).Round(time.Millisecond))

	// Kill #2 while the outbox drains.
	p0, err := bots[0].pending()
	if err != nil {
		t.Fatalf("GET /api/outbox: %v", err)
	}
	target := int(float64(p0) * kill2Frac)
	for {
		p, err := bots[0].pending()
		if err != nil {
			t.Fatalf("GET /api/outbox: %v", err)
		}
		if p <= target {
			t.Logf("kill #2 with %d outbox jobs pending (%d at the storm's end)", p, p0)
			break
		}
		if time.Since(stormDone) > crashDrainBudget {
			t.Fatalf("outbox stuck at %d pending jobs for %s before kill #2", p, crashDrainBudget)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	drained := time.Now()

	// Nothing failed for good.
	var outbox struct {
		DeadLetters []map[string]any `json:"dead_letters"`
	}
	if err := bots[1].api("/api/outbox", &outbox); err != nil {
		t.Fatal(err)
	}
	if len(outbox.DeadLetters) > 0 {
		t.Errorf("%d dead letters, want none; first: %v", len(outbox.DeadLetters), outbox.DeadLetters[0])
	}

	// One incident and one channel per PagerDuty incident.
	var list struct {
		Incidents []apiIncident `json:"incidents"`
	}
	if err := bots[1].api("/api/incidents?limit=1000", &list); err != nil {
		t.Fatal(err)
	}
	byPD := map[string]int{}
	for _, inc := range list.Incidents {
		byPD[inc.PagerDutyID]++
	}
	if len(list.Incidents) != crashHAIncidents || len(byPD) != crashHAIncidents {
		t.Errorf("%d incidents for %d distinct PagerDuty IDs, want %d", len(list.Incidents), len(byPD), crashHAIncidents)
	}
	incidentChannels := map[string]slackfake.Channel{}
	for _, c := range slack.Channels() {
		if strings.HasPrefix(c.Name, "inc-") {
			incidentChannels[c.ID] = c
		}
	}
	if len(incidentChannels) != crashHAIncidents {
		t.Errorf("%d incident channels in Slack, want exactly %d", len(incidentChannels), crashHAIncidents)
	}

	// Every incident: exactly one paged, one acknowledged and one note entry
	// whatever the copies, replicas and kills; PagerDuty's status and
	// acknowledgement time; its own channel with its note.
	bad := crashFindings{}
	channelOwner := map[string]string{}
	for _, id := range pdIDs {
		var inc apiIncident
		if err := bots[1].api("/api/incidents/"+id, &inc); err != nil {
			bad.add("GET /api/incidents/{pd} failed", "%s: %v", id, err)
			continue
		}
		ch, ok := checkStormIncident(&bad, channelOwner, incidentChannels, id, &inc, noteText[id], ackAt[id])
		if !ok {
			continue
		}
		notePosts := 0
		for _, m := range slack.Messages(ch.ID) {
			if strings.Contains(m.Text, noteText[id]) {
				notePosts++
			}
		}
		if notePosts == 0 {
			bad.add("note not posted in the channel", "%s (%s): %s", id, inc.ID, ch.Name)
		}
	}
	bad.report(t)

	// Repeats: the same message (channel, thread, text, blocks) posted more
	// than once, from the call log; only calls in flight at a kill may
	// repeat.
	dupPosts, posted := 0, map[string]int{}
	for _, c := range slack.CallsTo("chat.postMessage") {
		if !c.OK {
			continue
		}
		key := strings.Join([]string{c.Params.Get("channel"), c.Params.Get("thread_ts"), c.Params.Get("text"), c.Params.Get("blocks")}, "\x00")
		if posted[key]++; posted[key] > 1 {
			dupPosts++
		}
	}
	if dupPosts > crashMaxDuplicatePosts {
		t.Errorf("%d repeated posts after two kills, want at most %d (at-least-once repeats only the calls in flight)", dupPosts, crashMaxDuplicatePosts)
	}
	injected := map[int]int{}
	for _, c := range slack.Calls() {
		if c.Injected {
			injected[c.Status]++
		}
	}
	if injected[http.StatusTooManyRequests] == 0 || injected[http.StatusServiceUnavailable] == 0 {
		t.Errorf("Slack faults answered: %v; want some 429s and the outage's 503s", injected)
	}

	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	t.Logf("figures: %d deliveries to two replicas, 0 lost; %d incidents, %d channels; Slack faults answered %v (status: calls); %d repeated posts; takeovers %v (worst %v); drained %s after the storm; total %s",
		len(sends), len(list.Incidents), len(incidentChannels), injected, dupPosts, takeovers, worst.Round(time.Millisecond),
		drained.Sub(stormDone).Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	if worst > 10*time.Second {
		t.Errorf("a takeover took %v, want at most 10 s", worst)
	}
}
