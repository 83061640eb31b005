package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/jackc/pgx/v5"
)

// The PostgreSQL mode (-mode postgres) measures webhook ingest with the
// PostgreSQL store, with one and with two replicas of the real server on
// one schema, next to a bare baseline on the same PostgreSQL server in the
// same run: net/http, the HMAC check, one INSERT of the delivery in its own
// transaction, 202 (serveBaselinePG). With two replicas the deliveries
// alternate between them. Every run gets a fresh schema, dropped after it,
// and starts after a CHECKPOINT, so that no run inherits another's dirty
// pages. The order of the three runs rotates from round to round.
//
// Then it times the takeover after SIGKILL of the leader (-takeovers
// times, default 5): two replicas on a fresh schema, a trickle of
// deliveries to the replica that is not leading; SIGKILL the leader, and
// time until the other says incidentbot_leader 1 on /metrics, and until
// its outbox posts to Slack a note delivered after the kill. The killed
// replica is restarted (it follows) and the next trial kills the new
// leader.
//
// The server is -database-url (a role that may create schemas and run
// CHECKPOINT), or, without it, a throwaway cluster started with the
// repository's .ci/pg-start and stopped with .ci/pg-stop at the end.

// pgKinds are the servers of a round: the baseline, the floor (the least
// write issue 11 asks of a delivery, serveFloorPG) and the real server.
const (
	pgBaseline = "baseline"
	pgFloor    = "floor"
	pgBatched  = "floor, batched"
	pgOne      = "1 replica"
	pgTwo      = "2 replicas"
)

// pgMeasurement is one run of the load in the PostgreSQL mode.
type pgMeasurement struct {
	round    int
	kind     string
	load     loadResult
	posts    float64 // Slack posts per second in the window (real server)
	backlog  int     // outbox jobs pending right after the window
	exitErr  error
	seedTime time.Duration
	pages    []time.Duration // how long each page took to be accepted (sorted)
	// pageSenders sent those pages at once.
	pageSenders int
}

// pgServer is the PostgreSQL server the mode uses.
type pgServer struct {
	url        string // of the server (its default schema)
	postmaster int    // PID, for its CPU; 0 when unknown
	stop       func() error
}

// startPG returns the server at rawURL, or starts a throwaway cluster
// with .ci/pg-start when rawURL is empty.
func startPG(ctx context.Context, rawURL string, out io.Writer) (*pgServer, error) {
	s := &pgServer{url: rawURL, stop: func() error { return nil }}
	if rawURL == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return nil, fmt.Errorf("no -database-url, and %w", err)
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, ".ci", "pg-start"))
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf(".ci/pg-start: %w", err)
		}
		vars := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			if ok {
				vars[k] = strings.Trim(v, "'")
			}
		}
		s.url = vars["INCIDENTBOT_TEST_DATABASE_URL"]
		data := vars["INCIDENTBOT_TEST_PGDATA"]
		if s.url == "" || data == "" {
			return nil, fmt.Errorf(".ci/pg-start printed no URL or data directory: %q", b)
		}
		s.stop = func() error {
			out, err := exec.Command(filepath.Join(root, ".ci", "pg-stop"), data).CombinedOutput()
			if err != nil {
				return fmt.Errorf(".ci/pg-stop: %v: %s", err, out)
			}
			return nil
		}
		fmt.Fprintf(out, "PostgreSQL: a throwaway cluster from .ci/pg-start (data in %s), stopped at the end\n", data)
	}
	u, err := url.Parse(s.url)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1" && u.Hostname() != "") {
		s.stop()
		return nil, fmt.Errorf("-database-url must name a server on this machine (127.0.0.1, localhost or a socket)")
	}
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("connect to the PostgreSQL server: %w", err)
	}
	defer conn.Close(context.Background())
	var version, fsync, syncCommit, dataDir, maxConns, shared string
	err = conn.QueryRow(ctx, `SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'),
		current_setting('data_directory'), current_setting('max_connections'), current_setting('shared_buffers')`).Scan(&version, &fsync, &syncCommit, &dataDir, &maxConns, &shared)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("PostgreSQL settings (the mode needs a superuser, for CHECKPOINT and the data directory): %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid")); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		s.postmaster, _ = strconv.Atoi(strings.TrimSpace(line))
	}
	pid := "unknown (its CPU is counted as other)"
	if s.postmaster != 0 {
		pid = strconv.Itoa(s.postmaster)
	}
	fmt.Fprintf(out, "PostgreSQL: %s; fsync %s, synchronous_commit %s, max_connections %s, shared_buffers %s; postmaster PID %s\n",
		version, fsync, syncCommit, maxConns, shared, pid)
	if fsync != "on" || syncCommit != "on" {
		fmt.Fprintln(out, "WARNING: fsync or synchronous_commit is not on: the figures are not those of a durable server")
	}
	return s, nil
}

// cpu returns the CPU the server's processes used so far (-1 unknown).
func (s *pgServer) cpu() time.Duration {
	if s.postmaster == 0 {
		return -1
	}
	return treeCPU(s.postmaster)
}

// schema creates a fresh schema, checkpoints the server, and returns a URL
// whose connections use the schema, and a function that drops it.
func (s *pgServer) schema(ctx context.Context) (string, func() error, error) {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(context.Background())
	name := "load_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", nil, err
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return "", nil, fmt.Errorf("CHECKPOINT: %w", err)
	}
	u, err := url.Parse(s.url)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.url)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
		return err
	}
	return u.String(), drop, nil
}

// moduleRoot is the directory of the go.mod the go command sees.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the repository (for .ci/pg-start): run from it")
	}
	return filepath.Dir(gomod), nil
}

// spreadWebhooks is the webhook load of webhooks, request n going to
// targets[n mod len(targets)].
func spreadWebhooks(targets []string, secret string, incs []incidentRef) workload {
	return func(client *http.Client) func(uint64) func(context.Context) (string, error) {
		var senders []*pagerfake.Sender
		for _, t := range targets {
			senders = append(senders, &pagerfake.Sender{URL: t + "/webhooks/pagerduty", Secrets: []string{secret}, Client: client})
		}
		maker := newNoteMaker(incs)
		return func(n uint64) func(context.Context) (string, error) {
			body := maker.body(n)
			sender := senders[n%uint64(len(senders))]
			return func(ctx context.Context) (string, error) {
				status, err := sender.Send(ctx, "", body)
				return failure(status, err, status/100 == 2)
			}
		}
	}
}

func benchPostgres(ctx context.Context, o options, bin, self, dir, secret string, out io.Writer) (err error) {
	pg, err := startPG(ctx, o.databaseURL, out)
	if err != nil {
		return err
	}
	defer func() {
		if serr := pg.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	fmt.Fprintf(out, "incidentbot-load: PagerDuty webhooks on PostgreSQL, %d senders, %d open incidents, warm-up %s, window %s, %d rounds, baseline pool %d, Slack rate scale %g; then %d takeovers\n",
		o.concurrency, o.incidents, o.warmup, o.duration, o.rounds, o.baselinePool, o.slackScale, o.takeovers)
	incs := makeIncidents(o.incidents)
	order := []string{pgBaseline, pgFloor, pgBatched, pgOne, pgTwo}
	var all []pgMeasurement
	for r := 1; r <= o.rounds; r++ {
		for i := range order {
			kind := order[(i+r-1)%len(order)] // rotate: no kind always goes first
			rdir := filepath.Join(dir, fmt.Sprintf("round%d-%s", r, strings.ReplaceAll(kind, " ", "-")))
			if err := os.Mkdir(rdir, 0o700); err != nil {
				return err
			}
			m := pgMeasurement{round: r, kind: kind}
			if err := measurePG(ctx, o, pg, bin, self, rdir, secret, incs, &m); err != nil {
				return fmt.Errorf("round %d, %s: %w", r, kind, err)
			}
			fmt.Fprintln(out, m.line())
			all = append(all, m)
		}
	}
	fmt.Fprintln(out)
	reportPG(out, all)
	if o.takeovers == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tdir := filepath.Join(dir, "takeover")
	if err := os.Mkdir(tdir, 0o700); err != nil {
		return err
	}
	trials, err := measureTakeovers(ctx, o, pg, bin, tdir, secret, out)
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	reportTakeovers(out, trials)
	return nil
}

// measurePG runs the load against one kind of server on a fresh schema.
func measurePG(ctx context.Context, o options, pg *pgServer, bin, self, dir, secret string, incs []incidentRef, m *pgMeasurement) (err error) {
	schemaURL, drop, err := pg.schema(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if derr := drop(); derr != nil && err == nil {
			err = fmt.Errorf("dropping the run's schema: %w", derr)
		}
	}()
	if m.kind == pgBaseline || m.kind == pgFloor || m.kind == pgBatched {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		args := []string{"-serve-baseline-pg", addr, schemaURL, secret, strconv.Itoa(o.baselinePool)}
		if m.kind == pgFloor || m.kind == pgBatched {
			args = []string{"-serve-floor-pg", addr, schemaURL, secret, strconv.Itoa(o.baselinePool), strconv.Itoa(o.incidents)}
		}
		if m.kind == pgBatched {
			args = append(args, "64")
		}
		p, err := startProc(ctx, m.kind, filepath.Join(dir, strings.ReplaceAll(m.kind, ", ", "-")+".log"), childEnv(), self, args...)
		if err != nil {
			return err
		}
		defer p.stop()
		base := "http://" + addr
		if err := waitReady(ctx, p, base); err != nil {
			return err
		}
		if m.load, err = runLoadOn(ctx, meters{targets: []string{base}, server: pidsCPU(p.pid), db: pg.cpu}, webhooks(base, secret, incs), o.concurrency, o.warmup, o.duration); err != nil {
			return err
		}
		m.exitErr = p.stop()
		return nil
	}
	n := 1
	if m.kind == pgTwo {
		n = 2
	}
	s, err := startReplicas(ctx, bin, dir, secret, o.slackScale, schemaURL, n)
	if err != nil {
		return err
	}
	defer s.close()
	s.pageSenders = o.pageSenders
	t0 := time.Now()
	dead, err := s.seed(ctx, secret, incs)
	if err != nil {
		return fmt.Errorf("opening the incidents: %w", err)
	}
	if dead > 0 {
		return fmt.Errorf("opening the incidents left %d dead letters (GET /api/outbox)", dead)
	}
	m.seedTime = time.Since(t0)
	m.pages, m.pageSenders = s.pages, cmp.Or(s.pageSenders, 8)
	var pids []int
	for _, p := range s.procs {
		pids = append(pids, p.pid)
	}
	mt := meters{targets: s.bases, server: pidsCPU(pids...), db: pg.cpu}
	if m.load, err = runLoadOn(ctx, mt, spreadWebhooks(s.bases, secret, incs), o.concurrency, o.warmup, o.duration); err != nil {
		return err
	}
	m.posts = float64(s.slackPosts(m.load.Start, m.load.End)) / m.load.End.Sub(m.load.Start).Seconds()
	m.backlog = -1
	if ob, err := s.outbox(ctx); err == nil {
		m.backlog = ob.pending
	}
	m.exitErr = s.close()
	return nil
}

func (m pgMeasurement) line() string {
	l := m.load
	s := fmt.Sprintf("round %d %-10s %8.1f deliveries/s  p50 %s  p90 %s  p99 %s  max %s  errors %d  CPU %% server/PostgreSQL/tool/other: %s  (server+PostgreSQL %.2f ms a delivery)",
		m.round, m.kind, l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, pgCPUCell(l), cpuPerDelivery(l))
	if m.kind == pgOne || m.kind == pgTwo {
		s += fmt.Sprintf("  (incidents opened in %s, %d pages from %d senders accepted in p50 %s p99 %s max %s; Slack posts %.1f/s; outbox backlog after the window %d)",
			m.seedTime.Round(time.Millisecond), len(m.pages), m.pageSenders, ms(percentile(m.pages, 50)), ms(percentile(m.pages, 99)), ms(percentile(m.pages, 100)), m.posts, m.backlog)
	}
	return s + measurement{load: m.load, exitErr: m.exitErr, isReal: m.kind == pgOne || m.kind == pgTwo}.errorLines()
}

// pgCPUCell formats the CPU used in the window, in % of one core: the
// server(s), PostgreSQL, this tool, the rest of the machine.
func pgCPUCell(l loadResult) string {
	pct := func(c float64) string {
		if c < 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f", 100*c)
	}
	return pct(l.ServerCPU) + "/" + pct(l.DBCPU) + "/" + pct(l.ToolCPU) + "/" + pct(l.OtherCPU)
}

// cpuPerDelivery is the CPU the server(s) and PostgreSQL spent per
// delivery accepted in the window, in ms: what a busy machine changes
// least. -1 when unknown.
func cpuPerDelivery(l loadResult) float64 {
	if l.ServerCPU < 0 || l.DBCPU < 0 || l.OK == 0 {
		return -1
	}
	return (l.ServerCPU + l.DBCPU) * l.End.Sub(l.Start).Seconds() * 1000 / float64(l.OK)
}

// reportPG prints every run, the medians of each kind and the ratios of
// the real server's medians to the baseline's.
func reportPG(out io.Writer, all []pgMeasurement) {
	fmt.Fprintln(out, "| round | server | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU % server/PostgreSQL/tool/other | server+PostgreSQL CPU ms a delivery | Slack posts/s | outbox backlog |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, m := range all {
		l := m.load
		extra := "| – | – |"
		if m.kind == pgOne || m.kind == pgTwo {
			extra = fmt.Sprintf("| %.1f | %d |", m.posts, m.backlog)
		}
		fmt.Fprintf(out, "| %d | %s | %.1f | %s | %s | %s | %s | %d | %s | %.2f %s\n", m.round, m.kind,
			l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, pgCPUCell(l), cpuPerDelivery(l), extra)
	}
	med := map[string]map[string]float64{}
	for _, kind := range []string{pgBaseline, pgFloor, pgBatched, pgOne, pgTwo} {
		var rate, p50, p90, p99, pmax, errs, posts, backlog, cpu []float64
		for _, m := range all {
			if m.kind != kind {
				continue
			}
			rate = append(rate, m.load.Rate())
			p50 = append(p50, float64(m.load.Pct(50))/1e6)
			p90 = append(p90, float64(m.load.Pct(90))/1e6)
			p99 = append(p99, float64(m.load.Pct(99))/1e6)
			pmax = append(pmax, float64(m.load.Pct(100))/1e6)
			errs = append(errs, float64(m.load.Errors))
			posts = append(posts, m.posts)
			backlog = append(backlog, float64(m.backlog))
			cpu = append(cpu, cpuPerDelivery(m.load))
		}
		med[kind] = map[string]float64{"rate": median(rate), "p99": median(p99), "cpu": median(cpu)}
		extra := "| – | – |"
		if kind == pgOne || kind == pgTwo {
			extra = fmt.Sprintf("| %.1f | %.0f |", median(posts), median(backlog))
		}
		fmt.Fprintf(out, "| **median** | **%s** | **%.1f** | %.2f | %.2f | **%.2f** | %.2f | %.0f | | %.2f %s\n", kind,
			median(rate), median(p50), median(p90), median(p99), median(pmax), median(errs), median(cpu), extra)
	}
	fmt.Fprintln(out)
	b := med[pgBaseline]
	if b["rate"] == 0 || b["p99"] == 0 {
		fmt.Fprintln(out, "no ratio: the baseline accepted no deliveries")
	} else {
		for _, kind := range []string{pgFloor, pgBatched, pgOne, pgTwo} {
			tput, p99 := med[kind]["rate"]/b["rate"], med[kind]["p99"]/b["p99"]
			fmt.Fprintf(out, "%-10s throughput/baseline: %.3fx (bar: at least 0.8x) %s   p99/baseline: %.3fx (bar: at most 2x) %s   CPU a delivery/baseline's: %.2fx\n",
				kind, tput, verdict(tput >= 0.8), p99, verdict(p99 <= 2), med[kind]["cpu"]/b["cpu"])
		}
	}
	var busy []string
	total := 0
	for _, m := range all {
		total += m.load.Errors + m.load.OutsideErrors
		if m.load.OtherCPU > maxOtherCPU {
			busy = append(busy, fmt.Sprintf("%d %s", m.round, m.kind))
		}
	}
	if len(busy) > 0 {
		fmt.Fprintf(out, "WARNING: other processes used more than %.0f%% of a core during round %s: those figures are disturbed\n",
			100*maxOtherCPU, strings.Join(busy, ", "))
	}
	if total > 0 {
		fmt.Fprintf(out, "ERRORS: %d requests failed (transport or non-2xx); see the rounds above\n", total)
	}
}

// takeover is one trial: the time from SIGKILL of the leader until the
// other replica led, and until its outbox posted a note delivered after
// the kill.
type takeover struct {
	killed, took  string
	leader, moved time.Duration
	delivered     int // deliveries the survivor accepted meanwhile
	failed        int // and those it did not
}

// leading reports whether the replica at base says incidentbot_leader 1.
func leading(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if bytes.Equal(sc.Bytes(), []byte("incidentbot_leader 1")) {
			return true
		}
	}
	return false
}

var postedNote = regexp.MustCompile(`Load note PN([0-9A-F]{8})`)

// measureTakeovers starts two replicas on a fresh schema and kills the
// leader o.takeovers times.
func measureTakeovers(ctx context.Context, o options, pg *pgServer, bin, dir, secret string, out io.Writer) (trials []takeover, err error) {
	schemaURL, drop, err := pg.schema(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := drop(); derr != nil && err == nil {
			err = fmt.Errorf("dropping the schema: %w", derr)
		}
	}()
	s, err := startReplicas(ctx, bin, dir, secret, o.slackScale, schemaURL, 2)
	if err != nil {
		return nil, err
	}
	defer s.close()
	incs := makeIncidents(10)
	if dead, err := s.seed(ctx, secret, incs); err != nil || dead > 0 {
		return nil, fmt.Errorf("opening the incidents: %v (%d dead letters)", err, dead)
	}

	// The trickle: a delivery every 20 ms to the replica that is to
	// survive; accepted[n] is when note n was answered 2xx.
	var (
		target   atomic.Int64
		mu       sync.Mutex
		accepted = map[uint64]time.Time{}
		ok, bad  atomic.Int64
	)
	tctx, stopTrickle := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopTrickle(); wg.Wait() }()
	wg.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		maker := newNoteMaker(incs)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint64(0); ; n++ {
			select {
			case <-tctx.Done():
				return
			case <-tick.C:
			}
			sender := &pagerfake.Sender{URL: s.bases[target.Load()] + "/webhooks/pagerduty", Secrets: []string{secret}, Client: client}
			status, err := sender.Send(tctx, "", maker.body(n))
			if err == nil && status/100 == 2 {
				mu.Lock()
				accepted[n] = time.Now()
				mu.Unlock()
				ok.Add(1)
			} else if tctx.Err() == nil {
				bad.Add(1)
			}
		}
	})

	findLeader := func() (int, error) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			a, b := leading(ctx, s.bases[0]), leading(ctx, s.bases[1])
			switch {
			case a && !b:
				return 0, nil
			case b && !a:
				return 1, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return -1, errors.New("no single leader within 30 s")
	}
	for k := range o.takeovers {
		li, err := findLeader()
		if err != nil {
			return trials, err
		}
		fi := 1 - li
		target.Store(int64(fi))
		// Let the trickle reach the survivor and the leader post it.
		time.Sleep(time.Second)
		ok0, bad0 := ok.Load(), bad.Load()
		killedAt, err := s.procs[li].kill()
		if err != nil {
			return trials, err
		}
		tr := takeover{killed: s.names[li], took: s.names[fi]}
		deadline := killedAt.Add(30 * time.Second)
		for tr.leader == 0 || tr.moved == 0 {
			if time.Now().After(deadline) {
				return trials, fmt.Errorf("trial %d: no takeover within 30 s of SIGKILL (leader after %v, outbox moved after %v)", k+1, tr.leader, tr.moved)
			}
			if tr.leader == 0 && leading(ctx, s.bases[fi]) {
				tr.leader = time.Since(killedAt)
			}
			if tr.moved == 0 {
				mu.Lock()
				for _, c := range s.slack.CallsTo("chat.postMessage") {
					if !c.OK || c.At.Before(killedAt) {
						continue
					}
					mm := postedNote.FindStringSubmatch(c.Params.Get("text") + c.Params.Get("blocks"))
					if mm == nil {
						continue
					}
					n, _ := strconv.ParseUint(mm[1], 16, 64)
					if at, ok := accepted[n]; ok && at.After(killedAt) {
						tr.moved = c.At.Sub(killedAt)
						break
					}
				}
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
		tr.delivered, tr.failed = int(ok.Load()-ok0), int(bad.Load()-bad0)
		trials = append(trials, tr)
		fmt.Fprintf(out, "takeover %d: %s SIGKILLed; %s led after %s, its outbox posted a note delivered after the kill %s after it; %d deliveries accepted meanwhile, %d failed\n",
			k+1, tr.killed, tr.took, tr.leader.Round(time.Millisecond), tr.moved.Round(time.Millisecond), tr.delivered, tr.failed)
		// The killed replica comes back as a follower.
		if err := s.startReplica(ctx, li); err != nil {
			return trials, err
		}
		if err := poll(ctx, 60*time.Second, "the outbox to settle after the takeover", func() (bool, error) {
			ob, err := s.outbox(ctx)
			return err == nil && ob.pending < 5, err
		}); err != nil {
			return trials, err
		}
	}
	return trials, nil
}

// reportTakeovers prints the trials and their medians against the bar.
func reportTakeovers(out io.Writer, trials []takeover) {
	fmt.Fprintln(out, "| trial | SIGKILLed | took over | leader after s | outbox moved after s | deliveries accepted meanwhile / failed |")
	fmt.Fprintln(out, "| ---: | --- | --- | ---: | ---: | ---: |")
	var lead, moved []float64
	for i, tr := range trials {
		fmt.Fprintf(out, "| %d | %s | %s | %.2f | %.2f | %d / %d |\n", i+1, tr.killed, tr.took, tr.leader.Seconds(), tr.moved.Seconds(), tr.delivered, tr.failed)
		lead = append(lead, tr.leader.Seconds())
		moved = append(moved, tr.moved.Seconds())
	}
	fmt.Fprintf(out, "| **median** | | | **%.2f** | **%.2f** | |\n\n", median(lead), median(moved))
	fmt.Fprintf(out, "takeover (median of %d): leader after %.2f s, outbox moving after %.2f s (bar: at most 10 s) %s\n",
		len(trials), median(lead), median(moved), verdict(median(moved) <= 10 && median(lead) <= 10))
}
