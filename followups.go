package incidentbot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Follow-ups: the open action items across incidents, overdue first, on
// /incident followups and, once a week, in the stakeholder channel.

// Followup is one open action item with its incident.
type Followup struct {
	IncidentID    string
	IncidentTitle string
	ChannelID     string
	Item          ActionItem
	// Overdue is set when the item's due date has passed (UTC days).
	Overdue bool
	// Private marks an item of a private incident: listed without its
	// text or title.
	Private bool
}

// openFollowups lists the open action items, overdue first (earliest due
// first), then those with a due date, then the rest, newest incident first.
func openFollowups(tx Tx, now time.Time) ([]Followup, error) {
	// The follow-up index: incidents with an item not done, whatever
	// their age; the rest of the history is not read.
	incs, err := tx.ActionIncidents()
	if err != nil {
		return nil, err
	}
	today := now.UTC().Format("2006-01-02")
	var out []Followup
	for _, inc := range incs {
		for _, a := range inc.Actions {
			if a.Status == "done" {
				continue
			}
			out = append(out, Followup{IncidentID: inc.ID, IncidentTitle: inc.Title, ChannelID: inc.ChannelID, Item: a, Overdue: a.Due != "" && a.Due < today, Private: inc.Private})
		}
	}
	rank := func(f Followup) int {
		switch {
		case f.Overdue:
			return 0
		case f.Item.Due != "":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b Followup) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Item.Due, b.Item.Due); c != 0 {
			return c
		}
		na, _ := ParseIncidentID(a.IncidentID)
		nb, _ := ParseIncidentID(b.IncidentID)
		if c := cmp.Compare(nb, na); c != 0 {
			return c
		}
		return cmp.Compare(a.Item.N, b.Item.N)
	})
	return out, nil
}

// Followups returns the open action items across incidents, overdue first.
func (s *Service) Followups(ctx context.Context) ([]Followup, error) {
	var out []Followup
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = openFollowups(tx, s.now())
		return err
	})
	return out, err
}

// followupLine is one item in Slack mrkdwn: incident, number, text, owner,
// due date, and its trackers' keys linked.
func followupLine(f Followup) string {
	a := f.Item
	var b strings.Builder
	text := EscapeMrkdwn(a.Text)
	if f.Private {
		text = "_(an action item of a private incident)_"
	}
	fmt.Fprintf(&b, "• *%s* #%d %s", f.IncidentID, a.N, text)
	owner := "_no owner_"
	if a.Owner != nil {
		owner = mention(*a.Owner)
	}
	fmt.Fprintf(&b, " · %s · %s", owner, strings.ToUpper(a.Priority))
	if a.Due != "" {
		if f.Overdue {
			fmt.Fprintf(&b, " · *overdue* (due %s)", a.Due)
		} else {
			fmt.Fprintf(&b, " · due %s", a.Due)
		}
	}
	for _, t := range a.Tracked {
		if u := safeURL(t.URL); u != "" {
			fmt.Fprintf(&b, " · <%s|%s>", u, EscapeMrkdwn(t.Key))
		} else {
			fmt.Fprintf(&b, " · %s", EscapeMrkdwn(t.Key))
		}
		if t.Status != "" {
			fmt.Fprintf(&b, " (%s)", EscapeMrkdwn(t.Status))
		}
	}
	return b.String()
}

// followupsMost bounds one listing.
const followupsMost = 50

func (s *Service) followupsReply(ctx context.Context) (Reply, error) {
	fs, err := s.Followups(ctx)
	if err != nil {
		return Reply{}, err
	}
	if len(fs) == 0 {
		return Reply{Text: "No open action items."}, nil
	}
	overdue := 0
	for _, f := range fs {
		if f.Overdue {
			overdue++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Open action items (%d, %d overdue)*\n", len(fs), overdue)
	if len(fs) > followupsMost {
		fmt.Fprintf(&b, "_The first %d:_\n", followupsMost)
		fs = fs[:followupsMost]
	}
	for _, f := range fs {
		b.WriteString(followupLine(f) + "\n")
	}
	return Reply{Text: s.People.Mrkdwn(b.String())}, nil
}

// FollowupsCursor is the store cursor of the weekly overdue list: when it
// was last posted (RFC 3339).
const FollowupsCursor = "followups-weekly"

// FollowupsSlot is the weekly moment the overdue list is due: Monday 09:00
// UTC. It returns the latest slot at or before now.
func FollowupsSlot(now time.Time) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, time.UTC)
	back := (int(day.Weekday()) + 6) % 7 // days since Monday
	slot := day.AddDate(0, 0, -back)
	if slot.After(now) {
		slot = slot.AddDate(0, 0, -7)
	}
	return slot
}

// CheckFollowups posts the overdue action items, each with its owner, to
// the stakeholder channel once a week (at FollowupsSlot): when the last
// post (a stored cursor, so restarts neither skip nor repeat it) is older
// than the latest slot. A week with nothing overdue posts nothing. It
// returns how many overdue items were queued for posting.
func (s *Service) CheckFollowups(ctx context.Context) (int, error) {
	if s.AnnounceChannel == "" {
		return 0, nil
	}
	var n int
	err := s.update(ctx, func(w *txWork) error {
		n = 0
		last, err := w.Cursor(FollowupsCursor)
		if err != nil {
			return err
		}
		slot := FollowupsSlot(w.now)
		if last != "" {
			if at, err := time.Parse(time.RFC3339, last); err == nil && !at.Before(slot) {
				return nil
			}
		}
		fs, err := openFollowups(w.Tx, w.now)
		if err != nil {
			return err
		}
		var lines []string
		for _, f := range fs {
			if f.Overdue {
				lines = append(lines, followupLine(f))
			}
		}
		if len(lines) > 0 {
			n = len(lines)
			more := ""
			if len(lines) > followupsMost {
				more = fmt.Sprintf("\n_…and %d more: `/incident followups` lists them all._", len(lines)-followupsMost)
				lines = lines[:followupsMost]
			}
			body := strings.Join(lines, "\n") + more
			msg := &Message{
				Text:   fmt.Sprintf("Overdue action items: %d", n),
				Header: "Overdue action items",
				Body:   body,
			}
			if err := w.enqueue(&Job{Kind: JobFollowups, Lane: "followups", Channel: s.AnnounceChannel, Message: msg}); err != nil {
				return err
			}
		}
		return w.SetCursor(FollowupsCursor, w.now.Format(time.RFC3339))
	})
	return n, err
}

// postFollowups posts the weekly overdue list.
func (js *Jobs) postFollowups(ctx context.Context, j *Job) error {
	if j.Message == nil {
		return nil
	}
	_, err := js.post(ctx, j.Channel, *j.Message)
	return err
}
