// Command incidentbot-load measures how fast incidentbot ingests PagerDuty
// webhooks, against a bare baseline measured in the same run (-mode
// webhooks, the default), or how fast it answers slash commands (-mode
// commands).
//
// In the webhook mode it sends distinct, validly signed incident.annotated deliveries (a fresh
// event ID and X-Webhook-Id each, bodies shaped like PagerDuty's
// incident_note) for already-open incidents, from -concurrency senders over
// HTTP keep-alive on 127.0.0.1, to two servers in turn, each a separate
// process:
//
//   - the real server: the incidentbot binary (-bin, or built from
//     ./cmd/incidentbot) with a fresh bbolt file and in-process Slack and
//     PagerDuty fakes; -incidents incidents are paged and the outbox settles
//     before the load starts;
//   - the baseline: this program in a hidden mode that reads the body,
//     verifies the signature and puts the body in bbolt with one db.Batch
//     (default options: fsync on) before answering 202.
//
// Each round runs the baseline, then the real server: a warm-up (not
// counted), then a measured window. It prints every round, a Markdown table
// with the medians, and the ratios real/baseline.
//
// Usage (from the repository):
//
//	go run ./cmd/incidentbot-load [-mode webhooks|commands|history|postgres|socket|pull] [-bin path] [-duration 10s] [-warmup 2s] [-concurrency 64] [-incidents 100] [-rounds 3]
//
// In the command mode (-mode commands) it measures the real server alone,
// with the same setup: once the incidents are open, the senders send
// distinct, validly signed "/incident note <unique text>" slash commands
// (POST /slack/commands, the form body Slack sends, signed v0 with
// SLACK_SIGNING_SECRET at the current time) in the incident channels in
// turn. Each command is committed (a timeline entry, a Slack post and a
// PagerDuty note queued) before it is answered. An answer other than an
// empty 200 (a note run in its channel is answered by its post there, with
// no private confirmation) is an error. It prints the rounds, a Markdown table with the medians and the
// p99 against the target of 50 ms; there is no baseline in this mode.
//
// In the PostgreSQL mode (-mode postgres; postgres.go) it measures the same
// webhook load on the PostgreSQL store with one and with two replicas (the
// deliveries alternate between them), next to a bare baseline on the same
// PostgreSQL server (net/http, the HMAC check, one INSERT of the delivery in
// its own transaction, 202), then times the takeover after SIGKILL of the
// leader (-takeovers, default 5). The server is -database-url, or a
// throwaway cluster from .ci/pg-start.
//
// In the Socket Mode mode (-mode socket; noport.go) it runs the command
// load over HTTP and over Slack Socket Mode on one server in each round
// (the acknowledgement's latency), and in the pull mode (-mode pull) it
// times pages from PagerDuty's log entry to their Slack channel with
// INCIDENTBOT_PAGERDUTY_POLL (-poll), next to pages delivered by webhook.
//
// -baseline-batch-delay changes the baseline's bbolt MaxBatchDelay (default
// bbolt's 10 ms), to see how much the comparison owes to it.
// -slack-rate-scale sets the real server's INCIDENTBOT_SLACK_RATE_SCALE
// (default 1000: the Slack fake has no rate limits).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	mode        string
	bin         string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	incidents   int
	rounds      int
	batchDelay  time.Duration
	slackScale  float64
	history     []int // -mode history: the sizes
	// -mode postgres
	databaseURL  string
	baselinePool int
	takeovers    int
	pageSenders  int
	// -mode pull
	pollEvery time.Duration
	pages     int
	pageEvery time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve-baseline" {
		os.Exit(serveBaseline(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "-serve-baseline-pg" {
		os.Exit(serveBaselinePG(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "-serve-floor-pg" {
		os.Exit(serveFloorPG(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("incidentbot-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "webhooks", "webhooks: PagerDuty webhook ingestion, real server against the baseline; commands: answer latency of /incident note slash commands, real server only; socket: the same commands over Slack Socket Mode (acknowledgement latency) next to HTTP on the same server; pull: time from a PagerDuty log entry to its Slack channel in pull mode (-poll), next to webhook pages; history: costs against stored history (see -history); postgres: webhook ingestion on PostgreSQL with one and two replicas against a bare PostgreSQL baseline, then the takeover after SIGKILL of the leader")
	sizes := fs.String("history", "1000,10000,100000", "-mode history: the numbers of stored incidents to measure, comma-separated")
	fs.StringVar(&o.bin, "bin", "", "incidentbot binary to measure; empty builds ./cmd/incidentbot into a temporary directory")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window of each run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each window, not counted")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent senders (one keep-alive connection each)")
	fs.IntVar(&o.incidents, "incidents", 100, "open incidents the notes (or commands, in their channels) go to, round-robin (1..1000)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of baseline then real server (commands: of the real server)")
	fs.Float64Var(&o.slackScale, "slack-rate-scale", 1000, "INCIDENTBOT_SLACK_RATE_SCALE of the real server: the Slack fake has no rate limits, so the bot's budgets (Slack's tiers) are lifted by default; 1 keeps Slack's real tiers")
	fs.DurationVar(&o.batchDelay, "baseline-batch-delay", 10*time.Millisecond, "the baseline's bbolt MaxBatchDelay (default: bbolt's own default); change it only to see how much the comparison owes to it")
	fs.StringVar(&o.databaseURL, "database-url", "", "-mode postgres: the PostgreSQL server (a superuser's URL, on this machine); empty starts a throwaway cluster with .ci/pg-start")
	fs.IntVar(&o.baselinePool, "baseline-pool", 16, "-mode postgres: the baseline's connection pool (16: the store's default)")
	fs.IntVar(&o.pageSenders, "page-senders", 8, "-mode postgres: senders that page the open incidents at once before each window (their answer times are reported)")
	fs.IntVar(&o.takeovers, "takeovers", 5, "-mode postgres: SIGKILLs of the leader to time (0: none)")
	fs.DurationVar(&o.pollEvery, "poll", 15*time.Second, "-mode pull: INCIDENTBOT_PAGERDUTY_POLL of the real server")
	fs.IntVar(&o.pages, "pages", 40, "-mode pull: pages to time, alternately by the log alone and by webhook")
	fs.DurationVar(&o.pageEvery, "page-every", 1700*time.Millisecond, "-mode pull: time between two pages (not a divisor of -poll, so pages fall all over the poll's cycle)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "incidentbot-load: -history %q: want positive numbers\n", *sizes)
			return 2
		}
		o.history = append(o.history, n)
	}
	if fs.NArg() > 0 || (o.mode != "webhooks" && o.mode != "commands" && o.mode != "history" && o.mode != "postgres" && o.mode != "socket" && o.mode != "pull") || o.pollEvery < 10*time.Second || o.pages < 2 || o.pageEvery <= 0 || o.baselinePool < 1 || o.takeovers < 0 || o.duration <= 0 || o.warmup < 0 || o.concurrency < 1 || o.incidents < 1 || o.incidents > 1000 || o.rounds < 1 || o.batchDelay < 0 || o.slackScale <= 0 {
		fmt.Fprintln(stderr, "incidentbot-load: bad arguments (see -h)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "incidentbot-load:", err)
		return 1
	}
	return 0
}

// measurement is one run of the load against one server.
type measurement struct {
	round     int
	isReal    bool
	load      loadResult
	posts     float64 // real: Slack posts per second in the window
	pdNotes   float64 // commands: PagerDuty notes added per second in the window
	backlog   int     // real: outbox jobs pending right after the window
	committed int     // commands: notes of the load on the timelines after it; -1 unknown
	exitErr   error   // how the server exited
	seedTime  time.Duration
}

func bench(ctx context.Context, o options, out io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "incidentbot-load-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n(logs kept in %s)", err, dir)
			return
		}
		os.RemoveAll(dir)
	}()
	bin := o.bin
	if bin == "" {
		if bin, err = buildServer(ctx, dir); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	secret := randomHex(16)
	incs := makeIncidents(o.incidents)
	if o.mode == "history" {
		fmt.Fprintf(out, "machine: %d CPUs, %s %s/%s, kernel %s, data in %s\n",
			runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel(), dir)
		return benchHistory(ctx, o, bin, dir, secret, out)
	}
	if o.mode == "postgres" {
		fmt.Fprintf(out, "machine: %d CPUs, %s %s/%s, kernel %s, logs in %s\n",
			runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel(), dir)
		return benchPostgres(ctx, o, bin, self, dir, secret, out)
	}
	if o.mode == "socket" || o.mode == "pull" {
		fmt.Fprintf(out, "machine: %d CPUs, %s %s/%s, kernel %s, logs in %s\n",
			runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel(), dir)
		if o.mode == "socket" {
			return benchSocket(ctx, o, bin, dir, secret, incs, out)
		}
		return benchPull(ctx, o, bin, dir, secret, out)
	}

	if o.mode == "commands" {
		fmt.Fprintf(out, "incidentbot-load: /incident note slash commands, %d senders, %d open incidents, warm-up %s, window %s, %d rounds, Slack rate scale %g, no baseline\n",
			o.concurrency, o.incidents, o.warmup, o.duration, o.rounds, o.slackScale)
	} else {
		fmt.Fprintf(out, "incidentbot-load: PagerDuty webhooks, %d senders, %d open incidents, warm-up %s, window %s, %d rounds, baseline MaxBatchDelay %s, Slack rate scale %g\n",
			o.concurrency, o.incidents, o.warmup, o.duration, o.rounds, o.batchDelay, o.slackScale)
	}
	fmt.Fprintf(out, "machine: %d CPUs, %s %s/%s, kernel %s, data in %s\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel(), dir)

	var all []measurement
	if o.mode == "commands" {
		for r := 1; r <= o.rounds; r++ {
			rdir := filepath.Join(dir, fmt.Sprintf("round%d-commands", r))
			if err := os.Mkdir(rdir, 0o700); err != nil {
				return err
			}
			m := measurement{round: r, isReal: true}
			if err := measureCommands(ctx, o, bin, rdir, secret, incs, &m); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
			fmt.Fprintln(out, m.commandLine())
			all = append(all, m)
			os.Remove(filepath.Join(rdir, "incidentbot.db"))
		}
		fmt.Fprintln(out)
		reportCommands(out, all)
		return nil
	}
	for r := 1; r <= o.rounds; r++ {
		for _, isReal := range []bool{false, true} {
			rdir := filepath.Join(dir, fmt.Sprintf("round%d-%s", r, serverName(isReal)))
			if err := os.Mkdir(rdir, 0o700); err != nil {
				return err
			}
			m := measurement{round: r, isReal: isReal}
			if isReal {
				err = measureReal(ctx, o, bin, rdir, secret, incs, &m)
			} else {
				err = measureBaseline(ctx, o, self, rdir, secret, incs, &m)
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, serverName(isReal), err)
			}
			fmt.Fprintln(out, m.line())
			all = append(all, m)
			// The databases are no longer needed; the logs stay until the end.
			os.Remove(filepath.Join(rdir, "incidentbot.db"))
			os.Remove(filepath.Join(rdir, "baseline.db"))
		}
	}
	fmt.Fprintln(out)
	report(out, all)
	return nil
}

func measureBaseline(ctx context.Context, o options, self, dir, secret string, incs []incidentRef, m *measurement) error {
	p, base, err := startBaseline(ctx, self, dir, secret, o.batchDelay)
	if err != nil {
		return err
	}
	defer p.stop()
	if m.load, err = runLoad(ctx, base, p.pid, webhooks(base, secret, incs), o.concurrency, o.warmup, o.duration); err != nil {
		return err
	}
	m.exitErr = p.stop()
	return nil
}

func measureReal(ctx context.Context, o options, bin, dir, secret string, incs []incidentRef, m *measurement) error {
	s, err := startReal(ctx, bin, dir, secret, o.slackScale)
	if err != nil {
		return err
	}
	defer s.close()
	t0 := time.Now()
	dead, err := s.seed(ctx, secret, incs)
	if err != nil {
		return fmt.Errorf("opening the incidents: %w", err)
	}
	if dead > 0 {
		return fmt.Errorf("opening the incidents left %d dead letters (GET /api/outbox)", dead)
	}
	m.seedTime = time.Since(t0)
	if m.load, err = runLoad(ctx, s.base, s.proc.pid, webhooks(s.base, secret, incs), o.concurrency, o.warmup, o.duration); err != nil {
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

func serverName(isReal bool) string {
	if isReal {
		return "incidentbot"
	}
	return "baseline"
}

func (m measurement) line() string {
	l := m.load
	s := fmt.Sprintf("round %d %-11s %8.1f deliveries/s  p50 %s  p90 %s  p99 %s  max %s  errors %d",
		m.round, serverName(m.isReal), l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors)
	s += "  CPU % server/tool/other: " + cpuCell(l)
	if m.isReal {
		s += fmt.Sprintf("  (incidents opened in %s; Slack posts %.1f/s; outbox backlog after the window %d)",
			m.seedTime.Round(time.Millisecond), m.posts, m.backlog)
	}
	return s + m.errorLines()
}

// errorLines formats the errors outside the window, the kinds of errors and
// how the server exited, if any of that is worth saying.
func (m measurement) errorLines() string {
	l, s := m.load, ""
	if l.OutsideErrors > 0 {
		s += fmt.Sprintf("  errors outside the window (warm-up, tail) %d", l.OutsideErrors)
	}
	for _, k := range slices.Sorted(maps.Keys(l.Kinds)) {
		s += fmt.Sprintf("\n    error kind %q: %d", k, l.Kinds[k])
	}
	if l.FirstTransportErr != "" {
		s += "\n    first transport error: " + l.FirstTransportErr
	}
	if m.exitErr != nil {
		s += fmt.Sprintf("\n    %s did not exit cleanly: %v", serverName(m.isReal), m.exitErr)
	}
	return s
}

// maxOtherCPU is how much CPU (in cores) the rest of the machine may use
// during a window before the round is flagged as disturbed.
const maxOtherCPU = 0.2

// report prints the Markdown table of every round, the medians and the
// ratios real/baseline against the bar.
func report(out io.Writer, all []measurement) {
	fmt.Fprintln(out, "| round | server | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU % server/tool/other | Slack posts/s | outbox backlog |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, m := range all {
		l := m.load
		extra := "| – | – |"
		if m.isReal {
			extra = fmt.Sprintf("| %.1f | %d |", m.posts, m.backlog)
		}
		fmt.Fprintf(out, "| %d | %s | %.1f | %s | %s | %s | %s | %d | %s %s\n", m.round, serverName(m.isReal),
			l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, cpuCell(l), extra)
	}
	var med [2]map[string]float64
	for i, isReal := range []bool{false, true} {
		var sel []measurement
		for _, m := range all {
			if m.isReal == isReal {
				sel = append(sel, m)
			}
		}
		col := func(f func(measurement) float64) float64 {
			var v []float64
			for _, m := range sel {
				v = append(v, f(m))
			}
			return median(v)
		}
		dur := func(p float64) func(measurement) float64 {
			return func(m measurement) float64 { return float64(m.load.Pct(p)) / 1e6 }
		}
		med[i] = map[string]float64{
			"rate": col(func(m measurement) float64 { return m.load.Rate() }),
			"p50":  col(dur(50)), "p90": col(dur(90)), "p99": col(dur(99)), "max": col(dur(100)),
			"errors":  col(func(m measurement) float64 { return float64(m.load.Errors) }),
			"posts":   col(func(m measurement) float64 { return m.posts }),
			"backlog": col(func(m measurement) float64 { return float64(m.backlog) }),
		}
		extra := "| – | – |"
		if isReal {
			extra = fmt.Sprintf("| %.1f | %.0f |", med[i]["posts"], med[i]["backlog"])
		}
		fmt.Fprintf(out, "| **median** | **%s** | **%.1f** | %.2f | %.2f | **%.2f** | %.2f | %.0f | %s\n", serverName(isReal),
			med[i]["rate"], med[i]["p50"], med[i]["p90"], med[i]["p99"], med[i]["max"], med[i]["errors"], extra)
	}
	fmt.Fprintln(out)
	if med[0]["rate"] == 0 || med[0]["p99"] == 0 {
		fmt.Fprintln(out, "no ratio: the baseline accepted no deliveries")
	} else {
		tput := med[1]["rate"] / med[0]["rate"]
		p99 := med[1]["p99"] / med[0]["p99"]
		fmt.Fprintf(out, "throughput real/baseline: %.3fx (bar: at least 0.8x) %s\n", tput, verdict(tput >= 0.8))
		fmt.Fprintf(out, "p99 real/baseline:        %.3fx (bar: at most 2x)     %s\n", p99, verdict(p99 <= 2))
	}
	warnings(out, all)
}

// warnings prints the disturbed rounds and the failed requests, if any.
func warnings(out io.Writer, all []measurement) {
	total := 0
	var busy []string
	for _, m := range all {
		total += m.load.Errors + m.load.OutsideErrors
		if m.load.OtherCPU > maxOtherCPU {
			busy = append(busy, fmt.Sprintf("%d %s", m.round, serverName(m.isReal)))
		}
	}
	if len(busy) > 0 {
		fmt.Fprintf(out, "WARNING: other processes used more than %.0f%% of a core during round %s: those figures are disturbed; rerun on a quiet machine\n",
			100*maxOtherCPU, strings.Join(busy, ", "))
	}
	if total > 0 {
		fmt.Fprintf(out, "ERRORS: %d requests failed (transport, non-2xx, or for a command an answer instead of the empty 200); see the rounds above\n", total)
	}
}

// cpuCell formats the CPU used in the window, in % of one core.
func cpuCell(l loadResult) string {
	pct := func(c float64) string {
		if c < 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f", 100*c)
	}
	return pct(l.ServerCPU) + "/" + pct(l.ToolCPU) + "/" + pct(l.OtherCPU)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// median returns the median of v (the mean of the middle two for an even
// count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ms formats d in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kernel returns the running kernel's release (uname -r), or "unknown".
func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
