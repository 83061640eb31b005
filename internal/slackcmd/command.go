package slackcmd

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

var (
	mentionRe = regexp.MustCompile(`^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$`)
	// Slack's escaped references in free text: users, channels, groups, links.
	refRe = regexp.MustCompile(`<([@#!]?)([^|>]+)(?:\|([^>]*))?>`)
	dueRe = regexp.MustCompile(`^due:(\d{4}-\d{2}-\d{2})$`)
	// clockRe is what reads as a time of day, valid or not: "note 25:61
	// x" is an error, not a note that starts with a number.
	clockRe   = regexp.MustCompile(`^\d{1,2}:\d{2}(:\d{2})?$`)
	percentRe = regexp.MustCompile(`^(\d{1,3}(?:\.\d+)?)\s*%?$`)
)

// ParseCommand reads the text of an /incident command (as Slack sends it,
// with escaped mentions) into a domain command. now resolves "started
// HH:MM" to the last such time. Errors are incidentbot EINVALID errors whose
// message shows the right form.
func ParseCommand(text string, now time.Time) (incidentbot.Cmd, error) {
	fields := tokens(text)
	if len(fields) == 0 {
		return incidentbot.Cmd{Name: "help"}, nil
	}
	c := incidentbot.Cmd{Name: strings.ToLower(fields[0])}
	args := fields[1:]
	if c.Name == "action" && len(args) > 0 && strings.EqualFold(args[0], "done") {
		c.Name, args = "action done", args[1:]
	}
	if incidentbot.UsageOf(c.Name) == "" {
		return c, incidentbot.UnknownSubcommand(fields[0])
	}
	if c.Name != "declare" && c.Name != "list" && c.Name != "followups" && c.Name != "help" && len(args) > 0 {
		if _, ok := incidentbot.ParseIncidentID(args[0]); ok {
			c.IncidentID, args = strings.ToUpper(args[0]), args[1:]
		}
	}
	bad := func() (incidentbot.Cmd, error) {
		return c, incidentbot.Errorf(incidentbot.EINVALID, "Usage: `%s`", incidentbot.UsageOf(c.Name))
	}
	rest := plain(strings.Join(args, " "))
	switch c.Name {
	case "help", "list", "followups", "ack", "timeline", "postmortem":
		if len(args) > 0 {
			return bad()
		}
	case "declare":
		// A trailing severity and "private", in either order.
		for n := len(args); n > 0; n = len(args) {
			if sev, ok := incidentbot.ParseSeverity(args[n-1]); ok && c.Severity == "" {
				c.Severity, args = sev, args[:n-1]
			} else if strings.EqualFold(args[n-1], "private") && !c.Private {
				c.Private, args = true, args[:n-1]
			} else {
				break
			}
		}
		c.Text = plain(strings.Join(args, " "))
		if c.Text == "" {
			return bad()
		}
	case "handoff":
		if len(args) != 1 {
			return bad()
		}
		p, ok := parseMention(args[0])
		if !ok {
			return c, mentionError(c.Name)
		}
		c.User = &p
	case "title":
		if rest == "" {
			return bad()
		}
		c.Text = rest
	case "page":
		// A mentioned user, or an escalation policy's name; what follows is
		// the message (for a policy, the job finds where its name ends).
		if len(args) == 0 {
			return bad()
		}
		if p, ok := parseMention(args[0]); ok {
			c.User, c.Text = &p, plain(strings.Join(args[1:], " "))
		} else {
			c.Text = rest
		}
	case "note":
		// A leading time of day backdates the note.
		if len(args) > 0 && clockRe.MatchString(args[0]) {
			t, ok := parseClock(args[0], now)
			if !ok {
				return c, incidentbot.Errorf(incidentbot.EINVALID, "%q is not a time of day (HH:MM or HH:MM:SS, UTC). Usage: `%s`", args[0], incidentbot.UsageOf(c.Name))
			}
			c.At, rest = t, plain(strings.Join(args[1:], " "))
		}
		if rest == "" {
			return bad()
		}
		c.Text = rest
	case "update", "impact", "rootcause", "public":
		if rest == "" {
			return bad()
		}
		c.Text = rest
	case "mitigated":
		if len(args) > 1 {
			return bad()
		}
		if len(args) == 1 {
			t, ok := parseStarted(args[0], now)
			if !ok {
				return bad()
			}
			c.At = t
		}
	case "affected":
		m := percentRe.FindStringSubmatch(strings.Join(args, ""))
		if m == nil {
			return bad()
		}
		p, err := strconv.ParseFloat(m[1], 64)
		if err != nil || p <= 0 || p > 100 {
			return c, incidentbot.Errorf(incidentbot.EINVALID, "The share affected is a percentage above 0 and at most 100, like `85%%`. Usage: `%s`", incidentbot.UsageOf(c.Name))
		}
		c.Percent = p
	case "resolve":
		c.Text = rest
	case "status":
		if len(args) == 0 {
			return bad()
		}
		switch st := incidentbot.Status(strings.ToLower(args[0])); st {
		case incidentbot.StatusInvestigating, incidentbot.StatusIdentified, incidentbot.StatusMonitoring:
			c.Status = st
		default:
			return bad()
		}
		c.Text = plain(strings.Join(args[1:], " "))
	case "severity":
		if len(args) != 1 {
			return bad()
		}
		sev, ok := incidentbot.ParseSeverity(args[0])
		if !ok {
			return bad()
		}
		c.Severity = sev
	case "commander":
		if len(args) > 1 {
			return bad()
		}
		if len(args) == 1 {
			p, ok := parseMention(args[0])
			if !ok {
				return c, mentionError(c.Name)
			}
			c.User = &p
		}
	case "role":
		if len(args) < 1 || len(args) > 2 {
			return bad()
		}
		c.Role = incidentbot.Role(strings.ToLower(args[0]))
		if c.Role != incidentbot.RoleCommander && c.Role != incidentbot.RoleComms && c.Role != incidentbot.RoleScribe {
			return bad()
		}
		if len(args) == 2 {
			p, ok := parseMention(args[1])
			if !ok {
				return c, mentionError(c.Name)
			}
			c.User = &p
		}
	case "started":
		if len(args) != 1 {
			return bad()
		}
		t, ok := parseStarted(args[0], now)
		if !ok {
			return bad()
		}
		c.At = t
	case "action":
		a := &incidentbot.ActionItem{}
		// Owner, due date and priority are recognised at the end.
		for len(args) > 0 {
			last := args[len(args)-1]
			if p, ok := parseMention(last); ok && a.Owner == nil {
				a.Owner = &p
			} else if m := dueRe.FindStringSubmatch(strings.ToLower(last)); m != nil && a.Due == "" {
				if _, err := time.Parse("2006-01-02", m[1]); err != nil {
					return bad()
				}
				a.Due = m[1]
			} else if p := strings.ToLower(last); (p == "p1" || p == "p2" || p == "p3") && a.Priority == "" {
				a.Priority = p
			} else {
				break
			}
			args = args[:len(args)-1]
		}
		a.Text = plain(strings.Join(args, " "))
		if a.Text == "" {
			return bad()
		}
		c.Action = a
	case "action done":
		if len(args) != 1 {
			return bad()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return bad()
		}
		c.N = n
	}
	return c, nil
}

func mentionError(name string) error {
	return incidentbot.Errorf(incidentbot.EINVALID, "Mention the person with @ so Slack links them. Usage: `%s`", incidentbot.UsageOf(name))
}

// tokens splits text on white space, keeping Slack's escaped references
// (<@U123|Ann Lee>, <https://x|a label>) whole.
func tokens(text string) []string {
	var out []string
	var cur strings.Builder
	depth := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range text {
		switch {
		case r == '<':
			depth++
		case r == '>' && depth > 0:
			depth--
		case depth == 0 && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			flush()
			continue
		}
		cur.WriteRune(r)
	}
	flush()
	return out
}

// parseMention reads Slack's escaped user mention, <@U123> or
// <@U123|name>. The label is Slack's legacy user name: only the ID is kept
// (the domain names people from its directory).
func parseMention(s string) (incidentbot.Person, bool) {
	m := mentionRe.FindStringSubmatch(s)
	if m == nil {
		return incidentbot.Person{}, false
	}
	return incidentbot.Person{ID: m[1]}, true
}

// plain turns Slack's escaped text into what the person typed: mentions
// become @name, channel references #name, links their label and URL, and
// &amp; &lt; &gt; their characters. Rendering escapes them again.
func plain(s string) string {
	s = refRe.ReplaceAllStringFunc(s, func(ref string) string {
		m := refRe.FindStringSubmatch(ref)
		kind, target, label := m[1], m[2], m[3]
		switch kind {
		case "@":
			return "@" + orStr(label, target)
		case "#":
			return "#" + orStr(label, target)
		case "!":
			if strings.HasPrefix(target, "subteam^") {
				return orStr(label, "@group")
			}
			return "@" + orStr(label, target)
		}
		if label != "" && label != target {
			return label + " (" + target + ")"
		}
		return target
	})
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
	return strings.TrimSpace(s)
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseStarted reads "HH:MM" or "HH:MM:SS" (UTC, the latest such time not
// after now) or an RFC 3339 time.
func parseStarted(s string, now time.Time) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return parseClock(s, now)
}

// parseClock reads "HH:MM" or "HH:MM:SS" (UTC) as the latest such time not
// after now.
func parseClock(s string, now time.Time) (time.Time, bool) {
	if !clockRe.MatchString(s) {
		return time.Time{}, false
	}
	layout := "15:04"
	if strings.Count(s, ":") == 2 {
		layout = "15:04:05"
	}
	hm, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	now = now.UTC()
	t := time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), hm.Second(), 0, time.UTC)
	if t.After(now) {
		t = t.AddDate(0, 0, -1)
	}
	return t, true
}
