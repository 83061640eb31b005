package incidentbot

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Echoes: the bot mirrors ack, resolve and notes to PagerDuty, and
// PagerDuty sends each back as a webhook. The incident keeps the echoes it
// expects, so that the one coming back applies its state rules but adds no
// second timeline entry. Reconciliation's stand-in events use the same
// bookkeeping: the real webhook behind a stand-in supersedes its entry.

// Echo is a PagerDuty event expected back for the bot's own action.
type Echo struct {
	Type  string    `json:"type"`
	Text  string    `json:"text,omitempty"`
	Until time.Time `json:"until"`
	// Sent is set when PagerDuty accepted the action, so the echo is on
	// its way; until then the action may still fail.
	Sent bool `json:"sent,omitempty"`
	// Supersede is the Seq of a stand-in entry (recorded when catching up
	// with PagerDuty's REST API) that the real event replaces, with its own
	// time and actor; 0 for echoes of the bot's own actions.
	Supersede uint64 `json:"supersede,omitempty"`
}

// pagerAction mirrors an action to PagerDuty and expects its echo.
func (w *txWork) pagerAction(inc *Incident, c Cmd, kind JobKind, text string) error {
	if inc.PagerDuty == nil || !w.s.PagerSync {
		return nil
	}
	// The incident is rewritten by every delivery and command: keep its
	// expected echoes few and small (a hash of a note, not the note).
	kept := inc.Echoes[:0]
	for _, e := range inc.Echoes {
		if !e.Until.Before(w.now) {
			kept = append(kept, e)
		}
	}
	if len(kept) >= maxEchoes {
		kept = kept[len(kept)-maxEchoes+1:]
	}
	inc.Echoes = append(kept, Echo{Type: echoTypeOf(kind), Text: echoText(text), Until: w.now.Add(echoTTL)})
	actor := c.Actor
	return w.enqueue(&Job{Kind: kind, IncidentID: inc.ID, Lane: lanePagerDuty(inc.ID), PagerID: inc.PagerDuty.ID, SlackUser: actor.ID, Text: text})
}

// maxEchoes bounds the echoes an incident waits for.
const maxEchoes = 32

// echoTTL is how long an echo is waited for: the outbox retries the
// PagerDuty call for up to a day, and PagerDuty stamps the event with when
// it finally took the action.
const echoTTL = 25 * time.Hour

// echoTypeOf is the PagerDuty event a PagerDuty job causes ("" for other
// jobs).
func echoTypeOf(kind JobKind) string {
	switch kind {
	case JobPagerAck:
		return EventAcknowledged
	case JobPagerResolve:
		return EventResolved
	case JobPagerNote:
		return EventAnnotated
	}
	return ""
}

// pendingEcho returns the index of the unsent echo a PagerDuty job is
// expected to cause, or -1.
func pendingEcho(inc *Incident, j *Job) int {
	typ := echoTypeOf(j.Kind)
	if typ == "" {
		return -1
	}
	for i, e := range inc.Echoes {
		if !e.Sent && e.Supersede == 0 && e.Type == typ && e.Text == echoText(j.Text) {
			return i
		}
	}
	return -1
}

// echoText identifies a note's text in an echo: a short hash ("" stays "").
func echoText(s string) string {
	if s == "" {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(strings.TrimSpace(s)))
	return strconv.FormatUint(h.Sum64(), 36)
}

// takeEcho returns the expected echo ev matches (and forgets it, and the
// expired ones), or nil.
func takeEcho(inc *Incident, ev PagerEvent) *Echo {
	var found *Echo
	kept := inc.Echoes[:0]
	for _, e := range inc.Echoes {
		switch {
		case found == nil && e.Type == ev.Type && (e.Text == "" || e.Text == echoText(ev.Text)):
			found = &e
		case ev.OccurredAt.After(e.Until):
		default:
			kept = append(kept, e)
		}
	}
	inc.Echoes = kept
	return found
}

// echoSent marks the echo of a PagerDuty job as on its way: PagerDuty took
// the action (the job's result).
func (w *txWork) echoSent(j *Job) error {
	inc, err := w.Incident(j.IncidentID)
	if err != nil {
		return err
	}
	i := pendingEcho(inc, j)
	if i < 0 {
		return nil
	}
	inc.Echoes[i].Sent = true
	return w.save(inc)
}
