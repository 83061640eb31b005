package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/incidentbot/incidentbot/internal/slackcmd"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100}, {0.1, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of none = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median(3,1,2) = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median(4,1,2,3) = %v", got)
	}
}

// Every delivery is a distinct, valid incident.annotated event for the
// incidents in turn.
func TestNoteMaker(t *testing.T) {
	incs := makeIncidents(3)
	m := newNoteMaker(incs)
	seen := map[string]bool{}
	for n := range uint64(6) {
		b := m.body(n)
		if bytes.Contains(b, []byte("@")) {
			t.Fatalf("delivery %d keeps a marker: %s", n, b)
		}
		ev, err := pager.DecodeWebhook(b)
		if err != nil {
			t.Fatalf("delivery %d: %v\n%s", n, err, b)
		}
		if ev.Type != "incident.annotated" || ev.IncidentID != incs[n%3].ID || ev.Text == "" || seen[ev.ID] {
			t.Fatalf("delivery %d: %+v", n, ev)
		}
		if time.Since(ev.OccurredAt) > time.Minute {
			t.Errorf("delivery %d occurred at %v, want now", n, ev.OccurredAt)
		}
		seen[ev.ID] = true
	}
}

// commandServer is a stand-in for the bot's /slack/commands: it checks
// what the load tool sends as the bot does (v0 signature, form fields,
// subcommand) and answers a note in its channel with an empty 200, as the bot does.
type commandServer struct {
	t      *testing.T
	secret string
	incOf  map[string]string // channel ID → incident ID
	mu     sync.Mutex
	texts  map[string]bool
	noted  int
}

func (s *commandServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path != slackfake.CommandsPath || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "wrong path or content type", http.StatusNotFound)
		return
	}
	if err := slackcmd.VerifyRequest(s.secret, r.Header.Get(slackfake.HeaderTimestamp), r.Header.Get(slackfake.HeaderSignature), body, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := slackcmd.ParseCommand(form.Get("text"), time.Now())
	inc := s.incOf[form.Get("channel_id")]
	if err != nil || c.Name != "note" || c.Text == "" || form.Get("command") != "/incident" || form.Get("user_id") != slackUserID ||
		form.Get("user_name") != slackUserName || form.Get("channel_name") == "" || form.Get("trigger_id") == "" ||
		form.Get("response_url") == "" || form.Get("team_id") == "" || inc == "" {
		s.t.Errorf("unexpected command %v (%+v, %v)", form, c, err)
	}
	s.mu.Lock()
	if s.texts[c.Text] {
		s.t.Errorf("note %q sent twice", c.Text)
	}
	s.texts[c.Text] = true
	s.noted++
	s.mu.Unlock()
	// A note run in its channel is answered by its post there: an empty 200.
	w.WriteHeader(http.StatusOK)
}

// Every command is a distinct, signed /incident note in the channels in
// turn, and only the quiet acceptance (an empty 200) counts.
func TestCommands(t *testing.T) {
	slack := slackfake.New()
	defer slack.Close()
	chans := []channelRef{{"INC-1", "C0001", "inc-1-checkout"}, {"INC-2", "C0002", "inc-2-checkout"}}
	cs := &commandServer{t: t, secret: "s3cret", incOf: map[string]string{"C0001": "INC-1", "C0002": "INC-2"}, texts: map[string]bool{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	ctx := context.Background()

	prepare := commands(srv.URL, cs.secret, slack, chans)(srv.Client())
	for n := range uint64(4) {
		if kind, err := prepare(n)(ctx); kind != "" || err != nil {
			t.Fatalf("command %d: %q %v", n, kind, err)
		}
	}
	if kind, err := commands(srv.URL, "wrong", slack, chans)(srv.Client())(9)(ctx); err != nil || kind != "HTTP 401" {
		t.Errorf("wrongly signed command: %q %v, want HTTP 401", kind, err)
	}
	if kind := judgeNoted([]byte(`{"response_type":"ephemeral","text":"This channel is not an incident channel"}`)); kind == "" {
		t.Error("a refusal was taken for the quiet acceptance")
	}
}

// runLoad counts every confirmed command, and in the window only those.
func TestRunLoad_Commands(t *testing.T) {
	slack := slackfake.New()
	defer slack.Close()
	chans := []channelRef{{"INC-1", "C0001", "inc-1-checkout"}, {"INC-2", "C0002", "inc-2-checkout"}}
	cs := &commandServer{t: t, secret: "s3cret", incOf: map[string]string{"C0001": "INC-1", "C0002": "INC-2"}, texts: map[string]bool{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	r, err := runLoad(context.Background(), srv.URL, os.Getpid(), commands(srv.URL, cs.secret, slack, chans), 4, 50*time.Millisecond, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK == 0 || r.Errors != 0 || r.OutsideErrors != 0 || len(r.Latencies) != r.OK || r.AllOK < r.OK || r.AllOK != cs.noted {
		t.Errorf("OK %d, AllOK %d, errors %d+%d, %d latencies; the server confirmed %d", r.OK, r.AllOK, r.Errors, r.OutsideErrors, len(r.Latencies), cs.noted)
	}
}

// With two replicas the deliveries alternate between them, each signed
// and distinct, and the baseline's handler keeps exactly the verified ones.
func TestSpreadWebhooks_AlternatesBetweenServers(t *testing.T) {
	const secret = "s3cret"
	var mu sync.Mutex
	kept := map[string]int{} // event ID → times kept
	perServer := [2]int{}
	var servers [2]*httptest.Server
	for i := range servers {
		h := verified(secret, func(eventID string, body []byte) error {
			mu.Lock()
			defer mu.Unlock()
			kept[eventID]++
			perServer[i]++
			return nil
		})
		servers[i] = httptest.NewServer(h)
		defer servers[i].Close()
	}
	prepare := spreadWebhooks([]string{servers[0].URL, servers[1].URL}, secret, makeIncidents(3))(http.DefaultClient)
	for n := range uint64(10) {
		if kind, err := prepare(n)(context.Background()); kind != "" || err != nil {
			t.Fatalf("delivery %d: %q %v", n, kind, err)
		}
	}
	if perServer != [2]int{5, 5} || len(kept) != 10 {
		t.Errorf("deliveries per server %v, %d distinct event IDs; want 5 and 5, 10", perServer, len(kept))
	}
	if kind, err := spreadWebhooks([]string{servers[0].URL}, "wrong", makeIncidents(1))(http.DefaultClient)(0)(context.Background()); err != nil || kind != "HTTP 401" {
		t.Errorf("wrongly signed delivery: %q %v, want HTTP 401", kind, err)
	}
	if len(kept) != 10 {
		t.Errorf("a wrongly signed delivery was kept")
	}
}

func TestPct_NearestRankAndMean(t *testing.T) {
	v := []float64{9, 1, 5, 3, 7}
	for p, want := range map[float64]float64{50: 5, 90: 9, 100: 9, 10: 1} {
		if got := pct(v, p); got != want {
			t.Errorf("pct(%v, %v) = %v, want %v", v, p, got, want)
		}
	}
	if v[0] != 9 {
		t.Error("pct sorted its argument in place")
	}
	if got := mean(v); got != 5 {
		t.Errorf("mean = %v, want 5", got)
	}
	if pct(nil, 50) != 0 || mean(nil) != 0 {
		t.Error("empty input: want 0")
	}
}

func TestRun_PullModeRefusesAPollUnderTenSeconds(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"-mode", "pull", "-poll", "5s"}, &out, &errOut); code != 2 {
		t.Errorf("-poll 5s: exit %d, want 2 (INCIDENTBOT_PAGERDUTY_POLL's floor is 10s)", code)
	}
}
