package incidentbot

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// HTML renders the draft as one self-contained HTML document: no scripts,
// no external assets (a Content-Security-Policy says so to the browser),
// the phases and key events drawn as an inline SVG timeline. It is made of
// plain headings, paragraphs, lists and tables, which survive a paste into
// Google Docs or Confluence; the drawing has a table beside it for them.
// All text is escaped by html/template.
func (p *Postmortem) HTML() []byte {
	var b bytes.Buffer
	b.Grow(16384 + 200*(len(p.Timeline)+len(p.Resolution)+len(p.Communication.Updates)))
	if err := htmlTemplate.Execute(&b, p.htmlView()); err != nil {
		// The template is fixed and its data built here: an error is a
		// bug, shown in the document rather than lost.
		return []byte("<!DOCTYPE html><title>postmortem</title><p>rendering failed: " + template.HTMLEscapeString(err.Error()))
	}
	return b.Bytes()
}

// txt is a piece of text, or a prompt in its place (shown in italics).
type txt struct {
	S string
	P bool
	// Links, when set, are written after S: each an http(s) link (checked
	// by safeURL when the draft is made) with its text.
	Links []TrackerLink
}

func orPromptTxt(s, prompt string) txt {
	if strings.TrimSpace(s) == "" {
		return txt{S: prompt, P: true}
	}
	return txt{S: s}
}

// richText escapes the bot's own text and shows its `code` spans as code.
func richText(s string) template.HTML {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, part := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
			continue
		}
		if i%2 == 1 {
			b.WriteString("`")
		}
		b.WriteString(template.HTMLEscapeString(part))
	}
	return template.HTML(b.String())
}

type htmlRow struct {
	Cells []txt
	Link  string
}

type htmlTable struct {
	Head []string
	Rows []htmlRow
}

// HTML writes the table. It is written here rather than by the template:
// a timeline of 10,000 rows through html/template's reflection costs ten
// times more. Every cell and link is escaped (links are http(s) only,
// checked by safeURL).
func (t htmlTable) HTML() template.HTML {
	var b strings.Builder
	b.Grow(64 + 96*len(t.Rows))
	b.WriteString("<table>\n<thead><tr>")
	for _, h := range t.Head {
		b.WriteString("<th>" + template.HTMLEscapeString(h) + "</th>")
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range t.Rows {
		b.WriteString("<tr>")
		for i, c := range r.Cells {
			b.WriteString("<td>")
			writeTxt(&b, c)
			if i == 1 && r.Link != "" {
				b.WriteString(` (<a href="` + template.HTMLEscapeString(r.Link) + `">message</a>)`)
			}
			b.WriteString("</td>")
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>")
	return template.HTML(b.String())
}

// htmlList writes the items as a list (ul, or ol when ordered), in Go
// for the reason tables are.
func htmlList(items []txt, ordered bool) template.HTML {
	tag := "ul"
	if ordered {
		tag = "ol"
	}
	var b strings.Builder
	b.Grow(16 + 64*len(items))
	b.WriteString("<" + tag + ">\n")
	for _, it := range items {
		b.WriteString("<li>")
		writeTxt(&b, it)
		b.WriteString("</li>\n")
	}
	b.WriteString("</" + tag + ">")
	return template.HTML(b.String())
}

func writeTxt(b *strings.Builder, t txt) {
	if t.P {
		b.WriteString(`<em class="prompt">` + template.HTMLEscapeString(t.S) + "</em>")
		return
	}
	b.WriteString(template.HTMLEscapeString(t.S))
	for i, l := range t.Links {
		if i > 0 || t.S != "" {
			b.WriteString("<br>")
		}
		if l.URL != "" {
			b.WriteString(`<a href="` + template.HTMLEscapeString(l.URL) + `">` + template.HTMLEscapeString(l.Text) + "</a>")
		} else {
			b.WriteString(template.HTMLEscapeString(l.Text))
		}
		if l.Label != "" {
			b.WriteString(" (" + template.HTMLEscapeString(l.Label) + ")")
		}
	}
}

type htmlView struct {
	P        *Postmortem
	Facts    [][2]txt
	Summary  [4]txt
	Impact   template.HTML
	Services template.HTML
	SVG      svgView
	Legend   template.HTML
	Timeline htmlTable
	RootNote string
	Detect   [][2]txt
	Response htmlTable
	Compare  htmlTable
	Window   template.HTML
	Phases   htmlTable
	Steps    template.HTML
	Comm     [][2]txt
	Updates  htmlTable
	Page     []string
	PageNote string
	Missed   template.HTML
	Avail    [][2]template.HTML
	Actions  htmlTable
	// TrackedIn names the trackers the action items are in.
	TrackedIn txt
	People    htmlTable
	Related   htmlTable
	SignOff   [][2]txt
}

func cells(ss ...string) []txt {
	out := make([]txt, len(ss))
	for i, s := range ss {
		out[i] = txt{S: s}
	}
	return out
}

func (p *Postmortem) htmlView() htmlView {
	v := htmlView{P: p}
	ref := p.IncidentID
	if p.PagerDutyID != "" {
		ref += " (PagerDuty " + p.PagerDutyID + ")"
	}
	end, dur := "Ongoing", "ongoing"
	if p.End != nil {
		end, dur = p.End.Format("2006-01-02 15:04:05")+" UTC (resolved)", optDur(p.DurationSec)
	}
	var roles []string
	for _, r := range p.Roles {
		roles = append(roles, string(r.Role)+": "+r.Person)
	}
	v.Facts = [][2]txt{
		{{S: "Incident"}, {S: ref}},
		{{S: "Date of incident"}, {S: p.Date}},
		{{S: "Date of draft"}, {S: p.DraftDate}},
		{{S: "Author"}, orPromptTxt(p.Author, "name (the incident commander, when one is assigned)")},
		{{S: "Reviewers"}, {S: "names", P: true}},
		{{S: "Severity"}, {S: p.SeverityNote}},
		{{S: "Status"}, {S: string(p.Status)}},
		{{S: "Start"}, {S: p.startText()}},
		{{S: "End"}, {S: end}},
		{{S: "Duration"}, {S: dur}},
		{{S: "Service"}, orPromptTxt(p.Service, "which service?")},
		{{S: "Incident channel"}, orPromptTxt(prefixed("#", p.Channel), "none recorded")},
		{{S: "Roles"}, orPromptTxt(strings.Join(roles, "; "), "none assigned")},
	}
	what := p.WhatHappened
	if sum := CleanLine(p.Summary); sum != "" {
		if !strings.ContainsAny(sum[len(sum)-1:], ".!?") {
			sum += "."
		}
		what += " " + sum
	}
	v.Summary = [4]txt{
		{S: what},
		orPromptTxt(p.impactSummary(), "who was affected, how many, for how long (record it with /incident impact)"),
		orPromptTxt(CleanLine(p.RootCause), "the root cause in one sentence (record it with /incident rootcause)"),
		orPromptTxt(p.resolutionSummary(), "how it was fixed"),
	}
	var impact, services []txt
	for _, s := range p.Impact.Statements {
		impact = append(impact, txt{S: fmt.Sprintf("%s (%s UTC, %s)", s.Event, hhmmss(s.At), s.Actor)})
	}
	if len(p.Impact.Statements) == 0 {
		impact = append(impact, txt{S: "Scope (all users, a region, a feature), count, and how long they were affected (record it with /incident impact).", P: true})
	}
	if a := p.Impact.AffectedPercent; a != nil {
		impact = append(impact, txt{S: "Share affected: " + FormatPercent(*a) + " of users or requests (recorded with /incident affected)"})
	} else {
		impact = append(impact, txt{S: "Share affected: not recorded (record it with /incident affected <N%>)", P: true})
	}
	if p.Impact.DurationSec != nil {
		impact = append(impact, txt{S: fmt.Sprintf("Duration of impact: %s (%s → %s UTC; see Availability)", optDur(p.Impact.DurationSec), p.when(p.Impact.From), p.when(*p.Impact.To))})
	} else {
		impact = append(impact, txt{S: "Duration of impact: ongoing since " + p.when(p.Impact.From) + " UTC"})
	}
	if p.Service != "" {
		services = append(services, txt{S: p.Service + " (paged)"})
	}
	services = append(services, txt{S: "Other services affected, and ones that were not.", P: true})
	v.Impact, v.Services = htmlList(impact, false), htmlList(services, false)

	v.SVG = p.svg()
	if len(p.KeyEvents) > 0 {
		legend := make([]txt, 0, len(p.KeyEvents))
		for _, e := range p.KeyEvents {
			legend = append(legend, txt{S: fmt.Sprintf("%s UTC: %s (%s)", p.when(e.At), CleanLine(e.Event), e.Actor)})
		}
		v.Legend = htmlList(legend, true)
	}
	v.Timeline = htmlTable{Head: []string{"Time (UTC)", "Event", "Actor"}}
	for _, r := range p.Timeline {
		ev := r.Event
		if r.RecordedAt != nil {
			ev += " (recorded " + p.when(*r.RecordedAt) + ")"
		}
		v.Timeline.Rows = append(v.Timeline.Rows, htmlRow{Cells: cells(p.when(r.At), ev, r.Actor), Link: r.Link})
	}
	if rc := p.lastRecord(EntryRootCause); rc != nil {
		v.RootNote = fmt.Sprintf("Recorded by %s at %s UTC.", rc.Actor, p.when(rc.At))
	}
	d := p.Detection
	v.Detect = [][2]txt{
		{{S: "How detected"}, orPromptTxt(d.How, "how was it noticed?")},
		{{S: "Detected at"}, {S: p.when(d.DetectedAt) + " UTC"}},
	}
	if d.ImpactStartedAt != nil {
		v.Detect = append(v.Detect, [2]txt{{S: "Impact started"}, {S: d.ImpactStartedAt.Format("2006-01-02 15:04:05") + " UTC"}}, [2]txt{{S: "Time to detect"}, {S: optDur(d.TimeToDetectSec)}})
	} else {
		v.Detect = append(v.Detect, [2]txt{{S: "Impact started"}, {S: "not recorded (record it with /incident started HH:MM)", P: true}}, [2]txt{{S: "Time to detect"}, {S: "n/a (impact start not recorded)"}})
	}
	v.Detect = append(v.Detect, [2]txt{{S: "Detection quality"}, {S: "Did an alert fire early enough? What would have caught it sooner?", P: true}})
	m := p.Metrics
	v.Response = htmlTable{Head: []string{"Metric", "Time from detection", "At (UTC)"}, Rows: []htmlRow{
		{Cells: cells("Time to acknowledge", optDur(m.TimeToAcknowledge), optTime(m.AcknowledgedAt))},
		{Cells: cells("Time to identify", optDur(m.TimeToIdentify), optTime(m.IdentifiedAt))},
		{Cells: cells("Time to mitigate", optDur(m.TimeToMitigate), optTime(m.MitigatedAt))},
		{Cells: cells("Time to resolve", optDur(m.TimeToResolve), optTime(m.ResolvedAt))},
	}}
	t := p.Team
	v.Compare = htmlTable{Head: []string{"", "This incident", "Median, all incidents", "Median, " + orDash(t.Service)}}
	for _, c := range []struct {
		name string
		c    Comparison
	}{{"Time to acknowledge", t.TimeToAcknowledge}, {"Time to resolve", t.TimeToResolve}} {
		v.Compare.Rows = append(v.Compare.Rows, htmlRow{Cells: cells(c.name, optDur(c.c.ThisSec), t.median(c.c.AllMedianSec, c.c.AllCount), t.serviceMedian(c.c.ServiceMedianSec, c.c.ServiceCount))})
	}
	v.Window = richText(t.windowText())
	v.Phases = htmlTable{Head: []string{"Phase", "At (UTC)", "Since the previous phase"}}
	for i, ph := range p.Phases {
		since := "-"
		if i > 0 {
			since = Human(ph.At.Sub(p.Phases[i-1].At))
		}
		v.Phases.Rows = append(v.Phases.Rows, htmlRow{Cells: cells(ph.Name, p.when(ph.At), since)})
	}
	steps := make([]txt, 0, len(p.Resolution)+2)
	for _, s := range p.Resolution {
		steps = append(steps, txt{S: p.when(s.At) + " UTC, " + s.Actor + ": " + s.Text})
	}
	if len(p.Resolution) == 0 {
		steps = append(steps, txt{S: "Short-term fix: what restored service.", P: true})
	}
	v.Steps = htmlList(append(steps, txt{S: "Long-term fix: what prevents a recurrence (see Action items).", P: true}), false)

	c := p.Communication
	v.Comm = [][2]txt{
		{{S: "Incident channel"}, orPromptTxt(prefixed("#", c.IncidentChannel), "none recorded")},
		{{S: "Stakeholder channel"}, orPromptTxt(c.StakeholderChannel, "none configured (INCIDENTBOT_ANNOUNCE_CHANNEL)")},
		{{S: "Status updates published"}, {S: fmt.Sprintf("%d by people, %d by incidentbot (holding updates, when an update was overdue)", c.UpdatesByPeople, c.UpdatesByBot)}},
	}
	if pn := p.lastRecord(EntryPublicName); pn != nil {
		v.Comm = append(v.Comm, [2]txt{{S: "Public name"}, {S: strings.TrimPrefix(pn.Event, "Public name: ")}})
	}
	v.Updates = htmlTable{Head: []string{"Time (UTC)", "Status", "Update", "By"}}
	for _, u := range c.Updates {
		by := u.Actor
		if u.ByBot {
			by = "incidentbot (holding update)"
		}
		v.Updates.Rows = append(v.Updates.Rows, htmlRow{Cells: cells(p.when(u.At), orDash(string(u.Status)), u.Text, by)})
	}
	switch {
	case !c.Public:
		v.PageNote = fmt.Sprintf("Not shown on the public status pages (%s is not a public severity).", strings.ToUpper(string(p.Severity)))
	case len(c.StatusPage) == 0:
		v.PageNote = "Shown on the public status pages; no update was published there."
	}
	for _, u := range c.StatusPage {
		l := fmt.Sprintf("[%s] %s: %s", u.At.Format("15:04"), statusWord(u.Status), CleanLine(u.Text))
		if u.ByBot {
			l += " (incidentbot holding update)"
		}
		v.Page = append(v.Page, l)
	}
	if len(c.MissedCadences) > 0 {
		missed := make([]txt, 0, len(c.MissedCadences))
		for _, r := range c.MissedCadences {
			missed = append(missed, txt{S: p.when(r.At) + " UTC: " + CleanLine(r.Event)})
		}
		v.Missed = htmlList(missed, false)
	}

	a := p.Availability
	v.Avail = [][2]template.HTML{{"SLO", richText(fmt.Sprintf("%s%% over 30 days: a monthly error budget of %s.", strconv.FormatFloat(a.SLOPercent, 'f', -1, 64), minutesDur(a.BudgetMinutes)))}}
	if a.DowntimeSec != nil {
		v.Avail = append(v.Avail,
			[2]template.HTML{"Downtime", richText(fmt.Sprintf("%s (%s → %s UTC, %s → %s).", optDur(a.DowntimeSec), p.when(a.DowntimeFrom), p.when(*a.DowntimeTo), sourceWords[a.DowntimeFromSource], sourceWords[a.DowntimeToSource]))},
			[2]template.HTML{"Error budget consumed", richText(a.budgetText())})
	} else {
		v.Avail = append(v.Avail, [2]template.HTML{"Downtime", richText("ongoing (since " + p.when(a.DowntimeFrom) + " UTC).")})
	}
	v.Avail = append(v.Avail, [2]template.HTML{"Assumption", richText(a.Assumption)})
	if mt := t.MonthToDate; mt != nil {
		v.Avail = append(v.Avail, [2]template.HTML{template.HTML("This month (" + template.HTMLEscapeString(mt.Month+", "+t.Service) + ")"), richText(mt.text(a.SLOPercent))})
	} else {
		v.Avail = append(v.Avail, [2]template.HTML{"This month", "n/a (no service to count incidents of)."})
	}

	v.Actions = htmlTable{Head: []string{"#", "Action", "Owner", "Priority", "Due", "Status", "Tracker"}}
	for _, ai := range p.ActionItems {
		owner := txt{S: "owner", P: true}
		if ai.Owner != nil {
			owner = txt{S: ai.Owner.Display()}
		}
		tracker := txt{S: "—"}
		if len(ai.Tracked) > 0 {
			tracker = txt{}
			for _, t := range ai.Tracked {
				tracker.Links = append(tracker.Links, TrackerLink{Text: t.Key, URL: t.URL, Label: t.Status})
			}
		}
		v.Actions.Rows = append(v.Actions.Rows, htmlRow{Cells: []txt{{S: strconv.Itoa(ai.N)}, {S: ai.Text}, owner, {S: strings.ToUpper(ai.Priority)}, {S: orDash(ai.Due)}, {S: ai.Status}, tracker}})
	}
	v.TrackedIn = trackedInTxt(p)
	v.People = htmlTable{Head: []string{"Person", "Roles", "Did"}}
	for _, pt := range p.Participants {
		v.People.Rows = append(v.People.Rows, htmlRow{Cells: cells(pt.Name, rolesText(pt.Roles), orDash(pt.Did))})
	}
	v.Related = htmlTable{Head: []string{"Incident", "Date", "Title", "Duration", "Root cause", "Related by"}}
	for _, r := range p.Related {
		v.Related.Rows = append(v.Related.Rows, htmlRow{Cells: []txt{{S: r.ID}, {S: r.Date}, {S: r.Title}, {S: optDur(r.DurationSec)}, orPromptTxt(r.RootCause, "not recorded"), {S: whyText(r.Why)}}})
	}
	v.SignOff = [][2]txt{
		{{S: "Author"}, orPromptTxt(p.Review.Author, "name, date")},
		{{S: "Reviewers"}, {S: "names, dates", P: true}},
		{{S: "Action items tracked in"}, trackedInTxt(p)},
		{{S: "Next review"}, {S: "date: check action item progress", P: true}},
	}
	return v
}

// svgView is the drawn timeline: a time axis, the impact window and the
// incident's span as bars, the phases as labelled ticks, the key events
// as numbered dots (listed under the drawing).
type svgView struct {
	W, H  int
	Ticks []svgTick
	Bars  []svgBar
	Marks []svgMark
	Dots  []svgDot
	Label string
}

type svgTick struct {
	X     int
	Label string
}

type svgBar struct {
	X, Y, W, H  int
	Fill, Label string
	LX, LY      int
}

type svgMark struct {
	X, Y1, Y2, LY int
	Name, At      string
	Anchor        string
}

type svgDot struct {
	X, Y int
	N    string
}

func (p *Postmortem) svg() svgView {
	const w, left, right = 960, 40, 40
	v := svgView{W: w, Label: "Timeline of " + p.IncidentID + ": phases, impact and key events"}
	from, to := p.Start, p.Start
	stretch := func(t time.Time) {
		if t.Before(from) {
			from = t
		}
		if t.After(to) {
			to = t
		}
	}
	for _, ph := range p.Phases {
		stretch(ph.At)
	}
	for _, e := range p.KeyEvents {
		stretch(e.At)
	}
	if p.Impact.To != nil {
		stretch(*p.Impact.To)
	}
	if p.End == nil {
		stretch(p.GeneratedAt)
	}
	span := to.Sub(from)
	if span <= 0 {
		span = time.Minute
	}
	x := func(t time.Time) int { return left + int(float64(w-left-right)*float64(t.Sub(from))/float64(span)) }
	const axisY = 210
	// Axis ticks at a round step.
	step := tickStep(span)
	for t := from.Truncate(step); !t.After(to); t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		v.Ticks = append(v.Ticks, svgTick{X: x(t), Label: t.Format("15:04")})
	}
	// Bars: the incident from start to resolution (or now), and impact.
	endAll := p.GeneratedAt
	if p.End != nil {
		endAll = *p.End
	}
	v.Bars = append(v.Bars, svgBar{X: x(p.Start), Y: 150, W: max(x(endAll)-x(p.Start), 2), H: 14, Fill: "#9aa5b1", Label: "Incident: " + Human(endAll.Sub(p.Start)), LX: x(p.Start), LY: 145})
	impactTo := p.GeneratedAt
	if p.Impact.To != nil {
		impactTo = *p.Impact.To
	}
	v.Bars = append(v.Bars, svgBar{X: x(p.Impact.From), Y: 170, W: max(x(impactTo)-x(p.Impact.From), 2), H: 14, Fill: "#d64545", Label: "Impact: " + Human(impactTo.Sub(p.Impact.From)), LX: x(p.Impact.From), LY: 198})
	// Phases: ticks with labels above the bars, each on the first of four
	// rows where it does not overlap the label before it.
	rowEnd := make([]int, 4)
	for i := range rowEnd {
		rowEnd[i] = -1 << 30
	}
	for _, ph := range p.Phases {
		px := x(ph.At)
		width := 7*max(len(ph.Name), 8) + 8 // Arial 12 px bold, roughly
		lo, hi, anchor := px-width/2, px+width/2, "middle"
		switch {
		case lo < 0:
			lo, hi, anchor = px, px+width, "start"
		case hi > w:
			lo, hi, anchor = px-width, px, "end"
		}
		row := 0
		for row < len(rowEnd)-1 && rowEnd[row] > lo {
			row++
		}
		rowEnd[row] = hi
		ly := 20 + 32*row
		v.Marks = append(v.Marks, svgMark{X: px, Y1: ly + 20, Y2: axisY, LY: ly, Name: ph.Name, At: hhmmss(ph.At), Anchor: anchor})
	}
	// Key events: numbered dots below the axis, on the first of three rows
	// where they do not overlap.
	dotEnd := []int{-1 << 30, -1 << 30, -1 << 30}
	rows := 0
	for i, e := range p.KeyEvents {
		dx := x(e.At)
		row := 0
		for row < len(dotEnd)-1 && dotEnd[row] > dx-9 {
			row++
		}
		dotEnd[row] = dx + 9
		rows = max(rows, row+1)
		v.Dots = append(v.Dots, svgDot{X: dx, Y: axisY + 34 + 20*row, N: strconv.Itoa(i + 1)})
	}
	v.H = axisY + 30 + 20*rows + 8
	return v
}

// tickStep is a round axis step giving 4 to 12 ticks over span.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/s <= 12 {
			return s
		}
	}
	return 7 * 24 * time.Hour
}

var htmlTemplate = template.Must(template.New("postmortem").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="incidentbot">
<title>Postmortem: {{.P.Title}}</title>
<style>
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.45; color: #1f2933; max-width: 1000px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin-top: 28px; border-bottom: 1px solid #cbd2d9; padding-bottom: 4px; } h3 { font-size: 16px; margin-top: 18px; }
table { border-collapse: collapse; margin: 8px 0 12px; } th, td { border: 1px solid #9aa5b1; padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #f0f4f8; }
em.prompt { color: #7b8794; } code { font-family: Consolas, Menlo, monospace; font-size: 13px; background: #f0f4f8; padding: 0 2px; }
pre { background: #f5f7fa; border: 1px solid #cbd2d9; padding: 8px; white-space: pre-wrap; } figure { margin: 8px 0; } figcaption { color: #52606d; font-size: 12px; }
.note { color: #52606d; } svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
{{define "t"}}{{if .P}}<em class="prompt">{{.S}}</em>{{else}}{{.S}}{{end}}{{end}}
{{define "table"}}{{.HTML}}{{end}}
<h1>Postmortem: {{.P.Title}}</h1>
<p class="note"><em>Draft written by incidentbot from the {{.P.IncidentID}} timeline at {{.P.GeneratedAt.Format "2006-01-02 15:04 UTC"}}. Italic grey text marks what the bot could not know: replace it. Figures are computed from recorded times.</em></p>
<table>
<tbody>
{{range .Facts}}<tr><th>{{(index . 0).S}}</th><td>{{template "t" index . 1}}</td></tr>
{{end}}</tbody>
</table>
{{if .P.PagerDutyURL}}<p>PagerDuty: <a href="{{.P.PagerDutyURL}}">{{.P.PagerDutyURL}}</a></p>{{end}}

<h2>Executive summary</h2>
<p><strong>What happened:</strong> {{template "t" index .Summary 0}}</p>
<p><strong>Impact:</strong> {{template "t" index .Summary 1}}</p>
<p><strong>Root cause:</strong> {{template "t" index .Summary 2}}</p>
<p><strong>Resolution:</strong> {{template "t" index .Summary 3}}</p>

<h2>Impact</h2>
<h3>Users affected</h3>
{{.Impact}}
<h3>Services affected</h3>
{{.Services}}
<h3>Business impact</h3>
<ul><li><em class="prompt">Revenue, SLA breach, support tickets, customer and public reaction.</em></li></ul>

<h2>Timeline</h2>
<figure>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.SVG.W}}" height="{{.SVG.H}}" viewBox="0 0 {{.SVG.W}} {{.SVG.H}}" role="img" aria-label="{{.SVG.Label}}" font-family="Arial, Helvetica, sans-serif" font-size="12">
<title>{{.SVG.Label}}</title>
<line x1="30" y1="210" x2="{{.SVG.W}}" y2="210" stroke="#52606d" stroke-width="1"/>
{{range .SVG.Ticks}}<line x1="{{.X}}" y1="206" x2="{{.X}}" y2="214" stroke="#52606d"/><text x="{{.X}}" y="226" text-anchor="middle" fill="#52606d" font-size="11">{{.Label}}</text>
{{end}}{{range .SVG.Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}" rx="2"/><text x="{{.LX}}" y="{{.LY}}" fill="#1f2933">{{.Label}}</text>
{{end}}{{range .SVG.Marks}}<line x1="{{.X}}" y1="{{.Y1}}" x2="{{.X}}" y2="{{.Y2}}" stroke="#2680c2" stroke-dasharray="3 2"/><text x="{{.X}}" y="{{.LY}}" text-anchor="{{.Anchor}}" fill="#1f2933" font-weight="bold">{{.Name}}</text><text x="{{.X}}" y="{{.LY}}" dy="15" text-anchor="{{.Anchor}}" fill="#52606d">{{.At}}</text>
{{end}}{{range .SVG.Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="8" fill="#f0b429"/><text x="{{.X}}" y="{{.Y}}" dy="4" text-anchor="middle" font-size="10" fill="#1f2933">{{.N}}</text>
{{end}}</svg>
<figcaption>Phases (blue), the incident (grey) and its impact (red); numbered dots are the key events below. All times UTC.</figcaption>
</figure>
{{if .Legend}}<h3>Key events</h3>
{{.Legend}}{{end}}
<h3>All events</h3>
<p class="note">All times UTC. PagerDuty events are at PagerDuty's own time; a backdated note sits at the time it names.</p>
{{template "table" .Timeline}}

<h2>Root cause</h2>
<p>{{if .P.RootCause}}{{.P.RootCause}}{{else}}<em class="prompt">What broke, why it broke, and what triggered it.</em>{{end}}</p>
{{if .RootNote}}<p class="note">{{.RootNote}}</p>{{end}}
<h3>Five whys</h3>
<ol>
<li>Why did “{{.P.Title}}” happen? → {{if .P.RootCause}}{{.P.RootCause}}{{else}}<em class="prompt">answer</em>{{end}}</li>
<li>Why? → <em class="prompt">answer</em></li>
<li>Why? → <em class="prompt">answer</em></li>
<li>Why? → <em class="prompt">answer</em></li>
<li>Why? → <em class="prompt">answer</em></li>
</ol>
<h3>Contributing factors</h3>
<ul>
<li><strong>Technical:</strong> <em class="prompt">…</em></li>
<li><strong>Process:</strong> <em class="prompt">…</em></li>
<li><strong>Human and organisational:</strong> <em class="prompt">…</em></li>
</ul>

<h2>Detection</h2>
<ul>
{{range .Detect}}<li><strong>{{(index . 0).S}}:</strong> {{template "t" index . 1}}</li>
{{end}}</ul>

<h2>Response</h2>
{{template "table" .Response}}
<h3>Compared with the team's last 90 days</h3>
{{template "table" .Compare}}
<p class="note">{{.Window}}</p>
<h3>Phases</h3>
{{template "table" .Phases}}

<h2>Resolution</h2>
<p>What people did and said from the identification of the cause on.</p>
{{.Steps}}

<h2>Communication</h2>
<ul>
{{range .Comm}}<li><strong>{{(index . 0).S}}:</strong> {{template "t" index . 1}}</li>
{{end}}</ul>
<h3>Status updates</h3>
{{if .Updates.Rows}}{{template "table" .Updates}}{{else}}<p>No status updates were published.</p>{{end}}
<h3>Status page</h3>
{{if .PageNote}}<p>{{.PageNote}}</p>{{end}}{{if .Page}}<pre>{{range .Page}}{{.}}
{{end}}</pre>{{end}}
<h3>Missed update cadences</h3>
{{if .Missed}}{{.Missed}}{{else}}<p>None.</p>{{end}}

<h2>Availability</h2>
<ul>
{{range .Avail}}<li><strong>{{index . 0}}:</strong> {{index . 1}}</li>
{{end}}</ul>

<h2>Action items</h2>
{{if .Actions.Rows}}{{template "table" .Actions}}{{else}}<p><em class="prompt">None recorded. Add them with /incident action &lt;text&gt; [@owner] [due:YYYY-MM-DD] [p1|p2|p3].</em></p>{{end}}
<p>Action items tracked in: {{template "t" .TrackedIn}}</p>

<h2>Lessons learned</h2>
<h3>What went well</h3>
<ul><li><em class="prompt">…</em></li></ul>
<h3>What went wrong</h3>
<ul><li><em class="prompt">…</em></li></ul>
<h3>Surprises</h3>
<ul><li><em class="prompt">…</em></li></ul>

<h2>Participants</h2>
{{if .People.Rows}}{{template "table" .People}}{{else}}<p><em class="prompt">Nobody's actions were recorded.</em></p>{{end}}

<h2>Related incidents</h2>
{{if .Related.Rows}}{{template "table" .Related}}{{else}}<p>No earlier incidents on this service or with a similar title are recorded by incidentbot.</p>{{end}}

<h2>Review and sign-off</h2>
<ul>
{{range .SignOff}}<li><strong>{{(index . 0).S}}:</strong> {{template "t" index . 1}}</li>
{{end}}</ul>
</body>
</html>
`))

// trackedInTxt names the trackers the action items are in, else a prompt.
func trackedInTxt(p *Postmortem) txt {
	if ts := p.TrackedIn(); len(ts) > 0 {
		return txt{S: strings.Join(ts, ", ")}
	}
	return txt{S: "tracker link (Jira, GitHub)", P: true}
}
