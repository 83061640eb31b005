package incidentbot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// participants lists everyone who acted on the incident, in Slack or in
// PagerDuty, and everyone who held a role, one entry per person. A person
// is known by their Slack user ID and their PagerDuty user ID; the two
// are taken for one person when they carry the same name (PagerDuty's
// user name and Slack's real name), and shown under the Slack name.
func participants(inc *Incident, entries []Entry) []Participant {
	type seen struct {
		p    Person
		src  Source
		kind EntryKind
		at   time.Time
		role Role
	}
	var all []seen
	for _, e := range entries {
		if e.Source != SourceBot && !systemActor(e.Actor) {
			all = append(all, seen{p: e.Actor, src: e.Source, kind: e.Kind, at: e.At})
		}
		if e.Kind == EntryRoleAssigned && e.Subject != nil && e.Role != "" {
			all = append(all, seen{p: *e.Subject, src: SourceSlack, role: e.Role})
		}
	}
	for _, r := range Roles {
		if p, ok := inc.Roles[r]; ok {
			all = append(all, seen{p: p, src: SourceSlack, role: r})
		}
	}

	// Union-find over the identities each sighting joins: its user ID in
	// its system, and its name.
	parent := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		if parent[k] == "" || parent[k] == k {
			parent[k] = k
			return k
		}
		r := find(parent[k])
		parent[k] = r
		return r
	}
	union := func(a, b string) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[rb] = ra
		}
	}
	// The identities of a sighting, computed once per person and system:
	// a long timeline is mostly the same few people.
	type who struct {
		src      Source
		id, name string
	}
	memo := map[who][]string{}
	nodes := func(s seen) []string {
		k := who{s.src, s.p.ID, s.p.Name}
		if ks, ok := memo[k]; ok {
			return ks
		}
		var ks []string
		if s.p.ID != "" {
			ks = append(ks, string(s.src)+":"+s.p.ID)
		}
		if n := strings.ToLower(CleanLine(s.p.Name)); n != "" {
			ks = append(ks, "name:"+n)
		}
		memo[k] = ks
		return ks
	}
	joined := map[*string]bool{}
	for _, s := range all {
		ks := nodes(s)
		if len(ks) == 0 || joined[&ks[0]] {
			continue // nobody to name (no ID, a blank name), or done
		}
		joined[&ks[0]] = true
		find(ks[0])
		for _, k := range ks[1:] {
			union(ks[0], k)
		}
	}

	byRoot := map[string]*Participant{}
	var order []string
	slackName := map[string]bool{}
	for _, s := range all {
		ks := nodes(s)
		if len(ks) == 0 {
			continue
		}
		root := find(ks[0])
		pt := byRoot[root]
		if pt == nil {
			pt = &Participant{Roles: []Role{}, Actions: map[EntryKind]int{}}
			byRoot[root] = pt
			order = append(order, root)
		}
		name := CleanLine(s.p.Name)
		switch {
		case name != "" && s.src == SourceSlack && !slackName[root]:
			pt.Name, slackName[root] = name, true
		case pt.Name == "":
			pt.Name = cmp.Or(name, CleanLine(s.p.ID))
		}
		switch s.src {
		case SourceSlack:
			pt.SlackID = cmp.Or(pt.SlackID, CleanLine(s.p.ID))
		case SourcePagerDuty:
			pt.PagerDutyID = cmp.Or(pt.PagerDutyID, CleanLine(s.p.ID))
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
	for _, root := range order {
		pt := byRoot[root]
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
