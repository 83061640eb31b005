package incidentbot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Worker performs outbox jobs against Slack and PagerDuty. A job is
// removed only after its remote call succeeded (at-least-once); a
// transient failure is retried with backoff that honours Retry-After until
// the job is older than MaxAge, then it becomes a dead letter; a permanent
// failure becomes a dead letter at once. Both are recorded on the incident
// and shown in its channel. Jobs of one lane run in order, one at a time.
type Worker struct {
	Store   Store
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
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Concurrency is how many jobs run at once (8 when zero).
	Concurrency int
	// MaxAge is how long a transiently failing job is retried (24 h when zero).
	MaxAge time.Duration
	// Backoff returns the wait before retry n (n ≥ 1); nil means
	// exponential from 1 s to 5 min with jitter.
	Backoff func(n int) time.Duration
	// Observe, when set, is told the result of every attempt.
	Observe func(kind JobKind, result string, d time.Duration)
	Logger  *slog.Logger

	once      sync.Once
	wake      chan struct{}
	mu        sync.Mutex
	lanes     map[string][]*Job
	lastID    uint64
	deadCount int
	botUser   string
}

// Job results reported to Observe.
const (
	ResultDone     = "done"
	ResultRetry    = "retry"
	ResultDead     = "dead"
	ResultDeferred = "deferred"
)

// WorkerStats is a snapshot of the outbox.
type WorkerStats struct {
	Depth       int           // jobs waiting or running
	OldestAge   time.Duration // age of the oldest waiting job
	DeadLetters int           // dead letters recorded since start
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		w.lanes = map[string][]*Job{}
	})
}

// Wake tells the worker that new jobs were committed.
func (w *Worker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the outbox.
func (w *Worker) Stats() WorkerStats {
	w.init()
	w.mu.Lock()
	defer w.mu.Unlock()
	st := WorkerStats{DeadLetters: w.deadCount}
	var oldest time.Time
	for _, q := range w.lanes {
		st.Depth += len(q)
		if len(q) > 0 && (oldest.IsZero() || q[0].CreatedAt.Before(oldest)) {
			oldest = q[0].CreatedAt
		}
	}
	if !oldest.IsZero() {
		st.OldestAge = w.now().Sub(oldest)
	}
	return st
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (w *Worker) backoff(n int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(n)
	}
	d := time.Second << min(n-1, 9)
	d = min(d, 5*time.Minute)
	// ±20% jitter so retries of many jobs do not arrive together.
	return d - d/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

// load reads jobs committed since the last load.
func (w *Worker) load(ctx context.Context) error {
	var fresh []*Job
	err := w.Store.View(ctx, func(tx Tx) error {
		fresh = fresh[:0]
		return tx.Jobs(w.lastID, func(j *Job) bool {
			fresh = append(fresh, j)
			return true
		})
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range fresh {
		w.lanes[j.Lane] = append(w.lanes[j.Lane], j)
		w.lastID = max(w.lastID, j.ID)
	}
	return nil
}

type jobDone struct {
	job    *Job
	remove bool // done or dead: drop it from its lane
}

// Run performs jobs until ctx is done, then waits for the jobs in flight.
func (w *Worker) Run(ctx context.Context) error {
	w.init()
	limit := w.Concurrency
	if limit <= 0 {
		limit = 8
	}
	busy := map[string]bool{}
	done := make(chan jobDone, limit)
	running := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	needLoad := true
	for {
		if needLoad {
			if err := w.load(ctx); err != nil && ctx.Err() == nil {
				w.logger().Error("outbox: reading jobs failed", "err", err)
			}
			needLoad = false
		}
		now := w.now()
		// Look for new jobs at least every few seconds, whatever woke us.
		next := now.Add(5 * time.Second)
		w.mu.Lock()
		for lane, q := range w.lanes {
			if len(q) == 0 {
				delete(w.lanes, lane)
				continue
			}
			if busy[lane] || running >= limit {
				continue
			}
			j := q[0]
			if j.NextAt.After(now) {
				if j.NextAt.Before(next) {
					next = j.NextAt
				}
				continue
			}
			busy[lane] = true
			running++
			go func(j *Job) { done <- w.run(ctx, j) }(j)
		}
		w.mu.Unlock()
		if ctx.Err() != nil {
			for ; running > 0; running-- {
				<-done
			}
			return nil
		}
		timer.Reset(max(next.Sub(now), time.Millisecond))
		select {
		case <-ctx.Done():
		case <-w.wake:
			needLoad = true
		case <-timer.C:
			needLoad = true // also retries a load that failed
		case d := <-done:
			running--
			busy[d.job.Lane] = false
			if d.remove {
				w.mu.Lock()
				q := w.lanes[d.job.Lane]
				if len(q) > 0 && q[0].ID == d.job.ID {
					w.lanes[d.job.Lane] = q[1:]
				}
				w.mu.Unlock()
			}
		}
	}
}

// run attempts one job and records the outcome.
func (w *Worker) run(ctx context.Context, j *Job) jobDone {
	start := time.Now()
	log := w.logger().With("incident", j.IncidentID, "job", j.ID, "kind", j.Kind)
	var inc *Incident
	// Bookkeeping writes must land even when shutdown cancels ctx: a call
	// that succeeded and was not recorded would be made again.
	bg := context.WithoutCancel(ctx)
	if j.IncidentID != "" {
		err := w.Store.View(ctx, func(tx Tx) error {
			var err error
			inc, err = tx.Incident(j.IncidentID)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return jobDone{job: j}
			}
			log.Error("outbox: reading incident failed", "err", err)
			if ErrorCode(err) == ENOTFOUND || w.now().Sub(j.CreatedAt) > w.maxAge() {
				return w.dead(bg, j, err, start)
			}
			w.reschedule(bg, j, err, true)
			return jobDone{job: j}
		}
	}
	announcing := j.Kind == JobAnnounce || j.Kind == JobUpdateAnnouncement
	if j.needsChannel() && inc != nil && inc.ChannelID == "" && !(announcing && inc.ChannelFailed) {
		if inc.ChannelFailed {
			return w.dead(bg, j, Errorf(EREJECTED, "the incident channel could not be created"), start)
		}
		// The channel job of this incident has not succeeded yet: wait for
		// it without counting an attempt.
		j.NextAt = w.now().Add(250 * time.Millisecond)
		w.observe(j.Kind, ResultDeferred, start)
		return jobDone{job: j}
	}
	effect, err := w.perform(ctx, j, inc)
	if err == nil {
		err = w.Store.Update(bg, func(tx Tx) error {
			if effect != nil {
				if err := effect(tx); err != nil {
					return err
				}
			}
			return tx.DeleteJob(j.ID)
		})
		if err == nil {
			if effect != nil {
				w.Wake() // an effect may have queued work (a digest's sequel)
			}
			w.observe(j.Kind, ResultDone, start)
			return jobDone{job: j, remove: true}
		}
		log.Error("outbox: recording a finished job failed; it will run again", "err", err)
	}
	if ctx.Err() != nil {
		// Shutting down: the job stays as it was and runs after the restart.
		return jobDone{job: j}
	}
	if ErrorCode(err) == ETHROTTLED {
		// Held back to stay inside the rate budget: not an attempt.
		j.NextAt = w.now().Add(max(RetryAfter(err), 10*time.Millisecond))
		w.observe(j.Kind, ResultDeferred, start)
		return jobDone{job: j}
	}
	if !IsTransient(err) {
		log.Warn("outbox: job failed for good", "err", err)
		return w.dead(bg, j, err, start)
	}
	if w.now().Sub(j.CreatedAt) > w.maxAge() {
		log.Error("outbox: job kept failing past its maximum age; dead letter", "err", err, "attempts", j.Attempts+1)
		return w.dead(bg, j, &Error{Code: EREJECTED, Message: fmt.Sprintf("gave up after %d attempts over %s", j.Attempts+1, w.maxAge()), Err: err}, start)
	}
	log.Info("outbox: job failed; will retry", "err", err, "attempts", j.Attempts+1)
	w.reschedule(bg, j, err, true)
	w.observe(j.Kind, ResultRetry, start)
	return jobDone{job: j}
}

// dead turns a job into a dead letter. If that cannot be recorded the job
// stays in its lane and is tried again later.
func (w *Worker) dead(ctx context.Context, j *Job, cause error, start time.Time) jobDone {
	if err := w.fail(ctx, j, cause); err != nil {
		j.NextAt = w.now().Add(w.backoff(max(j.Attempts, 1)))
		return jobDone{job: j}
	}
	w.observe(j.Kind, ResultDead, start)
	return jobDone{job: j, remove: true}
}

func (w *Worker) observe(kind JobKind, result string, start time.Time) {
	if w.Observe != nil {
		w.Observe(kind, result, time.Since(start))
	}
}

func (w *Worker) maxAge() time.Duration {
	if w.MaxAge > 0 {
		return w.MaxAge
	}
	return 24 * time.Hour
}

// reschedule records a failed attempt and when to try next.
func (w *Worker) reschedule(ctx context.Context, j *Job, cause error, count bool) {
	if count {
		j.Attempts++
	}
	wait := w.backoff(max(j.Attempts, 1))
	if ra := RetryAfter(cause); ra > wait {
		wait = ra
	}
	j.NextAt = w.now().Add(wait)
	j.LastError = ErrorMessage(cause)
	cp := *j
	// Persisting the attempt count is what makes MaxAge and backoff survive
	// a restart; if it fails the job still retries, only sooner.
	if err := w.Store.Update(ctx, func(tx Tx) error { return tx.PutJob(&cp) }); err != nil && ctx.Err() == nil {
		w.logger().Error("outbox: recording a retry failed", "job", j.ID, "err", err)
	}
}

// fail turns a job into a dead letter and records the problem on its
// incident, with a notice in the channel.
func (w *Worker) fail(ctx context.Context, j *Job, cause error) error {
	now := w.now()
	msg := describeJob(j) + ": " + ErrorMessage(cause)
	err := w.Store.Update(ctx, func(tx Tx) error {
		dl := *j
		dl.FailedAt = &now
		dl.LastError = ErrorMessage(cause)
		if err := tx.PutDeadLetter(&dl); err != nil {
			return err
		}
		if err := tx.DeleteJob(j.ID); err != nil {
			return err
		}
		if j.Kind == JobFetchIncident {
			// A later event for this incident may try again.
			if err := tx.ForgetDelivery(fetchKey(j.PagerID)); err != nil {
				return err
			}
		}
		if j.Kind == JobAnnounceDigest {
			// The next storm page starts a new digest, which lists the
			// incidents this one could not announce.
			if err := tx.ForgetDelivery(digestKey); err != nil {
				return err
			}
		}
		if j.IncidentID == "" {
			return nil
		}
		inc, err := tx.Incident(j.IncidentID)
		if err != nil {
			return err
		}
		inc.Problems = append(inc.Problems, Problem{At: now, Job: j.Kind, Message: msg})
		if i := pendingEcho(inc, j); i >= 0 {
			// PagerDuty never took the action: nothing will echo it.
			inc.Echoes = slices.Delete(inc.Echoes, i, i+1)
		}
		if j.Kind == JobCreateChannel {
			inc.ChannelFailed = true
		}
		if inc.ChannelID != "" && !j.Notice {
			nj := &Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), CreatedAt: now, NextAt: now, Notice: true,
				Message: &Message{Text: "⚠️ Problem: " + EscapeMrkdwn(msg), Body: "⚠️ *Problem:* " + EscapeMrkdwn(msg)}}
			if err := tx.Enqueue(nj); err != nil {
				return err
			}
		}
		return tx.PutIncident(inc)
	})
	if err != nil {
		w.logger().Error("outbox: recording a dead letter failed", "job", j.ID, "err", err)
		return err
	}
	w.mu.Lock()
	w.deadCount++
	w.mu.Unlock()
	w.Wake()
	return nil
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
	case JobAnnounceDigest:
		return "could not post the alert storm digest in " + j.Channel
	}
	return "job " + string(j.Kind) + " failed"
}

// perform makes the job's remote call and returns what to record about it
// (applied in the transaction that removes the job).
func (w *Worker) perform(ctx context.Context, j *Job, inc *Incident) (func(Tx) error, error) {
	switch j.Kind {
	case JobCreateChannel:
		return w.createChannel(ctx, j, inc)
	case JobSetTopic:
		return nil, w.Chat.SetTopic(ctx, inc.ChannelID, inc.Topic())
	case JobInvite:
		return nil, w.invite(ctx, j, inc)
	case JobPost:
		_, err := w.Chat.Post(ctx, inc.ChannelID, *j.Message)
		return nil, err
	case JobAnnounce:
		if j.Message != nil { // a reply in the announcement's thread
			_, err := w.Chat.Post(ctx, j.Channel, *j.Message)
			return nil, err
		}
		posted, err := w.Chat.Post(ctx, j.Channel, *announceMessage(inc))
		if err != nil {
			return nil, err
		}
		return func(tx Tx) error {
			cur, err := tx.Incident(inc.ID)
			if err != nil {
				return err
			}
			cur.Announcement = &posted
			return tx.PutIncident(cur)
		}, nil
	case JobAnnounceDigest:
		return w.announceDigest(ctx, j)
	case JobUpdateAnnouncement:
		if inc.Announcement == nil || inc.Announcement.Digest {
			return nil, nil // never announced (it failed and was reported)
		}
		return nil, w.Chat.Update(ctx, *inc.Announcement, *announceMessage(inc))
	case JobRespond:
		if j.Message != nil {
			return nil, w.Chat.Respond(ctx, j.ResponseURL, *j.Message)
		}
		return nil, w.Chat.Respond(ctx, j.ResponseURL, Message{Text: fmt.Sprintf("%s is open: join <#%s>.", inc.ID, inc.ChannelID)})
	case JobFetchMessage:
		m, err := w.Chat.Message(ctx, j.Channel, j.TS)
		if err != nil {
			return nil, err
		}
		var by Person
		if j.Invitee != nil {
			by = *j.Invitee
		}
		_, err = w.Service.RecordPin(ctx, m, by)
		return nil, err
	case JobPagerAck, JobPagerResolve, JobPagerNote:
		if err := w.pagerAction(ctx, j); err != nil {
			return nil, err
		}
		return func(tx Tx) error {
			// PagerDuty took it: its echo is on the way.
			cur, err := tx.Incident(j.IncidentID)
			if err != nil {
				return err
			}
			if i := pendingEcho(cur, j); i >= 0 {
				cur.Echoes[i].Sent = true
				return tx.PutIncident(cur)
			}
			return nil
		}, nil
	case JobPostmortem:
		return w.postmortem(ctx, inc)
	case JobPublishStatuspage:
		return w.publishStatuspage(ctx, inc)
	case JobPublishSite:
		if w.Site == nil || w.laterInLane(j) {
			return nil, nil // a later job renders the newer state
		}
		incs, err := w.Service.PublicIncidents(ctx, w.now().AddDate(0, 0, -90))
		if err != nil {
			return nil, err
		}
		return nil, w.Site.PublishSite(ctx, incs, w.now())
	case JobFetchIncident:
		if w.Pager == nil {
			return nil, Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set; the event waits for one that carries the incident")
		}
		pi, err := w.Pager.Incident(ctx, j.PagerID)
		if err != nil {
			return nil, err
		}
		if _, err := w.Service.OpenFromPagerDuty(ctx, pi); err != nil {
			return nil, err
		}
		return func(tx Tx) error { return tx.ForgetDelivery(fetchKey(j.PagerID)) }, nil
	}
	return nil, Errorf(EREJECTED, "unknown job kind %q", j.Kind)
}

func (w *Worker) invite(ctx context.Context, j *Job, inc *Incident) error {
	if j.SlackUser != "" {
		return w.Chat.Invite(ctx, inc.ChannelID, j.SlackUser)
	}
	if w.Pager == nil {
		return Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so their e-mail cannot be looked up")
	}
	email, err := w.Pager.UserEmail(ctx, j.Invitee.ID)
	if err != nil {
		return err
	}
	uid, err := w.Chat.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	return w.Chat.Invite(ctx, inc.ChannelID, uid)
}

// pagerAction acknowledges, resolves or annotates the PagerDuty incident
// as the acting Slack user (their e-mail from users.info), falling back to
// PagerFrom when PagerDuty does not know that e-mail.
func (w *Worker) pagerAction(ctx context.Context, j *Job) error {
	if w.Pager == nil {
		return Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so PagerDuty was not updated")
	}
	var froms []string
	if j.SlackUser != "" {
		email, err := w.Chat.UserEmail(ctx, j.SlackUser)
		if err != nil && IsTransient(err) {
			return err
		}
		if email != "" {
			froms = append(froms, email)
		}
	}
	if w.PagerFrom != "" && (len(froms) == 0 || froms[0] != w.PagerFrom) {
		froms = append(froms, w.PagerFrom)
	}
	if len(froms) == 0 {
		return Errorf(EREJECTED, "no e-mail to act as in PagerDuty: set PAGERDUTY_FROM")
	}
	var err error
	for _, from := range froms {
		switch j.Kind {
		case JobPagerAck:
			err = w.Pager.SetStatus(ctx, from, j.PagerID, "acknowledged")
		case JobPagerResolve:
			err = w.Pager.SetStatus(ctx, from, j.PagerID, "resolved")
			if err != nil && strings.Contains(ErrorMessage(err), "Already Resolved") {
				err = nil
			}
		case JobPagerNote:
			err = w.Pager.AddNote(ctx, from, j.PagerID, j.Text)
		}
		if err == nil || IsTransient(err) {
			return err
		}
	}
	return err
}

// laterInLane reports whether a job of the same kind waits behind j.
func (w *Worker) laterInLane(j *Job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.lanes[j.Lane] {
		if o.ID > j.ID && o.Kind == j.Kind {
			return true
		}
	}
	return false
}

// publishStatuspage sends the incident's public state to Statuspage and
// keeps Statuspage's incident ID.
func (w *Worker) publishStatuspage(ctx context.Context, inc *Incident) (func(Tx) error, error) {
	ref := inc.Publications["statuspage"]
	if w.Statuspage == nil || (!w.Service.IsPublic(inc) && ref == "") {
		return nil, nil
	}
	pi, err := w.Service.PublicIncident(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	newRef, err := w.Statuspage.Publish(ctx, pi, ref)
	if err != nil || newRef == ref {
		return nil, err
	}
	return func(tx Tx) error {
		cur, err := tx.Incident(inc.ID)
		if err != nil {
			return err
		}
		if cur.Publications == nil {
			cur.Publications = map[string]string{}
		}
		cur.Publications["statuspage"] = newRef
		return tx.PutIncident(cur)
	}, nil
}

// postmortem drafts the postmortem, writes its files and, when its content
// changed since the last one posted, uploads it to the incident channel
// (falling back to a message when the upload is refused).
func (w *Worker) postmortem(ctx context.Context, inc *Incident) (func(Tx) error, error) {
	p, err := w.Service.Postmortem(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	md := p.Markdown()
	var where string
	if w.Exporter != nil {
		js, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return nil, err
		}
		if where, err = w.Exporter.Export(ctx, p.FileName(), md, js); err != nil {
			return nil, err
		}
	}
	fp := p.Fingerprint()
	if inc.PostmortemPosted != nil && inc.PostmortemPosted.Fingerprint == fp {
		return nil, nil // unchanged: the files are fresh, nothing to post
	}
	if inc.ChannelID != "" {
		comment := fmt.Sprintf("📝 Draft postmortem of %s, from its timeline. Italic text marks what the bot could not know.", inc.ID)
		if where != "" {
			comment += " Saved as " + where + "."
		}
		err := w.Chat.Upload(ctx, inc.ChannelID, p.FileName()+".md", "Postmortem draft: "+inc.Title, md, comment)
		if err != nil && !IsTransient(err) {
			w.logger().Warn("postmortem upload refused; posting a message instead", "incident", inc.ID, "err", err)
			body := "*Draft postmortem of " + inc.ID + "*\n" + EscapeMrkdwn(p.WhatHappened)
			if where != "" {
				body += "\nSaved as `" + where + "`."
			}
			body += "\nAlso at `GET /api/incidents/" + inc.ID + "/postmortem.md` (admin token)."
			_, err = w.Chat.Post(ctx, inc.ChannelID, Message{Text: "Draft postmortem of " + inc.ID, Body: body})
		}
		if err != nil {
			return nil, err
		}
	}
	now := w.now()
	return func(tx Tx) error {
		cur, err := tx.Incident(inc.ID)
		if err != nil {
			return err
		}
		cur.PostmortemPosted = &PostedDraft{Fingerprint: fp, At: now, File: where}
		return tx.PutIncident(cur)
	}, nil
}

// createChannel creates the incident channel, or adopts the one an earlier
// attempt created before the bot could record it. Slack's name_taken alone
// proves nothing (archived channels keep their names, and anyone may have
// made one): a taken name is adopted only when the channel was created by
// this bot, is not archived, is not newer-than-possible for this job, and
// belongs to no other incident. Otherwise the next suffix is tried.
func (w *Worker) createChannel(ctx context.Context, j *Job, inc *Incident) (func(Tx) error, error) {
	if inc.ChannelID != "" {
		return nil, nil
	}
	w.mu.Lock()
	bot := w.botUser
	w.mu.Unlock()
	if bot == "" {
		id, err := w.Chat.BotUserID(ctx)
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.botUser, bot = id, id
		w.mu.Unlock()
	}
	for suffix := 1; suffix <= 20; suffix++ {
		name := suffixed(j.ChannelName, suffix)
		ch, err := w.Chat.CreateChannel(ctx, name)
		if err != nil && ErrorMessage(err) == "name_taken" {
			found, ok, ferr := w.Chat.FindChannel(ctx, name)
			if ferr != nil {
				return nil, ferr
			}
			if !ok && j.Attempts < 3 {
				// Taken, yet not listed: a private channel, or the listing lags
				// behind a channel just created (perhaps ours). Ask again before
				// moving to the next name.
				return nil, &Error{Code: ETRANSIENT, Message: "channel name " + name + " is taken but not listed yet"}
			}
			if !ok || found.Creator != bot || found.Archived || found.Created.Before(j.CreatedAt.Add(-2*time.Minute)) {
				continue
			}
			if owner, err := w.channelOwner(ctx, found.ID); err != nil {
				return nil, err
			} else if owner != "" && owner != inc.ID {
				continue
			}
			ch, err = found, nil
		}
		if err != nil {
			return nil, err
		}
		return func(tx Tx) error {
			cur, err := tx.Incident(inc.ID)
			if err != nil {
				return err
			}
			cur.ChannelID, cur.ChannelName = ch.ID, ch.Name
			return tx.PutIncident(cur)
		}, nil
	}
	return nil, Errorf(EREJECTED, "channel names %s to %s are all taken", j.ChannelName, suffixed(j.ChannelName, 20))
}

// channelOwner returns the ID of the incident that has a channel, or "".
func (w *Worker) channelOwner(ctx context.Context, channelID string) (string, error) {
	var owner string
	err := w.Store.View(ctx, func(tx Tx) error {
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
