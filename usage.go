package incidentbot

import (
	"fmt"
	"strings"
)

// Usage is the form of each /incident subcommand, in the order help shows
// them. Inside an incident channel the incident is implied; elsewhere it is
// named first: `/incident note INC-12 text`.
var Usage = []struct{ Name, Form, Does string }{
	{"declare", "declare <title> [sev1|sev2|sev3|sev4] [private]", "open an incident and its channel without a page (default sev3); private: a private channel, never announced, never on a status page"},
	{"ack", "ack", "acknowledge (here and in PagerDuty)"},
	{"note", "note [HH:MM[:SS]] <text>", "add a note to the timeline (and to PagerDuty); a leading UTC time backdates it"},
	{"status", "status <investigating|identified|monitoring> [message]", "change status and publish an update"},
	{"update", "update <message>", "publish a status update"},
	{"severity", "severity <sev1|sev2|sev3|sev4>", "change the severity"},
	{"commander", "commander [@user]", "assign the incident commander (no user: yourself)"},
	{"handoff", "handoff @user", "hand the commander role over"},
	{"role", "role <commander|comms|scribe> [@user]", "assign a role (no user: yourself)"},
	{"page", "page <@user | escalation policy name> [message]", "page more responders through PagerDuty; they are invited here"},
	{"title", "title <text>", "rename the incident (and its channel)"},
	{"started", "started <HH:MM or RFC 3339, UTC>", "record when impact began"},
	{"mitigated", "mitigated [HH:MM]", "record when impact ended (UTC; default now)"},
	{"affected", "affected <N%>", "record the share of users or requests affected (for the error budget)"},
	{"impact", "impact <text>", "describe the impact (for the postmortem)"},
	{"rootcause", "rootcause <text>", "record the root cause (for the postmortem)"},
	{"action", "action <text> [@owner] [due:YYYY-MM-DD] [p1|p2|p3]", "record an action item (default p2)"},
	{"action done", "action done <n>", "mark action item n done"},
	{"public", "public <name>", "name the incident on the public status page"},
	{"timeline", "timeline", "show the timeline (only to you)"},
	{"resolve", "resolve [summary]", "resolve here and in PagerDuty"},
	{"postmortem", "postmortem", "draft the postmortem now"},
	{"list", "list", "list open incidents"},
	{"followups", "followups", "list open action items across incidents, overdue first"},
	{"help", "help", "this help"},
}

// UsageOf returns the form of a subcommand, or "".
func UsageOf(name string) string {
	for _, u := range Usage {
		if u.Name == name {
			return "/incident " + u.Form
		}
	}
	return ""
}

func usageError(name string) error {
	return Errorf(EINVALID, "Usage: `%s`", UsageOf(name))
}

// UnknownSubcommand is the EINVALID error for a subcommand that does not
// exist: it shows the usage of the closest one (a typo, or the start of a
// name), or the whole help when none is close.
func UnknownSubcommand(name string) error {
	shown := EscapeMrkdwn(Clip(name))
	if best := closestSubcommand(name); best != "" {
		return Errorf(EINVALID, "There is no subcommand “%s”. Did you mean `%s`?", shown, UsageOf(best))
	}
	return Errorf(EINVALID, "There is no subcommand “%s”.\n%s", shown, Help())
}

// closestSubcommand returns the subcommand name is most likely a typo or a
// start of ("" when none is close): one that begins with it (at least two
// letters), else the nearest by edit distance, at most one edit per four
// letters (and at least one).
func closestSubcommand(name string) string {
	name = strings.ToLower(name)
	if name == "" || len(name) > 40 {
		return ""
	}
	if len(name) >= 2 {
		for _, u := range Usage {
			if strings.HasPrefix(u.Name, name) {
				return u.Name
			}
		}
	}
	best, bestD := "", max(1, len(name)/4)+1
	for _, u := range Usage {
		if d := editDistance(name, u.Name); d < bestD {
			best, bestD = u.Name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours each count
// one ("resovle" is one edit from "resolve"). Bytes: the names are ASCII.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Help returns the help text.
func Help() string {
	var b strings.Builder
	b.WriteString("*/incident* runs an incident from Slack. In an incident channel the incident is implied; elsewhere name it first, like `/incident note INC-12 checking the pool`.\n")
	for _, u := range Usage {
		fmt.Fprintf(&b, "• `/incident %s`: %s\n", u.Form, u.Does)
	}
	return b.String()
}
