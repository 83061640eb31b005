package incidentbot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// /incident page: more responders through PagerDuty's responder requests
// (POST /incidents/{id}/responder_requests). The request names a Slack
// user (paged as the PagerDuty user with their e-mail) or an escalation
// policy by name; the command only queues the request (PagerDuty is never
// called inside a Slack request), and the job records who asked for whom,
// invites the paged people to the channel once they are known as Slack
// users, and answers privately when PagerDuty cannot be asked (an unknown
// name gets the closest matches).

// cmdPage queues a responder request.
func cmdPage(w *txWork, inc *Incident, c Cmd) (Reply, error) {
	switch {
	case inc.PagerDuty == nil:
		return Reply{}, Errorf(EINVALID, "%s was declared in Slack: it has no PagerDuty incident to add responders to. Invite people to the channel instead.", inc.ID)
	case !w.s.PagerSync:
		return Reply{}, Errorf(EINVALID, "PAGERDUTY_API_TOKEN is not set, so the bot cannot page anyone through PagerDuty.")
	case inc.Status == StatusResolved:
		return Reply{}, Errorf(ECONFLICT, "%s is resolved; reopen it in PagerDuty to page more responders.", inc.ID)
	case c.User == nil && strings.TrimSpace(c.Text) == "":
		return Reply{}, usageError("page")
	}
	j := &Job{Kind: JobPage, IncidentID: inc.ID, Lane: lanePagerDuty(inc.ID), PagerID: inc.PagerDuty.ID,
		SlackUser: c.Actor.ID, Text: c.Text, ResponseURL: c.ResponseURL, Invitee: c.User}
	if err := w.enqueue(j); err != nil {
		return Reply{}, err
	}
	if c.ChannelID != "" && c.ChannelID == inc.ChannelID {
		// Quiet: the page's post in this channel follows, or a private
		// answer when PagerDuty cannot be asked.
		return Reply{}, nil
	}
	who := "them"
	if c.User != nil {
		who = mention(*c.User)
	}
	return Reply{Text: fmt.Sprintf("Asking PagerDuty to page %s for %s; the result is posted in its channel.", who, inc.ID)}, nil
}

// page makes the responder request and returns what to record: the
// request and its invitations, or a private answer saying why nobody was
// paged.
func (js *Jobs) page(ctx context.Context, j *Job, inc *Incident) (effect, error) {
	if js.Pager == nil {
		return nil, Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so nobody was paged")
	}
	answer := func(text string) (effect, error) {
		return func(w *txWork) error { return w.pageAnswer(j, inc, text) }, nil
	}
	requester, err := js.pagerUserOf(ctx, j.SlackUser)
	if err != nil && ErrorCode(err) != EREJECTED {
		return nil, err
	}
	if requester.ID == "" && js.PagerFrom != "" {
		if requester, err = js.Pager.UserByEmail(ctx, js.PagerFrom); err != nil && ErrorCode(err) != EREJECTED {
			return nil, err
		}
	}
	if requester.ID == "" {
		return answer("Nobody was paged: PagerDuty has no user with your Slack e-mail address, and PAGERDUTY_FROM names none either.")
	}
	var target ResponderTarget
	var targetName, message string
	if p := j.Invitee; p != nil {
		u, err := js.pagerUserOf(ctx, p.ID)
		if err != nil && ErrorCode(err) != EREJECTED {
			return nil, err
		}
		if u.ID == "" {
			return answer(fmt.Sprintf("Nobody was paged: %s has no PagerDuty user with their Slack e-mail address. Invite them to the channel instead.", mention(*p)))
		}
		target, targetName, message = ResponderTarget{ID: u.ID, Kind: "user"}, Ref(*p), j.Text
	} else {
		policies, err := js.Pager.EscalationPolicies(ctx)
		if err != nil {
			return nil, err
		}
		ep, rest, ok := matchPolicy(j.Text, policies)
		if !ok {
			return answer(noSuchPolicy(j.Text, policies))
		}
		target, targetName, message = ResponderTarget{ID: ep.ID, Kind: "escalation_policy"}, "the escalation policy “"+ep.Name+"”", rest
	}
	sent := cmp.Or(CleanText(message), fmt.Sprintf("Please join %s: %s (in Slack)", inc.ID, inc.Title))
	paged, err := js.Pager.RequestResponders(ctx, requester.Email, inc.PagerDuty.ID, requester.ID, sent, []ResponderTarget{target})
	if ErrorCode(err) == EREJECTED {
		return answer("PagerDuty refused the responder request: " + ErrorMessage(err))
	}
	if err != nil {
		return nil, err
	}
	return func(w *txWork) error { return w.paged(j, inc.ID, targetName, message, sent, paged) }, nil
}

// pagerUserOf returns the PagerDuty user with a Slack user's e-mail
// address (EREJECTED when there is none).
func (js *Jobs) pagerUserOf(ctx context.Context, slackID string) (PagerUser, error) {
	if slackID == "" {
		return PagerUser{}, Errorf(EREJECTED, "no Slack user")
	}
	p, err := js.profile(ctx, slackID)
	if err != nil {
		return PagerUser{}, err
	}
	if p.Email == "" {
		return PagerUser{}, Errorf(EREJECTED, "no e-mail address for %s", slackID)
	}
	return js.Pager.UserByEmail(ctx, p.Email)
}

// pageAnswer tells the person who ran /incident page why nobody was paged:
// privately through the command's response_url, else in the channel.
func (w *txWork) pageAnswer(j *Job, inc *Incident, text string) error {
	if j.ResponseURL != "" {
		return w.enqueue(&Job{Kind: JobRespond, IncidentID: inc.ID, Lane: inc.ID + "/respond", ResponseURL: j.ResponseURL, Message: &Message{Text: text}})
	}
	if inc.ChannelID == "" {
		return nil
	}
	return w.enqueue(&Job{Kind: JobPost, IncidentID: inc.ID, Lane: laneChannel(inc.ID), Message: &Message{Text: text, Body: EscapeMrkdwn(text)}})
}

// paged records a responder request PagerDuty accepted (a page job's
// result): who asked for whom, an entry and its post, the echoes of the
// responder.added webhooks it causes, and invitations of the paged people.
func (w *txWork) paged(j *Job, incID, targetName, message, sent string, responders []Person) error {
	return w.change(incID, func(inc *Incident) error {
		by, err := w.person(Person{ID: j.SlackUser})
		if err != nil {
			return err
		}
		req := ResponderRequest{At: w.now, By: by, Target: w.s.People.Text(targetName), Message: message}
		var names []string
		for _, p := range responders {
			q, err := w.person(p)
			if err != nil {
				return err
			}
			req.Responders = append(req.Responders, q)
			names = append(names, Ref(q))
		}
		inc.ResponderRequests = append(inc.ResponderRequests, req)
		text := Ref(by) + " paged " + targetName + " through PagerDuty"
		if j.Invitee == nil && len(names) > 0 {
			text += " (" + strings.Join(names, ", ") + ")"
		}
		if message != "" {
			text += ": " + message
		}
		e := Entry{At: w.now, Kind: EntryResponderRequested, Actor: by, Source: SourceSlack, Text: text}
		if j.Invitee != nil {
			e.Subject = j.Invitee
		}
		if err := w.record(inc, e); err != nil {
			return err
		}
		// PagerDuty sends incident.responder.added for each responder: the
		// entry above already tells it.
		for range responders {
			inc.Echoes = append(inc.Echoes, Echo{Type: EventResponderAdded, Text: echoText(sent), Until: w.now.Add(echoTTL), Sent: true})
		}
		if over := len(inc.Echoes) - maxEchoes; over > 0 {
			inc.Echoes = inc.Echoes[over:]
		}
		if j.Invitee != nil && IsSlackUserID(j.Invitee.ID) {
			if err := w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: j.Invitee.ID}); err != nil {
				return err
			}
		}
		for _, p := range req.Responders {
			if j.Invitee != nil && p.ID == j.Invitee.ID {
				continue
			}
			if IsSlackUserID(p.ID) {
				if err := w.enqueue(&Job{Kind: JobInvite, IncidentID: inc.ID, Lane: laneInvite(inc.ID), SlackUser: p.ID}); err != nil {
					return err
				}
			} else if err := w.invite(inc, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// matchPolicy finds the escalation policy whose name the text starts with
// (case and spacing aside; the longest name wins) and returns the rest of
// the text as the message.
func matchPolicy(text string, policies []EscalationPolicy) (EscalationPolicy, string, bool) {
	words := strings.Fields(text)
	var best EscalationPolicy
	bestN := 0
	for _, ep := range policies {
		name := strings.Fields(ep.Name)
		if len(name) == 0 || len(name) > len(words) || len(name) <= bestN {
			continue
		}
		if strings.EqualFold(strings.Join(name, " "), strings.Join(words[:len(name)], " ")) {
			best, bestN = ep, len(name)
		}
	}
	if bestN == 0 {
		return EscalationPolicy{}, "", false
	}
	return best, strings.Join(words[bestN:], " "), true
}

// noSuchPolicy says that no escalation policy has the name the text starts
// with, and lists the closest names (compared with as many of the text's
// words as each name has).
func noSuchPolicy(text string, policies []EscalationPolicy) string {
	words := strings.Fields(strings.ToLower(text))
	type scored struct {
		name string
		d    int
	}
	var all []scored
	for _, ep := range policies {
		// The typed words against as many of the name's: "Paymnets" is one
		// edit from "Payments on-call", whose other word costs one more.
		name := strings.Fields(strings.ToLower(ep.Name))
		n := min(len(name), len(words))
		d := editDistance(strings.Join(words[:n], " "), strings.Join(name[:n], " ")) + len(name) - n
		all = append(all, scored{ep.Name, d})
	}
	slices.SortStableFunc(all, func(a, b scored) int { return cmp.Or(a.d-b.d, strings.Compare(a.name, b.name)) })
	shown := Clip(strings.Join(words, " "))
	if len(all) == 0 {
		return fmt.Sprintf("Nobody was paged: PagerDuty has no escalation policy “%s” (it lists none). Mention a person instead: `/incident page @user`.", EscapeMrkdwn(shown))
	}
	var names []string
	for _, s := range all[:min(3, len(all))] {
		names = append(names, "“"+EscapeMrkdwn(s.name)+"”")
	}
	return fmt.Sprintf("Nobody was paged: PagerDuty has no escalation policy “%s”. The closest: %s. Usage: `%s`", EscapeMrkdwn(shown), strings.Join(names, ", "), UsageOf("page"))
}
