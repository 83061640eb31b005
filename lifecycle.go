package incidentbot

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// Service applies the incident lifecycle. Each public method is one store
// transaction that records the change, its timeline entries and the outbox
// jobs it causes together; no method calls Slack or PagerDuty.
//
// Every write to an incident, whatever its source (a PagerDuty event, a
// slash command, a Slack event, a job's result, reconciliation, the
// cadence, a digest), goes through update and txWork.save: this file is the
// one path by which incidents change.
type Service struct {
	Store Store
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// ChannelPrefix starts incident channel names ("inc" when empty).
	ChannelPrefix string
	// AnnounceChannel receives one announcement per incident ("" = none).
	AnnounceChannel string
	// Cadence is the status update cadence by severity (0 or absent: none).
	Cadence map[Severity]time.Duration
	// PublicSeverities are the severities public status pages show.
	PublicSeverities []Severity
	// Statuspage and Site say whether those public publishers are on.
	Statuspage, Site bool
	// DigestAfter and DigestWindow: when more than DigestAfter incidents
	// opened within DigestWindow, announcements fold into a digest (5 in
	// 10 min when zero).
	DigestAfter  int
	DigestWindow time.Duration
	// DigestCollect is how long a digest waits for more pages (15 s when 0).
	DigestCollect time.Duration
	// SLO is the availability objective in percent for postmortems (99.9
	// when zero).
	SLO float64
	// PagerSync mirrors ack, resolve and notes to PagerDuty (an API token
	// is configured).
	PagerSync bool
	// Trackers names the issue trackers action items are tracked in
	// (TrackerJira, TrackerGitHub); none when empty.
	Trackers []string
	// MayManage reports whether a Slack user may change severity, assign
	// roles and resolve; nil lets everyone.
	MayManage func(userID string) bool
	// People is the directory of people's names; nil shows people as
	// their records name them.
	People *People
	// Enqueued is called after a commit that added outbox jobs (nil = no-op):
	// the outbox runner's wake-up.
	Enqueued func()
	Logger   *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Service) slo() float64 {
	if s.SLO > 0 {
		return s.SLO
	}
	return 99.9
}

// update runs fn in a store transaction and wakes the outbox when fn
// enqueued jobs.
func (s *Service) update(ctx context.Context, fn func(w *txWork) error) error {
	var enqueued bool
	err := s.Store.Update(ctx, func(tx Tx) error {
		w := &txWork{Tx: tx, s: s, now: s.now()}
		if err := fn(w); err != nil {
			return err
		}
		enqueued = w.enqueued
		return nil
	})
	if err == nil && enqueued && s.Enqueued != nil {
		s.Enqueued()
	}
	return err
}

// txWork is one transaction's worth of lifecycle work.
type txWork struct {
	Tx
	s        *Service
	now      time.Time
	enqueued bool
	// posted marks the incidents whose channel this transaction posts to.
	posted map[string]bool
}

// save writes an incident: the only place incidents are put. What the
// kickoff message and the channel topic show follows every change.
func (w *txWork) save(inc *Incident) error {
	if err := w.follow(inc); err != nil {
		return err
	}
	if err := w.tell(inc); err != nil {
		return err
	}
	return w.PutIncident(inc)
}

// follow refreshes the kickoff message and the channel topic when what
// they show changed since they were last queued. An incident recorded
// before the kickoff was kept true (no state yet) starts being followed
// without a new kickoff post.
func (w *txWork) follow(inc *Incident) error {
	if inc.ChannelFailed {
		return nil
	}
	if st := kickoffState(inc); st != inc.KickoffState {
		was := inc.KickoffState
		inc.KickoffState = st
		if was != "" || inc.Kickoff != nil {
			if err := w.enqueue(&Job{Kind: JobKickoff, IncidentID: inc.ID, Lane: laneChannel(inc.ID)}); err != nil {
				return err
			}
		}
	}
	if st := topicState(inc); st != inc.TopicState {
		inc.TopicState = st
		return w.enqueue(&Job{Kind: JobSetTopic, IncidentID: inc.ID, Lane: laneChannel(inc.ID)})
	}
	return nil
}

// kickoffState fingerprints what the kickoff message shows.
func kickoffState(inc *Incident) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", inc.Title, inc.Status, inc.Severity, inc.Service)
	if c, ok := inc.Roles[RoleCommander]; ok {
		fmt.Fprintf(h, "c:%s/%s\x00", c.ID, c.Name)
	}
	for _, p := range inc.Assignees {
		fmt.Fprintf(h, "a:%s/%s\x00", p.ID, p.Name)
	}
	if pd := inc.PagerDuty; pd != nil {
		fmt.Fprintf(h, "pd:%d\x00%s\x00%s\x00%s\x00%s\x00%s\x00", pd.Number, pd.Title, pd.URL, pd.Urgency, pd.ConferenceURL, pd.ConferenceNumber)
	}
	if inc.ResolvedAt != nil {
		fmt.Fprintf(h, "r:%d\x00", inc.ResolvedAt.UnixNano())
	}
	if pm := inc.PostmortemPosted; pm != nil {
		fmt.Fprintf(h, "pm:%s\x00", pm.Permalink)
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// topicState fingerprints the channel topic.
func topicState(inc *Incident) string {
	h := fnv.New64a()
	h.Write([]byte(inc.Topic()))
	return strconv.FormatUint(h.Sum64(), 36)
}

// kickoffPosted records where the kickoff landed and pins it (a kickoff
// job's result).
func (w *txWork) kickoffPosted(incID string, at Posted) error {
	return w.change(incID, func(inc *Incident) error {
		inc.Kickoff = &at
		return w.enqueue(&Job{Kind: JobPin, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Channel: at.Channel, TS: at.TS})
	})
}

// change reads an incident, lets fn change it and saves it: how a job's
// result changes the incident it was for.
func (w *txWork) change(id string, fn func(inc *Incident) error) error {
	inc, err := w.Incident(id)
	if err != nil {
		return err
	}
	if err := fn(inc); err != nil {
		return err
	}
	return w.save(inc)
}

func (w *txWork) enqueue(j *Job) error {
	j.CreatedAt, j.NextAt = w.now, w.now
	w.enqueued = true
	if j.Kind == JobPost && j.IncidentID != "" && j.Lane == laneChannel(j.IncidentID) {
		if w.posted == nil {
			w.posted = map[string]bool{}
		}
		w.posted[j.IncidentID] = true
	}
	return w.Enqueue(j)
}

// enqueueAt is enqueue for a job that waits until at.
func (w *txWork) enqueueAt(j *Job, at time.Time) error {
	if err := w.enqueue(j); err != nil {
		return err
	}
	j.NextAt = at
	return w.PutJob(j)
}

// record appends an entry and enqueues its post to the channel.
func (w *txWork) record(inc *Incident, e Entry) error {
	_, err := w.recordSeq(inc, e)
	return err
}

// recordSeq is record, returning the entry's Seq.
func (w *txWork) recordSeq(inc *Incident, e Entry) (uint64, error) {
	if err := w.AppendEntry(inc.ID, &e); err != nil {
		return 0, err
	}
	inc.UpdatedAt = w.now
	return e.Seq, w.enqueue(&Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Message: entryMessage(inc, e)})
}

// invite enqueues an invitation of a PagerDuty user to the channel.
func (w *txWork) invite(inc *Incident, p Person) error {
	if p.ID == "" {
		return nil
	}
	return w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), Invitee: &p})
}

// invited records a Slack user invited to the incident channel (an invite
// job's result).
func (w *txWork) invited(incID, userID string) error {
	return w.change(incID, func(inc *Incident) error {
		if !slices.Contains(inc.Invited, userID) {
			inc.Invited = append(inc.Invited, userID)
		}
		return nil
	})
}

// openChannel enqueues the channel, its topic, the kickoff message and the
// announcement, in that order.
func (w *txWork) openChannel(inc *Incident) error {
	name := ChannelName(w.s.ChannelPrefix, inc.Number, inc.Title, 0)
	jobs := []*Job{
		{Kind: JobCreateChannel, Lane: laneChannel(inc.ID), ChannelName: name},
		{Kind: JobSetTopic, Lane: laneChannel(inc.ID)},
		{Kind: JobKickoff, Lane: laneChannel(inc.ID)},
	}
	inc.KickoffState, inc.TopicState = kickoffState(inc), topicState(inc)
	for _, j := range jobs {
		j.IncidentID = inc.ID
		if err := w.enqueue(j); err != nil {
			return err
		}
	}
	return w.announce(inc)
}

// channelCreated records the incident's channel (a create_channel job's
// result).
func (w *txWork) channelCreated(incID string, ch Channel) error {
	return w.change(incID, func(inc *Incident) error {
		inc.ChannelID, inc.ChannelName = ch.ID, ch.Name
		return nil
	})
}

// queuePostmortem drafts, exports and posts the postmortem through the
// outbox.
func (w *txWork) queuePostmortem(inc *Incident) error {
	// In the channel's lane: the draft follows the posts before it.
	return w.enqueue(&Job{Kind: JobPostmortem, IncidentID: inc.ID, Lane: laneChannel(inc.ID)})
}

// postmortemPosted records the draft last posted to the channel.
func (w *txWork) postmortemPosted(incID string, d PostedDraft) error {
	return w.change(incID, func(inc *Incident) error {
		inc.PostmortemPosted = &d
		return nil
	})
}

// LookupIncident finds an incident by the bot's ID ("INC-12") or its
// PagerDuty incident ID.
func LookupIncident(tx Tx, id string) (*Incident, error) {
	if _, ok := ParseIncidentID(id); ok {
		return tx.Incident(id)
	}
	inc, err := tx.IncidentByPagerDutyID(id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "no incident %q", id)
	}
	return inc, err
}
