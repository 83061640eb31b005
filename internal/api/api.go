// Package api serves incidentbot's admin HTTP API (/api/*): incidents and
// their timelines as JSON, and the outbox: its jobs, its dead letters and,
// given the runner's view, what is due and not started. Every request
// needs the admin token as "Authorization: Bearer <token>"; with no token
// configured the API answers 404 to everything.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Handler serves /api/. Create it with New.
type Handler struct {
	store   incidentbot.Store
	drafter Drafter
	backup  Backuper
	token   string
	log     *slog.Logger
	mux     *http.ServeMux
	names   Namer // nil: people as the records name them
	runner  func() RunnerView
}

// RunnerView is what the outbox runner holds at one moment (cmd/incidentbot
// takes it from internal/outbox's runner): GET /api/outbox shows it beside
// the stored jobs.
type RunnerView struct {
	// Active: the runner runs here (with PostgreSQL: this replica leads).
	Active  bool
	Now     time.Time // the runner's clock
	Running int       // jobs being performed
	Jobs    map[uint64]RunnerJob
}

// RunnerJob is one job as the runner holds it.
type RunnerJob struct {
	Lane    string
	Head    bool      // first in its lane
	Running bool      // being performed
	DueAt   time.Time // a head not running: when the runner starts it
}

// SetRunner makes GET /api/outbox show the runner's view (from view, called
// once per request) beside the stored jobs; nil shows none.
func (h *Handler) SetRunner(view func() RunnerView) { h.runner = view }

// Drafter drafts an incident's postmortem as it stands.
type Drafter interface {
	Postmortem(ctx context.Context, id string) (*incidentbot.Postmortem, error)
}

// Namer names people as the bot's directory knows them (one name per
// person); a Drafter that is one (incidentbot.Service) names the people of
// every incident and timeline the API shows.
type Namer interface {
	ResolveIncident(*incidentbot.Incident) *incidentbot.Incident
	ResolveEntries([]incidentbot.Entry) []incidentbot.Entry
}

// Backuper writes a consistent copy of the whole database.
type Backuper interface {
	WriteTo(w io.Writer) (int64, error)
}

// BackupElsewhere is the Backuper of a store whose backups are another
// tool's job (PostgreSQL: pg_dump): GET /api/backup answers 501 Not
// Implemented with its text instead of a file.
type BackupElsewhere string

// WriteTo writes nothing and fails with the text.
func (b BackupElsewhere) WriteTo(io.Writer) (int64, error) { return 0, errors.New(string(b)) }

// New returns the API over a store, guarded by token ("" disables the API).
// backup may be nil (no /api/backup).
func New(store incidentbot.Store, drafter Drafter, backup Backuper, token string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, drafter: drafter, backup: backup, token: token, log: log, mux: http.NewServeMux()}
	if n, ok := drafter.(Namer); ok {
		h.names = n
	}
	h.mux.HandleFunc("GET /api/backup", h.backupDB)
	h.mux.HandleFunc("GET /api/incidents", h.listIncidents)
	h.mux.HandleFunc("GET /api/incidents/{id}", h.getIncident)
	h.mux.HandleFunc("GET /api/outbox", h.outbox)
	h.mux.HandleFunc("GET /api/incidents/{id}/postmortem.md", h.postmortem)
	h.mux.HandleFunc("GET /api/incidents/{id}/postmortem.json", h.postmortem)
	h.mux.HandleFunc("GET /api/incidents/{id}/postmortem.html", h.postmortem)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.token == "" {
		http.NotFound(w, r)
		return
	}
	// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" is Bearer.
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	got = strings.TrimSpace(got)
	if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="incidentbot"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong admin token")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Incident is an incident as the API shows it.
type Incident struct {
	*incidentbot.Incident
	PagerDutyID string  `json:"pagerduty_id"`
	Timeline    []Entry `json:"timeline,omitempty"`
}

// Entry is a timeline entry as the API shows it.
type Entry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	ActorID string    `json:"actor_id,omitempty"`
	Source  string    `json:"source"`
	Text    string    `json:"text"`
	// Supersedes is the seq of an earlier entry this one corrects or
	// retracts (the timeline is append-only).
	Supersedes uint64 `json:"supersedes,omitempty"`
}

func (h *Handler) view(inc *incidentbot.Incident) Incident {
	if h.names != nil {
		inc = h.names.ResolveIncident(inc)
	}
	v := Incident{Incident: inc}
	if inc.PagerDuty != nil {
		v.PagerDutyID = inc.PagerDuty.ID
	}
	return v
}

const maxLimit = 1000

func (h *Handler) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := maxLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer (max 1000)")
			return
		}
		limit = min(n, maxLimit)
	}
	before := 0
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "cursor is not one this API gave out")
			return
		}
		before = n
	}
	status := q.Get("status")
	switch status {
	case "", "open", "resolved":
	default:
		writeError(w, http.StatusBadRequest, "status must be open or resolved")
		return
	}
	var incs []*incidentbot.Incident
	err := h.store.View(r.Context(), func(tx incidentbot.Tx) error {
		var err error
		// One more than asked tells whether there is a next page.
		incs, err = tx.ListIncidents(before, limit+1, status)
		return err
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	next := ""
	if len(incs) > limit {
		incs = incs[:limit]
		next = strconv.Itoa(incs[limit-1].Number)
	}
	out := struct {
		Incidents  []Incident `json:"incidents"`
		NextCursor string     `json:"next_cursor"`
	}{Incidents: make([]Incident, 0, len(incs)), NextCursor: next}
	for _, inc := range incs {
		out.Incidents = append(out.Incidents, h.view(inc))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getIncident(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var v Incident
	err := h.store.View(r.Context(), func(tx incidentbot.Tx) error {
		inc, err := incidentbot.LookupIncident(tx, id)
		if err != nil {
			return err
		}
		tl, err := tx.Timeline(inc.ID)
		if err != nil {
			return err
		}
		v = h.view(inc)
		if h.names != nil {
			tl = h.names.ResolveEntries(tl)
		}
		v.Timeline = make([]Entry, 0, len(tl))
		for _, e := range tl {
			v.Timeline = append(v.Timeline, Entry{Seq: e.Seq, At: e.At, Kind: string(e.Kind), Actor: e.Actor.Display(), ActorID: e.Actor.ID, Source: string(e.Source), Text: e.Text, Supersedes: e.Supersedes})
		}
		return nil
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// backupDB streams a consistent copy of the database. The copy is taken
// into a temporary file first, so the read transaction lasts as long as a
// local disk write, not as long as a slow client's download.
func (h *Handler) backupDB(w http.ResponseWriter, r *http.Request) {
	if h.backup == nil {
		writeError(w, http.StatusNotFound, "backup is not available")
		return
	}
	if msg, ok := h.backup.(BackupElsewhere); ok {
		writeError(w, http.StatusNotImplemented, string(msg))
		return
	}
	tmp, err := os.CreateTemp("", "incidentbot-backup-*.db")
	if err != nil {
		h.fail(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := h.backup.WriteTo(tmp)
	if err != nil {
		h.fail(w, err)
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		h.fail(w, err)
		return
	}
	name := "incidentbot-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if _, err := io.Copy(w, tmp); err != nil {
		h.log.Warn("backup: client went away", "err", err)
	}
}

// postmortem serves the draft as Markdown, JSON or HTML, drafted now.
func (h *Handler) postmortem(w http.ResponseWriter, r *http.Request) {
	p, err := h.drafter.Postmortem(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, ".md"):
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.Header().Set("Content-Disposition", `inline; filename="`+p.FileName()+`.md"`)
		w.Write(p.Markdown())
	case strings.HasSuffix(r.URL.Path, ".html"):
		// Self-contained: no scripts, nothing fetched from elsewhere.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Disposition", `inline; filename="`+p.FileName()+`.html"`)
		w.Write(p.HTML())
	default:
		writeJSON(w, http.StatusOK, p)
	}
}

// OutboxRunner is the runner's side of GET /api/outbox.
type OutboxRunner struct {
	// Active: the runner runs on this process (a PostgreSQL follower's does
	// not, and holds nothing: ask the leader).
	Active bool `json:"active"`
	// Running is how many jobs are being performed now.
	Running int `json:"running"`
	// Held is how many jobs the runner holds in its lanes.
	Held int `json:"held"`
	// Overdue lists stored jobs that head their lane, are not running and
	// whose due time, as the runner holds it, has passed: most overdue
	// first, at most 100. With nothing running, a job stays here only for
	// an instant while the runner is healthy; with every slot busy, due
	// jobs queue here.
	Overdue []OverdueJob `json:"overdue"`
	// Unheld lists the IDs of stored jobs the runner does not hold yet (at
	// most 100): it reads new jobs when woken and every few seconds, so an
	// ID stays here only that long.
	Unheld []uint64 `json:"unheld"`
}

// OverdueJob is a job due and not started.
type OverdueJob struct {
	ID         uint64              `json:"id"`
	Kind       incidentbot.JobKind `json:"kind"`
	IncidentID string              `json:"incident_id,omitempty"`
	Lane       string              `json:"lane"`
	DueAt      time.Time           `json:"due_at"`
	Overdue    float64             `json:"overdue_seconds"`
	Attempts   int                 `json:"attempts"`
	LastError  string              `json:"last_error,omitempty"`
}

const maxListed = 100

func (h *Handler) outbox(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Pending int `json:"pending"`
		// Oldest is the first 100 pending jobs, oldest first.
		Oldest      []*incidentbot.Job `json:"oldest"`
		DeadLetters []*incidentbot.Job `json:"dead_letters"`
		// Runner is the runner's view, when the API has one.
		Runner *OutboxRunner `json:"runner,omitempty"`
	}
	// The runner's view first: a job it finished since is no longer stored;
	// one stored since shows as unheld until the runner reads it.
	var rv *RunnerView
	if h.runner != nil {
		v := h.runner()
		rv = &v
	}
	err := h.store.View(r.Context(), func(tx incidentbot.Tx) error {
		out.Pending, out.Oldest = 0, nil
		if rv != nil {
			out.Runner = &OutboxRunner{Active: rv.Active, Running: rv.Running, Held: len(rv.Jobs), Overdue: []OverdueJob{}, Unheld: []uint64{}}
		}
		if err := tx.Jobs(0, func(j *incidentbot.Job) bool {
			out.Pending++
			if len(out.Oldest) < maxListed {
				out.Oldest = append(out.Oldest, j)
			}
			if rv == nil || !rv.Active {
				return true
			}
			held, ok := rv.Jobs[j.ID]
			switch {
			case !ok:
				if len(out.Runner.Unheld) < maxListed {
					out.Runner.Unheld = append(out.Runner.Unheld, j.ID)
				}
			case held.Head && !held.Running && !held.DueAt.After(rv.Now):
				out.Runner.Overdue = append(out.Runner.Overdue, OverdueJob{ID: j.ID, Kind: j.Kind, IncidentID: j.IncidentID, Lane: j.Lane,
					DueAt: held.DueAt, Overdue: rv.Now.Sub(held.DueAt).Seconds(), Attempts: j.Attempts, LastError: j.LastError})
			}
			return true
		}); err != nil {
			return err
		}
		var err error
		out.DeadLetters, err = tx.DeadLetters()
		for _, j := range append(out.DeadLetters, out.Oldest...) {
			// A response_url is a bearer credential for posting as the app.
			if j.ResponseURL != "" {
				j.ResponseURL = "[redacted]"
			}
		}
		return err
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	if out.DeadLetters == nil {
		out.DeadLetters = []*incidentbot.Job{}
	}
	if out.Oldest == nil {
		out.Oldest = []*incidentbot.Job{}
	}
	if out.Runner != nil {
		slices.SortFunc(out.Runner.Overdue, func(a, b OverdueJob) int { return a.DueAt.Compare(b.DueAt) })
		out.Runner.Overdue = out.Runner.Overdue[:min(len(out.Runner.Overdue), maxListed)]
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	switch incidentbot.ErrorCode(err) {
	case incidentbot.ENOTFOUND:
		writeError(w, http.StatusNotFound, incidentbot.ErrorMessage(err))
	case incidentbot.EINVALID:
		writeError(w, http.StatusBadRequest, incidentbot.ErrorMessage(err))
	default:
		h.log.Error("api: request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
