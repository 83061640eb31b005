package incidentbot

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cmd is one /incident subcommand (or button, or modal submission) in the
// domain's terms: the Slack adapter parses the text into it.
type Cmd struct {
	Name string // the subcommand: declare, ack, note, status, ...
	// IncidentID names the incident explicitly ("INC-12"); when empty the
	// incident is the one whose channel the command was sent in.
	IncidentID string
	ChannelID  string
	Actor      Person
	Text       string
	Severity   Severity
	Status     Status
	Role       Role
	User       *Person // role holder
	// At is the time a command names: started, mitigated, a backdated note
	// (zero: none named).
	At      time.Time
	Percent float64 // affected
	// Private makes a declared incident private: a private channel, never
	// announced or public.
	Private bool
	Action  *ActionItem
	N       int // action done <n>
	// ResponseURL lets a later job answer the person privately (declare).
	ResponseURL string
	// DeliveryKey identifies the signed request that carried the command
	// (its signature): a replay of it is not applied again.
	DeliveryKey string
}

// Reply is what the person who ran a command is told. InChannel makes it
// visible to the channel; otherwise only they see it. Replayed marks the
// recorded answer to a request that was already applied.
type Reply struct {
	Text      string `json:"text"`
	InChannel bool   `json:"in_channel,omitempty"`
	Replayed  bool   `json:"-"`
}

// Restricted subcommands can be limited to responders (INCIDENTBOT_RESPONDERS).
// What reaches the public (a public name, an update on a public incident,
// a declaration at a public severity) is restricted too; adding to the
// timeline is open to everyone.
var restricted = map[string]bool{"severity": true, "resolve": true, "commander": true, "handoff": true, "role": true, "public": true}

// Run applies a command in one transaction: its timeline entry, its effect
// on the incident and the jobs it causes (channel posts, PagerDuty calls).
// A command with a DeliveryKey (a signed Slack request) is applied once: a
// replay of it gets the first answer, marked Replayed. Errors are *Error:
// EINVALID for bad arguments, ENOTFOUND when there is no such incident,
// EFORBIDDEN when the actor may not do this.
func (s *Service) Run(ctx context.Context, c Cmd) (Reply, error) {
	if !s.mayManage(c.Actor) && (restricted[c.Name] || (c.Name == "declare" && !c.Private && slices.Contains(s.PublicSeverities, c.Severity))) {
		return Reply{}, Errorf(EFORBIDDEN, "Only responders can %s. Ask an incident commander, or an admin to add you to INCIDENTBOT_RESPONDERS.", verbOf(c.Name))
	}
	switch c.Name {
	case "list":
		return s.list(ctx)
	case "timeline":
		return s.timeline(ctx, c)
	case "followups":
		return s.followupsReply(ctx)
	}
	if c.DeliveryKey != "" {
		if err := CheckID("the request's delivery key", c.DeliveryKey); err != nil {
			return Reply{}, err
		}
	}
	var out Reply
	var incID string
	err := s.update(ctx, func(w *txWork) error {
		incID = ""
		if c.DeliveryKey != "" {
			ans, ok, err := w.DeliveryAnswer(c.DeliveryKey)
			if err != nil {
				return err
			}
			if ok {
				out = Reply{}
				if err := json.Unmarshal(ans, &out); err != nil {
					return err
				}
				out.Replayed = true
				return nil
			}
		}
		c := c // the function may run again: start from the command as sent
		if err := w.people(&c); err != nil {
			return err
		}
		var r Reply
		if c.Name == "declare" {
			inc, err := w.declare(c)
			if err != nil {
				return err
			}
			r, incID = declaredReply(inc), inc.ID
		} else {
			inc, err := w.target(c)
			if err != nil {
				return err
			}
			if r, err = w.run(inc, c); err != nil {
				return err
			}
			r = w.quiet(inc, c, r)
			incID = inc.ID
			if err := w.save(inc); err != nil {
				return err
			}
		}
		out = r
		if c.DeliveryKey == "" {
			return nil
		}
		ans, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return w.MarkAnswered(c.DeliveryKey, w.now, ans)
	})
	if err == nil {
		s.logger().Info("slack command", "incident", incID, "subcommand", c.Name, "user", c.Actor.ID, "replayed", out.Replayed)
	}
	return out, err
}

// quiet drops the private answer to a command run in the incident's own
// channel when the command posted there: one visible message per action.
// Run elsewhere (`/incident note INC-3 ...` in another channel), the
// person is told, since the post lands where they are not looking.
func (w *txWork) quiet(inc *Incident, c Cmd, r Reply) Reply {
	if !r.InChannel && c.ChannelID != "" && c.ChannelID == inc.ChannelID && w.posted[inc.ID] {
		r.Text = ""
	}
	return r
}

// involved reports whether a person is known to be in an incident: they
// declared it, hold a role, or the bot invited them.
func (w *txWork) involved(inc *Incident, p Person) bool {
	id := w.s.People.Resolve(p).ID
	if id == "" {
		return false
	}
	if inc.DeclaredBy != nil && w.s.People.Resolve(*inc.DeclaredBy).ID == id {
		return true
	}
	for _, r := range inc.Roles {
		if w.s.People.Resolve(r).ID == id {
			return true
		}
	}
	return slices.Contains(inc.Invited, id)
}

// mayManage reports whether a person may run the restricted subcommands.
func (s *Service) mayManage(p Person) bool {
	return s.MayManage == nil || s.MayManage(p.ID)
}

func verbOf(name string) string {
	switch name {
	case "severity":
		return "change the severity"
	case "resolve":
		return "resolve incidents"
	case "public":
		return "name incidents on the public status page"
	case "declare":
		return "declare incidents at a public severity"
	case "status", "update":
		return "publish updates about a public incident"
	case "title":
		return "rename a public incident"
	}
	return "assign roles"
}

// target finds the incident a command is about.
func (w *txWork) target(c Cmd) (*Incident, error) {
	if c.IncidentID != "" {
		inc, err := w.Incident(c.IncidentID)
		if err == nil && inc.Private && c.ChannelID != inc.ChannelID && !w.involved(inc, c.Actor) {
			// Outside its channel a private incident answers only the
			// people in it: to others it is as if it did not exist.
			err = Errorf(ENOTFOUND, "no such incident")
		}
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "There is no incident %s. `/incident list` shows the open ones.", c.IncidentID)
		}
		return inc, err
	}
	inc, err := w.IncidentByChannel(c.ChannelID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EINVALID, "This channel is not an incident channel: name the incident, like `/incident %s INC-12 ...`.", c.Name)
	}
	return inc, err
}

func (w *txWork) slackEntry(inc *Incident, c Cmd, kind EntryKind, text string) Entry {
	return Entry{At: w.now, Kind: kind, Actor: c.Actor, Source: SourceSlack, Text: text}
}

func (w *txWork) run(inc *Incident, c Cmd) (Reply, error) {
	if f, ok := commands[c.Name]; ok {
		return f(w, inc, c)
	}
	return Reply{}, UnknownSubcommand(c.Name)
}

// commands are the subcommands that act on one incident, each applied in
// the transaction Run opens.
var commands = map[string]func(w *txWork, inc *Incident, c Cmd) (Reply, error){
	"ack":         cmdAck,
	"note":        cmdNote,
	"status":      (*txWork).statusUpdate,
	"update":      (*txWork).statusUpdate,
	"severity":    cmdSeverity,
	"commander":   cmdCommander,
	"role":        cmdCommander,
	"started":     cmdStarted,
	"mitigated":   cmdMitigated,
	"affected":    cmdAffected,
	"impact":      cmdImpact,
	"rootcause":   cmdImpact,
	"action":      cmdAction,
	"action done": cmdActionDone,
	"public":      cmdPublic,
	"handoff":     cmdHandoff,
	"title":       cmdTitle,
	"page":        cmdPage,
	"resolve":     cmdResolve,
	"postmortem":  cmdPostmortem,
}

// cmdAck acknowledges the incident (here and in PagerDuty).
func cmdAck(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if inc.Status != StatusTriggered {
		return Reply{Text: fmt.Sprintf("%s is already %s.", inc.ID, inc.Status)}, nil
	}
	setStatus(inc, StatusAcknowledged, w.now)
	if err := w.acknowledge(inc, c, "Acknowledged by "+Ref(c.Actor)); err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("You acknowledged %s.", inc.ID)}, w.updateAnnouncement(inc)
}

// cmdNote adds a note to the timeline and to PagerDuty. A note with a
// time (/incident note 09:45 Redis node down) is backdated to it: it sits
// in the timeline at that time, and keeps when it was typed.
func cmdNote(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if c.Text == "" {
		return Reply{}, usageError("note")
	}
	e := w.slackEntry(inc, c, EntryNote, c.Text)
	pagerText := c.Text
	reply := "Noted on the " + inc.ID + " timeline."
	if !c.At.IsZero() {
		at, err := w.pastTime(inc, c.At, "A backdated note")
		if err != nil {
			return Reply{}, err
		}
		e.backdate(at, w.now)
		pagerText = "[" + clock(at) + "] " + c.Text
		reply = "Noted on the " + inc.ID + " timeline at " + clock(at) + "."
	}
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	return Reply{Text: reply}, w.pagerAction(inc, c, JobPagerNote, pagerText)
}

// backdate places an entry at another time than now, keeping now as when
// it was recorded.
func (e *Entry) backdate(at, now time.Time) {
	e.At = at.UTC()
	if !at.Equal(now) {
		rec := now
		e.RecordedAt = &rec
	}
}

// pastTime checks a time a person named for an incident: not in the
// future, and not before the day (UTC) the incident was detected.
func (w *txWork) pastTime(inc *Incident, at time.Time, what string) (time.Time, error) {
	at = at.UTC()
	if at.After(w.now) {
		return at, Errorf(EINVALID, "%s cannot be in the future: %s is after now (%s). Times are UTC.", what, clock(at), clock(w.now))
	}
	o := inc.OpenedAt.UTC()
	if day := time.Date(o.Year(), o.Month(), o.Day(), 0, 0, 0, 0, time.UTC); at.Before(day) {
		return at, Errorf(EINVALID, "%s must fall on or after the day %s was detected (%s UTC); %s is earlier. Times are UTC.", what, inc.ID, o.Format("2006-01-02"), at.Format("2006-01-02 15:04:05"))
	}
	return at, nil
}

// cmdSeverity changes the severity; the update cadence follows.
func cmdSeverity(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if c.Severity == inc.Severity {
		return Reply{Text: fmt.Sprintf("%s is already %s.", inc.ID, inc.Severity)}, nil
	}
	before := inc.Severity
	text := fmt.Sprintf("Severity %s → %s", inc.Severity, c.Severity)
	inc.Severity, inc.SeveritySetBy = c.Severity, cmp.Or(c.Actor.ID, c.Actor.Name)
	// The next update is due the new cadence after the last one.
	w.scheduleFrom(inc, lastUpdateOrOpen(inc))
	if err := w.publish(inc); err != nil {
		return Reply{}, err
	}
	e := w.slackEntry(inc, c, EntrySeverityChanged, text)
	e.Severity, e.PreviousSeverity = c.Severity, before
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	return Reply{Text: text + "."}, w.updateAnnouncement(inc)
}

// cmdCommander assigns a role (commander: the incident commander); no user means the actor.
func cmdCommander(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	role := c.Role
	if c.Name == "commander" {
		role = RoleCommander
	}
	who := c.Actor
	if c.User != nil {
		who = *c.User
	}
	if inc.Roles == nil {
		inc.Roles = map[Role]Person{}
	}
	inc.Roles[role] = who
	e := w.slackEntry(inc, c, EntryRoleAssigned, fmt.Sprintf("%s is %s", Ref(who), role))
	e.Role, e.Subject = role, &who
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	if who.ID != "" {
		if err := w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: who.ID}); err != nil {
			return Reply{}, err
		}
	}
	return Reply{Text: fmt.Sprintf("%s is now %s of %s.", mention(who), role, inc.ID)}, nil
}

// cmdStarted records when impact began; its entry sits in the timeline at
// that time.
// maxImpactLead is how long before its detection an incident's impact may
// be recorded as started: earlier is a typo (a year, a month), and figures
// spanning centuries are no figures.
const maxImpactLead = 30 * 24 * time.Hour

func cmdStarted(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	at := c.At.UTC()
	if at.After(w.now) {
		return Reply{}, Errorf(EINVALID, "Impact cannot start in the future: %s is after now (%s). Times are UTC.", at.Format("2006-01-02 15:04 UTC"), clock(w.now))
	}
	if end := inc.ImpactEndedAt; end != nil && at.After(*end) {
		return Reply{}, Errorf(EINVALID, "Impact cannot start after it ended (recorded with `/incident mitigated` at %s).", end.Format("2006-01-02 15:04 UTC"))
	}
	if earliest := inc.OpenedAt.Add(-maxImpactLead); at.Before(earliest) {
		return Reply{}, Errorf(EINVALID, "Impact cannot start more than %d days before %s was detected (%s); %s is earlier. Times are UTC.",
			int(maxImpactLead/(24*time.Hour)), inc.ID, inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"), at.Format("2006-01-02 15:04 UTC"))
	}
	inc.ImpactStartedAt = &at
	e := w.slackEntry(inc, c, EntryImpactStarted, "Impact started at "+at.Format("2006-01-02 15:04 UTC"))
	e.backdate(at, w.now)
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	return Reply{Text: "Recorded: impact started at " + at.Format("2006-01-02 15:04 UTC") + "."}, w.publish(inc)
}

// cmdMitigated records when impact ended (now, or the time named): the
// end of downtime in the postmortem and on the public page, instead of the
// first monitoring status.
func cmdMitigated(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	at := w.now
	if !c.At.IsZero() {
		var err error
		if at, err = w.pastTime(inc, c.At, "The end of impact"); err != nil {
			return Reply{}, err
		}
	}
	from, what := inc.OpenedAt, "it was detected"
	if inc.ImpactStartedAt != nil {
		from, what = *inc.ImpactStartedAt, "it started"
	}
	if at.Before(from) {
		return Reply{}, Errorf(EINVALID, "Impact cannot end (%s) before %s (%s). If it started earlier, record that first with `/incident started HH:MM`.", clock(at), what, clock(from))
	}
	text := "Impact ended at " + clock(at)
	if prev := inc.ImpactEndedAt; prev != nil && !prev.Equal(at) {
		text += " (recorded before as " + clock(*prev) + ")"
	}
	inc.ImpactEndedAt = &at
	e := w.slackEntry(inc, c, EntryMitigated, text)
	e.backdate(at, w.now)
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	return Reply{Text: "Recorded: impact ended at " + clock(at) + ". The postmortem counts downtime up to then."}, w.publish(inc)
}

// cmdAffected records the share of users or requests affected, which
// weighs the downtime against the error budget.
func cmdAffected(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if !(c.Percent > 0 && c.Percent <= 100) {
		return Reply{}, usageError("affected")
	}
	p := c.Percent
	inc.AffectedPercent = &p
	pct := FormatPercent(p)
	if err := w.record(inc, w.slackEntry(inc, c, EntryAffected, "Affected: "+pct+" of users or requests")); err != nil {
		return Reply{}, err
	}
	return Reply{Text: "Recorded: " + pct + " of users or requests affected. The postmortem weighs the downtime by it against the error budget."}, nil
}

// FormatPercent writes a percentage as people do: "85%", "12.5%".
func FormatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// cmdImpact records postmortem material: the impact or the root cause.
func cmdImpact(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if c.Text == "" {
		return Reply{}, usageError(c.Name)
	}
	kind := EntryImpact
	if c.Name == "rootcause" {
		kind = EntryRootCause
		inc.RootCause = c.Text
	} else {
		inc.Impact = c.Text
	}
	return Reply{Text: "Recorded for the postmortem."}, w.record(inc, w.slackEntry(inc, c, kind, c.Text))
}

// cmdAction records an action item.
func cmdAction(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	a := *c.Action
	a.N = len(inc.Actions) + 1
	a.Status, a.CreatedAt = "open", w.now
	a.Priority = cmp.Or(a.Priority, "p2")
	inc.Actions = append(inc.Actions, a)
	if err := w.trackItem(inc, a.N); err != nil {
		return Reply{}, err
	}
	reply := fmt.Sprintf("Action item %d recorded.", a.N)
	if ts := w.s.Trackers; len(ts) > 0 && !inc.Private {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = TrackerTitle(t)
		}
		reply = fmt.Sprintf("Action item %d recorded; its %s issue is on its way.", a.N, strings.Join(names, " and "))
	}
	return Reply{Text: reply}, w.record(inc, w.slackEntry(inc, c, EntryActionItem, "Action item "+fmt.Sprint(a.N)+": "+a.Text))
}

// cmdActionDone marks an action item done.
func cmdActionDone(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if c.N < 1 || c.N > len(inc.Actions) {
		return Reply{}, Errorf(EINVALID, "%s has no action item %d (it has %d).", inc.ID, c.N, len(inc.Actions))
	}
	a := &inc.Actions[c.N-1]
	if a.Status == "done" {
		return Reply{Text: fmt.Sprintf("Action item %d is already done.", c.N)}, nil
	}
	now := w.now
	a.Status, a.DoneAt = "done", &now
	if err := w.closeTracked(inc, a, ""); err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("Action item %d is done.", c.N)}, w.record(inc, w.slackEntry(inc, c, EntryActionItem, fmt.Sprintf("Action item %d done: %s", c.N, a.Text)))
}

// cmdPublic names the incident on the public status pages.
func cmdPublic(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if c.Text == "" {
		return Reply{}, usageError("public")
	}
	if inc.Private {
		return Reply{}, Errorf(ECONFLICT, "%s is private: it is never shown on a public status page.", inc.ID)
	}
	inc.PublicName = c.Text
	if err := w.publish(inc); err != nil {
		return Reply{}, err
	}
	return Reply{Text: "The public status page will call it “" + c.Text + "”."}, w.record(inc, w.slackEntry(inc, c, EntryPublicName, "Public name: "+c.Text))
}

// cmdResolve resolves the incident here and in PagerDuty and drafts the postmortem.
func cmdResolve(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	if inc.Status == StatusResolved {
		return Reply{Text: fmt.Sprintf("%s is already resolved (at %s). Nothing to do.", inc.ID, clock(*inc.ResolvedAt))}, nil
	}
	setFirst(&inc.ResolvedAt, w.now)
	setStatus(inc, StatusResolved, w.now)
	inc.NextUpdateDue = nil
	if err := w.publish(inc); err != nil {
		return Reply{}, err
	}
	if c.Text != "" {
		inc.Summary = c.Text
	}
	text := "Resolved by " + Ref(c.Actor)
	if c.Text != "" {
		text += ": " + c.Text
	}
	if err := w.record(inc, w.slackEntry(inc, c, EntryResolved, text)); err != nil {
		return Reply{}, err
	}
	if err := w.pagerAction(inc, c, JobPagerResolve, ""); err != nil {
		return Reply{}, err
	}
	if err := w.queuePostmortem(inc); err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("Resolved %s; its channel and the stakeholders are told.", inc.ID)}, w.updateAnnouncement(inc)
}

// cmdPostmortem (re)drafts the postmortem unless the draft is unchanged.
func cmdPostmortem(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	p, err := w.s.draft(w.Tx, inc, w.now)
	if err != nil {
		return Reply{}, err
	}
	if inc.PostmortemPosted != nil && inc.PostmortemPosted.Fingerprint == p.Fingerprint() {
		return Reply{Text: fmt.Sprintf("The postmortem draft of %s has not changed since it was posted at %s.", inc.ID, inc.PostmortemPosted.At.Format("15:04 UTC"))}, nil
	}
	return Reply{Text: "Drafting the postmortem of " + inc.ID + "; it will be posted in its channel."}, w.queuePostmortem(inc)
}

// statusUpdate publishes an update, changing the status with "status".
func (w *txWork) statusUpdate(inc *Incident, c Cmd) (Reply, error) {
	if w.s.IsPublic(inc) && !w.s.mayManage(c.Actor) {
		return Reply{}, Errorf(EFORBIDDEN, "Only responders can %s. Add a note instead (`/incident note ...`), or ask the incident commander.", verbOf(c.Name))
	}
	if inc.Status == StatusResolved {
		return Reply{}, Errorf(ECONFLICT, "%s is resolved; reopen it in PagerDuty or declare a new incident.", inc.ID)
	}
	if c.Name == "status" {
		if inc.Status == StatusTriggered {
			// Working on a page acknowledges it: record it, and stop
			// PagerDuty escalating.
			if err := w.acknowledge(inc, c, "Acknowledged by "+Ref(c.Actor)+" (status "+string(c.Status)+")"); err != nil {
				return Reply{}, err
			}
		}
		setStatus(inc, c.Status, w.now)
		setFirst(&inc.AcknowledgedAt, w.now)
		switch c.Status {
		case StatusIdentified:
			setFirst(&inc.IdentifiedAt, w.now)
		case StatusMonitoring:
			setFirst(&inc.MitigatedAt, w.now)
		}
	} else if c.Text == "" {
		return Reply{}, usageError("update")
	}
	text := cmp.Or(c.Text, "Status: "+string(inc.Status))
	e := w.slackEntry(inc, c, EntryStatusUpdate, text)
	e.Status = inc.Status
	if err := w.publishUpdate(inc, e); err != nil {
		return Reply{}, err
	}
	next := ""
	if inc.NextUpdateDue != nil {
		next = " Next update due by " + inc.NextUpdateDue.Format("15:04 UTC") + "."
	}
	return Reply{Text: fmt.Sprintf("Update published for %s (%s).%s", inc.ID, inc.Status, next)}, w.updateAnnouncement(inc)
}

// acknowledge records a person's acknowledgement and mirrors it to
// PagerDuty.
func (w *txWork) acknowledge(inc *Incident, c Cmd, text string) error {
	setFirst(&inc.AcknowledgedAt, w.now)
	e := w.slackEntry(inc, c, EntryAcknowledged, text)
	if err := w.firstAckCommands(inc, &e); err != nil {
		return err
	}
	if err := w.record(inc, e); err != nil {
		return err
	}
	return w.pagerAction(inc, c, JobPagerAck, "")
}

// firstAckCommands makes the person whose acknowledgement e records the
// commander of an incident that has none, and says so in the entry (its
// post tells the channel; the topic, the kickoff and the stakeholder
// thread follow). The bot and PagerDuty's own stand-ins are not people.
func (w *txWork) firstAckCommands(inc *Incident, e *Entry) error {
	who := e.Actor
	if _, ok := inc.Roles[RoleCommander]; ok || who.ID == "" || !inc.Status.Open() {
		return nil
	}
	if inc.Roles == nil {
		inc.Roles = map[Role]Person{}
	}
	inc.Roles[RoleCommander] = who
	e.Text += ", the first to acknowledge: now the commander"
	e.Role, e.Subject = RoleCommander, &who
	if IsSlackUserID(who.ID) {
		return w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: who.ID})
	}
	return w.invite(inc, who)
}

// cmdHandoff hands the commander role to someone else.
func cmdHandoff(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	who := *c.User
	was, had := inc.Roles[RoleCommander]
	same := func(a, b Person) bool { return w.s.People.Resolve(a).ID == w.s.People.Resolve(b).ID }
	if had && same(was, who) {
		return Reply{Text: fmt.Sprintf("%s is already the commander of %s.", mention(who), inc.ID)}, nil
	}
	if inc.Roles == nil {
		inc.Roles = map[Role]Person{}
	}
	inc.Roles[RoleCommander] = who
	text := Ref(c.Actor) + " handed command to " + Ref(who)
	if had && !same(was, c.Actor) {
		text = Ref(c.Actor) + " handed command from " + Ref(was) + " to " + Ref(who)
	}
	e := w.slackEntry(inc, c, EntryRoleAssigned, text)
	e.Role, e.Subject = RoleCommander, &who
	if err := w.record(inc, e); err != nil {
		return Reply{}, err
	}
	if who.ID != "" {
		if err := w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: who.ID}); err != nil {
			return Reply{}, err
		}
	}
	return Reply{Text: fmt.Sprintf("%s is now the commander of %s.", mention(who), inc.ID)}, nil
}

// cmdTitle renames the incident; its channel is renamed to match (prefix
// and number kept), and the topic, the kickoff and the announcement follow.
// A title set in Slack stays when PagerDuty sends its own.
func cmdTitle(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	title := CleanLine(c.Text)
	if title == "" {
		return Reply{}, usageError("title")
	}
	if inc.PublicName == "" && w.s.IsPublic(inc) && !w.s.mayManage(c.Actor) {
		// The public pages show the title while no public name is set:
		// renaming is then naming it in public.
		return Reply{}, Errorf(EFORBIDDEN, "Only responders can %s (its title is what the public status page shows until a public name is set). Add a note instead (`/incident note ...`), or ask the incident commander.", verbOf(c.Name))
	}
	if title == inc.Title {
		return Reply{Text: fmt.Sprintf("%s is already called “%s”.", inc.ID, EscapeMrkdwn(title))}, nil
	}
	old := inc.Title
	inc.Title, inc.TitleSetBy = title, cmp.Or(c.Actor.ID, c.Actor.Name)
	if err := w.record(inc, w.slackEntry(inc, c, EntryRenamed, fmt.Sprintf("Renamed from “%s” to “%s”", old, title))); err != nil {
		return Reply{}, err
	}
	if !inc.ChannelFailed {
		name := ChannelName(w.s.ChannelPrefix, inc.Number, title, 0)
		if err := w.enqueue(&Job{Kind: JobRenameChannel, IncidentID: inc.ID, Lane: laneChannel(inc.ID), ChannelName: name}); err != nil {
			return Reply{}, err
		}
	}
	if inc.PublicName == "" {
		// The public pages show the title while no public name is set.
		if err := w.publish(inc); err != nil {
			return Reply{}, err
		}
	}
	return Reply{Text: fmt.Sprintf("%s is now “%s”.", inc.ID, EscapeMrkdwn(title))}, w.updateAnnouncement(inc)
}

func mention(p Person) string {
	if p.ID != "" {
		return "<@" + p.ID + ">"
	}
	return EscapeMrkdwn(p.Display())
}

// declare opens an incident without a page.
func (w *txWork) declare(c Cmd) (*Incident, error) {
	title := strings.TrimSpace(c.Text)
	if title == "" {
		return nil, usageError("declare")
	}
	sev := cmp.Or(c.Severity, Sev3)
	n, err := w.NextIncidentNumber()
	if err != nil {
		return nil, err
	}
	actor := c.Actor
	inc := &Incident{
		ID: IncidentID(n), Number: n, Title: title, Severity: sev, Status: StatusTriggered,
		StatusAt: w.now, OpenedAt: w.now, RecordedAt: w.now, UpdatedAt: w.now, DeclaredBy: &actor,
		Roles: map[Role]Person{RoleCommander: actor}, Private: c.Private,
	}
	if c.Severity != "" {
		inc.SeveritySetBy = cmp.Or(actor.ID, actor.Name)
	}
	w.scheduleFrom(inc, inc.OpenedAt)
	if err := w.publish(inc); err != nil {
		return nil, err
	}
	if err := w.AppendEntry(inc.ID, &Entry{At: w.now, Kind: EntryDeclared, Actor: actor, Source: SourceSlack, Text: fmt.Sprintf("Declared by %s: %s (%s)", Ref(actor), title, sev)}); err != nil {
		return nil, err
	}
	if err := w.openChannel(inc); err != nil {
		return nil, err
	}
	if actor.ID != "" {
		if err := w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: actor.ID}); err != nil {
			return nil, err
		}
	}
	if c.ResponseURL != "" {
		// Rendered when the channel exists, to link it.
		if err := w.enqueue(&Job{Kind: JobRespond, IncidentID: inc.ID, Lane: laneChannel(inc.ID), ResponseURL: c.ResponseURL}); err != nil {
			return nil, err
		}
	}
	return inc, w.save(inc)
}

func declaredReply(inc *Incident) Reply {
	if inc.Private {
		// Told only to the person: a private incident's title stays out
		// of the channel the command was run in.
		return Reply{Text: fmt.Sprintf("Declared %s (%s, private): %s. You are the incident commander; its private channel is being opened. It is never announced or shown on a status page.", inc.ID, inc.Severity, EscapeMrkdwn(inc.Title))}
	}
	return Reply{Text: fmt.Sprintf("Declared %s (%s): %s. You are the incident commander; the channel is being opened.", inc.ID, inc.Severity, EscapeMrkdwn(inc.Title)), InChannel: true}
}

func (s *Service) list(ctx context.Context) (Reply, error) {
	var incs []*Incident
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		incs, err = tx.OpenIncidents()
		return err
	})
	if err != nil {
		return Reply{}, err
	}
	if len(incs) == 0 {
		return Reply{Text: "No open incidents."}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Open incidents (%d)*\n", len(incs))
	const most = 50
	if len(incs) > most {
		fmt.Fprintf(&b, "_The newest %d:_\n", most)
		incs = incs[:most]
	}
	for _, inc := range incs {
		ch := ""
		if inc.ChannelID != "" {
			ch = " <#" + inc.ChannelID + ">"
		}
		if inc.Private {
			// Its title stays in its channel.
			fmt.Fprintf(&b, "• *%s* 🔒 private incident · %s · opened %s%s\n", inc.ID, inc.Status, inc.OpenedAt.Format("2006-01-02 15:04 UTC"), ch)
			continue
		}
		fmt.Fprintf(&b, "• *%s* %s %s · %s · opened %s%s\n", inc.ID, strings.ToUpper(string(inc.Severity)), EscapeMrkdwn(inc.Title), inc.Status, inc.OpenedAt.Format("2006-01-02 15:04 UTC"), ch)
	}
	return Reply{Text: b.String()}, nil
}

func (s *Service) timeline(ctx context.Context, c Cmd) (Reply, error) {
	var inc *Incident
	var tl []Entry
	err := s.Store.View(ctx, func(tx Tx) error {
		w := &txWork{Tx: tx, s: s}
		var err error
		if inc, err = w.target(c); err != nil {
			return err
		}
		tl, err = tx.Timeline(inc.ID)
		return err
	})
	if err != nil {
		return Reply{}, err
	}
	tl = s.People.ResolveEntries(Current(tl))
	slices.SortStableFunc(tl, func(a, b Entry) int { return a.At.Compare(b.At) })
	var b strings.Builder
	fmt.Fprintf(&b, "*Timeline of %s: %s*\n", inc.ID, EscapeMrkdwn(inc.Title))
	const max = 60
	if len(tl) > max {
		fmt.Fprintf(&b, "_(the last %d of %d entries)_\n", max, len(tl))
		tl = tl[len(tl)-max:]
	}
	for _, e := range tl {
		fmt.Fprintf(&b, "`%s` %s · %s: %s\n", e.At.UTC().Format("01-02 15:04:05"), e.Kind, EscapeMrkdwn(e.Actor.Display()), EscapeMrkdwn(e.Text))
	}
	return Reply{Text: b.String()}, nil
}

// Notify queues a private answer to a person through a response_url (a
// button's outcome that the channel does not show). The answer to a
// button of an incident the database does not know (an old message after
// a restore) is not tied to that incident: nothing is waited for.
func (s *Service) Notify(ctx context.Context, incidentID, responseURL, text string) error {
	return s.update(ctx, func(w *txWork) error {
		j := &Job{Kind: JobRespond, Lane: "respond", ResponseURL: responseURL, Message: &Message{Text: text}}
		switch _, err := w.Incident(incidentID); {
		case err == nil:
			j.IncidentID, j.Lane = incidentID, incidentID+"/respond"
		case ErrorCode(err) != ENOTFOUND:
			return err
		}
		return w.enqueue(j)
	})
}
