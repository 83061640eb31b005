package incidentbot

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The stakeholder channel (Service.AnnounceChannel) gets one announcement
// per incident, updated in place as status and severity change; status
// updates are replies in its thread. During an alert storm the
// announcements fold into digests.

// updateAnnouncement refreshes the stakeholder post in place.
func (w *txWork) updateAnnouncement(inc *Incident) error {
	if w.s.AnnounceChannel == "" || inc.InDigest || inc.Private {
		return nil
	}
	return w.enqueue(&Job{Kind: JobUpdateAnnouncement, IncidentID: inc.ID, Lane: laneAnnounce(inc.ID)})
}

// stakeholderChannel is the channel an incident's stakeholders follow it
// in: none for a private incident.
func (s *Service) stakeholderChannel(inc *Incident) string {
	if inc.Private {
		return ""
	}
	return s.AnnounceChannel
}

// threadReply queues a reply in the incident's stakeholder thread. The
// thread is found when the reply is posted (the announcement, or the storm
// digest, may not be posted yet); msg.Broadcast also shows it in the
// channel.
func (w *txWork) threadReply(inc *Incident, msg *Message) error {
	if w.s.AnnounceChannel == "" || inc.Private {
		return nil
	}
	return w.enqueue(&Job{Kind: JobAnnounce, IncidentID: inc.ID, Lane: laneAnnounce(inc.ID), Channel: w.s.AnnounceChannel, Message: msg})
}

// told is what the stakeholder thread should know of the incident now.
func told(inc *Incident) Told {
	t := Told{Severity: inc.Severity, Resolved: inc.Status == StatusResolved, Title: inc.Title}
	if c, ok := inc.Roles[RoleCommander]; ok {
		t.Commander = &c
	}
	return t
}

// tell keeps the stakeholder thread telling the whole story, whichever
// path changed the incident: a severity change (an escalation to a public
// severity is also shown in the channel), a new commander, a new title, a
// reopening, and the resolution (shown in the channel too, with its
// duration and the postmortem draft). An incident announced before the
// thread told this much starts being followed from its current state.
func (w *txWork) tell(inc *Incident) error {
	if w.s.AnnounceChannel == "" || inc.Private {
		return nil
	}
	now := told(inc)
	was := inc.Told
	inc.Told = &now
	if was == nil {
		return nil
	}
	if was.Severity != now.Severity && was.Severity != "" {
		verb, icon, broadcast := "downgraded", "⏬", false
		if severityRank(now.Severity) < severityRank(was.Severity) {
			verb, icon = "escalated", "⏫"
			broadcast = slices.Contains(w.s.PublicSeverities, now.Severity)
		}
		text := fmt.Sprintf("%s %s %s %s → %s", icon, inc.ID, verb, strings.ToUpper(string(was.Severity)), strings.ToUpper(string(now.Severity)))
		if err := w.threadReply(inc, &Message{Text: text, Broadcast: broadcast}); err != nil {
			return err
		}
	}
	if c := now.Commander; c != nil && (was.Commander == nil || was.Commander.ID != c.ID || (c.ID == "" && was.Commander.Name != c.Name)) {
		text := fmt.Sprintf("🧑‍🚒 %s commander: %s", inc.ID, EscapeMrkdwn(Ref(*c)))
		if was.Commander != nil {
			text += " (was " + EscapeMrkdwn(Ref(*was.Commander)) + ")"
		}
		if err := w.threadReply(inc, &Message{Text: text}); err != nil {
			return err
		}
	}
	if was.Title != now.Title && was.Title != "" {
		text := fmt.Sprintf("✏️ %s renamed: %s", inc.ID, EscapeMrkdwn(now.Title))
		if err := w.threadReply(inc, &Message{Text: text}); err != nil {
			return err
		}
	}
	switch {
	case now.Resolved && !was.Resolved:
		return w.enqueue(&Job{Kind: JobAnnounceResolved, IncidentID: inc.ID, Lane: laneAnnounce(inc.ID), Channel: w.s.AnnounceChannel})
	case was.Resolved && !now.Resolved:
		return w.threadReply(inc, &Message{Text: fmt.Sprintf("🔁 %s reopened (%s)", inc.ID, inc.Status), Broadcast: true})
	}
	return nil
}

// severityRank orders severities, sev1 (worst) first.
func severityRank(s Severity) int {
	if i := slices.Index(Severities, s); i >= 0 {
		return i
	}
	return len(Severities)
}

// postmortemWait is how long the resolution's reply in the stakeholder
// thread waits for the postmortem draft to link it.
const postmortemWait = 2 * time.Minute

// resolvedMessage is the stakeholder thread's last reply: the resolution,
// how long the incident lasted, the summary, and the postmortem draft.
func resolvedMessage(inc *Incident) *Message {
	text := "✅ " + inc.ID + " resolved"
	if r := inc.ResolvedAt; r != nil && !r.Before(inc.OpenedAt) {
		text += " after " + Human(r.Sub(inc.OpenedAt))
	}
	if inc.Summary != "" {
		text += ": " + EscapeMrkdwn(inc.Summary)
	}
	text += "."
	switch pm := inc.PostmortemPosted; {
	case pm != nil && pm.Permalink != "":
		text += " " + link(pm.Permalink, "Postmortem draft") + "."
	case inc.ChannelID != "":
		text += " The postmortem draft is in <#" + inc.ChannelID + ">."
	}
	return &Message{Text: text, Broadcast: true}
}

// announced records the incident's announcement (an announce job's result).
func (w *txWork) announced(incID string, posted Posted) error {
	return w.change(incID, func(inc *Incident) error {
		inc.Announcement = &posted
		return nil
	})
}

// announceMessage is the incident's post in the stakeholder channel.
func announceMessage(inc *Incident) *Message {
	return &Message{
		Text:    fmt.Sprintf("%s %s: %s", strings.ToUpper(string(inc.Severity)), inc.ID, EscapeMrkdwn(inc.Title)),
		Header:  fmt.Sprintf("%s %s: %s", strings.ToUpper(string(inc.Severity)), inc.ID, inc.Title),
		Fields:  incidentFields(inc),
		Context: channelRef(inc),
	}
}

// channelRef points people to the incident channel.
func channelRef(inc *Incident) string {
	if inc.ChannelID != "" {
		return "Incident channel: <#" + inc.ChannelID + ">"
	}
	return "The incident channel could not be created; follow " + inc.ID + " here."
}

// Alert storms: when more than DigestAfter incidents open within
// DigestWindow, their stakeholder announcements are folded into one digest
// post (per DigestCollect) instead of one post each.
const (
	defaultDigestAfter  = 5
	defaultDigestWindow = 10 * time.Minute
	// defaultDigestCollect is how long a digest waits to gather the storm's
	// pages.
	defaultDigestCollect = 15 * time.Second
)

func (s *Service) digestAfter() int {
	if s.DigestAfter > 0 {
		return s.DigestAfter
	}
	return defaultDigestAfter
}

func (s *Service) digestCollect() time.Duration {
	if s != nil && s.DigestCollect > 0 {
		return s.DigestCollect
	}
	return defaultDigestCollect
}

func (s *Service) digestWindow() time.Duration {
	if s.DigestWindow > 0 {
		return s.DigestWindow
	}
	return defaultDigestWindow
}

// announce enqueues the incident's stakeholder announcement, or, during a
// storm, makes sure a digest will include it.
func (w *txWork) announce(inc *Incident) error {
	if w.s.AnnounceChannel == "" || inc.Private {
		return nil
	}
	open, err := w.OpenIncidents()
	if err != nil {
		return err
	}
	recent := 0
	for _, o := range open {
		if o.ID != inc.ID && !o.RecordedAt.Before(w.now.Add(-w.s.digestWindow())) {
			recent++
		}
	}
	t := told(inc)
	inc.Told = &t
	if recent < w.s.digestAfter() {
		// Rendered when it runs, so it can link the channel.
		return w.enqueue(&Job{Kind: JobAnnounce, IncidentID: inc.ID, Lane: laneAnnounce(inc.ID), Channel: w.s.AnnounceChannel})
	}
	inc.InDigest = true
	// One digest job at a time; the job forgets the key when it ran, so
	// pages after it start the next digest.
	key := digestKey
	if seen, err := w.SeenDelivery(key); err != nil || seen {
		return err
	}
	if err := w.MarkDelivery(key, w.now); err != nil {
		return err
	}
	return w.enqueueAt(&Job{Kind: JobAnnounceDigest, Lane: "announce-digest", Channel: w.s.AnnounceChannel}, w.now.Add(w.s.digestCollect()))
}

const digestKey = "announce-digest:pending"

// digestMax is how many incidents one digest post lists (each line about
// 100 characters: well inside Slack's 50 blocks of 3000).
const digestMax = 100

// digestMessage lists a storm's incidents (newest first in incs), oldest
// first.
func digestMessage(incs []*Incident) Message {
	var b strings.Builder
	for i := len(incs) - 1; i >= 0; i-- { // oldest first
		inc := incs[i]
		ch := ""
		if inc.ChannelID != "" {
			ch = " <#" + inc.ChannelID + ">"
		}
		svc := ""
		if inc.Service != "" {
			svc = " · " + EscapeMrkdwn(inc.Service)
		}
		fmt.Fprintf(&b, "• *%s* %s %s%s%s\n", inc.ID, strings.ToUpper(string(inc.Severity)), EscapeMrkdwn(inc.Title), svc, ch)
	}
	return Message{
		Text:    fmt.Sprintf("Alert storm: %d incidents opened", len(incs)),
		Header:  fmt.Sprintf("🚨 Alert storm: %d new incidents", len(incs)),
		Body:    b.String(),
		Context: "Pages are arriving faster than one announcement each; this digest lists them. Updates go in this thread.",
	}
}

// digestPosted records a digest post as the announcement of the incidents
// it lists (a digest job's result) and queues the next digest while the
// storm goes on: at once when more incidents wait than one post lists,
// else after the collection window.
func (w *txWork) digestPosted(j *Job, ids []string, posted Posted, more bool) error {
	for _, id := range ids {
		if err := w.announced(id, posted); err != nil {
			return err
		}
	}
	// Pages that joined the storm while this digest was being posted
	// saw the key set and queued nothing: they go in the next digest. The
	// key goes before the storm's incidents are read: on PostgreSQL a page
	// that read the key holds it until it commits, so its incident is
	// among those read (and the key is set again for the next digest).
	if !more {
		if err := w.ForgetDelivery(digestKey); err != nil {
			return err
		}
		waiting, err := w.StormIncidents()
		if err != nil {
			return err
		}
		if len(waiting) == 0 {
			return nil
		}
		if err := w.MarkDelivery(digestKey, w.now); err != nil {
			return err
		}
	}
	at := w.now
	if !more {
		// The storm is still going: gather its pages again.
		at = w.now.Add(w.s.digestCollect())
	}
	return w.enqueueAt(&Job{Kind: JobAnnounceDigest, Lane: j.Lane, Channel: j.Channel}, at)
}
