package incidentbot

import (
	"fmt"
	"strings"
)

// Usage is the form of each /incident subcommand, in the order help shows
// them. Inside an incident channel the incident is implied; elsewhere it is
// named first: `/incident note INC-12 text`.
var Usage = []struct{ Name, Form, Does string }{
	{"declare", "declare <title> [sev1|sev2|sev3|sev4]", "open an incident and its channel without a page (default sev3)"},
	{"ack", "ack", "acknowledge (here and in PagerDuty)"},
	{"note", "note [HH:MM[:SS]] <text>", "add a note to the timeline (and to PagerDuty); a leading UTC time backdates it"},
	{"status", "status <investigating|identified|monitoring> [message]", "change status and publish an update"},
	{"update", "update <message>", "publish a status update"},
	{"severity", "severity <sev1|sev2|sev3|sev4>", "change the severity"},
	{"commander", "commander [@user]", "assign the incident commander (no user: yourself)"},
	{"role", "role <commander|comms|scribe> [@user]", "assign a role (no user: yourself)"},
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

// Help returns the help text.
func Help() string {
	var b strings.Builder
	b.WriteString("*/incident* runs an incident from Slack. In an incident channel the incident is implied; elsewhere name it first, like `/incident note INC-12 checking the pool`.\n")
	for _, u := range Usage {
		fmt.Fprintf(&b, "• `/incident %s`: %s\n", u.Form, u.Does)
	}
	return b.String()
}
