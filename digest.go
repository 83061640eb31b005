package incidentbot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

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
	if w.s.AnnounceChannel == "" {
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
	j := &Job{Kind: JobAnnounceDigest, Lane: "announce-digest", Channel: w.s.AnnounceChannel}
	if err := w.enqueue(j); err != nil {
		return err
	}
	j.NextAt = w.now.Add(w.s.digestCollect())
	return w.PutJob(j)
}

const digestKey = "announce-digest:pending"

// digestMax is how many incidents one digest post lists (each line about
// 100 characters: well inside Slack's 50 blocks of 3000).
const digestMax = 100

// announceDigest posts one message for every storm incident not announced
// yet and records it as their announcement (replies go in its thread).
func (w *Worker) announceDigest(ctx context.Context, j *Job) (func(Tx) error, error) {
	var incs []*Incident
	err := w.Store.View(ctx, func(tx Tx) error {
		var err error
		incs, err = tx.Incidents(0, 0, func(i *Incident) bool { return i.InDigest && i.Announcement == nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return func(tx Tx) error { return tx.ForgetDelivery(digestKey) }, nil
	}
	// Oldest first, at most digestMax per post; the rest go in the next
	// digest, queued by this one's completion.
	more := false
	if len(incs) > digestMax {
		incs, more = incs[len(incs)-digestMax:], true
	}
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
	msg := Message{
		Text:    fmt.Sprintf("Alert storm: %d incidents opened", len(incs)),
		Header:  fmt.Sprintf("🚨 Alert storm: %d new incidents", len(incs)),
		Body:    b.String(),
		Context: "Pages are arriving faster than one announcement each; this digest lists them. Updates go in this thread.",
	}
	posted, err := w.Chat.Post(ctx, j.Channel, msg)
	if err != nil {
		return nil, err
	}
	posted.Digest = true
	return func(tx Tx) error {
		for _, inc := range incs {
			cur, err := tx.Incident(inc.ID)
			if err != nil {
				return err
			}
			p := posted
			cur.Announcement = &p
			if err := tx.PutIncident(cur); err != nil {
				return err
			}
		}
		// Pages that joined the storm while this digest was being posted
		// saw the key set and queued nothing: they go in the next digest.
		// (Open incidents only: this runs in the committer, and every page
		// already reads them there to count the storm.)
		if !more {
			open, err := tx.OpenIncidents()
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(open, func(i *Incident) bool { return i.InDigest && i.Announcement == nil }) {
				return tx.ForgetDelivery(digestKey)
			}
		}
		now := w.now()
		next := &Job{Kind: JobAnnounceDigest, Lane: j.Lane, Channel: j.Channel, CreatedAt: now}
		if err := tx.Enqueue(next); err != nil {
			return err
		}
		if more {
			next.NextAt = now
		} else {
			// The storm is still going: gather its pages again.
			next.NextAt = now.Add(w.Service.digestCollect())
		}
		return tx.PutJob(next)
	}, nil
}
