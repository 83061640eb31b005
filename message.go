package incidentbot

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"
)

// EscapeMrkdwn escapes the three characters Slack's mrkdwn treats as
// control characters, so user and PagerDuty text shows as written.
func EscapeMrkdwn(s string) string {
	return mrkdwnEscaper.Replace(s)
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// clock formats a time for people: "15:04:05 UTC".
func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

// Human formats a duration for people: "30 s", "8 min", "1 h 5 min",
// "2 d 3 h".
func Human(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		// -MinInt64 is MinInt64: the shortest duration has no opposite.
		return "-" + Human(-max(d, -math.MaxInt64))
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, s)
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	return fmt.Sprintf("%d d %d h", days, h)
}

// Action IDs of the kickoff message's buttons.
const (
	ActionAcknowledge = "incident_ack"
	ActionPostUpdate  = "incident_update"
	ActionResolve     = "incident_resolve"
)

func link(url, text string) string {
	if url == "" {
		return EscapeMrkdwn(text)
	}
	return "<" + url + "|" + EscapeMrkdwn(text) + ">"
}

// pagerDutyLink is the PagerDuty incident as a readable link: its number
// and title ("#2210 API health check failures").
func pagerDutyLink(pd *PagerLink, title string) string {
	text := cmp.Or(pd.Title, title)
	if pd.Number > 0 {
		text = fmt.Sprintf("#%d %s", pd.Number, text)
	}
	return link(pd.URL, text)
}

// incidentFields are the facts the announcement shows: severity, status,
// service, urgency and the PagerDuty incident.
func incidentFields(inc *Incident) []Field {
	f := []Field{
		{Label: "Severity", Value: strings.ToUpper(string(inc.Severity))},
		{Label: "Status", Value: string(inc.Status)},
	}
	if inc.Service != "" {
		f = append(f, Field{Label: "Service", Value: EscapeMrkdwn(inc.Service)})
	}
	if pd := inc.PagerDuty; pd != nil {
		if pd.Urgency != "" {
			f = append(f, Field{Label: "Urgency", Value: pd.Urgency})
		}
		f = append(f, Field{Label: "PagerDuty", Value: pagerDutyLink(pd, inc.Title)})
	}
	return f
}

// names lists people by name.
func names(ps []Person) string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, EscapeMrkdwn(p.Display()))
	}
	return strings.Join(out, ", ")
}

// kickoffMessage is the first message in an incident channel, pinned and
// updated in place: what the incident is now (severity, status, service,
// urgency, commander, assignees, PagerDuty and its conference bridge), the
// buttons that make sense in its state, and once it is resolved the
// postmortem draft instead of buttons. People are shown as they are given
// (the caller resolves their names).
func kickoffMessage(inc *Incident) *Message {
	source := "declared"
	if inc.PagerDuty != nil {
		source = "paged"
	}
	f := []Field{
		{Label: "Severity", Value: strings.ToUpper(string(inc.Severity))},
		{Label: "Status", Value: string(inc.Status)},
	}
	if inc.Service != "" {
		f = append(f, Field{Label: "Service", Value: EscapeMrkdwn(inc.Service)})
	}
	if pd := inc.PagerDuty; pd != nil && pd.Urgency != "" {
		f = append(f, Field{Label: "Urgency", Value: pd.Urgency})
	}
	commander := "_none yet: the first to acknowledge_"
	if c, ok := inc.Roles[RoleCommander]; ok {
		commander = EscapeMrkdwn(c.Display())
	}
	f = append(f, Field{Label: "Commander", Value: commander})
	if len(inc.Assignees) > 0 {
		f = append(f, Field{Label: "Assignees", Value: names(inc.Assignees)})
	}
	if pd := inc.PagerDuty; pd != nil {
		f = append(f, Field{Label: "PagerDuty", Value: pagerDutyLink(pd, inc.Title)})
		var bridge []string
		if pd.ConferenceURL != "" {
			bridge = append(bridge, link(pd.ConferenceURL, "Join"))
		}
		if pd.ConferenceNumber != "" {
			bridge = append(bridge, EscapeMrkdwn(pd.ConferenceNumber))
		}
		if len(bridge) > 0 {
			f = append(f, Field{Label: "Conference bridge", Value: strings.Join(bridge, " · ")})
		}
	}
	ctx := fmt.Sprintf("Detected %s. `/incident help` lists the commands.", inc.OpenedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	var actions []Action
	if inc.Status == StatusResolved {
		ctx = fmt.Sprintf("Detected %s, resolved", inc.OpenedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		if r := inc.ResolvedAt; r != nil {
			ctx += " " + clock(*r)
			if !r.Before(inc.OpenedAt) {
				ctx += " after " + Human(r.Sub(inc.OpenedAt))
			}
		}
		ctx += "."
		if pm := inc.PostmortemPosted; pm != nil && pm.Permalink != "" {
			f = append(f, Field{Label: "Postmortem", Value: link(pm.Permalink, "Draft postmortem")})
		}
	} else {
		if inc.Status == StatusTriggered {
			actions = append(actions, Action{ID: ActionAcknowledge, Text: "Acknowledge", Value: inc.ID, Style: "primary"})
		}
		actions = append(actions,
			Action{ID: ActionPostUpdate, Text: "Post update", Value: inc.ID},
			Action{ID: ActionResolve, Text: "Resolve", Value: inc.ID, Style: "danger", Confirm: "Resolve " + inc.ID + " here and in PagerDuty?"})
	}
	return &Message{
		Text:    fmt.Sprintf("%s %s: %s (%s, %s)", inc.ID, source, EscapeMrkdwn(inc.Title), inc.Severity, inc.Status),
		Header:  fmt.Sprintf("%s: %s", inc.ID, inc.Title),
		Fields:  f,
		Context: ctx,
		Actions: actions,
	}
}

var entryIcons = map[EntryKind]string{
	EntryPaged: "📟", EntryDeclared: "📣", EntryAcknowledged: "👀", EntryUnacknowledged: "↩️",
	EntryEscalated: "⏫", EntryReassigned: "🔀", EntryDelegated: "🔀", EntryResponderAdded: "🙋",
	EntryNote: "📝", EntryStatusUpdate: "📢", EntrySeverityChanged: "🚦", EntryPriorityChanged: "🚦",
	EntryResolved: "✅", EntryReopened: "🔁", EntryProblem: "⚠️",
	EntryRoleAssigned: "🧑‍🚒", EntryImpactStarted: "⏱️", EntryMitigated: "🩹", EntryAffected: "👥", EntryImpact: "💥", EntryRootCause: "🔍",
	EntryActionItem: "☑️", EntryPublicName: "🌐", EntryPinned: "📌", EntryCadenceMissed: "⏰",
	EntryRenamed: "✏️", EntryResponderRequested: "📟",
}

// entryLabels name the entries whose text is someone's own words (a note
// needs no label: its icon says it). Other entries' texts are sentences
// that say what happened, shown without a label that would repeat them.
var entryLabels = map[EntryKind]string{
	EntryStatusUpdate: "Status update", EntryImpact: "Impact", EntryRootCause: "Root cause", EntryPinned: "Pinned",
}

// entryMessage is the channel post of a timeline entry: its icon and text,
// and a context line with the time and who did it (left out when the text
// already names them).
func entryMessage(inc *Incident, e Entry) *Message {
	icon := entryIcons[e.Kind]
	if icon == "" {
		icon = "•"
	}
	label := entryLabels[e.Kind]
	if e.Kind == EntryStatusUpdate && e.Status != "" {
		label += " (" + string(e.Status) + ")"
	}
	body := icon + " " + EscapeMrkdwn(e.Text)
	if label != "" {
		body = icon + " *" + label + ":* " + EscapeMrkdwn(e.Text)
	}
	ctx := clock(e.At)
	if who := Ref(e.Actor); !strings.Contains(e.Text, who) {
		ctx += " · " + EscapeMrkdwn(who)
	}
	if e.Source == SourcePagerDuty {
		ctx += " · via PagerDuty"
	}
	if e.RecordedAt != nil {
		// A backdated entry says when it was typed, too.
		ctx += " · recorded " + clock(*e.RecordedAt)
	}
	return &Message{
		Text:    fmt.Sprintf("%s: %s", inc.ID, EscapeMrkdwn(e.Text)),
		Body:    body,
		Context: ctx,
	}
}
