package incidentbot

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// SlackEvent is an Events API event the lifecycle acts on.
type SlackEvent struct {
	// Kind is "pin" (pin_added, Message set), "reaction" (a 📌 reaction:
	// only Channel and TS known), "edit" (message_changed, Message set with
	// the new text) or "delete" (message_deleted).
	Kind    string
	Channel string
	TS      string
	Message *SlackMessage
	By      Person
}

// TimeOfTS converts a Slack message timestamp ("1700000000.000100") to a
// time; ok is false when it is not one.
func TimeOfTS(ts string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}, false
	}
	var us int64
	if frac != "" {
		frac = (frac + "000000")[:6]
		if us, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, false
		}
	}
	return time.Unix(s, us*1000).UTC(), true
}

// IngestSlackEvent records a pin, an edit or a deletion of a pinned
// message, deduplicated on Slack's event_id (Slack retries) and, for pins,
// on the message (a pin and a 📌 reaction add one entry). Events outside
// incident channels are ignored.
func (s *Service) IngestSlackEvent(ctx context.Context, eventID string, ev SlackEvent) (Outcome, error) {
	for _, id := range []struct{ what, v string }{{"event_id", eventID}, {"the channel", ev.Channel}, {"the message ts", ev.TS}} {
		if err := CheckID(id.what, id.v); err != nil {
			return "", err
		}
	}
	var out Outcome
	err := s.update(ctx, func(w *txWork) error {
		key := "slack-event:" + eventID
		if seen, err := w.SeenDelivery(key); err != nil || seen {
			out = OutcomeDuplicate
			return err
		}
		if err := w.MarkDelivery(key, w.now); err != nil {
			return err
		}
		inc, err := w.IncidentByChannel(ev.Channel)
		if ErrorCode(err) == ENOTFOUND {
			out = OutcomeIgnored
			return nil
		} else if err != nil {
			return err
		}
		o, err := w.slackEvent(inc, eventID, ev)
		out = o
		if err != nil || o != OutcomeApplied {
			return err
		}
		return w.save(inc)
	})
	return out, err
}

// RecordPin adds a pinned message to its incident's timeline unless it is
// there already. The outbox calls it after fetching a message pinned with
// a reaction (the fetch job records it itself, with its deletion).
func (s *Service) RecordPin(ctx context.Context, m SlackMessage, by Person) (Outcome, error) {
	var out Outcome
	err := s.update(ctx, func(w *txWork) error {
		var err error
		out, err = w.recordPin(m, by)
		return err
	})
	return out, err
}

func (w *txWork) recordPin(m SlackMessage, by Person) (Outcome, error) {
	inc, err := w.IncidentByChannel(m.Channel)
	if ErrorCode(err) == ENOTFOUND {
		return OutcomeIgnored, nil
	} else if err != nil {
		return "", err
	}
	o, err := w.pin(inc, m, by)
	if err != nil || o != OutcomeApplied {
		return o, err
	}
	return o, w.save(inc)
}

func (w *txWork) slackEvent(inc *Incident, eventID string, ev SlackEvent) (Outcome, error) {
	switch ev.Kind {
	case "pin":
		return w.pin(inc, *ev.Message, ev.By)
	case "reaction":
		if seen, err := w.SeenDelivery(pinKey(ev.Channel, ev.TS)); err != nil || seen {
			return OutcomeDuplicate, err
		}
		by := ev.By
		return OutcomeApplied, w.enqueue(&Job{Kind: JobFetchMessage, IncidentID: inc.ID, Lane: laneChannel(inc.ID) + "/pins", Channel: ev.Channel, TS: ev.TS, EventID: eventID, Invitee: &by})
	case "edit", "delete":
		prev, err := w.pinned(inc, ev.TS)
		if err != nil || prev == nil {
			return OutcomeIgnored, err
		}
		// Slack also sends message_changed when only an unfurl or a
		// reaction count changed: same text, nothing to record.
		if ev.Kind == "edit" && prev.Text == ev.Message.Text {
			return OutcomeIgnored, nil
		}
		e := Entry{At: prev.At, Actor: prev.Actor, Source: SourceSlack, Ref: prev.Ref, Permalink: prev.Permalink, Supersedes: prev.Seq}
		if ev.Kind == "edit" {
			e.Kind, e.Text = EntryPinned, ev.Message.Text
		} else {
			e.Kind, e.Text = EntryRetracted, "Pinned message deleted: "+prev.Text
		}
		return OutcomeApplied, w.AppendEntry(inc.ID, &e)
	}
	return OutcomeIgnored, nil
}

func pinKey(channel, ts string) string { return "slack-pin:" + channel + ":" + ts }

func (w *txWork) pin(inc *Incident, m SlackMessage, by Person) (Outcome, error) {
	if inc.Kickoff != nil && inc.Kickoff.TS == m.TS {
		// The bot pins its own kickoff message: not a timeline event.
		return OutcomeIgnored, nil
	}
	key := pinKey(m.Channel, m.TS)
	if seen, err := w.SeenDelivery(key); err != nil || seen {
		return OutcomeDuplicate, err
	}
	// The key is pruned after a week; the timeline itself is the lasting proof.
	if prev, err := w.pinned(inc, m.TS); err != nil || prev != nil {
		return OutcomeDuplicate, err
	}
	if err := w.MarkDelivery(key, w.now); err != nil {
		return "", err
	}
	at, ok := TimeOfTS(m.TS)
	if !ok {
		at = w.now
	}
	author, err := w.person(m.Author)
	if err != nil {
		return "", err
	}
	inc.UpdatedAt = w.now
	return OutcomeApplied, w.AppendEntry(inc.ID, &Entry{At: at, Kind: EntryPinned, Actor: author, Source: SourceSlack, Text: stripRefs(m.Text), Ref: m.TS, Permalink: m.Permalink})
}

// pinned returns the current version of the pinned entry copying message
// ts, or nil when that message is not on the timeline (or was retracted).
func (w *txWork) pinned(inc *Incident, ts string) (*Entry, error) {
	tl, err := w.Timeline(inc.ID)
	if err != nil {
		return nil, err
	}
	var cur *Entry
	for i := range tl {
		if tl[i].Ref != ts {
			continue
		}
		if tl[i].Kind == EntryRetracted {
			cur = nil
			continue
		}
		cur = &tl[i]
	}
	return cur, nil
}
