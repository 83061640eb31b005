package statuspage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Title titles the public status page.
const Title = "Service status"

// Source gives the public incidents a status page shows: every open one and
// those resolved since since (from indexes: its cost does not grow with
// history).
type Source interface {
	PublicIncidents(ctx context.Context, since time.Time) ([]incidentbot.PublicIncident, error)
}

// Page is the public status page as last rendered. A request is served
// from that rendering and never reads the database; the rendering is
// replaced when public state changes (PublishSite, the outbox's
// publish_site job, which also writes the static site when Dir is set) and
// every RefreshEvery (the 90-day window and the day bars move with time,
// and a replica that does not run the outbox learns of changes so).
//
// Readers cannot starve the webhook path: requests beyond Rate per second
// wait their turn (up to MaxWait, at most MaxWaiting of them), then get
// 503 with Retry-After; a client that sends If-None-Match with the current
// ETag gets 304.
type Page struct {
	Source Source
	// Dir, when its Path is set, receives the rendered site as files.
	Dir Dir
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Rate and Burst bound the requests served per second (200 and 100 when
	// zero); MaxWait and MaxWaiting bound the queue of the others (1 s and
	// 256 when zero).
	Rate, Burst         float64
	MaxWait             time.Duration
	MaxWaiting          int
	RefreshEvery        time.Duration
	current             atomic.Pointer[rendered]
	refreshMu           sync.Mutex // one rendering at a time
	limitMu             sync.Mutex
	tokens              float64
	last                time.Time
	waiting             atomic.Int64
	served, shed, fresh atomic.Int64
}

// rendered is one rendering with the ETag of each of its files.
type rendered struct {
	site                  Site
	htmlTag, jsonTag, atm string
	at                    time.Time
}

func (p *Page) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Page) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// publish renders incs as of now and makes it the page (and the site's
// files, when Dir is set).
func (p *Page) publish(incs []incidentbot.PublicIncident, now time.Time) error {
	site, err := Render(SiteInput{Title: Title, Incidents: incs, Now: now})
	if err != nil {
		return err
	}
	p.current.Store(&rendered{site: site, htmlTag: etag(site.HTML), jsonTag: etag(site.JSON), atm: etag(site.Atom), at: now})
	if p.Dir.Path != "" {
		return p.Dir.WriteSite(site)
	}
	return nil
}

// PublishSite replaces the page with a rendering of incs (it implements
// incidentbot.SitePublisher).
func (p *Page) PublishSite(_ context.Context, incs []incidentbot.PublicIncident, now time.Time) error {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	return p.publish(incs, now)
}

// Refresh renders the page from Source as it stands now.
func (p *Page) Refresh(ctx context.Context) error {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	now := p.now()
	incs, err := p.Source.PublicIncidents(ctx, now.Add(-Window))
	if err != nil {
		return err
	}
	// Only the page: the static site is written by the publish job, so a
	// follower replica does not overwrite the leader's files.
	site, err := Render(SiteInput{Title: Title, Incidents: incs, Now: now})
	if err != nil {
		return err
	}
	p.current.Store(&rendered{site: site, htmlTag: etag(site.HTML), jsonTag: etag(site.JSON), atm: etag(site.Atom), at: now})
	return nil
}

// Run refreshes the page now and every RefreshEvery (15 s when zero) until
// ctx ends.
func (p *Page) Run(ctx context.Context) {
	every := p.RefreshEvery
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
			p.logger().Error("status page: refreshing failed; serving the last rendering", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stats reports requests served, shed (503) and answered 304 since start.
func (p *Page) Stats() (served, shed, notModified int64) {
	return p.served.Load(), p.shed.Load(), p.fresh.Load()
}

// admit takes a token for one request, waiting for one up to MaxWait; it
// reports false when the request must be shed.
func (p *Page) admit(ctx context.Context) bool {
	rate, burst := p.Rate, p.Burst
	if rate <= 0 {
		rate = 200
	}
	if burst <= 0 {
		burst = 100
	}
	maxWait := p.MaxWait
	if maxWait <= 0 {
		maxWait = time.Second
	}
	maxWaiting := p.MaxWaiting
	if maxWaiting <= 0 {
		maxWaiting = 256
	}
	p.limitMu.Lock()
	now := time.Now()
	if p.last.IsZero() {
		p.tokens = burst
	} else {
		p.tokens = min(burst, p.tokens+now.Sub(p.last).Seconds()*rate)
	}
	p.last = now
	p.tokens--
	deficit := -p.tokens
	p.limitMu.Unlock()
	if deficit <= 0 {
		return true
	}
	wait := time.Duration(deficit / rate * float64(time.Second))
	giveBack := func() {
		p.limitMu.Lock()
		p.tokens++ // not served: the token goes to the next request
		p.limitMu.Unlock()
	}
	if wait > maxWait {
		giveBack()
		return false
	}
	if p.waiting.Add(1) > int64(maxWaiting) {
		p.waiting.Add(-1)
		giveBack()
		return false
	}
	defer p.waiting.Add(-1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ServeHTTP serves /status, /status.json and /status.atom from the current
// rendering.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.admit(r.Context()) {
		p.shed.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "status page busy; try again in a few seconds", http.StatusServiceUnavailable)
		return
	}
	cur := p.current.Load()
	if cur == nil {
		// Not rendered yet (the server just started): render once.
		if err := p.Refresh(r.Context()); err != nil {
			p.logger().Error("status page: rendering failed", "err", err)
			http.Error(w, "status temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		cur = p.current.Load()
	}
	var body []byte
	var tag, ctype string
	switch r.URL.Path {
	case "/status.json":
		body, tag, ctype = cur.site.JSON, cur.jsonTag, "application/json"
	case "/status.atom":
		body, tag, ctype = cur.site.Atom, cur.atm, "application/atom+xml; charset=utf-8"
	default:
		body, tag, ctype = cur.site.HTML, cur.htmlTag, "text/html; charset=utf-8"
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=15")
	h.Set("ETag", tag)
	h.Set("Last-Modified", cur.at.Format(http.TimeFormat))
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, tag) {
		p.fresh.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p.served.Add(1)
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// etagMatches reports whether an If-None-Match header names tag (or "*").
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}
