package incidentbot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// prompt marks what the bot cannot know: visible, italic, never invented.
func prompt(s string) string { return "_" + s + "_" }

// line keeps text on one Markdown line.
func line(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", "<br>")
	return strings.ReplaceAll(s, "|", `\|`)
}

func hhmmss(t time.Time) string { return t.UTC().Format("15:04:05") }

func optTime(t *time.Time) string {
	if t == nil {
		return "n/a"
	}
	return hhmmss(*t) + " UTC"
}

func optDur(s *int64) string {
	if s == nil {
		return "n/a"
	}
	return Human(time.Duration(*s) * time.Second)
}

// Markdown renders the draft in the shape of the reference postmortem and
// incident-report templates.
func (p *Postmortem) Markdown() []byte {
	var b strings.Builder
	b.Grow(4096 + 160*len(p.Timeline))
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Postmortem: %s\n\n", p.Title)
	w("> Draft written by incidentbot from the %s timeline at %s. Italic text marks what the bot could not know: replace it. Figures are computed from recorded times.\n\n", p.IncidentID, p.GeneratedAt.Format("2006-01-02 15:04 UTC"))
	w("| | |\n|---|---|\n")
	ref := p.IncidentID
	if p.PagerDutyURL != "" {
		ref += fmt.Sprintf(" ([PagerDuty %s](%s))", p.PagerDutyID, p.PagerDutyURL)
	}
	w("| **Incident** | %s |\n", cell(ref))
	w("| **Date of incident** | %s |\n", p.Date)
	w("| **Start** | %s UTC (detected) |\n", p.Start.Format("2006-01-02 15:04:05"))
	if p.End != nil {
		w("| **End** | %s UTC (resolved) |\n", p.End.UTC().Format("2006-01-02 15:04:05"))
		w("| **Duration** | %s |\n", optDur(p.DurationSec))
	} else {
		w("| **End** | Ongoing |\n| **Duration** | ongoing |\n")
	}
	w("| **Severity** | %s |\n", strings.ToUpper(string(p.Severity)))
	w("| **Status** | %s |\n", p.Status)
	w("| **Service** | %s |\n", orPrompt(cell(p.Service), "which service?"))
	if p.Channel != "" {
		w("| **Incident channel** | #%s |\n", p.Channel)
	}
	if len(p.Roles) > 0 {
		var rs []string
		for _, r := range p.Roles {
			rs = append(rs, fmt.Sprintf("%s: %s", r.Role, r.Person))
		}
		w("| **Roles** | %s |\n", cell(strings.Join(rs, "; ")))
	}
	w("| **Author** | %s |\n| **Reviewers** | %s |\n\n", prompt("name"), prompt("names"))

	w("## Executive summary\n\n")
	w("**What happened:** %s", p.WhatHappened)
	if sum := line(p.Summary); sum != "" {
		if !strings.ContainsAny(sum[len(sum)-1:], ".!?") {
			sum += "."
		}
		w(" %s", sum)
	}
	w("\n\n**Impact:** %s\n\n", orPrompt(line(last(p.Impact)), "who was affected, how many, for how long (record it with `/incident impact`)"))
	w("**Root cause:** %s\n\n", orPrompt(line(p.RootCause), "the root cause in one sentence (record it with `/incident rootcause`)"))
	w("**Resolution:** %s\n\n", orPrompt(line(last(p.Resolution)), "how it was fixed"))

	w("## Impact\n\n### Users affected\n\n")
	if len(p.Impact) == 0 {
		w("- %s\n", prompt("Scope (all users, a region, a feature), count, and how long they were affected."))
	}
	for _, s := range p.Impact {
		w("- %s\n", line(s))
	}
	if p.Availability.DowntimeMinutes != nil {
		w("- Duration of impact: %s (see Availability)\n", Human(time.Duration(*p.Availability.DowntimeMinutes*float64(time.Minute))))
	}
	w("\n### Services affected\n\n")
	if p.Service != "" {
		w("- %s (paged)\n", p.Service)
	}
	w("- %s\n\n", prompt("Other services affected, and ones that were not."))
	w("### Business impact\n\n- %s\n\n", prompt("Revenue, SLA breach, support tickets, customer and public reaction."))

	w("## Timeline\n\nAll times UTC. PagerDuty events are at PagerDuty's own time.\n\n")
	w("| Time (UTC) | Event | Actor |\n|---|---|---|\n")
	day := p.Start.Format("2006-01-02")
	for _, r := range p.Timeline {
		t := hhmmss(r.At)
		if r.At.Format("2006-01-02") != day {
			t = r.At.Format("2006-01-02 15:04:05")
		}
		ev := cell(r.Event)
		if r.Link != "" {
			ev += fmt.Sprintf(" ([message](%s))", r.Link)
		}
		w("| %s | %s | %s |\n", t, ev, cell(r.Actor))
	}
	w("\n")

	w("## Root cause\n\n%s\n\n", orPrompt(p.RootCause, "What broke, why it broke, and what triggered it."))
	w("### Five whys\n\n")
	w("1. Why did “%s” happen? → %s\n", p.Title, orPrompt(p.RootCause, "answer"))
	for i := 2; i <= 5; i++ {
		w("%d. Why? → %s\n", i, prompt("answer"))
	}
	w("\n### Contributing factors\n\n")
	w("- **Technical:** %s\n- **Process:** %s\n- **Human and organisational:** %s\n\n", prompt("…"), prompt("…"), prompt("…"))

	d := p.Detection
	w("## Detection\n\n")
	w("- **How detected:** %s\n", orPrompt(d.How, "how was it noticed?"))
	w("- **Detected at:** %s UTC\n", hhmmss(d.DetectedAt))
	if d.ImpactStartedAt != nil {
		w("- **Impact started:** %s UTC\n", d.ImpactStartedAt.UTC().Format("2006-01-02 15:04:05"))
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
	b.WriteString(p.mermaid())

	w("## Resolution\n\n")
	if len(p.Resolution) == 0 {
		w("- %s\n", prompt("Short-term fix: what restored service."))
	}
	for _, r := range p.Resolution {
		w("- %s\n", line(r))
	}
	w("- %s\n\n", prompt("Long-term fix: what prevents a recurrence (see Action items)."))

	w("## Communication\n\n### Status updates published\n\n")
	if len(p.Communication.Updates) == 0 {
		w("No status updates were published.\n\n")
	} else {
		w("| Time (UTC) | Status | Update | By |\n|---|---|---|---|\n")
		for _, u := range p.Communication.Updates {
			w("| %s | %s | %s | %s |\n", hhmmss(u.At), orDash(string(u.Status)), cell(u.Text), cell(u.Actor))
		}
		w("\n")
	}
	w("### Missed update cadences\n\n")
	if len(p.Communication.MissedCadences) == 0 {
		w("None.\n\n")
	}
	for _, r := range p.Communication.MissedCadences {
		w("- %s UTC: %s\n", hhmmss(r.At), line(r.Event))
	}
	if len(p.Communication.MissedCadences) > 0 {
		w("\n")
	}

	a := p.Availability
	w("## Availability\n\n")
	w("- **SLO:** %s%% over 30 days: a monthly error budget of %s min.\n", strconv.FormatFloat(a.SLOPercent, 'f', -1, 64), trimFloat(round1(a.BudgetMinutes)))
	from := "detection"
	if p.Detection.ImpactStartedAt != nil {
		from = "impact start"
	}
	if a.DowntimeMinutes != nil {
		to := "resolution"
		if p.Metrics.MitigatedAt != nil {
			to = "mitigation"
		}
		w("- **Downtime** (%s → %s, %s → %s UTC): %s min, **%s%% of the monthly error budget**.\n", from, to, hhmmss(a.DowntimeFrom), hhmmss(*a.DowntimeTo), trimFloat(round1(*a.DowntimeMinutes)), trimFloat(round1(*a.BudgetUsedPct)))
	} else {
		w("- **Downtime:** ongoing (since %s UTC).\n", hhmmss(a.DowntimeFrom))
	}
	if a.DurationMinutes != nil {
		w("- **Incident duration** (detection → resolution): %s min, %s%% of the budget.\n", trimFloat(round1(*a.DurationMinutes)), trimFloat(round1(*a.DurationBudgetPct)))
	}
	w("- %s\n\n", prompt("Was the SLA breached this month, counting other incidents?"))

	w("## Action items\n\n")
	if len(p.ActionItems) == 0 {
		w("%s\n\n", prompt("None recorded. Add them with `/incident action <text> [@owner] [due:YYYY-MM-DD] [p1|p2|p3]`."))
	} else {
		w("| # | Action | Owner | Priority | Due | Status |\n|---|---|---|---|---|---|\n")
		for _, ai := range p.ActionItems {
			owner := prompt("owner")
			if ai.Owner != nil {
				owner = ai.Owner.Display()
			}
			w("| %d | %s | %s | %s | %s | %s |\n", ai.N, cell(ai.Text), cell(owner), strings.ToUpper(ai.Priority), orDash(ai.Due), ai.Status)
		}
		w("\n")
	}

	w("## Lessons learned\n\n")
	w("### What went well\n\n- %s\n\n", prompt("…"))
	w("### What went wrong\n\n- %s\n\n", prompt("…"))
	w("### Surprises\n\n- %s\n\n", prompt("…"))

	w("## Related incidents\n\n")
	if len(p.Related) == 0 {
		w("No earlier incidents on this service are recorded by incidentbot.\n")
	}
	for _, r := range p.Related {
		w("- %s (%s, %s, %s): %s\n", r.ID, r.Date, strings.ToUpper(string(r.Severity)), r.Status, line(r.Title))
	}
	return []byte(b.String())
}

// mermaid draws the phases that happened, each edge labelled with the time
// it took.
func (p *Postmortem) mermaid() string {
	type phase struct {
		id, name string
		at       *time.Time
	}
	start := p.Start
	phases := []phase{{"D", "Detected", &start}, {"A", "Acknowledged", p.Metrics.AcknowledgedAt}, {"I", "Identified", p.Metrics.IdentifiedAt}, {"M", "Mitigated", p.Metrics.MitigatedAt}, {"R", "Resolved", p.Metrics.ResolvedAt}}
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart LR\n")
	var prev *phase
	for i := range phases {
		ph := &phases[i]
		if ph.at == nil {
			continue
		}
		node := fmt.Sprintf("%s[\"%s<br/>%s\"]", ph.id, ph.name, hhmmss(*ph.at))
		if prev == nil {
			fmt.Fprintf(&b, "  %s\n", node)
		} else {
			fmt.Fprintf(&b, "  %s -->|%s| %s\n", prev.id, Human(ph.at.Sub(*prev.at)), node)
		}
		prev = ph
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

func last(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[len(xs)-1]
}

func round1(f float64) float64 {
	if f < 0 {
		return -round1(-f)
	}
	return float64(int64(f*10+0.5)) / 10
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}
