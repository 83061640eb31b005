package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// The PagerDuty user that the notes come from and that acts for the bot
// (PAGERDUTY_FROM); also every incident's assignee, known to Slack by the
// same e-mail, so that the invite jobs of the seeding succeed.
const (
	agentID    = "PLOADUSR"
	agentName  = "Alice Chen"
	agentEmail = "alice@example.com"
)

// proc is a child process. stop (or the end of the parent context) sends it
// SIGINT and kills it if it has not exited 5 s later; on Linux it is also
// killed when this process dies.
type proc struct {
	name    string
	pid     int
	logPath string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	exited  chan struct{}
	err     error // cmd.Wait's, valid once exited is closed
}

func startProc(ctx context.Context, name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	// Appended to: a replica restarted after a kill keeps one log.
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, logPath: logPath, cmd: cmd, cancel: cancel, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if cmd.ProcessState != nil && cmd.ProcessState.Success() {
			p.err = nil // Wait reports the cancelled context even after exit status 0
		}
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop stops the process and returns how it exited (nil: cleanly).
func (p *proc) stop() error {
	p.cancel()
	<-p.exited
	return p.err
}

// kill SIGKILLs the process and waits until it is gone; it returns when
// the signal was sent.
func (p *proc) kill() (time.Time, error) {
	at := time.Now()
	if err := p.cmd.Process.Kill(); err != nil {
		return at, fmt.Errorf("SIGKILL %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return at, nil
	case <-time.After(10 * time.Second):
		return at, fmt.Errorf("%s did not die within 10 s of SIGKILL", p.name)
	}
}

// childEnv is a minimal environment (so that no INCIDENTBOT_* or SLACK_*
// variable of the caller's shell changes the server) plus vars.
func childEnv(vars ...string) []string {
	env := vars
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls base/readyz until it answers 200.
func waitReady(ctx context.Context, p *proc, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, p.err, p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30 s; see %s", p.name, p.logPath)
		}
	}
}

// buildServer builds ./cmd/incidentbot of the module the go command sees
// from the working directory into dir.
func buildServer(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the incidentbot module: run from the repository or pass -bin")
	}
	bin := filepath.Join(dir, "incidentbot")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/incidentbot")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/incidentbot: %v\n%s", err, out)
	}
	return bin, nil
}

// startBaseline re-executes this program in its baseline mode; delay is
// bbolt's MaxBatchDelay.
func startBaseline(ctx context.Context, self, dir, secret string, delay time.Duration) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc(ctx, "baseline", filepath.Join(dir, "baseline.log"), childEnv(), self,
		"-serve-baseline", addr, filepath.Join(dir, "baseline.db"), secret, delay.String())
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitReady(ctx, p, base); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}

// realServer is the incidentbot binary with in-process Slack and PagerDuty
// fakes: one process on a bbolt file, or one or more replicas on one
// PostgreSQL schema (startReplicas).
type realServer struct {
	proc          *proc  // the first replica
	base          string // its URL
	procs         []*proc
	bases         []string
	names         []string   // each replica's name (and log file's)
	envs          [][]string // each replica's environment, to restart it
	bin, dir      string
	adminToken    string
	signingSecret string // SLACK_SIGNING_SECRET
	slack         *slackfake.Server
	pd            *pagerfake.Server
	// pageSenders page the incidents in seed at once (0: 8); pages are
	// the times seed's pages took to be accepted, sorted.
	pageSenders int
	pages       []time.Duration
}

// startReal starts the server with its own fakes, on a fresh bbolt file in
// dir. slackRateScale is INCIDENTBOT_SLACK_RATE_SCALE, the multiplier of the
// bot's Slack rate budgets.
func startReal(ctx context.Context, bin, dir, secret string, slackRateScale float64) (*realServer, error) {
	return startReplicas(ctx, bin, dir, secret, slackRateScale, "", 1)
}

// startReplicas starts n replicas of the server with shared fakes: on the
// PostgreSQL database at databaseURL (INCIDENTBOT_DATABASE_URL), or with
// databaseURL empty one process on a fresh bbolt file in dir. It returns
// once every replica is ready.
func startReplicas(ctx context.Context, bin, dir, secret string, slackRateScale float64, databaseURL string, n int, extraEnv ...func(*realServer) string) (*realServer, error) {
	s := &realServer{bin: bin, dir: dir, adminToken: "load-admin-" + newUUID(), signingSecret: randomHex(16), slack: slackfake.New(), pd: pagerfake.New()}
	s.slack.AddUser(slackUserID, slackUserName, agentEmail)
	s.pd.AddUser(pagerfake.User{ID: agentID, Name: agentName, Email: agentEmail})
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			s.close()
			return nil, err
		}
		name, storeVar := "incidentbot", "INCIDENTBOT_DB="+filepath.Join(dir, "incidentbot.db")
		if databaseURL != "" {
			storeVar = "INCIDENTBOT_DATABASE_URL=" + databaseURL
			name = fmt.Sprintf("incidentbot-%d", i+1)
		}
		env := childEnv(
			"SLACK_BOT_TOKEN="+slackfake.DefaultToken,
			"SLACK_API_URL="+s.slack.URL(),
			"SLACK_SIGNING_SECRET="+s.signingSecret,
			"PAGERDUTY_WEBHOOK_SECRETS="+secret,
			"PAGERDUTY_API_TOKEN="+s.pd.Token(),
			"PAGERDUTY_API_URL="+s.pd.URL(),
			"PAGERDUTY_FROM="+agentEmail,
			"INCIDENTBOT_ADDR="+addr,
			storeVar,
			"INCIDENTBOT_EXPORT_DIR="+filepath.Join(dir, name+"-postmortems"),
			"INCIDENTBOT_ADMIN_TOKEN="+s.adminToken,
			"INCIDENTBOT_SLACK_RATE_SCALE="+strconv.FormatFloat(slackRateScale, 'g', -1, 64),
		)
		for _, e := range extraEnv {
			env = append(env, e(s))
		}
		s.names = append(s.names, name)
		s.procs = append(s.procs, nil)
		s.bases = append(s.bases, "http://"+addr)
		s.envs = append(s.envs, env)
	}
	for i := range s.procs {
		if err := s.startReplica(ctx, i); err != nil {
			s.close()
			return nil, err
		}
	}
	s.proc, s.base = s.procs[0], s.bases[0]
	return s, nil
}

// startReplica starts replica i (again, after a kill: its log is appended
// to) and waits until it is ready.
func (s *realServer) startReplica(ctx context.Context, i int) error {
	name := s.names[i]
	p, err := startProc(ctx, name, filepath.Join(s.dir, name+".log"), s.envs[i], s.bin, "serve")
	if err != nil {
		return err
	}
	s.procs[i] = p
	if i == 0 {
		s.proc = p
	}
	if err := waitReady(ctx, p, s.bases[i]); err != nil {
		p.stop()
		return err
	}
	return nil
}

// close stops the servers, then the fakes; it returns how the servers
// exited.
func (s *realServer) close() error {
	var errs []error
	for _, p := range s.procs {
		if p != nil {
			if err := p.stop(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			}
		}
	}
	s.slack.Close()
	s.pd.Close()
	return errors.Join(errs...)
}

// seed opens incs: each is added to the PagerDuty fake and paged with an
// incident.triggered delivery. It returns once the admin API lists them all
// and the outbox has nothing pending (channels, topics, kickoff posts and
// invites done), and reports the dead letters, if any.
func (s *realServer) seed(ctx context.Context, secret string, incs []incidentRef) (deadLetters int, err error) {
	sender := &pagerfake.Sender{URL: s.base + "/webhooks/pagerduty", Secrets: []string{secret}}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan incidentRef)
	)
	s.pages = s.pages[:0]
	for range cmp.Or(s.pageSenders, 8) {
		wg.Go(func() {
			for ref := range next {
				t0 := time.Now()
				inc := s.pd.AddIncident(pagerfake.Incident{
					ID: ref.ID, Title: ref.Title, Urgency: "high", PriorityName: "P2",
					ServiceID: "PSVLOAD", ServiceName: "Checkout", AssigneeIDs: []string{agentID},
				})
				agent := pagerfake.ServiceRef(inc.ServiceID, inc.ServiceName)
				ev := pagerfake.Event{Type: "incident.triggered", Agent: &agent, Data: pagerfake.IncidentData(inc)}
				_, err := sender.SendUntilAccepted(sctx, "", ev.JSON(), 50*time.Millisecond)
				mu.Lock()
				s.pages = append(s.pages, time.Since(t0))
				if err != nil {
					errs = append(errs, fmt.Errorf("paging %s: %w", ref.ID, err))
				}
				mu.Unlock()
			}
		})
	}
	for _, ref := range incs {
		next <- ref
	}
	close(next)
	wg.Wait()
	slices.Sort(s.pages)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}

	want := map[string]bool{}
	for _, ref := range incs {
		want[ref.ID] = true
	}
	err = poll(ctx, 30*time.Second, "the admin API to list every incident", func() (bool, error) {
		var list struct {
			Incidents []struct {
				PagerDutyID string `json:"pagerduty_id"`
			} `json:"incidents"`
		}
		if err := s.api(ctx, "/api/incidents?status=open&limit=1000", &list); err != nil {
			return false, err
		}
		n := 0
		for _, inc := range list.Incidents {
			if want[inc.PagerDutyID] {
				n++
			}
		}
		return n == len(want), nil
	})
	if err != nil {
		return 0, err
	}
	err = poll(ctx, 120*time.Second, "the outbox to settle (with -slack-rate-scale 1, opening 100 channels takes minutes)", func() (bool, error) {
		ob, err := s.outbox(ctx)
		deadLetters = ob.dead
		return err == nil && ob.pending == 0, err
	})
	return deadLetters, err
}

type outboxState struct{ pending, dead int }

// outbox returns GET /api/outbox's pending count and number of dead letters.
func (s *realServer) outbox(ctx context.Context) (outboxState, error) {
	var ob struct {
		Pending     int               `json:"pending"`
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	err := s.api(ctx, "/api/outbox", &ob)
	return outboxState{pending: ob.Pending, dead: len(ob.DeadLetters)}, err
}

// api GETs an admin API path with the admin token and decodes the answer.
func (s *realServer) api(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, res.StatusCode)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// slackPosts counts the chat.postMessage calls the Slack fake answered ok
// between from and to.
func (s *realServer) slackPosts(from, to time.Time) int {
	n := 0
	for _, c := range s.slack.CallsTo("chat.postMessage") {
		if c.OK && !c.At.Before(from) && c.At.Before(to) {
			n++
		}
	}
	return n
}

// channels returns the incident ID and Slack channel of each of incs, from
// the admin API.
func (s *realServer) channels(ctx context.Context, incs []incidentRef) ([]channelRef, error) {
	var list struct {
		Incidents []struct {
			ID          string `json:"id"`
			PagerDutyID string `json:"pagerduty_id"`
			ChannelID   string `json:"channel_id"`
			ChannelName string `json:"channel_name"`
		} `json:"incidents"`
	}
	if err := s.api(ctx, "/api/incidents?status=open&limit=1000", &list); err != nil {
		return nil, err
	}
	byPD := map[string]channelRef{}
	for _, inc := range list.Incidents {
		byPD[inc.PagerDutyID] = channelRef{IncidentID: inc.ID, ChannelID: inc.ChannelID, ChannelName: inc.ChannelName}
	}
	out := make([]channelRef, 0, len(incs))
	for _, ref := range incs {
		ch, ok := byPD[ref.ID]
		if !ok || ch.ChannelID == "" {
			return nil, fmt.Errorf("incident %s has no channel (GET /api/incidents)", ref.ID)
		}
		out = append(out, ch)
	}
	return out, nil
}

// slackNotes counts the notes by slackUserID on the timelines of chans'
// incidents, from the admin API.
func (s *realServer) slackNotes(ctx context.Context, chans []channelRef) (int, error) {
	n := 0
	for _, ch := range chans {
		var inc struct {
			Timeline []struct {
				Kind    string `json:"kind"`
				ActorID string `json:"actor_id"`
			} `json:"timeline"`
		}
		if err := s.api(ctx, "/api/incidents/"+ch.IncidentID, &inc); err != nil {
			return 0, err
		}
		for _, e := range inc.Timeline {
			if e.Kind == "note" && e.ActorID == slackUserID {
				n++
			}
		}
	}
	return n, nil
}

// pagerNotes counts the notes the PagerDuty fake created between from and
// to.
func (s *realServer) pagerNotes(from, to time.Time) int {
	n := 0
	for _, c := range s.pd.CallsTo(http.MethodPost, "/incidents/") {
		if strings.HasSuffix(c.Path, "/notes") && c.Status == http.StatusCreated && !c.At.Before(from) && c.At.Before(to) {
			n++
		}
	}
	return n
}

// poll calls cond every 100 ms until it reports true or timeout passes; the
// last error cond returned goes into the timeout's message.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
