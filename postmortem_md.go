package incidentbot

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// prompt marks what the bot cannot know: visible, italic, never invented.
// Prompts are the bot's own text, never escaped.
func prompt(s string) string { return "_" + s + "_" }

// mdEscaper escapes the characters that Markdown (GitHub's) reads as
// markup, raw HTML or a table's cell boundary wherever they are: every one
// is an ASCII punctuation character, which a backslash makes literal.
// Those that matter only at the start of a line ('#', '-', ...) are
// escaped there (mdLine).
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
	"&", `\&`, "|", `\|`, "~", `\~`,
)

// mdSpecial are the characters mdEscaper changes.
const mdSpecial = "\\`*_[]<>&|~"

// md makes text from outside safe on one Markdown line: cleaned, on one
// line, its markup and HTML escaped, and a leading list or heading marker
// made literal.
func md(s string) string { return mdLine(CleanLine(s)) }

// mdLine escapes one cleaned line that may start a block (a paragraph, a
// list item's text).
func mdLine(s string) string {
	s = mdEscaper.Replace(s)
	if s == "" {
		return s
	}
	switch s[0] {
	case '-', '+', '=', '#':
		return `\` + s
	}
	// "1. x" and "1) x" would start an ordered list.
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && i < len(s) && (s[i] == '.' || s[i] == ')') {
		return s[:i] + `\` + s[i:]
	}
	return s
}

// mdCell makes text safe inline (a table cell, after a label): cleaned,
// its markup escaped, line breaks kept as <br>. Inline, a leading '#' or
// '-' is only text.
func mdCell(s string) string {
	if !strings.ContainsAny(s, mdSpecial) && CleanLine(s) == s {
		return s // the common case: nothing to do
	}
	lines := strings.Split(CleanText(s), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, mdEscaper.Replace(l))
		}
	}
	return strings.Join(out, "<br>")
}

func hhmmss(t time.Time) string { return t.UTC().Format("15:04:05") }

func optTime(t *time.Time) string {
	if t == nil {
		return "n/a"
	}
	return hhmmss(*t) + " UTC"
}

// optDur formats seconds the one way the draft writes durations (Human),
// "n/a" when unknown.
func optDur(s *int64) string {
	if s == nil {
		return "n/a"
	}
	if *s < 0 {
		// An end of impact recorded before the page (it fired late).
		return Human(time.Duration(-*s)*time.Second) + " before detection"
	}
	return Human(time.Duration(*s) * time.Second)
}

func minutesDur(m float64) string {
	// Bounded: a float beyond a Duration's range converts to anything.
	limit := float64(math.MaxInt64 / int64(time.Minute))
	return Human(time.Duration(max(-limit, min(m, limit)) * float64(time.Minute)))
}

// pct writes a percentage rounded to one decimal ("92.6%", "53%").
func pct(f float64) string {
	return strconv.FormatFloat(round1(f), 'f', -1, 64) + "%"
}

// when writes a time in the draft's table: the time of day, with the date
// when it is not the incident's day.
func (p *Postmortem) when(t time.Time) string {
	t = t.UTC()
	y, m, d := t.Date()
	if sy, sm, sd := p.Start.UTC().Date(); y != sy || m != sm || d != sd {
		return t.Format("2006-01-02 15:04:05")
	}
	return hhmmss(t)
}

// Markdown renders the draft in the shape of the reference postmortem and
// incident-report templates, for GitHub (tables, a Mermaid diagram).
func (p *Postmortem) Markdown() []byte {
	var b strings.Builder
	b.Grow(8192 + 160*(len(p.Timeline)+len(p.Resolution)+len(p.Communication.Updates)))
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Postmortem: %s\n\n", md(p.Title))
	w("> Draft written by incidentbot from the %s timeline at %s. Italic text marks what the bot could not know: replace it. Figures are computed from recorded times.\n\n", p.IncidentID, p.GeneratedAt.Format("2006-01-02 15:04 UTC"))
	w("| | |\n|---|---|\n")
	ref := p.IncidentID
	if p.PagerDutyURL != "" {
		ref += fmt.Sprintf(" ([PagerDuty %s](%s))", md(p.PagerDutyID), p.PagerDutyURL)
	}
	w("| **Incident** | %s |\n", ref)
	w("| **Date of incident** | %s |\n", p.Date)
	w("| **Date of draft** | %s |\n", p.DraftDate)
	w("| **Author** | %s |\n", orPrompt(mdCell(p.Author), "name (the incident commander, when one is assigned)"))
	w("| **Reviewers** | %s |\n", prompt("names"))
	w("| **Severity** | %s |\n", p.SeverityNote)
	w("| **Status** | %s |\n", p.Status)
	w("| **Start** | %s |\n", p.startText())
	if p.End != nil {
		w("| **End** | %s UTC (resolved) |\n", p.End.Format("2006-01-02 15:04:05"))
		w("| **Duration** | %s |\n", optDur(p.DurationSec))
	} else {
		w("| **End** | Ongoing |\n| **Duration** | ongoing |\n")
	}
	w("| **Service** | %s |\n", orPrompt(mdCell(p.Service), "which service?"))
	if p.Channel != "" {
		w("| **Incident channel** | #%s |\n", mdCell(p.Channel))
	}
	if len(p.Roles) > 0 {
		var rs []string
		for _, r := range p.Roles {
			rs = append(rs, fmt.Sprintf("%s: %s", r.Role, mdCell(r.Person)))
		}
		w("| **Roles** | %s |\n", strings.Join(rs, "; "))
	}
	w("\n")

	w("## Executive summary\n\n")
	w("**What happened:** %s", md(p.WhatHappened))
	if sum := CleanLine(p.Summary); sum != "" {
		if !strings.ContainsAny(sum[len(sum)-1:], ".!?") {
			sum += "."
		}
		w(" %s", mdLine(sum))
	}
	w("\n\n**Impact:** %s\n\n", orPrompt(md(p.impactSummary()), "who was affected, how many, for how long (record it with `/incident impact`)"))
	w("**Root cause:** %s\n\n", orPrompt(md(p.RootCause), "the root cause in one sentence (record it with `/incident rootcause`)"))
	w("**Resolution:** %s\n\n", orPrompt(md(p.resolutionSummary()), "how it was fixed"))

	w("## Impact\n\n### Users affected\n\n")
	if len(p.Impact.Statements) == 0 {
		w("- %s\n", prompt("Scope (all users, a region, a feature), count, and how long they were affected (record it with `/incident impact`)."))
	}
	for _, s := range p.Impact.Statements {
		w("- %s (%s UTC, %s)\n", md(s.Event), hhmmss(s.At), md(s.Actor))
	}
	if a := p.Impact.AffectedPercent; a != nil {
		w("- Share affected: %s of users or requests (recorded with `/incident affected`)\n", FormatPercent(*a))
	} else {
		w("- Share affected: %s\n", prompt("not recorded (record it with `/incident affected <N%>`)"))
	}
	if p.Impact.DurationSec != nil {
		w("- Duration of impact: %s (%s → %s UTC; see Availability)\n", optDur(p.Impact.DurationSec), p.when(p.Impact.From), p.when(*p.Impact.To))
	} else {
		w("- Duration of impact: ongoing since %s UTC\n", p.when(p.Impact.From))
	}
	w("\n### Services affected\n\n")
	if p.Service != "" {
		w("- %s (paged)\n", md(p.Service))
	}
	w("- %s\n\n", prompt("Other services affected, and ones that were not."))
	w("### Business impact\n\n- %s\n\n", prompt("Revenue, SLA breach, support tickets, customer and public reaction."))

	w("## Timeline\n\nAll times UTC. PagerDuty events are at PagerDuty's own time; a backdated note sits at the time it names.\n\n")
	w("| Time (UTC) | Event | Actor |\n|---|---|---|\n")
	for _, r := range p.Timeline {
		// Written piece by piece: a timeline may have 10,000 rows.
		b.WriteString("| " + p.when(r.At) + " | " + mdCell(r.Event))
		if r.Link != "" {
			b.WriteString(" ([message](" + r.Link + "))")
		}
		if r.RecordedAt != nil {
			b.WriteString(" " + prompt("(recorded "+p.when(*r.RecordedAt)+")"))
		}
		b.WriteString(" | " + mdCell(r.Actor) + " |\n")
	}
	w("\n")

	w("## Root cause\n\n%s\n\n", orPrompt(md(p.RootCause), "What broke, why it broke, and what triggered it."))
	if rc := p.lastRecord(EntryRootCause); rc != nil {
		w("Recorded by %s at %s UTC.\n\n", md(rc.Actor), p.when(rc.At))
	}
	w("### Five whys\n\n")
	w("1. Why did “%s” happen? → %s\n", md(p.Title), orPrompt(md(p.RootCause), "answer"))
	for i := 2; i <= 5; i++ {
		w("%d. Why? → %s\n", i, prompt("answer"))
	}
	w("\n### Contributing factors\n\n")
	w("- **Technical:** %s\n- **Process:** %s\n- **Human and organisational:** %s\n\n", prompt("…"), prompt("…"), prompt("…"))

	d := p.Detection
	w("## Detection\n\n")
	w("- **How detected:** %s\n", orPrompt(md(d.How), "how was it noticed?"))
	w("- **Detected at:** %s UTC\n", p.when(d.DetectedAt))
	if d.ImpactStartedAt != nil {
		w("- **Impact started:** %s UTC\n", d.ImpactStartedAt.Format("2006-01-02 15:04:05"))
		w("- **Time to detect:** %s\n", optDur(d.TimeToDetectSec))
	} else {
		w("- **Impact started:** %s\n", prompt("not recorded (record it with `/incident started HH:MM`)"))
		w("- **Time to detect:** n/a (impact start not recorded)\n")
	}
	w("- **Detection quality:** %s\n\n", prompt("Did an alert fire early enough? What would have caught it sooner?"))

	m := p.Metrics
	w("## Response\n\n| Metric | Time from detection | At (UTC) |\n|---|---|---|\n")
	w("| Time to acknowledge | %s | %s |\n", optDur(m.TimeToAcknowledge), optTime(m.AcknowledgedAt))
	w("| Time to identify | %s | %s |\n", optDur(m.TimeToIdentify), optTime(m.IdentifiedAt))
	w("| Time to mitigate | %s | %s |\n", optDur(m.TimeToMitigate), optTime(m.MitigatedAt))
	w("| Time to resolve | %s | %s |\n\n", optDur(m.TimeToResolve), optTime(m.ResolvedAt))
	t := p.Team
	w("### Compared with the team's last 90 days\n\n")
	w("| | This incident | Median, all incidents | Median, %s |\n|---|---|---|---|\n", orDash(mdCell(t.Service)))
	for _, c := range []struct {
		name string
		c    Comparison
	}{{"Time to acknowledge", t.TimeToAcknowledge}, {"Time to resolve", t.TimeToResolve}} {
		w("| %s | %s | %s | %s |\n", c.name, optDur(c.c.ThisSec), t.median(c.c.AllMedianSec, c.c.AllCount), t.serviceMedian(c.c.ServiceMedianSec, c.c.ServiceCount))
	}
	w("\n%s\n\n", t.windowText())
	b.WriteString(p.mermaid())

	w("## Resolution\n\nWhat people did and said from the identification of the cause on.\n\n")
	if len(p.Resolution) == 0 {
		w("- %s\n", prompt("Short-term fix: what restored service."))
	}
	for _, s := range p.Resolution {
		b.WriteString("- " + p.when(s.At) + " UTC, " + md(s.Actor) + ": " + md(s.Text) + "\n")
	}
	w("- %s\n\n", prompt("Long-term fix: what prevents a recurrence (see Action items)."))

	c := p.Communication
	w("## Communication\n\n")
	w("- **Incident channel:** %s\n", orPrompt(prefixed("#", mdCell(c.IncidentChannel)), "none recorded"))
	w("- **Stakeholder channel:** %s\n", orPrompt(mdCell(c.StakeholderChannel), "none configured (`INCIDENTBOT_ANNOUNCE_CHANNEL`)"))
	w("- **Status updates published:** %d by people, %d by incidentbot (holding updates, when an update was overdue)\n", c.UpdatesByPeople, c.UpdatesByBot)
	if pn := p.lastRecord(EntryPublicName); pn != nil {
		w("- **Public name:** %s\n", md(strings.TrimPrefix(pn.Event, "Public name: ")))
	}
	w("\n### Status updates\n\n")
	if len(c.Updates) == 0 {
		w("No status updates were published.\n\n")
	} else {
		w("| Time (UTC) | Status | Update | By |\n|---|---|---|---|\n")
		for _, u := range c.Updates {
			b.WriteString("| " + p.when(u.At) + " | " + orDash(string(u.Status)) + " | " + mdCell(u.Text) + " | " + updateBy(u) + " |\n")
		}
		w("\n")
	}
	w("### Status page\n\n")
	switch {
	case !c.Public:
		w("Not shown on the public status pages (%s is not a public severity).\n\n", strings.ToUpper(string(p.Severity)))
	case len(c.StatusPage) == 0:
		w("Shown on the public status pages; no update was published there.\n\n")
	default:
		var lines []string
		for _, u := range c.StatusPage {
			l := fmt.Sprintf("[%s] %s: %s", u.At.Format("15:04"), statusWord(u.Status), CleanLine(u.Text))
			if u.ByBot {
				l += " (incidentbot holding update)"
			}
			lines = append(lines, l)
		}
		fence := codeFence(strings.Join(lines, "\n"))
		w("%s\n%s\n%s\n\n", fence, strings.Join(lines, "\n"), fence)
	}
	w("### Missed update cadences\n\n")
	if len(c.MissedCadences) == 0 {
		w("None.\n\n")
	}
	for _, r := range c.MissedCadences {
		w("- %s UTC: %s\n", p.when(r.At), md(r.Event))
	}
	if len(c.MissedCadences) > 0 {
		w("\n")
	}

	a := p.Availability
	w("## Availability\n\n")
	w("- **SLO:** %s%% over 30 days: a monthly error budget of %s.\n", strconv.FormatFloat(a.SLOPercent, 'f', -1, 64), minutesDur(a.BudgetMinutes))
	if a.DowntimeSec != nil {
		w("- **Downtime:** %s (%s → %s UTC, %s → %s).\n", optDur(a.DowntimeSec), p.when(a.DowntimeFrom), p.when(*a.DowntimeTo), sourceWords[a.DowntimeFromSource], sourceWords[a.DowntimeToSource])
		w("- **Error budget consumed:** %s\n", a.budgetText())
	} else {
		w("- **Downtime:** ongoing (since %s UTC).\n", p.when(a.DowntimeFrom))
	}
	w("- **Assumption:** %s\n", a.Assumption)
	if mt := t.MonthToDate; mt != nil {
		w("- **This month** (%s, %s): %s\n", mt.Month, md(t.Service), mt.text(a.SLOPercent))
	} else {
		w("- **This month:** n/a (no service to count incidents of).\n")
	}
	w("\n")

	w("## Action items\n\n")
	if len(p.ActionItems) == 0 {
		w("%s\n\n", prompt("None recorded. Add them with `/incident action <text> [@owner] [due:YYYY-MM-DD] [p1|p2|p3]`."))
	} else {
		w("| # | Action | Owner | Priority | Due | Status | Tracker |\n|---|---|---|---|---|---|---|\n")
		for _, ai := range p.ActionItems {
			owner := prompt("owner")
			if ai.Owner != nil {
				owner = mdCell(ai.Owner.Display())
			}
			w("| %d | %s | %s | %s | %s | %s | %s |\n", ai.N, mdCell(ai.Text), owner, strings.ToUpper(ai.Priority), orDash(ai.Due), ai.Status, trackedCell(ai.Tracked))
		}
		w("\n")
	}
	trackedIn := prompt("tracker link (Jira, GitHub)")
	if ts := p.TrackedIn(); len(ts) > 0 {
		trackedIn = md(strings.Join(ts, ", "))
	}
	w("Action items tracked in: %s\n\n", trackedIn)

	w("## Lessons learned\n\n")
	w("### What went well\n\n- %s\n\n", prompt("…"))
	w("### What went wrong\n\n- %s\n\n", prompt("…"))
	w("### Surprises\n\n- %s\n\n", prompt("…"))

	w("## Participants\n\n")
	if len(p.Participants) == 0 {
		w("%s\n\n", prompt("Nobody's actions were recorded."))
	} else {
		w("| Person | Roles | Did |\n|---|---|---|\n")
		for _, pt := range p.Participants {
			w("| %s | %s | %s |\n", mdCell(pt.Name), rolesText(pt.Roles), orDash(pt.Did))
		}
		w("\n")
	}

	w("## Related incidents\n\n")
	if len(p.Related) == 0 {
		w("No earlier incidents on this service or with a similar title are recorded by incidentbot.\n\n")
	} else {
		w("| Incident | Date | Title | Duration | Root cause | Related by |\n|---|---|---|---|---|---|\n")
		for _, r := range p.Related {
			w("| %s | %s | %s | %s | %s | %s |\n", r.ID, r.Date, mdCell(r.Title), optDur(r.DurationSec), orPrompt(mdCell(r.RootCause), "not recorded"), whyText(r.Why))
		}
		w("\n")
	}

	w("## Review and sign-off\n\n")
	w("- **Author:** %s\n", orPrompt(md(p.Review.Author), "name, date"))
	w("- **Reviewers:** %s\n", prompt("names, dates"))
	w("- **Action items tracked in:** %s\n", trackedIn)
	w("- **Next review:** %s\n", prompt("date: check action item progress"))
	return []byte(b.String())
}

// startText is the header's start: the impact start when recorded, with
// the detection time beside it.
func (p *Postmortem) startText() string {
	if p.StartSource == "impact_started" {
		return fmt.Sprintf("%s UTC (impact started; detected %s)", p.Start.Format("2006-01-02 15:04:05"), p.when(p.Detection.DetectedAt))
	}
	return p.Start.Format("2006-01-02 15:04:05") + " UTC (detected)"
}

func (p *Postmortem) impactSummary() string {
	if n := len(p.Impact.Statements); n > 0 {
		return p.Impact.Statements[n-1].Event
	}
	return ""
}

func (p *Postmortem) resolutionSummary() string {
	if s := CleanLine(p.Summary); s != "" {
		return s
	}
	if n := len(p.Resolution); n > 0 {
		return p.Resolution[n-1].Text
	}
	return ""
}

func (p *Postmortem) lastRecord(kind EntryKind) *TimelineRow {
	for i := len(p.Records) - 1; i >= 0; i-- {
		if p.Records[i].Kind == kind {
			return &p.Records[i]
		}
	}
	return nil
}

var sourceWords = map[string]string{
	"impact_started": "recorded impact start", "detected": "detection",
	"mitigated": "recorded end of impact", "monitoring": "first monitoring status", "resolved": "resolution",
}

// budgetText is the budget consumed, never stated as fact when it is an
// upper bound.
func (a Availability) budgetText() string {
	if a.BudgetUsedPct == nil {
		return "n/a (no SLO budget)."
	}
	if a.UpperBound {
		return fmt.Sprintf("up to %s of the monthly budget, if every user was affected (record the share with `/incident affected <N%%>`).", pct(*a.BudgetUsedPct))
	}
	weighted := float64(*a.DowntimeSec) / 60 * *a.AffectedPercent / 100
	return fmt.Sprintf("%s of %s is %s of downtime against the budget: %s of the monthly budget.", FormatPercent(*a.AffectedPercent), optDur(a.DowntimeSec), minutesDur(weighted), pct(*a.BudgetUsedPct))
}

func (m *MonthToDate) text(slo float64) string {
	upTo := ""
	if m.UpperBound {
		upTo = "up to "
	}
	within := "within"
	if !m.WithinSLO {
		within = "outside"
	}
	s := fmt.Sprintf("%s, %s%s of downtime: %s%s availability over a 30-day month, %s the %s%% SLO (%s%s of the budget).",
		plural(m.Incidents, "incident"), upTo, minutesDur(m.DowntimeMinutes), atLeast(m.UpperBound), strconv.FormatFloat(m.AvailabilityPercent, 'f', -1, 64)+"%", within,
		strconv.FormatFloat(slo, 'f', -1, 64), upTo, pct(m.BudgetUsedPercent))
	if m.UpperBound {
		s += " Incidents without a recorded share count as if every user was affected."
	}
	return s
}

func atLeast(upper bool) string {
	if upper {
		return "at least "
	}
	return ""
}

func (t TeamFigures) median(m *int64, n int) string {
	if !t.Known || n == 0 {
		return "n/a (no history)"
	}
	return fmt.Sprintf("%s (%s)", optDur(m), plural(n, "incident"))
}

func (t TeamFigures) serviceMedian(m *int64, n int) string {
	if t.Service == "" {
		return "n/a (no service)"
	}
	return t.median(m, n)
}

func (t TeamFigures) windowText() string {
	if !t.Known {
		return "The team's history was not read for this draft."
	}
	return fmt.Sprintf("Medians of the resolved incidents detected from %s to %s UTC (the 90 days before this one), from detection; counts in brackets.", t.Since.Format("2006-01-02 15:04"), t.Until.Format("2006-01-02 15:04"))
}

// plural writes "1 incident", "2 incidents".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func updateBy(u Update) string {
	if u.ByBot {
		return "incidentbot (holding update)"
	}
	return mdCell(u.Actor)
}

func statusWord(s Status) string {
	if s == "" {
		return "Update"
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

func rolesText(rs []Role) string {
	if len(rs) == 0 {
		return "responder"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

func whyText(why []string) string {
	var parts []string
	for _, w := range why {
		parts = append(parts, strings.ReplaceAll(w, "_", " "))
	}
	return strings.Join(parts, ", ")
}

func prefixed(pre, s string) string {
	if s == "" {
		return ""
	}
	return pre + s
}

// codeFence returns a backtick fence longer than any run of backticks in
// s, so s cannot end the block.
func codeFence(s string) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// mermaid draws the phases that happened, each edge labelled with the time
// it took.
func (p *Postmortem) mermaid() string {
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart LR\n")
	for i, ph := range p.Phases {
		node := fmt.Sprintf("P%d[\"%s<br/>%s\"]", i, ph.Name, hhmmss(ph.At))
		if i == 0 {
			fmt.Fprintf(&b, "  %s\n", node)
		} else {
			fmt.Fprintf(&b, "  P%d -->|%s| %s\n", i-1, Human(ph.At.Sub(p.Phases[i-1].At)), node)
		}
	}
	b.WriteString("```\n\n")
	return b.String()
}

func orPrompt(s, p string) string {
	if strings.TrimSpace(s) == "" {
		return prompt(p)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trackedCell is an item's issues in a table cell: each key linked, with
// the tracker's status ("[OPS-123](https://…) (In Progress)"); "—" for
// none.
func trackedCell(ts []TrackedIssue) string {
	if len(ts) == 0 {
		return "—"
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		s := mdCell(t.Key)
		if t.URL != "" {
			s = "[" + s + "](" + mdURL.Replace(t.URL) + ")"
		}
		if t.Status != "" {
			s += " (" + mdCell(t.Status) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// mdURL keeps a link's URL from ending its Markdown link early.
var mdURL = strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "|", "%7C", "[", "%5B", "]", "%5D")
