package incidentbot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Jobs gives outbox jobs their meaning: how each kind is performed through
// Chat, Pager and the publishers, what its result changes on the incident,
// and what a permanent failure means for the incident. The outbox runner
// (internal/outbox) decides when a job runs and when a failure is
// permanent; every change Jobs records goes through the lifecycle's
// transaction path, like a webhook's or a command's.
type Jobs struct {
	Service *Service
	Chat    Chat
	// Pager is PagerDuty's REST API; nil when no API token is configured.
	Pager Pager
	// PagerFrom is the e-mail PagerDuty actions are made as when the acting
	// Slack user's e-mail is unknown to PagerDuty (PAGERDUTY_FROM).
	PagerFrom string
	// Exporter writes postmortem drafts to files; nil writes none.
	Exporter Exporter
	// Statuspage and Site are the public publishers; nil when off.
	Statuspage IncidentPublisher
	Site       SitePublisher
	// Trackers are the issue trackers by name (Service.Trackers names the
	// ones in use).
	Trackers map[string]Tracker
	// Lanes tells whether a later job of the same kind waits in a job's lane
	// (the runner knows); nil means never.
	Lanes interface{ LaterInLane(j *Job) bool }

	mu        sync.Mutex
	botUser   string
	botAsking bool // an auth.test is in flight
}

// unlistedAsks is how many times a create_channel job asks again about a
// name that is taken but not listed before it tries the next one.
const unlistedAsks = 3

// channelWait is how long a job that needs the incident channel waits
// before looking again (not an attempt).
const channelWait = 250 * time.Millisecond

// Pending returns the stored jobs with an ID above after, in ID order.
func (js *Jobs) Pending(ctx context.Context, after uint64) ([]*Job, error) {
	var fresh []*Job
	err := js.Service.Store.View(ctx, func(tx Tx) error {
		fresh = fresh[:0]
		return tx.Jobs(after, func(j *Job) bool {
			fresh = append(fresh, j)
			return true
		})
	})
	return fresh, err
}

// Perform makes a job's call and records it done, with what its result
// changes, in one transaction. A job that needs the incident channel while
// it does not exist yet is deferred (ETHROTTLED), or fails when creating the
// channel failed for good.
func (js *Jobs) Perform(ctx context.Context, j *Job) error {
	s := js.Service
	var inc *Incident
	if j.IncidentID != "" {
		err := s.Store.View(ctx, func(tx Tx) error {
			var err error
			inc, err = tx.Incident(j.IncidentID)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				s.logger().Error("outbox: reading incident failed", "incident", j.IncidentID, "job", j.ID, "err", err)
			}
			return err
		}
	}
	// Stakeholders hear of an incident whose channel failed: its
	// announcement, the thread's replies and its resolution need no channel.
	announcing := j.Kind == JobAnnounce || j.Kind == JobUpdateAnnouncement || j.Kind == JobAnnounceResolved
	if j.needsChannel() && inc != nil && inc.ChannelID == "" && !(announcing && inc.ChannelFailed) {
		if inc.ChannelFailed {
			return Errorf(EREJECTED, "the incident channel could not be created")
		}
		// The channel job of this incident has not succeeded yet: wait for
		// it without counting an attempt.
		return &Error{Code: ETHROTTLED, Message: "waiting for the incident channel", RetryAfter: channelWait}
	}
	if shows[j.Kind] {
		inc = js.named(ctx, j, inc)
	}
	effect, err := js.perform(ctx, j, inc)
	if err != nil {
		return err
	}
	// Bookkeeping must land even when shutdown cancels ctx: a call that
	// succeeded and was not recorded would be made again.
	err = s.update(context.WithoutCancel(ctx), func(w *txWork) error {
		if effect != nil {
			if err := effect(w); err != nil {
				return err
			}
		}
		return w.DeleteJob(j.ID)
	})
	if err != nil {
		s.logger().Error("outbox: recording a finished job failed; it will run again", "incident", j.IncidentID, "job", j.ID, "kind", j.Kind, "err", err)
	}
	return err
}

// Retry stores a failed attempt (attempts, next attempt, last error).
func (js *Jobs) Retry(ctx context.Context, j *Job) error {
	return js.Service.update(ctx, func(w *txWork) error { return w.PutJob(j) })
}

// Fail turns a job into a dead letter and records what that means: the
// problem on its incident, with a notice in its channel, and the state
// that waited for the job (a fetch, a digest, an echo, the channel).
func (js *Jobs) Fail(ctx context.Context, j *Job, cause error) error {
	return js.Service.update(ctx, func(w *txWork) error { return w.jobFailed(j, cause) })
}

func (w *txWork) jobFailed(j *Job, cause error) error {
	now := w.now
	msg := describeJob(j) + ": " + ErrorMessage(cause)
	dl := *j
	dl.FailedAt = &now
	dl.LastError = ErrorMessage(cause)
	if err := w.PutDeadLetter(&dl); err != nil {
		return err
	}
	if err := w.DeleteJob(j.ID); err != nil {
		return err
	}
	switch j.Kind {
	case JobFetchIncident:
		// A later event for this incident may try again.
		if err := w.ForgetDelivery(fetchKey(j.PagerID)); err != nil {
			return err
		}
	case JobAnnounceDigest:
		// The next storm page starts a new digest, which lists the
		// incidents this one could not announce. Until then they have no
		// stakeholder thread (their replies are dropped): each says why.
		if err := w.ForgetDelivery(digestKey); err != nil {
			return err
		}
		waiting, err := w.StormIncidents()
		if err != nil {
			return err
		}
		for _, inc := range waiting {
			if err := w.change(inc.ID, func(inc *Incident) error {
				inc.Problems = append(inc.Problems, Problem{At: now, Job: j.Kind, Message: msg})
				return nil
			}); err != nil {
				return err
			}
		}
	case JobLookupPerson:
		// A later request with this ID may queue the lookup again.
		if err := w.ForgetDelivery(lookupKey(j.PersonID)); err != nil {
			return err
		}
	}
	if j.IncidentID == "" {
		return nil
	}
	err := w.change(j.IncidentID, func(inc *Incident) error {
		inc.Problems = append(inc.Problems, Problem{At: now, Job: j.Kind, Message: msg})
		if i := pendingEcho(inc, j); i >= 0 {
			// PagerDuty never took the action: nothing will echo it.
			inc.Echoes = slices.Delete(inc.Echoes, i, i+1)
		}
		if j.Kind == JobCreateChannel {
			inc.ChannelFailed = true
		}
		if inc.ChannelID == "" || j.Notice {
			return nil
		}
		return w.enqueue(&Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Notice: true,
			Message: &Message{Text: "⚠️ Problem: " + EscapeMrkdwn(msg), Body: "⚠️ *Problem:* " + EscapeMrkdwn(msg)}})
	})
	if ErrorCode(err) == ENOTFOUND {
		// The incident is gone (a database restored from an older
		// backup): the dead letter alone tells of the failure.
		return nil
	}
	return err
}

func describeJob(j *Job) string {
	switch j.Kind {
	case JobCreateChannel:
		return "could not create channel #" + j.ChannelName
	case JobSetTopic:
		return "could not set the channel topic"
	case JobInvite:
		if j.Invitee != nil {
			return "could not invite " + j.Invitee.Display()
		}
		return "could not invite a responder"
	case JobPost:
		return "could not post to the incident channel"
	case JobAnnounce:
		return "could not announce the incident in " + j.Channel
	case JobFetchIncident:
		return "could not fetch PagerDuty incident " + j.PagerID
	case JobUpdateAnnouncement:
		return "could not update the announcement"
	case JobRespond:
		return "could not answer the slash command"
	case JobFetchMessage:
		return "could not read the pinned message"
	case JobPagerAck:
		return "could not acknowledge in PagerDuty"
	case JobPagerResolve:
		return "could not resolve in PagerDuty"
	case JobPagerNote:
		return "could not add the note to PagerDuty"
	case JobPostmortem:
		return "could not write or post the postmortem draft"
	case JobPublishStatuspage:
		return "could not update Statuspage"
	case JobPublishSite:
		return "could not write the status site"
	case JobKickoff:
		return "could not post or update the kickoff message"
	case JobPin:
		return "could not pin the kickoff message"
	case JobAnnounceResolved:
		return "could not tell the stakeholders of the resolution"
	case JobLookupPerson:
		return "could not look up user " + j.PersonID
	case JobRenameChannel:
		return "could not rename the channel to #" + j.ChannelName
	case JobPage:
		return "could not page responders through PagerDuty"
	case JobAnnounceDigest:
		return "could not post the alert storm digest in " + j.Channel
	case JobTrackerCreate:
		return fmt.Sprintf("could not create the %s issue of action item %d", TrackerTitle(j.Tracker), j.N)
	case JobTrackerClose:
		return fmt.Sprintf("could not mark the %s issue of action item %d done", TrackerTitle(j.Tracker), j.N)
	case JobFollowups:
		return "could not post the overdue action items in " + j.Channel
	}
	return "job " + string(j.Kind) + " failed"
}

// effect is what a job's result changes, applied in the transaction that
// removes the job.
type effect func(w *txWork) error

// perform makes the job's remote call and returns what to record about it.
func (js *Jobs) perform(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	s := js.Service
	switch j.Kind {
	case JobCreateChannel:
		return js.createChannel(ctx, j, inc)
	case JobSetTopic:
		if js.laterInLane(j) {
			return nil, nil // a later job sets the newer topic
		}
		return nil, js.Chat.SetTopic(ctx, inc.ChannelID, inc.Topic())
	case JobKickoff:
		if inc.Kickoff != nil {
			if js.laterInLane(j) {
				return nil, nil // a later job shows the newer state
			}
			return nil, js.Chat.Update(ctx, *inc.Kickoff, *kickoffMessage(inc))
		}
		// The first post is never skipped: it comes before the channel's
		// other posts, and shows the state as it is now.
		msg := *kickoffMessage(inc)
		posted, err := js.post(ctx, inc.ChannelID, msg)
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error { return w.kickoffPosted(inc.ID, posted) }, nil
	case JobPin:
		return nil, js.Chat.Pin(ctx, j.Channel, j.TS)
	case JobInvite:
		uid, err := js.invite(ctx, j, inc)
		if err != nil || uid == "" {
			return nil, err
		}
		return func(w *txWork) error { return w.invited(inc.ID, uid) }, nil
	case JobPost:
		_, err := js.post(ctx, inc.ChannelID, *j.Message)
		return nil, err
	case JobAnnounce:
		if j.Message != nil { // a reply in the announcement's thread
			return nil, js.threadReply(ctx, inc, j.Channel, *j.Message)
		}
		posted, err := js.Chat.Post(ctx, j.Channel, *announceMessage(inc))
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error { return w.announced(inc.ID, posted) }, nil
	case JobAnnounceDigest:
		return js.announceDigest(ctx, j)
	case JobAnnounceResolved:
		if inc.Status != StatusResolved {
			return nil, nil // reopened meanwhile: its reply says so
		}
		if inc.PostmortemPosted == nil && !postmortemFailed(inc) && s.now().Sub(j.CreatedAt) < postmortemWait {
			// The draft is on its way: wait to link it.
			return nil, &Error{Code: ETHROTTLED, Message: "waiting for the postmortem draft", RetryAfter: channelWait}
		}
		return nil, js.threadReply(ctx, inc, j.Channel, *resolvedMessage(inc))
	case JobUpdateAnnouncement:
		if inc.Announcement == nil || inc.Announcement.Digest {
			return nil, nil // never announced (it failed and was reported)
		}
		return nil, js.Chat.Update(ctx, *inc.Announcement, *announceMessage(inc))
	case JobRespond:
		if j.Message != nil {
			return nil, js.Chat.Respond(ctx, j.ResponseURL, js.Service.People.ResolveMessage(*j.Message))
		}
		return nil, js.Chat.Respond(ctx, j.ResponseURL, Message{Text: fmt.Sprintf("%s is open: join <#%s>.", inc.ID, inc.ChannelID)})
	case JobFetchMessage:
		m, err := js.Chat.Message(ctx, j.Channel, j.TS)
		if err != nil {
			return nil, err
		}
		var by Person
		if j.Invitee != nil {
			by = *j.Invitee
		}
		return func(w *txWork) error { _, err := w.recordPin(m, by); return err }, nil
	case JobPagerAck, JobPagerResolve, JobPagerNote:
		if err := js.pagerAction(ctx, j); err != nil {
			return nil, err
		}
		return func(w *txWork) error { return w.echoSent(j) }, nil
	case JobPostmortem:
		return js.postmortem(ctx, inc)
	case JobPublishStatuspage:
		return js.publishStatuspage(ctx, inc)
	case JobPublishSite:
		if js.Site == nil || js.laterInLane(j) {
			return nil, nil // a later job renders the newer state
		}
		now := s.now()
		incs, err := s.PublicIncidents(ctx, now.AddDate(0, 0, -90))
		if err != nil {
			return nil, err
		}
		return nil, js.Site.PublishSite(ctx, incs, now)
	case JobRenameChannel:
		return js.renameChannel(ctx, j, inc)
	case JobPage:
		return js.page(ctx, j, inc)
	case JobLookupPerson:
		ps, err := js.lookup(ctx, j.PersonID)
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error {
			if err := w.remember(ps); err != nil {
				return err
			}
			return w.ForgetDelivery(lookupKey(j.PersonID))
		}, nil
	case JobTrackerCreate:
		return js.trackerCreate(ctx, j, inc)
	case JobTrackerClose:
		return js.trackerClose(ctx, j, inc)
	case JobFollowups:
		return nil, js.postFollowups(ctx, j)
	case JobFetchIncident:
		if js.Pager == nil {
			return nil, Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set; the event waits for one that carries the incident")
		}
		pi, err := js.Pager.Incident(ctx, j.PagerID)
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error {
			// The marker goes first: on PostgreSQL an event kept pending
			// meanwhile holds it (it read it, and queued no fetch), so the
			// delete waits for that event's commit, and the pending events
			// taken after it include that event.
			if err := w.ForgetDelivery(fetchKey(j.PagerID)); err != nil {
				return err
			}
			_, err := w.openFromPagerDuty(pi)
			return err
		}, nil
	}
	return nil, Errorf(EREJECTED, "unknown job kind %q", j.Kind)
}

// threadReply posts a reply in the incident's stakeholder thread: the
// thread the message names, else the announcement's (or the storm
// digest's, waited for while one is pending). An incident whose
// announcement or digest failed for good has no thread: the failure was
// reported, the reply is dropped.
func (js *Jobs) threadReply(ctx context.Context, inc *Incident, channel string, msg Message) error {
	if msg.ThreadTS == "" {
		switch {
		case inc.Announcement != nil:
			msg.ThreadTS = inc.Announcement.TS
		case inc.InDigest:
			var pending bool
			if err := js.Service.Store.View(ctx, func(tx Tx) error {
				var err error
				pending, err = tx.SeenDelivery(digestKey)
				return err
			}); err != nil {
				return err
			}
			if !pending {
				// Its digest failed for good (reported on the incident)
				// and no later one is on its way: no thread to reply in.
				return nil
			}
			return &Error{Code: ETHROTTLED, Message: "waiting for the storm digest", RetryAfter: channelWait}
		default:
			return nil
		}
	}
	if inc.Announcement != nil {
		channel = inc.Announcement.Channel
	}
	_, err := js.post(ctx, channel, msg)
	return err
}

// postmortemFailed reports whether drafting the postmortem failed for good.
func postmortemFailed(inc *Incident) bool {
	return slices.ContainsFunc(inc.Problems, func(p Problem) bool { return p.Job == JobPostmortem })
}

// shows are the jobs that show people to people: their incident's and
// message's people are named through the directory when they run.
var shows = map[JobKind]bool{JobPost: true, JobAnnounce: true, JobKickoff: true, JobSetTopic: true, JobAnnounceResolved: true, JobRespond: true}

// named returns the incident with its people's directory names, after
// looking up the IDs it and the job's message name that the directory does
// not know yet (a job may ask Slack; a request may not).
func (js *Jobs) named(ctx context.Context, j *Job, inc *Incident) *Incident {
	people := js.Service.People
	if people == nil {
		return inc
	}
	var ids []string
	if inc != nil {
		ids = incidentIDs(inc)
	}
	if m := j.Message; m != nil {
		ids = append(ids, refIDs(m.Text, m.Header, m.Body, m.Context)...)
	}
	js.known(ctx, ids)
	return people.ResolveIncident(inc)
}

// post posts a message with the references in it resolved to names.
func (js *Jobs) post(ctx context.Context, channel string, msg Message) (Posted, error) {
	return js.Chat.Post(ctx, channel, js.Service.People.ResolveMessage(msg))
}

// laterInLane reports whether a later job of j's kind waits in its lane,
// so that j's work would be redone.
func (js *Jobs) laterInLane(j *Job) bool { return js.Lanes != nil && js.Lanes.LaterInLane(j) }

// invite adds a person to the incident channel and returns their Slack
// user ID; "" when they were invited before (the same request is not sent
// twice).
func (js *Jobs) invite(ctx context.Context, j *Job, inc *Incident) (string, error) {
	uid := j.SlackUser
	if uid == "" && IsSlackUserID(j.Invitee.ID) {
		uid = j.Invitee.ID // a PagerDuty user already known as this Slack user
	}
	if uid == "" {
		if js.Pager == nil {
			return "", Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so their e-mail cannot be looked up")
		}
		p, err := js.profile(ctx, j.Invitee.ID)
		switch {
		case err != nil:
			return "", err
		case p.Missing:
			return "", Errorf(EREJECTED, "PagerDuty has no user %s", j.Invitee.ID)
		case p.SlackID == "":
			return "", Errorf(EREJECTED, "users_not_found: no Slack user has their PagerDuty e-mail address")
		}
		uid = p.SlackID
	}
	if slices.Contains(inc.Invited, uid) {
		return "", nil
	}
	return uid, js.Chat.Invite(ctx, inc.ChannelID, uid)
}

// pagerAction acknowledges, resolves or annotates the PagerDuty incident
// as the acting Slack user (their e-mail from users.info), falling back to
// PagerFrom when PagerDuty does not know that e-mail.
func (js *Jobs) pagerAction(ctx context.Context, j *Job) error {
	if js.Pager == nil {
		return Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so PagerDuty was not updated")
	}
	var froms []string
	if j.SlackUser != "" {
		p, err := js.profile(ctx, j.SlackUser)
		if err != nil && (IsTransient(err) || ErrorCode(err) == ETHROTTLED) {
			return err
		}
		if p.Email != "" {
			froms = append(froms, p.Email)
		}
	}
	if js.PagerFrom != "" && (len(froms) == 0 || froms[0] != js.PagerFrom) {
		froms = append(froms, js.PagerFrom)
	}
	if len(froms) == 0 {
		return Errorf(EREJECTED, "no e-mail to act as in PagerDuty: set PAGERDUTY_FROM")
	}
	var err error
	for _, from := range froms {
		switch j.Kind {
		case JobPagerAck:
			err = js.Pager.SetStatus(ctx, from, j.PagerID, "acknowledged")
		case JobPagerResolve:
			err = js.Pager.SetStatus(ctx, from, j.PagerID, "resolved")
			if err != nil && strings.Contains(ErrorMessage(err), "Already Resolved") {
				err = nil
			}
		case JobPagerNote:
			err = js.Pager.AddNote(ctx, from, j.PagerID, j.Text)
		}
		if err == nil || IsTransient(err) {
			return err
		}
	}
	return err
}

// publishStatuspage sends the incident's public state to Statuspage and
// keeps Statuspage's incident ID.
func (js *Jobs) publishStatuspage(ctx context.Context, inc *Incident) (effect, error) {
	s := js.Service
	ref := inc.Publications["statuspage"]
	if js.Statuspage == nil || (!s.IsPublic(inc) && ref == "") {
		return nil, nil
	}
	pi, err := s.PublicIncident(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	newRef, err := js.Statuspage.Publish(ctx, pi, ref)
	if err != nil || newRef == ref {
		return nil, err
	}
	return func(w *txWork) error { return w.published(inc.ID, "statuspage", newRef) }, nil
}

// postmortem drafts the postmortem, writes its files and, when its content
// changed since the last one posted, uploads it to the incident channel
// (falling back to a message when the upload is refused).
func (js *Jobs) postmortem(ctx context.Context, inc *Incident) (effect, error) {
	s := js.Service
	p, err := s.Postmortem(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	md := p.Markdown()
	var where string
	if js.Exporter != nil {
		twin, err := p.JSON()
		if err != nil {
			return nil, err
		}
		if where, err = js.Exporter.Export(ctx, p.FileName(), PostmortemFiles{Markdown: md, JSON: twin, HTML: p.HTML()}); err != nil {
			return nil, err
		}
	}
	fp := p.Fingerprint()
	var permalink string
	if inc.PostmortemPosted != nil && inc.PostmortemPosted.Fingerprint == fp {
		return nil, nil // unchanged: the files are fresh, nothing to post
	}
	if inc.ChannelID != "" {
		// The comment names the files, never the server's paths.
		comment := fmt.Sprintf("📝 Draft postmortem of %s, from its timeline. Italic text marks what the bot could not know.", inc.ID)
		if where != "" {
			comment += fmt.Sprintf(" Saved as %s.md (with .json and .html) in the export directory.", p.FileName())
		}
		var err error
		permalink, err = js.Chat.Upload(ctx, inc.ChannelID, p.FileName()+".md", "Postmortem draft: "+CleanLine(inc.Title), md, comment)
		if err != nil && !IsTransient(err) {
			s.logger().Warn("postmortem upload refused; posting a message instead", "incident", inc.ID, "err", err)
			body := "*Draft postmortem of " + inc.ID + "*\n" + EscapeMrkdwn(p.WhatHappened)
			if where != "" {
				body += "\nSaved as `" + p.FileName() + ".md` (with `.json` and `.html`) in the export directory."
			}
			body += "\nAlso at `GET /api/incidents/" + inc.ID + "/postmortem.md` (`.json`, `.html`; admin token)."
			_, err = js.Chat.Post(ctx, inc.ChannelID, Message{Text: "Draft postmortem of " + inc.ID, Body: body})
		}
		if err != nil {
			return nil, err
		}
	}
	posted := PostedDraft{Fingerprint: fp, At: s.now(), File: where, Permalink: permalink}
	return func(w *txWork) error { return w.postmortemPosted(inc.ID, posted) }, nil
}

// createChannel creates the incident channel, or adopts the one an earlier
// attempt created before the bot could record it. Slack's name_taken alone
// proves nothing (archived channels keep their names, and anyone may have
// made one): a taken name is adopted only when the channel was created by
// this bot, is not archived, is not newer-than-possible for this job, and
// belongs to no other incident. Otherwise the next suffix is tried.
func (js *Jobs) createChannel(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	if inc.ChannelID != "" {
		return nil, nil
	}
	bot, err := js.botUserID(ctx)
	if err != nil {
		return nil, err
	}
	for suffix := 1; suffix <= 20; suffix++ {
		name := suffixed(j.ChannelName, suffix)
		ch, err := js.Chat.CreateChannel(ctx, name, inc.Private)
		if err != nil && ErrorMessage(err) == "name_taken" {
			found, ok, ferr := js.Chat.FindChannel(ctx, name, inc.Private)
			if ferr != nil {
				return nil, ferr
			}
			if !ok && j.Unlisted < unlistedAsks {
				// Taken, yet not listed: a private channel, or the listing lags
				// behind a channel just created (perhaps ours). Ask again before
				// moving to the next name. Counted on its own: the job's
				// attempts also count an outage's failures, after which a
				// channel of ours whose answer was lost would be skipped and a
				// -2 made.
				j.Unlisted++ // stored with the retry
				return nil, &Error{Code: ETRANSIENT, Message: "channel name " + name + " is taken but not listed yet"}
			}
			if !ok || found.Creator != bot || found.Archived || found.Created.Before(j.CreatedAt.Add(-2*time.Minute)) {
				continue
			}
			if owner, err := js.channelOwner(ctx, found.ID); err != nil {
				return nil, err
			} else if owner != "" && owner != inc.ID {
				continue
			}
			ch, err = found, nil
		}
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error { return w.channelCreated(inc.ID, ch) }, nil
	}
	return nil, Errorf(EREJECTED, "channel names %s to %s are all taken", j.ChannelName, suffixed(j.ChannelName, 20))
}

// renameChannel renames the incident channel after its title (prefix and
// number kept); a taken name is followed by the next suffix, -2 to -20,
// as when the channel was created.
func (js *Jobs) renameChannel(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	if js.laterInLane(j) {
		return nil, nil // a later rename names the newer title
	}
	for suffix := 1; suffix <= 20; suffix++ {
		name := suffixed(j.ChannelName, suffix)
		if name == inc.ChannelName {
			return nil, nil
		}
		ch, err := js.Chat.RenameChannel(ctx, inc.ChannelID, name)
		if ErrorMessage(err) == "name_taken" {
			continue
		}
		if err != nil {
			return nil, err
		}
		return func(w *txWork) error {
			return w.change(inc.ID, func(inc *Incident) error {
				inc.ChannelName = ch.Name
				return nil
			})
		}, nil
	}
	return nil, Errorf(EREJECTED, "channel names %s to %s are all taken", j.ChannelName, suffixed(j.ChannelName, 20))
}

// botUserID returns the bot's own Slack user ID, asked once (auth.test)
// and one call at a time: a job that finds the call in flight is deferred
// (not an attempt) instead of asking too. After a restart every create job
// used to ask at once until one succeeded, and in an outage each failure
// counted against its job; now one call fails for one job at a time.
func (js *Jobs) botUserID(ctx context.Context) (string, error) {
	js.mu.Lock()
	bot, asking := js.botUser, js.botAsking
	if bot == "" && !asking {
		js.botAsking = true
	}
	js.mu.Unlock()
	switch {
	case bot != "":
		return bot, nil
	case asking:
		return "", &Error{Code: ETHROTTLED, Message: "waiting for the bot's user ID (auth.test)", RetryAfter: channelWait}
	}
	id, err := js.Chat.BotUserID(ctx)
	js.mu.Lock()
	js.botAsking = false
	if err == nil {
		js.botUser = id
	}
	js.mu.Unlock()
	if err != nil {
		return "", err
	}
	return id, nil
}

// channelOwner returns the ID of the incident that has a channel, or "".
func (js *Jobs) channelOwner(ctx context.Context, channelID string) (string, error) {
	var owner string
	err := js.Service.Store.View(ctx, func(tx Tx) error {
		inc, err := tx.IncidentByChannel(channelID)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			owner = ""
			return nil
		case err != nil:
			return err
		}
		owner = inc.ID
		return nil
	})
	return owner, err
}

// suffixed returns name for n ≤ 1, else name cut to fit "-n" in 80 bytes.
func suffixed(name string, n int) string {
	if n <= 1 {
		return name
	}
	tail := fmt.Sprintf("-%d", n)
	if len(name)+len(tail) > maxChannelName {
		name = name[:maxChannelName-len(tail)]
	}
	return name + tail
}

// announceDigest posts one message for every storm incident not announced
// yet and records it as their announcement (replies go in its thread).
func (js *Jobs) announceDigest(ctx context.Context, j *Job) (effect, error) {
	var incs []*Incident
	err := js.Service.Store.View(ctx, func(tx Tx) error {
		var err error
		incs, err = tx.StormIncidents()
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return func(w *txWork) error { return w.ForgetDelivery(digestKey) }, nil
	}
	// Oldest first, at most digestMax per post; the rest go in the next
	// digest, queued by this one's completion.
	more := false
	if len(incs) > digestMax {
		incs, more = incs[len(incs)-digestMax:], true
	}
	posted, err := js.Chat.Post(ctx, j.Channel, digestMessage(incs))
	if err != nil {
		return nil, err
	}
	posted.Digest = true
	ids := make([]string, len(incs))
	for i, inc := range incs {
		ids[i] = inc.ID
	}
	return func(w *txWork) error { return w.digestPosted(j, ids, posted, more) }, nil
}
