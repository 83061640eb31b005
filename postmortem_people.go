package incidentbot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// participants lists everyone who acted on the incident, in Slack or in
// PagerDuty, and everyone who held a role, one entry per person. The
// draft reads the timeline through the people directory (people.go): a
// PagerDuty user known to have a Slack account already carries that
// Slack user's ID and name. A PagerDuty user the directory has not mapped
// is taken for the Slack user of the same name when exactly one Slack
// user has it (two Slack users are never merged), and shown under the
// Slack name.
func participants(inc *Incident, entries []Entry) []Participant {
	type seen struct {
		p    Person
		kind EntryKind
		at   time.Time
		role Role
	}
	var all []seen
	for _, e := range entries {
		if e.Source != SourceBot && !systemActor(e.Actor) {
			all = append(all, seen{p: e.Actor, kind: e.Kind, at: e.At})
		}
		if e.Kind == EntryRoleAssigned && e.Subject != nil && e.Role != "" {
			all = append(all, seen{p: *e.Subject, role: e.Role})
		}
	}
	for _, r := range Roles {
		if p, ok := inc.Roles[r]; ok {
			all = append(all, seen{p: p, role: r})
		}
	}

	// The Slack users carrying each name.
	slackByName := map[string][]string{}
	for _, s := range all {
		if n := strings.ToLower(CleanLine(s.p.Name)); n != "" && IsSlackUserID(s.p.ID) && !slices.Contains(slackByName[n], s.p.ID) {
			slackByName[n] = append(slackByName[n], s.p.ID)
		}
	}
	// keyOf is the person a sighting is of: a Slack user by their ID; a
	// PagerDuty user by the one Slack user of their name, else their ID;
	// someone without an ID by their name.
	type who struct{ id, name string }
	memo := map[who]string{}
	keyOf := func(p Person) string {
		k := who{p.ID, p.Name}
		if key, ok := memo[k]; ok {
			return key
		}
		n := strings.ToLower(CleanLine(p.Name))
		key := ""
		switch ids := slackByName[n]; {
		case IsSlackUserID(p.ID):
			key = "id:" + p.ID
		case n != "" && len(ids) == 1:
			key = "id:" + ids[0]
		case p.ID != "":
			key = "id:" + p.ID
		case n != "":
			key = "name:" + n
		}
		memo[k] = key
		return key
	}

	byKey := map[string]*Participant{}
	var order []string
	slackName := map[string]bool{}
	for _, s := range all {
		key := keyOf(s.p)
		if key == "" {
			continue // nobody to name (no ID, a blank name)
		}
		pt := byKey[key]
		if pt == nil {
			pt = &Participant{Roles: []Role{}, Actions: map[EntryKind]int{}}
			byKey[key] = pt
			order = append(order, key)
		}
		name, id := CleanLine(s.p.Name), CleanLine(s.p.ID)
		switch {
		case name != "" && IsSlackUserID(id) && !slackName[key]:
			pt.Name, slackName[key] = name, true
		case pt.Name == "":
			pt.Name = cmp.Or(name, id)
		}
		switch {
		case IsSlackUserID(id):
			pt.SlackID = cmp.Or(pt.SlackID, id)
		case id != "":
			pt.PagerDutyID = cmp.Or(pt.PagerDutyID, id)
		}
		if s.role != "" && !slices.Contains(pt.Roles, s.role) {
			pt.Roles = append(pt.Roles, s.role)
		}
		if s.kind != "" {
			pt.Actions[s.kind]++
			if pt.FirstAt == nil || s.at.Before(*pt.FirstAt) {
				at := s.at.UTC()
				pt.FirstAt = &at
			}
		}
	}
	out := make([]Participant, 0, len(order))
	for _, key := range order {
		pt := byKey[key]
		slices.SortFunc(pt.Roles, func(a, b Role) int { return slices.Index(Roles, a) - slices.Index(Roles, b) })
		pt.Did = didText(pt.Actions)
		out = append(out, *pt)
	}
	// Role holders first (commander, comms, scribe), then by first action.
	rank := func(p Participant) int {
		if len(p.Roles) == 0 {
			return len(Roles)
		}
		return slices.Index(Roles, p.Roles[0])
	}
	slices.SortStableFunc(out, func(a, b Participant) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		switch {
		case a.FirstAt == nil && b.FirstAt == nil:
			return 0
		case a.FirstAt == nil:
			return 1
		case b.FirstAt == nil:
			return -1
		}
		return a.FirstAt.Compare(*b.FirstAt)
	})
	return out
}

// systemActor is the actor of entries no person made: PagerDuty's own
// events, the bot.
func systemActor(p Person) bool {
	return p.ID == "" && (p.Name == "" || p.Name == "PagerDuty" || p.Name == "incidentbot")
}

// didKinds orders what didText tells.
var didKinds = []struct {
	kind      EntryKind
	one, many string
}{
	{EntryDeclared, "declared it", "declared it"},
	{EntryAcknowledged, "acknowledged", "acknowledged %d times"},
	{EntryNote, "1 note", "%d notes"},
	{EntryStatusUpdate, "1 update", "%d updates"},
	{EntryPinned, "1 pin", "%d pins"},
	{EntrySeverityChanged, "changed the severity", "changed the severity %d times"},
	{EntryRoleAssigned, "assigned a role", "assigned %d roles"},
	{EntryImpactStarted, "recorded the impact start", "recorded the impact start"},
	{EntryImpact, "described the impact", "described the impact"},
	{EntryAffected, "recorded the share affected", "recorded the share affected"},
	{EntryRootCause, "recorded the root cause", "recorded the root cause"},
	{EntryActionItem, "1 action item", "%d action items"},
	{EntryMitigated, "recorded the end of impact", "recorded the end of impact"},
	{EntryResolved, "resolved it", "resolved it"},
}

// didText says what someone did: "acknowledged, 6 notes, 2 updates".
func didText(actions map[EntryKind]int) string {
	var parts []string
	other := 0
	for k, n := range actions {
		if !slices.ContainsFunc(didKinds, func(d struct {
			kind      EntryKind
			one, many string
		}) bool {
			return d.kind == k
		}) {
			other += n
		}
	}
	for _, d := range didKinds {
		switch n := actions[d.kind]; {
		case n == 1:
			parts = append(parts, d.one)
		case n > 1:
			if strings.Contains(d.many, "%d") {
				parts = append(parts, fmt.Sprintf(d.many, n))
			} else {
				parts = append(parts, d.many)
			}
		}
	}
	switch {
	case other == 1:
		parts = append(parts, "1 other entry")
	case other > 1:
		parts = append(parts, fmt.Sprintf("%d other entries", other))
	}
	return strings.Join(parts, ", ")
}
