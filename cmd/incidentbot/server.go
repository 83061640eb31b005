package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/api"
	"github.com/incidentbot/incidentbot/internal/export"
	"github.com/incidentbot/incidentbot/internal/github"
	"github.com/incidentbot/incidentbot/internal/jira"
	"github.com/incidentbot/incidentbot/internal/outbox"
	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/incidentbot/incidentbot/internal/postgres"
	"github.com/incidentbot/incidentbot/internal/slackcmd"
	"github.com/incidentbot/incidentbot/internal/statuspage"
	"github.com/incidentbot/incidentbot/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Main is the running server: the store, the lifecycle, the outbox worker
// and the HTTP listeners, wired together. Tests build one with Addr ":0"
// and a temporary database file.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Registry receives the metrics; NewMain sets a fresh one.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backoff overrides the outbox's retry backoff (tests); nil = default.
	Backoff func(n int) time.Duration
	// HTTPClient's transport is used for Slack and PagerDuty calls; nil =
	// http.DefaultTransport.
	HTTPClient *http.Client
	// CadenceEvery is how often overdue updates are checked (10 s when 0).
	CadenceEvery time.Duration
	// DigestAfter and DigestCollect override the alert-storm threshold and
	// how long a digest gathers pages (tests).
	DigestAfter   int
	DigestCollect time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send its
	// headers (5 s when 0): slow clients cannot hold connections.
	ReadHeaderTimeout time.Duration
	// MinFreeBytes is the readiness floor of free space on the database's
	// filesystem (64 MiB when 0).
	MinFreeBytes uint64
	// ReconcileEvery is how often PagerDuty's open incidents are compared
	// with the bot's (5 min when 0; negative: never); it also runs at start.
	ReconcileEvery time.Duration

	// PeopleLoadEvery is how often the people directory is read from the
	// store (1 min when 0), PeopleRefreshEvery how often profiles older
	// than a day are asked about again (10 min when 0).
	PeopleLoadEvery, PeopleRefreshEvery time.Duration

	// LeaseTTL is the PostgreSQL leader lease's lifetime (5 s when 0).
	LeaseTTL time.Duration
	// StatusRefreshEvery is how often every replica renders its public
	// status page again from the store (15 s when 0): the day bars move
	// with time, and a follower learns of the leader's publications so.
	StatusRefreshEvery time.Duration

	// TrackerPollEvery is how often Jira and GitHub are asked for the bot's
	// issues changed there (1 min when 0); FollowupsEvery how often the
	// weekly overdue list is checked for being due (10 min when 0).
	TrackerPollEvery, FollowupsEvery time.Duration
	// Trackers are the configured issue trackers (Jira, GitHub).
	Trackers []incidentbot.Tracker

	// DB is the store: the bbolt file, or PostgreSQL when
	// INCIDENTBOT_DATABASE_URL is set.
	DB database
	// Lease elects the leader among replicas (PostgreSQL only; nil with
	// bbolt, where this process always leads).
	Lease   *postgres.Lease
	Service *incidentbot.Service
	// Jobs gives outbox jobs their meaning; Outbox runs them.
	Jobs   *incidentbot.Jobs
	Outbox *outbox.Runner
	// Status is the public status page's current rendering.
	Status *statuspage.Page
	// Poller reads PagerDuty's log entries in pull mode (nil without
	// INCIDENTBOT_PAGERDUTY_POLL); it runs on the leader only.
	Poller *pager.Poller
	// Socket is the Slack Socket Mode client (nil without SLACK_APP_TOKEN).
	Socket *slackcmd.SocketClient
	// PollEvery overrides INCIDENTBOT_PAGERDUTY_POLL's interval (tests, the
	// load tool: below the 10 s floor); 0 = the configured one.
	PollEvery time.Duration
	// SocketPingEvery overrides the Socket Mode client's ping interval
	// (tests); 0 = its default.
	SocketPingEvery time.Duration

	server, admin    *http.Server
	ln, adminLn      net.Listener
	cancel           context.CancelFunc
	wg               sync.WaitGroup
	closeOnce        sync.Once
	closeErr         error
	shutdownDeadline time.Duration
	cadenceMisses    prometheus.Counter
	trackerPolls     *prometheus.CounterVec
}

// database is what Main needs of a store beyond transactions.
type database interface {
	incidentbot.Store
	// Writable commits a heartbeat through the write path (readiness).
	Writable(ctx context.Context) error
	// PruneDeliveries deletes dedupe records older than cutoff.
	PruneDeliveries(cutoff time.Time) (int, error)
	Close() error
}

// openDatabase opens the configured store: PostgreSQL (migrated) when
// INCIDENTBOT_DATABASE_URL is set, else the bbolt file.
func openDatabase(cfg Config, log *slog.Logger) (database, *postgres.DB, error) {
	if cfg.DatabaseURL == "" {
		db, err := store.Open(cfg.DB, store.Options{})
		if err != nil {
			return nil, nil, err
		}
		return db, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Migrate: true, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("INCIDENTBOT_DATABASE_URL: %w", err)
	}
	return db, db, nil
}

// NewMain returns a Main with the given configuration.
func NewMain(cfg Config, log *slog.Logger) *Main {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Main{Config: cfg, Logger: log, Registry: prometheus.NewRegistry(), shutdownDeadline: 10 * time.Second}
}

// Open opens the database, starts the outbox worker and the listeners.
func (m *Main) Open() error {
	cfg := m.Config
	db, pg, err := openDatabase(cfg, m.Logger)
	if err != nil {
		return err
	}
	m.DB = db
	if pg != nil {
		m.Lease = &postgres.Lease{DB: pg, TTL: m.LeaseTTL, Logger: m.Logger}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel

	calls := newCallMetrics(m.Registry)
	var base http.RoundTripper
	if m.HTTPClient != nil {
		base = m.HTTPClient.Transport
	}
	slackClient := slackcmd.NewClient(cfg.SlackBotToken, cfg.SlackAPIURL, calls.client("slack", base, 10*time.Second))
	slackClient.SetBudget(slackcmd.NewBudget(cfg.SlackRateScale, nil))
	m.Jobs = &incidentbot.Jobs{Chat: slackClient, PagerFrom: cfg.PagerDutyFrom, Exporter: export.Dir{Path: cfg.ExportDir}}
	m.Outbox = &outbox.Runner{Performer: m.Jobs, Backoff: m.Backoff, Logger: m.Logger}
	if m.Now != nil {
		m.Outbox.Clock = outbox.NowClock(m.Now)
	}
	m.Jobs.Lanes = m.Outbox
	responders := slackcmd.NewResponders(cfg.Responders, slackClient.GroupMembers, m.Logger)
	var pagerClient *pager.Client
	if cfg.PagerDutyAPIToken != "" {
		pagerClient = pager.NewClient(cfg.PagerDutyAPIToken, cfg.PagerDutyAPIURL, calls.client("pagerduty", base, 10*time.Second))
		m.Jobs.Pager = pagerClient
	}
	m.Service = &incidentbot.Service{
		Store: db, Now: m.Now, ChannelPrefix: cfg.ChannelPrefix, AnnounceChannel: cfg.AnnounceChannel,
		Enqueued: m.Outbox.Wake, Logger: m.Logger, MayManage: responders.Allowed, SLO: cfg.SLO,
		Cadence: cfg.UpdateCadence, PublicSeverities: cfg.PublicSeverities,
		PagerSync: cfg.PagerDutyAPIToken != "", Statuspage: cfg.StatuspageAPIKey != "", Site: true, DigestAfter: m.DigestAfter, DigestCollect: m.DigestCollect,
		People: &incidentbot.People{},
	}
	m.Jobs.Service = m.Service
	// The directory starts with what the store knows: requests name people
	// from it, never by asking Slack.
	if err := m.Service.LoadPeople(context.Background()); err != nil {
		m.Logger.Warn("people: could not load the directory; names are learned again", "err", err)
	}
	if cfg.PagerDutyPoll > 0 && pagerClient != nil {
		m.Poller = &pager.Poller{Source: pagerClient, Ingest: m.Service, Every: cmp.Or(m.PollEvery, cfg.PagerDutyPoll), Now: m.Now, Logger: m.Logger}
		m.Poller.Register(m.Registry)
	}
	m.Jobs.Trackers = map[string]incidentbot.Tracker{}
	if cfg.JiraOn() {
		jc := jira.NewClient(cfg.JiraURL, cfg.JiraEmail, cfg.JiraAPIToken, cfg.JiraProject, cfg.JiraIssueType, calls.client("jira", base, 10*time.Second))
		jc.Now = m.Now
		m.Trackers = append(m.Trackers, jc)
	}
	if cfg.GitHubOn() {
		gc, err := github.NewClient(cfg.GitHubToken, cfg.GitHubRepository, cfg.GitHubAPIURL, calls.client("github", base, 10*time.Second))
		if err != nil {
			m.Close()
			return err
		}
		m.Trackers = append(m.Trackers, gc)
	}
	for _, t := range m.Trackers {
		m.Jobs.Trackers[t.Name()] = t
		m.Service.Trackers = append(m.Service.Trackers, t.Name())
	}
	if cfg.StatuspageAPIKey != "" {
		m.Jobs.Statuspage = statuspage.NewClient(cfg.StatuspageAPIKey, cfg.StatuspagePageID, cfg.StatuspageAPIURL, calls.client("statuspage", base, 10*time.Second))
	}
	// The public page is rendered when public state changes (and into
	// INCIDENTBOT_STATUS_DIR when set), never per request.
	m.Status = &statuspage.Page{Source: m.Service, Dir: statuspage.Dir{Path: cfg.StatusDir}, Now: m.Now, Logger: m.Logger, RefreshEvery: m.StatusRefreshEvery}
	m.Jobs.Site = m.Status
	m.registerMetrics()

	public := http.NewServeMux()
	// Each inbound endpoint exists only when its secret is set: in Socket
	// Mode and pull mode the public listener serves health alone.
	webhooks := pager.NewWebhookHandler(cfg.PagerDutyWebhookSecrets, m.Service, m.Logger, m.Registry)
	if len(cfg.PagerDutyWebhookSecrets) > 0 {
		public.Handle("POST /webhooks/pagerduty", webhooks)
	}
	if cfg.JiraWebhookSecret != "" && cfg.JiraOn() {
		public.Handle("POST /webhooks/jira", &jira.WebhookHandler{Secret: cfg.JiraWebhookSecret, Site: cfg.JiraURL, Project: cfg.JiraProject, Observer: m.Service, Logger: m.Logger})
	}
	if cfg.GitHubWebhookSecret != "" && cfg.GitHubOn() {
		public.Handle("POST /webhooks/github", &github.WebhookHandler{Secret: cfg.GitHubWebhookSecret, Repository: cfg.GitHubRepository, Observer: m.Service, Logger: m.Logger})
	}
	slackHandler := slackcmd.NewHandler(slackcmd.HandlerConfig{
		SigningSecret: cfg.SlackSigningSecret, TeamID: cfg.SlackTeamID, Service: m.Service, Views: slackClient,
		Now: m.Now, Logger: m.Logger, Registerer: m.Registry,
	})
	if cfg.SlackSigningSecret != "" {
		public.HandleFunc("POST /slack/commands", slackHandler.Commands)
		public.HandleFunc("POST /slack/interactions", slackHandler.Interactions)
		public.HandleFunc("POST /slack/events", slackHandler.Events)
	}
	if cfg.SlackAppToken != "" {
		m.Socket = &slackcmd.SocketClient{
			AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL, Handler: slackHandler, Logger: m.Logger,
			HTTPClient: calls.client("slack", base, 10*time.Second), PingEvery: m.SocketPingEvery,
		}
		m.Socket.Register(m.Registry)
	}
	public.Handle("GET /status", m.Status)
	public.Handle("GET /status.json", m.Status)
	public.Handle("GET /status.atom", m.Status)
	public.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	public.HandleFunc("GET /readyz", m.readyz)
	adminMux := public
	if cfg.AdminAddr != "" {
		adminMux = http.NewServeMux()
		adminMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	}
	adminMux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	var backup api.Backuper = api.BackupElsewhere("this server keeps its data in PostgreSQL: back it up with pg_dump (docs/operations.md), not GET /api/backup")
	if b, ok := db.(api.Backuper); ok {
		backup = b
	}
	apiHandler := api.New(db, m.Service, backup, cfg.AdminToken, m.Logger)
	apiHandler.SetRunner(func() api.RunnerView { return runnerView(m.Outbox.Snapshot()) })
	adminMux.Handle("/api/", apiHandler)

	if m.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		m.Close()
		return fmt.Errorf("INCIDENTBOT_ADDR=%s: %w", cfg.Addr, err)
	}
	m.server = newHTTPServer(public, m.ReadHeaderTimeout)
	m.serve(m.server, m.ln)
	if cfg.AdminAddr != "" {
		if m.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			m.Close()
			return fmt.Errorf("INCIDENTBOT_ADMIN_ADDR=%s: %w", cfg.AdminAddr, err)
		}
		m.admin = newHTTPServer(adminMux, m.ReadHeaderTimeout)
		m.serve(m.admin, m.adminLn)
	}

	// The outbox, the update cadence, reconciliation and pruning run on
	// the leader only: with bbolt this process, with PostgreSQL the
	// replica holding the lease, with a context that fences its writes.
	lead := func(ctx context.Context) {
		var wg sync.WaitGroup
		if m.Jobs.Pager != nil && m.ReconcileEvery >= 0 {
			wg.Add(1)
			go func() { defer wg.Done(); m.reconcile(ctx) }()
		}
		if m.Poller != nil {
			// One poller, on the leader: its cursor writes are fenced.
			wg.Add(1)
			go func() { defer wg.Done(); m.Poller.Run(ctx) }()
		}
		for _, t := range m.Trackers {
			// One poll per tracker, on the leader: its cursor writes are fenced.
			wg.Add(1)
			go func() { defer wg.Done(); m.pollTracker(ctx, t) }()
		}
		wg.Add(5)
		go func() { defer wg.Done(); m.followups(ctx) }()
		go func() { defer wg.Done(); m.Outbox.Run(ctx) }()
		go func() { defer wg.Done(); m.cadence(ctx) }()
		go func() { defer wg.Done(); m.janitor(ctx) }()
		go func() { defer wg.Done(); m.refreshPeople(ctx) }()
		wg.Wait()
	}
	if m.Socket != nil {
		// Every replica keeps its own connections: Slack spreads the
		// envelopes over them, and each replica ingests as over HTTP.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := m.Socket.Run(ctx); err != nil && ctx.Err() == nil {
				m.Logger.Error("slack socket mode stopped", "err", err)
			}
		}()
	}
	m.wg.Add(4)
	go func() { defer m.wg.Done(); responders.Run(ctx, 5*time.Minute) }()
	go func() { defer m.wg.Done(); m.loadPeople(ctx) }()
	// Every replica serves /status from its own rendering: each refreshes
	// it (the leader's publish job also replaces it at once).
	go func() { defer m.wg.Done(); m.Status.Run(ctx) }()
	if pg == nil {
		go func() { defer m.wg.Done(); lead(ctx) }()
	} else {
		go func() { defer m.wg.Done(); m.Lease.Run(ctx, lead) }()
		// Commits on any replica that enqueued jobs wake this one's runner.
		m.wg.Add(1)
		go func() { defer m.wg.Done(); pg.Listen(ctx, m.Outbox.Wake) }()
	}
	where := []any{"db", cfg.DB}
	if pg != nil {
		where = []any{"database", postgres.Redact(cfg.DatabaseURL), "instance", pg.Instance()}
	}
	m.Logger.Info("incidentbot serving", append([]any{"addr", m.ln.Addr().String(), "admin_addr", cfg.AdminAddr, "modes", cfg.Modes()[:2]}, where...)...)
	return nil
}

// newHTTPServer sets timeouts so slow or stuck clients cannot hold
// connections: PagerDuty and Slack send small bodies quickly.
func newHTTPServer(h http.Handler, readHeader time.Duration) *http.Server {
	if readHeader <= 0 {
		readHeader = 5 * time.Second
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeader,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

func (m *Main) serve(s *http.Server, ln net.Listener) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server stopped", "err", err)
		}
	}()
}

// URL returns the public listener's base URL.
func (m *Main) URL() string { return "http://" + m.ln.Addr().String() }

// AdminURL returns the admin listener's base URL (the public one when no
// admin address is set).
func (m *Main) AdminURL() string {
	if m.adminLn != nil {
		return "http://" + m.adminLn.Addr().String()
	}
	return m.URL()
}

// Close stops accepting requests, lets requests in flight finish (bounded),
// stops the worker and closes the database.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.shutdownDeadline)
		defer cancel()
		var errs []error
		for _, s := range []*http.Server{m.server, m.admin} {
			if s != nil {
				if err := s.Shutdown(ctx); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if m.cancel != nil {
			m.cancel()
		}
		m.wg.Wait()
		if m.DB != nil {
			errs = append(errs, m.DB.Close())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// readyz answers 200 when the store can durably accept a delivery. Slack
// or PagerDuty being down never makes the bot unready: the only replica
// must keep taking pages.
func (m *Main) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// A full disk fails the deliveries before it fails a small heartbeat
	// (a bbolt file; PostgreSQL's disk is the server's to watch).
	floor := cmp.Or(m.MinFreeBytes, minFreeBytes)
	if f, ok := m.DB.(interface{ Path() string }); ok {
		if free, err := freeBytes(f.Path()); err == nil && free < floor {
			m.Logger.Error("readyz: the database's filesystem is almost full", "free_bytes", free, "floor_bytes", floor)
			http.Error(w, fmt.Sprintf("database filesystem almost full: %d bytes free, floor %d", free, floor), http.StatusServiceUnavailable)
			return
		}
	}
	if err := m.DB.Writable(ctx); err != nil {
		m.Logger.Error("readyz: store not writable", "err", err)
		http.Error(w, "store not writable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// every runs fn now and then every d (def when d ≤ 0) until ctx ends.
func every(ctx context.Context, d, def time.Duration, fn func()) {
	if d <= 0 {
		d = def
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// janitor prunes delivery dedupe records older than 7 days (PagerDuty
// retries for up to 48 h; they are kept well past the 72 h asked for).
func (m *Main) janitor(ctx context.Context) {
	every(ctx, time.Hour, time.Hour, func() {
		now := time.Now()
		if m.Now != nil {
			now = m.Now()
		}
		if n, err := m.DB.PruneDeliveries(now.Add(-7 * 24 * time.Hour)); err != nil {
			m.Logger.Error("janitor: pruning delivery records failed", "err", err)
		} else if n > 0 {
			m.Logger.Info("janitor: pruned delivery records", "count", n)
		}
	})
}

// loadPeople reads the people directory from the store every minute, on
// every replica: what a lookup on another replica learned is known here.
func (m *Main) loadPeople(ctx context.Context) {
	every(ctx, m.PeopleLoadEvery, time.Minute, func() {
		if err := m.Service.LoadPeople(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Warn("people: could not reload the directory", "err", err)
		}
	})
}

// refreshPeople asks Slack (and PagerDuty) again about the profiles
// checked more than a day ago, a few each time (users.info is Tier 4), on
// the leader: renamed people read right within a day.
func (m *Main) refreshPeople(ctx context.Context) {
	every(ctx, m.PeopleRefreshEvery, 10*time.Minute, func() {
		n, err := m.Jobs.RefreshPeople(ctx, 24*time.Hour, 20)
		if err != nil && ctx.Err() == nil {
			m.Logger.Warn("people: refresh stopped", "refreshed", n, "err", incidentbot.ErrorMessage(err))
		}
	})
}

// cadence publishes holding updates for overdue incidents every few
// seconds (CadenceEvery; 10 s by default).
func (m *Main) cadence(ctx context.Context) {
	every(ctx, m.CadenceEvery, 10*time.Second, func() {
		n, err := m.Service.CheckCadence(ctx)
		if err != nil && ctx.Err() == nil {
			m.Logger.Error("cadence: check failed", "err", err)
		}
		m.cadenceMisses.Add(float64(n))
	})
}

// pollTracker reads the bot's issues changed in a tracker every
// TrackerPollEvery (1 min by default): done or reopened there, the item
// follows within minutes. A failed poll is retried at the next tick (a
// 429's Retry-After is waited first); the cursor does not move.
func (m *Main) pollTracker(ctx context.Context, t incidentbot.Tracker) {
	every := cmp.Or(m.TrackerPollEvery, time.Minute)
	for {
		wait := every
		n, err := m.Service.SyncTracker(ctx, t, every)
		switch {
		case err != nil && ctx.Err() == nil:
			wait = max(every, incidentbot.RetryAfter(err))
			m.Logger.Warn("tracker poll failed; will try again", "tracker", t.Name(), "err", incidentbot.ErrorMessage(err), "retry_in", wait.String())
			m.trackerPolls.WithLabelValues(t.Name(), "error").Inc()
		case err == nil:
			m.trackerPolls.WithLabelValues(t.Name(), "ok").Inc()
			if n > 0 {
				m.Logger.Info("tracker: action items changed there", "tracker", t.Name(), "items", n)
			}
		}
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

// followups posts the overdue action items to the stakeholder channel
// once a week (checked every FollowupsEvery; the last post is stored).
func (m *Main) followups(ctx context.Context) {
	every(ctx, m.FollowupsEvery, 10*time.Minute, func() {
		if _, err := m.Service.CheckFollowups(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("followups: weekly check failed", "err", err)
		}
	})
}

// reconcile catches up with PagerDuty at start and every few minutes
// (ReconcileEvery; 5 min by default): webhooks missed while the bot was
// down longer than PagerDuty retries, or while the subscription was
// disabled.
func (m *Main) reconcile(ctx context.Context) {
	every(ctx, m.ReconcileEvery, 5*time.Minute, func() {
		opened, changed, err := m.Service.Reconcile(ctx, m.Jobs.Pager)
		switch {
		case err != nil && ctx.Err() == nil:
			m.Logger.Warn("reconcile with PagerDuty failed; will try again", "err", err)
		case opened+changed > 0:
			m.Logger.Warn("reconcile: caught up with PagerDuty (webhooks were missed)", "opened", opened, "changed", changed)
		}
	})
}

func (m *Main) registerMetrics() {
	reg := m.Registry
	m.cadenceMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "incidentbot_cadence_misses_total", Help: "Status updates that came due with no update from a person (a holding update was published)."})
	m.trackerPolls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "incidentbot_tracker_polls_total", Help: "Polls of Jira and GitHub for action items' issues changed there, by tracker and result (ok, error)."}, []string{"tracker", "result"})
	reg.MustRegister(m.trackerPolls)
	reg.MustRegister(m.cadenceMisses, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_open_incidents", Help: "Incidents not resolved."},
		func() float64 {
			n := 0
			m.DB.View(context.Background(), func(tx incidentbot.Tx) error {
				open, err := tx.OpenIncidents()
				n = len(open)
				return err
			})
			return float64(n)
		}))
	if f, ok := m.DB.(interface{ Path() string }); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_database_filesystem_free_bytes", Help: "Bytes free on the filesystem of the database file (readiness needs 64 MiB)."},
			func() float64 {
				free, err := freeBytes(f.Path())
				if err != nil {
					return -1
				}
				return float64(free)
			}))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_leader", Help: "1 when this replica runs the outbox, the update cadence and reconciliation (holds the PostgreSQL lease; always 1 with bbolt), else 0."},
		func() float64 {
			if m.Lease == nil || m.Lease.Leading() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_leader_epoch", Help: "The PostgreSQL lease epoch this replica leads in (0 when it does not lead; 0 with bbolt)."},
			func() float64 {
				if m.Lease == nil {
					return 0
				}
				return float64(m.Lease.Epoch())
			}))
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "incidentbot_outbox_jobs_total",
		Help: "Outbox job attempts by kind and result (done, retry, dead, deferred).",
	}, []string{"kind", "result"})
	reg.MustRegister(jobs)
	m.Outbox.Observe = func(kind incidentbot.JobKind, result string, _ time.Duration) {
		jobs.WithLabelValues(string(kind), result).Inc()
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_outbox_depth", Help: "Outbox jobs waiting or running."},
			func() float64 { return float64(m.Outbox.Stats().Depth) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_outbox_running", Help: "Outbox jobs being performed now."},
			func() float64 { return float64(m.Outbox.Stats().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_outbox_oldest_job_age_seconds", Help: "Age of the oldest waiting outbox job."},
			func() float64 { return m.Outbox.Stats().OldestAge.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentbot_outbox_dead_letters", Help: "Outbox jobs that failed for good, as stored (see GET /api/outbox)."},
			func() float64 {
				n := 0
				m.DB.View(context.Background(), func(tx incidentbot.Tx) error {
					dl, err := tx.DeadLetters()
					n = len(dl)
					return err
				})
				return float64(n)
			}),
	)
}

// runnerView is the outbox runner's snapshot as the admin API takes it
// (the API does not import the runner).
func runnerView(s outbox.Snapshot) api.RunnerView {
	v := api.RunnerView{Active: s.Active, Now: s.Now, Running: s.Running, Jobs: make(map[uint64]api.RunnerJob, len(s.Jobs))}
	for id, j := range s.Jobs {
		v.Jobs[id] = api.RunnerJob{Lane: j.Lane, Head: j.Head, Running: j.Running, DueAt: j.DueAt}
	}
	return v
}

// idle reports whether no outbox job is stored (the worker's view can lag
// the store by a wake-up).
func (m *Main) idle(ctx context.Context) bool {
	n := 0
	m.DB.View(ctx, func(tx incidentbot.Tx) error {
		return tx.Jobs(0, func(*incidentbot.Job) bool { n++; return false })
	})
	return n == 0
}

// apiGet reads the admin API in-process (the demo).
func (m *Main) apiGet(ctx context.Context, path, token string, v any) error {
	res, err := adminGet(ctx, m.AdminURL(), path, token)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}
