package statuspage

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Title titles the public status page.
const Title = "Service status"

// Source gives the public incidents a status page shows: every open one and
// those resolved since since.
type Source interface {
	PublicIncidents(ctx context.Context, since time.Time) ([]incidentbot.PublicIncident, error)
}

// Handler serves the public status page at /status, /status.json and
// /status.atom: public incidents only, published updates only.
type Handler struct {
	Source Source
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// ServeHTTP renders the page for the request's path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	incs, err := h.Source.PublicIncidents(r.Context(), now.Add(-Window))
	if err != nil {
		h.logger().Error("status page: reading incidents failed", "err", err)
		http.Error(w, "status temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	site, err := Render(SiteInput{Title: Title, Incidents: incs, Now: now})
	if err != nil {
		h.logger().Error("status page: rendering failed", "err", err)
		http.Error(w, "status temporarily unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=15")
	switch r.URL.Path {
	case "/status.json":
		w.Header().Set("Content-Type", "application/json")
		w.Write(site.JSON)
	case "/status.atom":
		w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
		w.Write(site.Atom)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(site.HTML)
	}
}

// SiteWriter renders the public site into a directory (INCIDENTBOT_STATUS_DIR)
// so any web server or bucket can serve it while the bot is down. It
// implements incidentbot.SitePublisher.
type SiteWriter struct {
	Dir Dir
}

// PublishSite renders the incidents as of now and writes the site.
func (s SiteWriter) PublishSite(_ context.Context, incs []incidentbot.PublicIncident, now time.Time) error {
	site, err := Render(SiteInput{Title: Title, Incidents: incs, Now: now})
	if err != nil {
		return err
	}
	return s.Dir.WriteSite(site)
}
