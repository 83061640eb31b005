package statuspage

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Window is how far back the site looks: resolved incidents, the
// availability bars and the uptime figures cover the last 90 days.
const Window = 90 * 24 * time.Hour

// Days is the number of cells in a service's availability bar.
const Days = 90

// MaxFeedEntries caps the Atom feed.
const MaxFeedEntries = 100

// DefaultService is the name shown for incidents without a service.
const DefaultService = "Service"

// SiteInput is what the static status site is rendered from.
type SiteInput struct {
	// Title is the page title, e.g. "Acme status".
	Title string
	// Incidents are the public incidents, newest first: open ones and ones
	// resolved in the last 90 days. Older resolved ones are left out.
	Incidents []incidentbot.PublicIncident
	// Now is the render time (zero: time.Now()).
	Now time.Time
	// BaseURL is the site's public base URL, used for absolute links in the
	// Atom feed; it may be "" (the feed then links relatively).
	BaseURL string
}

// Site is the rendered static status site: index.html, status.json and
// status.atom.
type Site struct {
	HTML, JSON, Atom []byte
}

// Impact levels, mildest first.
var impactRank = map[string]int{"none": 0, "minor": 1, "major": 2, "critical": 3}

// impactOf returns the incident's impact, normalised to one of the four
// levels (an empty or unknown one is derived from the severity).
func impactOf(pi *incidentbot.PublicIncident) string {
	if _, ok := impactRank[pi.Impact]; ok {
		return pi.Impact
	}
	return incidentbot.ImpactOf(pi.Severity)
}

func worse(a, b string) string {
	if impactRank[b] > impactRank[a] {
		return b
	}
	return a
}

// Describe is the banner text for an overall indicator: none → "All
// systems operational", minor → "Degraded performance", major → "Partial
// outage", critical → "Major outage".
func Describe(indicator string) string {
	switch indicator {
	case "critical":
		return "Major outage"
	case "major":
		return "Partial outage"
	case "minor":
		return "Degraded performance"
	}
	return "All systems operational"
}

// impactLabel is how one incident's (or one day's) impact reads.
func impactLabel(impact string) string {
	switch impact {
	case "critical":
		return "Major outage"
	case "major":
		return "Partial outage"
	case "minor":
		return "Degraded performance"
	}
	return "No impact"
}

// statusWord is a public status as a capitalised word: "Investigating".
func statusWord(s incidentbot.Status) string {
	w := string(incidentbot.PublicStatus(s))
	return strings.ToUpper(w[:1]) + w[1:]
}

func serviceName(s string) string {
	if strings.TrimSpace(s) == "" {
		return DefaultService
	}
	return s
}

// model is everything the three renderings share.
type model struct {
	title     string
	now       time.Time
	indicator string
	active    []incidentbot.PublicIncident
	resolved  []incidentbot.PublicIncident
	services  []service
}

type service struct {
	Name   string
	Uptime float64 // percent, rounded to 3 decimals
	Days   []day
}

type day struct {
	Date      time.Time // 00:00 UTC
	Impact    string
	Incidents []string // "name (impact)"
}

// impactWindow is when an incident affected its service: [ImpactFrom (else
// StartedAt), ImpactTo (else ResolvedAt when resolved, else now)].
func impactWindow(pi *incidentbot.PublicIncident, now time.Time) (time.Time, time.Time) {
	from := pi.ImpactFrom
	if from.IsZero() {
		from = pi.StartedAt
	}
	to := now
	switch {
	case pi.ImpactTo != nil:
		to = *pi.ImpactTo
	case pi.Status == incidentbot.StatusResolved && pi.ResolvedAt != nil:
		to = *pi.ResolvedAt
	}
	if to.After(now) {
		to = now
	}
	if to.Before(from) {
		to = from
	}
	return from.UTC(), to.UTC()
}

func resolvedAt(pi *incidentbot.PublicIncident) time.Time {
	if pi.ResolvedAt != nil {
		return *pi.ResolvedAt
	}
	return pi.UpdatedAt
}

// normalise returns a copy of the incident with UTC times and its updates
// newest first.
func normalise(pi incidentbot.PublicIncident) incidentbot.PublicIncident {
	// Control and bidi characters never reach the page, the JSON or the
	// feed, whoever built the incident.
	pi.ID, pi.Name, pi.Service = incidentbot.CleanLine(pi.ID), incidentbot.CleanLine(pi.Name), incidentbot.CleanLine(pi.Service)
	pi.Impact = impactOf(&pi)
	pi.Status = incidentbot.PublicStatus(pi.Status)
	pi.StartedAt = pi.StartedAt.UTC()
	pi.UpdatedAt = pi.UpdatedAt.UTC()
	pi.ImpactFrom = pi.ImpactFrom.UTC()
	if pi.ResolvedAt != nil {
		t := pi.ResolvedAt.UTC()
		pi.ResolvedAt = &t
	}
	if pi.ImpactTo != nil {
		t := pi.ImpactTo.UTC()
		pi.ImpactTo = &t
	}
	ups := make([]incidentbot.PublicUpdate, len(pi.Updates))
	for i, u := range pi.Updates {
		u.At = u.At.UTC()
		u.Status = incidentbot.PublicStatus(u.Status)
		u.ID, u.Text = incidentbot.CleanLine(u.ID), incidentbot.CleanText(u.Text)
		ups[i] = u
	}
	slices.SortStableFunc(ups, func(a, b incidentbot.PublicUpdate) int { return b.At.Compare(a.At) })
	pi.Updates = ups
	return pi
}

func build(in SiteInput) model {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	m := model{title: incidentbot.CleanLine(in.Title), now: now, indicator: "none"}
	since := now.Add(-Window)
	var shown []incidentbot.PublicIncident
	for _, raw := range in.Incidents {
		pi := normalise(raw)
		if pi.Status == incidentbot.StatusResolved {
			if resolvedAt(&pi).Before(since) {
				continue
			}
			m.resolved = append(m.resolved, pi)
		} else {
			m.active = append(m.active, pi)
			m.indicator = worse(m.indicator, pi.Impact)
		}
		shown = append(shown, pi)
	}

	// Availability: one bar per service, one cell per UTC day, the last
	// cell being today.
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -(Days - 1))
	byName := map[string][]incidentbot.PublicIncident{}
	for _, pi := range shown {
		n := serviceName(pi.Service)
		byName[n] = append(byName[n], pi)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		incs := byName[n]
		svc := service{Name: n, Days: make([]day, Days)}
		type span struct{ from, to time.Time }
		var spans []span
		for i := range incs {
			from, to := impactWindow(&incs[i], now)
			if incs[i].Impact != "none" {
				spans = append(spans, span{from, to})
			}
		}
		for d := range svc.Days {
			start := first.AddDate(0, 0, d)
			end := start.AddDate(0, 0, 1)
			dd := day{Date: start, Impact: "none"}
			for i := range incs {
				from, to := impactWindow(&incs[i], now)
				overlaps := from.Before(end) && (to.After(start) || (from.Equal(to) && !from.Before(start)))
				if !overlaps {
					continue
				}
				dd.Impact = worse(dd.Impact, incs[i].Impact)
				dd.Incidents = append(dd.Incidents, fmt.Sprintf("%s (%s)", incs[i].Name, strings.ToLower(impactLabel(incs[i].Impact))))
			}
			svc.Days[d] = dd
		}
		// Uptime: the part of the last 90 days not covered by the union of
		// the service's impact windows.
		slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
		var down time.Duration
		var curFrom, curTo time.Time
		flush := func() {
			if curTo.After(curFrom) {
				down += curTo.Sub(curFrom)
			}
		}
		started := false
		for _, s := range spans {
			f, t := s.from, s.to
			if f.Before(since) {
				f = since
			}
			if t.After(now) {
				t = now
			}
			if !t.After(f) {
				continue
			}
			if started && !f.After(curTo) {
				if t.After(curTo) {
					curTo = t
				}
				continue
			}
			if started {
				flush()
			}
			curFrom, curTo, started = f, t, true
		}
		if started {
			flush()
		}
		svc.Uptime = uptimePercent(down)
		m.services = append(m.services, svc)
	}
	return m
}

// uptimePercent turns downtime in the window into a percentage rounded to
// three decimals; any downtime at all shows as less than 100.
func uptimePercent(down time.Duration) float64 {
	p := 100 * (1 - float64(down)/float64(Window))
	r := math.Round(p*1000) / 1000
	if down > 0 && r >= 100 {
		r = 99.999
	}
	return max(r, 0)
}

// Render renders the HTML page, status.json and the Atom feed.
func Render(in SiteInput) (Site, error) {
	m := build(in)
	var s Site
	var err error
	if s.HTML, err = renderHTML(m); err != nil {
		return Site{}, err
	}
	if s.JSON, err = renderJSON(m); err != nil {
		return Site{}, err
	}
	if s.Atom, err = renderAtom(m, in.BaseURL); err != nil {
		return Site{}, err
	}
	return s, nil
}

// ---- HTML ----

const timeLayout = "2006-01-02 15:04 UTC"

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	d = d.Round(time.Minute)
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%d d", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%d h", hours))
	}
	if mins > 0 && days == 0 {
		parts = append(parts, fmt.Sprintf("%d min", mins))
	}
	if len(parts) == 0 {
		return "under a minute"
	}
	return strings.Join(parts, " ")
}

type htmlUpdate struct {
	Status, Text, When, ISO string
}

type htmlIncident struct {
	ID, Name, Service, Impact, ImpactLabel, Status string
	Started, StartedISO                            string
	Resolved, ResolvedISO, Duration, Span          string
	Updates                                        []htmlUpdate
}

type htmlDay struct {
	Impact, Title string
}

type htmlService struct {
	Name, Uptime string
	Days         []htmlDay
}

type htmlPage struct {
	Title, Indicator, Description string
	Active, Resolved              []htmlIncident
	Services                      []htmlService
	Updated, UpdatedISO           string
}

func htmlIncidentOf(pi incidentbot.PublicIncident) htmlIncident {
	h := htmlIncident{
		ID: pi.ID, Name: pi.Name, Service: serviceName(pi.Service), Impact: pi.Impact,
		ImpactLabel: impactLabel(pi.Impact), Status: statusWord(pi.Status),
		Started: pi.StartedAt.Format(timeLayout), StartedISO: pi.StartedAt.Format(time.RFC3339),
	}
	if pi.Status == incidentbot.StatusResolved {
		r := resolvedAt(&pi).UTC()
		h.Resolved, h.ResolvedISO = r.Format(timeLayout), r.Format(time.RFC3339)
		h.Duration = formatDuration(r.Sub(pi.StartedAt))
		if pi.StartedAt.Format("2006-01-02") == r.Format("2006-01-02") {
			h.Span = pi.StartedAt.Format("2006-01-02 15:04") + " – " + r.Format("15:04 UTC")
		} else {
			h.Span = pi.StartedAt.Format(timeLayout) + " – " + r.Format(timeLayout)
		}
	}
	for _, u := range pi.Updates {
		h.Updates = append(h.Updates, htmlUpdate{Status: statusWord(u.Status), Text: u.Text, When: u.At.Format(timeLayout), ISO: u.At.Format(time.RFC3339)})
	}
	return h
}

func renderHTML(m model) ([]byte, error) {
	p := htmlPage{
		Title: m.title, Indicator: m.indicator, Description: Describe(m.indicator),
		Updated: m.now.Format("2006-01-02 15:04:05"), UpdatedISO: m.now.Format(time.RFC3339),
	}
	for _, pi := range m.active {
		p.Active = append(p.Active, htmlIncidentOf(pi))
	}
	for _, pi := range m.resolved {
		p.Resolved = append(p.Resolved, htmlIncidentOf(pi))
	}
	for _, s := range m.services {
		hs := htmlService{Name: s.Name, Uptime: fmt.Sprintf("%.3f%%", s.Uptime)}
		for _, d := range s.Days {
			title := d.Date.Format("2006-01-02") + ": no incidents"
			if len(d.Incidents) > 0 {
				title = d.Date.Format("2006-01-02") + ": " + impactLabel(d.Impact) + "\n" + strings.Join(d.Incidents, "\n")
			}
			hs.Days = append(hs.Days, htmlDay{Impact: d.Impact, Title: title})
		}
		p.Services = append(p.Services, hs)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("statuspage: render html: %w", err)
	}
	return b.Bytes(), nil
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{.Title}}</title>
<link rel="alternate" type="application/atom+xml" title="{{.Title}}: incident updates" href="status.atom">
<link rel="alternate" type="application/json" href="status.json">
<style>` + pageCSS + `</style>
</head>
<body>
<div class="wrap">
<header class="page-header">
<h1>{{.Title}}</h1>
<a class="subscribe" href="status.atom">Subscribe to updates</a>
</header>
<main>
<div class="banner banner-{{.Indicator}}"><span class="banner-icon" aria-hidden="true"></span><p id="overall-status" role="status">{{.Description}}</p></div>
{{- if .Active}}
<section class="active" aria-labelledby="active-heading">
<h2 id="active-heading">Active incidents</h2>
{{- range .Active}}
<article class="incident card impact-{{.Impact}}" id="incident-{{.ID}}" data-id="{{.ID}}">
<h3 class="incident-name">{{.Name}}</h3>
<p class="incident-meta"><span class="incident-status">{{.Status}}</span> <span class="badge badge-{{.Impact}}">{{.ImpactLabel}}</span> <span class="incident-service">{{.Service}}</span> <span class="incident-started">since <time datetime="{{.StartedISO}}">{{.Started}}</time></span></p>
{{template "updates" .Updates}}
</article>
{{- end}}
</section>
{{- end}}
{{- if .Services}}
<section class="availability" aria-labelledby="availability-heading">
<h2 id="availability-heading">Availability</h2>
<div class="card">
{{- range .Services}}
<div class="service" data-service="{{.Name}}">
<div class="service-head"><h3 class="service-name">{{.Name}}</h3><span class="uptime"><span class="uptime-percent">{{.Uptime}}</span> uptime<span class="uptime-window"> (90 days)</span></span></div>
<div class="bar" role="img" aria-label="{{.Name}}: {{.Uptime}} uptime over the last 90 days">
{{- range .Days}}<span class="day day-{{.Impact}}" title="{{.Title}}"></span>{{end -}}
</div>
<div class="bar-legend"><span class="legend-90">90 days ago</span><span class="legend-30">30 days ago</span><span>Today</span></div>
</div>
{{- end}}
<p class="key"><span class="key-item"><span class="swatch day-none"></span>No incidents</span> <span class="key-item"><span class="swatch day-minor"></span>Degraded performance</span> <span class="key-item"><span class="swatch day-major"></span>Partial outage</span> <span class="key-item"><span class="swatch day-critical"></span>Major outage</span></p>
</div>
</section>
{{- end}}
<section class="history" aria-labelledby="history-heading">
<h2 id="history-heading">Past incidents <span class="muted">(last 90 days)</span></h2>
{{- if .Resolved}}
<div class="card resolved-list">
{{- range .Resolved}}
<details class="resolved-incident" id="incident-{{.ID}}" data-id="{{.ID}}">
<summary><span class="resolved-name">{{.Name}}</span><span class="resolved-when"><time datetime="{{.StartedISO}}">{{.Span}}</time> · <span class="duration">{{.Duration}}</span> · {{.ImpactLabel}}</span></summary>
{{template "updates" .Updates}}
</details>
{{- end}}
</div>
{{- else}}
<p class="card none">No incidents in the last 90 days.</p>
{{- end}}
</section>
</main>
<footer>
<p>Last updated <time datetime="{{.UpdatedISO}}">{{.Updated}}</time> UTC</p>
<p><a href="status.atom">Atom feed</a> · <a href="status.json">JSON</a></p>
</footer>
</div>
</body>
</html>
{{define "updates"}}{{if .}}<ol class="updates">
{{- range .}}
<li class="update"><p class="update-head"><strong class="update-status">{{.Status}}</strong> <time datetime="{{.ISO}}">{{.When}}</time></p><p class="update-text">{{.Text}}</p></li>
{{- end}}
</ol>{{end}}{{end}}`))

const pageCSS = `
:root{--ok:#1f883d;--minor:#d4a72c;--major:#e16f24;--critical:#cf222e;--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:860px;margin:0 auto;padding:24px 16px 32px}
a{color:#0969da}
.page-header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:8px;margin-bottom:16px}
h1{font-size:1.75rem;line-height:1.2;margin:0;overflow-wrap:anywhere}
.subscribe{font-size:.9rem}
h2{font-size:1.2rem;margin:0 0 12px}
h3{font-size:1.05rem;margin:0}
section{margin-top:32px}
.muted{color:var(--muted);font-weight:400;font-size:.95rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:0 0 12px}
.banner{display:flex;align-items:center;gap:14px;border-radius:10px;padding:18px 20px;color:#fff;background:var(--ok)}
.banner p{margin:0;font-size:1.35rem;font-weight:600;line-height:1.3}
.banner-icon{flex:none;width:28px;height:28px;border-radius:50%;background:#fff;position:relative}
.banner-icon::after{content:"";position:absolute;left:10px;top:5px;width:6px;height:12px;border:solid var(--ok);border-width:0 3px 3px 0;transform:rotate(45deg)}
.banner-minor{background:var(--minor);color:#1f2328}
.banner-major{background:var(--major)}
.banner-critical{background:var(--critical)}
.banner-minor .banner-icon::after,.banner-major .banner-icon::after,.banner-critical .banner-icon::after{left:12px;top:5px;width:4px;height:11px;border:0;border-radius:2px;transform:none;background:currentColor}
.banner-minor .banner-icon::before,.banner-major .banner-icon::before,.banner-critical .banner-icon::before{content:"";position:absolute;left:12px;top:19px;width:4px;height:4px;border-radius:2px;background:currentColor}
.banner-minor .banner-icon{color:var(--minor)}
.banner-major .banner-icon{color:var(--major)}
.banner-critical .banner-icon{color:var(--critical)}
.incident{border-left:6px solid var(--minor)}
.incident.impact-major{border-left-color:var(--major)}
.incident.impact-critical{border-left-color:var(--critical)}
.incident.impact-none{border-left-color:var(--line)}
.incident-name{font-size:1.15rem;overflow-wrap:anywhere}
.incident-meta{margin:6px 0 0;display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;font-size:.9rem;color:var(--muted)}
.incident-status{font-weight:700;color:var(--fg)}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-size:.8rem;font-weight:600;color:#fff;background:var(--muted)}
.badge-minor{background:var(--minor);color:#1f2328}
.badge-major{background:var(--major)}
.badge-critical{background:var(--critical)}
.updates{list-style:none;margin:12px 0 0;padding:0}
.update{padding:10px 0 8px;border-top:1px solid var(--line)}
.update-head{margin:0;font-size:.85rem;color:var(--muted)}
.update-status{color:var(--fg);margin-right:6px}
.update-text{margin:4px 0 0;white-space:pre-line;overflow-wrap:anywhere}
.service{margin:0 0 20px}
.service-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px;margin-bottom:8px}
.service-name{overflow-wrap:anywhere}
.uptime{flex:none;font-size:.9rem;color:var(--muted)}
.uptime-percent{font-weight:600;color:var(--fg)}
.bar{display:flex;gap:2px;height:34px}
.day{flex:1 1 0;min-width:0;border-radius:2px;background:var(--ok)}
.day:hover{opacity:.7}
.day-minor{background:var(--minor)}
.day-major{background:var(--major)}
.day-critical{background:var(--critical)}
.bar-legend{display:flex;justify-content:space-between;font-size:.8rem;color:var(--muted);margin-top:4px}
.legend-30,.uptime-window{display:none}
.key{display:flex;flex-wrap:wrap;gap:6px 16px;margin:0;font-size:.8rem;color:var(--muted)}
.key-item{display:inline-flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px}
.swatch.day-none{background:var(--ok)}
.resolved-list{padding:4px 20px}
.resolved-incident{border-top:1px solid var(--line)}
.resolved-incident:first-child{border-top:0}
.resolved-incident summary{cursor:pointer;padding:12px 0;display:flex;flex-wrap:wrap;justify-content:space-between;gap:2px 12px;list-style-position:outside}
.resolved-incident summary::-webkit-details-marker{display:none}
.resolved-incident summary::before{content:"\25B8";color:var(--muted);margin-right:-4px}
.resolved-incident[open] summary::before{content:"\25BE"}
.resolved-name{font-weight:600;flex:1 1 200px;overflow-wrap:anywhere}
.resolved-when{font-size:.85rem;color:var(--muted)}
.resolved-incident .updates{margin:0 0 12px}
.none{color:var(--muted)}
footer{margin-top:32px;font-size:.85rem;color:var(--muted);text-align:center}
footer p{margin:4px 0}
@media (max-width:600px){
.wrap{padding:16px 12px 24px}
h1{font-size:1.4rem}
.banner{padding:14px 16px}
.banner p{font-size:1.15rem}
.card{padding:14px 14px}
.resolved-list{padding:2px 14px}
.day:nth-child(-n+60){display:none}
.legend-90{display:none}
.legend-30,.uptime-window{display:inline}
.bar{gap:3px}
}
`

// ---- JSON ----

type jsonPage struct {
	SchemaVersion int            `json:"schema_version"`
	Page          jsonPageInfo   `json:"page"`
	Status        jsonStatus     `json:"status"`
	Incidents     []jsonIncident `json:"incidents"`
	Services      []jsonService  `json:"services"`
}

type jsonPageInfo struct {
	Title     string    `json:"title"`
	UpdatedAt time.Time `json:"updated_at"`
}

type jsonStatus struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

type jsonIncident struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Service    string       `json:"service"`
	Severity   string       `json:"severity"`
	Impact     string       `json:"impact"`
	Status     string       `json:"status"`
	StartedAt  *time.Time   `json:"started_at"`
	ResolvedAt *time.Time   `json:"resolved_at"`
	UpdatedAt  *time.Time   `json:"updated_at"`
	ImpactFrom *time.Time   `json:"impact_from"`
	ImpactTo   *time.Time   `json:"impact_to"`
	Updates    []jsonUpdate `json:"updates"`
}

type jsonUpdate struct {
	ID     string     `json:"id"`
	At     *time.Time `json:"at"`
	Status string     `json:"status"`
	Text   string     `json:"text"`
}

type jsonService struct {
	Name             string    `json:"name"`
	Uptime90dPercent float64   `json:"uptime_90d_percent"`
	Days             []jsonDay `json:"days"`
}

type jsonDay struct {
	Date   string `json:"date"`
	Impact string `json:"impact"`
}

// known returns a pointer to t truncated to seconds, or nil when t is zero.
func known(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

func knownPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return known(*t)
}

func renderJSON(m model) ([]byte, error) {
	out := jsonPage{
		SchemaVersion: 1,
		Page:          jsonPageInfo{Title: m.title, UpdatedAt: m.now.Truncate(time.Second)},
		Status:        jsonStatus{Indicator: m.indicator, Description: Describe(m.indicator)},
		Incidents:     []jsonIncident{},
		Services:      []jsonService{},
	}
	add := func(pi incidentbot.PublicIncident) {
		ji := jsonIncident{
			ID: pi.ID, Name: pi.Name, Service: serviceName(pi.Service), Severity: string(pi.Severity),
			Impact: pi.Impact, Status: string(pi.Status), StartedAt: known(pi.StartedAt),
			ResolvedAt: knownPtr(pi.ResolvedAt), UpdatedAt: known(pi.UpdatedAt),
			ImpactFrom: known(pi.ImpactFrom), ImpactTo: knownPtr(pi.ImpactTo), Updates: []jsonUpdate{},
		}
		if ji.ImpactFrom == nil {
			ji.ImpactFrom = ji.StartedAt
		}
		if pi.Status != incidentbot.StatusResolved {
			ji.ResolvedAt = nil
		}
		for _, u := range pi.Updates {
			ji.Updates = append(ji.Updates, jsonUpdate{ID: u.ID, At: known(u.At), Status: string(u.Status), Text: u.Text})
		}
		out.Incidents = append(out.Incidents, ji)
	}
	for _, pi := range m.active {
		add(pi)
	}
	for _, pi := range m.resolved {
		add(pi)
	}
	for _, s := range m.services {
		js := jsonService{Name: s.Name, Uptime90dPercent: s.Uptime, Days: make([]jsonDay, 0, len(s.Days))}
		for _, d := range s.Days {
			js.Days = append(js.Days, jsonDay{Date: d.Date.Format("2006-01-02"), Impact: d.Impact})
		}
		out.Services = append(out.Services, js)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("statuspage: render json: %w", err)
	}
	return append(b, '\n'), nil
}

// ---- Atom ----

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Gen     string      `xml:"generator"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Updated   string     `xml:"updated"`
	Published string     `xml:"published"`
	Links     []atomLink `xml:"link"`
	Content   atomText   `xml:"content"`
}

// EntryID is an update's Atom entry id, stable across renders:
// tag:incidentbot,<YYYY-MM-DD of the update, UTC>:<update ID>.
func EntryID(u incidentbot.PublicUpdate) string {
	return "tag:incidentbot," + u.At.UTC().Format("2006-01-02") + ":" + u.ID
}

func renderAtom(m model, baseURL string) ([]byte, error) {
	base := strings.TrimRight(baseURL, "/")
	page := "./"
	self := "status.atom"
	feedID := "tag:incidentbot,2024-01-01:status-page"
	if base != "" {
		page, self, feedID = base+"/", base+"/status.atom", base+"/status.atom"
	}
	title := m.title
	if title == "" {
		title = "Status"
	}
	type item struct {
		pi *incidentbot.PublicIncident
		u  incidentbot.PublicUpdate
	}
	var items []item
	all := append(slices.Clone(m.active), m.resolved...)
	for i := range all {
		for _, u := range all[i].Updates {
			items = append(items, item{&all[i], u})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		return cmp.Or(b.u.At.Compare(a.u.At), strings.Compare(a.u.ID, b.u.ID))
	})
	if len(items) > MaxFeedEntries {
		items = items[:MaxFeedEntries]
	}
	f := atomFeed{
		ID: feedID, Title: title,
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: self},
			{Rel: "alternate", Type: "text/html", Href: page},
		},
		Author: atomPerson{Name: title}, Gen: "incidentbot",
	}
	updated := m.now
	if len(items) > 0 {
		updated = items[0].u.At
	}
	f.Updated = updated.UTC().Format(time.RFC3339)
	for _, it := range items {
		f.Entries = append(f.Entries, atomEntry{
			ID:        EntryID(it.u),
			Title:     it.pi.Name + ": " + statusWord(it.u.Status),
			Updated:   it.u.At.UTC().Format(time.RFC3339),
			Published: it.u.At.UTC().Format(time.RFC3339),
			Links:     []atomLink{{Rel: "alternate", Type: "text/html", Href: page + "#incident-" + it.pi.ID}},
			Content:   atomText{Type: "text", Body: it.u.Text},
		})
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("statuspage: render atom: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
