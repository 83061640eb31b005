package pager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	incidentbot "github.com/incidentbot/incidentbot"
)

// Client is PagerDuty's REST API as the outbox worker needs it. It
// implements incidentbot.Pager. Errors are *incidentbot.Error: ETRANSIENT
// for timeouts, transport errors, 429 and 5xx; EREJECTED for other 4xx.
type Client struct {
	pd *pagerduty.Client
}

// NewClient returns a client for the REST API at baseURL (PagerDuty's, or
// the EU region's, or a fake's) with an API token. hc may be nil: a client
// with a 10 s timeout is used (go-pagerduty sets none).
func NewClient(token, baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	c := pagerduty.NewClient(token, pagerduty.WithAPIEndpoint(strings.TrimRight(baseURL, "/")))
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped := *hc
	wrapped.Transport = retryAfterTransport{base: base}
	c.HTTPClient = &wrapped
	return &Client{pd: c}
}

// User returns a PagerDuty user's name and e-mail address (GET
// /users/{id}); an unknown user is EREJECTED (404).
func (c *Client) User(ctx context.Context, userID string) (incidentbot.PagerUser, error) {
	u, err := c.pd.GetUserWithContext(ctx, userID, pagerduty.GetUserOptions{})
	if err != nil {
		return incidentbot.PagerUser{}, classify(ctx, "look up PagerDuty user "+userID, err)
	}
	return incidentbot.PagerUser{ID: u.ID, Name: incidentbot.CleanLine(u.Name), Email: u.Email}, nil
}

// Incident fetches an incident.
func (c *Client) Incident(ctx context.Context, id string) (*incidentbot.PagerIncident, error) {
	inc, err := c.pd.GetIncidentWithContext(ctx, id)
	if err != nil {
		return nil, classify(ctx, "fetch PagerDuty incident "+id, err)
	}
	return fromREST(inc), nil
}

// OpenIncidents lists the triggered and acknowledged incidents, all pages.
func (c *Client) OpenIncidents(ctx context.Context) ([]incidentbot.PagerIncident, error) {
	var out []incidentbot.PagerIncident
	opts := pagerduty.ListIncidentsOptions{Statuses: []string{"triggered", "acknowledged"}, Limit: 100}
	for range 100 { // at most 10,000 open incidents
		res, err := c.pd.ListIncidentsWithContext(ctx, opts)
		if err != nil {
			return nil, classify(ctx, "list PagerDuty incidents", err)
		}
		for i := range res.Incidents {
			out = append(out, *fromREST(&res.Incidents[i]))
		}
		if !res.More {
			break
		}
		opts.Offset += uint(len(res.Incidents))
	}
	return out, nil
}

func fromREST(inc *pagerduty.Incident) *incidentbot.PagerIncident {
	pi := &incidentbot.PagerIncident{
		ID: inc.ID, Number: int(inc.IncidentNumber), Title: inc.Title, Status: inc.Status,
		Urgency: inc.Urgency, ServiceID: inc.Service.ID, ServiceName: inc.Service.Summary, URL: inc.HTMLURL,
	}
	if inc.Priority != nil {
		pi.Priority = inc.Priority.Summary
	}
	if t, err := time.Parse(time.RFC3339, inc.CreatedAt); err == nil {
		pi.CreatedAt = t.UTC()
	}
	if t, err := time.Parse(time.RFC3339, inc.LastStatusChangeAt); err == nil {
		pi.StatusChangedAt = t.UTC()
	}
	if b := inc.ConferenceBridge; b != nil {
		pi.ConferenceNumber = b.ConferenceNumber
		if strings.HasPrefix(b.ConferenceURL, "https://") || strings.HasPrefix(b.ConferenceURL, "http://") {
			pi.ConferenceURL = b.ConferenceURL
		}
	}
	for _, a := range inc.Assignments {
		pi.Assignees = append(pi.Assignees, incidentbot.Person{ID: a.Assignee.ID, Name: a.Assignee.Summary})
	}
	return pi
}

// classify turns a go-pagerduty error into a domain error. go-pagerduty
// wraps transport errors with %v (so errors.Is(err, context.Canceled) is
// false: ctx is checked instead) and decodes APIError only for JSON
// answers. PagerDuty's REST limit is 960 requests/minute per key.
// https://developer.pagerduty.com/docs/rest-api-rate-limits
func classify(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: what + ": " + ctx.Err().Error(), Err: ctx.Err()}
	}
	var apiErr pagerduty.APIError
	if errors.As(err, &apiErr) {
		msg := fmt.Sprintf("%s: PagerDuty answered %d", what, apiErr.StatusCode)
		if apiErr.APIError.Valid && apiErr.APIError.ErrorObject.Message != "" {
			msg += " (" + apiErr.APIError.ErrorObject.Message
			if len(apiErr.APIError.ErrorObject.Errors) > 0 {
				msg += ": " + strings.Join(apiErr.APIError.ErrorObject.Errors, "; ")
			}
			msg += ")"
		}
		code := incidentbot.EREJECTED
		if apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusRequestTimeout || apiErr.StatusCode >= 500 {
			code = incidentbot.ETRANSIENT
		}
		return &incidentbot.Error{Code: code, Message: msg}
	}
	// Transport errors, timeouts, and non-JSON error pages: retry.
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: what + ": request failed", Err: err}
}

// SetStatus acknowledges or resolves an incident, acting as the PagerDuty
// user with e-mail from (the From header PagerDuty requires).
func (c *Client) SetStatus(ctx context.Context, from, id, status string) error {
	// ManageIncidentsWithContext mutates its slice: build a fresh one.
	opts := []pagerduty.ManageIncidentsOptions{{ID: id, Type: "incident_reference", Status: status}}
	if _, err := c.pd.ManageIncidentsWithContext(ctx, from, opts); err != nil {
		return classify(ctx, "set PagerDuty incident "+id+" to "+status, err)
	}
	return nil
}

// AddNote adds a note to an incident as the user with e-mail from
// (go-pagerduty sends note.User.Summary as the From header).
func (c *Client) AddNote(ctx context.Context, from, id, content string) error {
	note := pagerduty.IncidentNote{Content: content, User: pagerduty.APIObject{Summary: from}}
	if _, err := c.pd.CreateIncidentNoteWithContext(ctx, id, note); err != nil {
		return classify(ctx, "add a note to PagerDuty incident "+id, err)
	}
	return nil
}

// UserByEmail returns the PagerDuty user whose login e-mail is email (GET
// /users?query=, which matches names and e-mails by substring: the exact
// address is picked from the answer); none is EREJECTED.
func (c *Client) UserByEmail(ctx context.Context, email string) (incidentbot.PagerUser, error) {
	opts := pagerduty.ListUsersOptions{Query: email, Limit: 100}
	for range 10 {
		res, err := c.pd.ListUsersWithContext(ctx, opts)
		if err != nil {
			return incidentbot.PagerUser{}, classify(ctx, "look up the PagerDuty user with an e-mail address", err)
		}
		for _, u := range res.Users {
			if strings.EqualFold(u.Email, email) {
				return incidentbot.PagerUser{ID: u.ID, Name: incidentbot.CleanLine(u.Name), Email: u.Email}, nil
			}
		}
		if !res.More {
			break
		}
		opts.Offset += uint(len(res.Users))
	}
	return incidentbot.PagerUser{}, incidentbot.Errorf(incidentbot.EREJECTED, "PagerDuty has no user with that e-mail address")
}

// EscalationPolicies lists the escalation policies (GET
// /escalation_policies, every page, at most 1,000).
func (c *Client) EscalationPolicies(ctx context.Context) ([]incidentbot.EscalationPolicy, error) {
	var out []incidentbot.EscalationPolicy
	opts := pagerduty.ListEscalationPoliciesOptions{Limit: 100}
	for range 10 {
		res, err := c.pd.ListEscalationPoliciesWithContext(ctx, opts)
		if err != nil {
			return nil, classify(ctx, "list PagerDuty escalation policies", err)
		}
		for _, ep := range res.EscalationPolicies {
			out = append(out, incidentbot.EscalationPolicy{ID: ep.ID, Name: incidentbot.CleanLine(ep.Name)})
		}
		if !res.More {
			break
		}
		opts.Offset += uint(len(res.EscalationPolicies))
	}
	return out, nil
}

// RequestResponders asks PagerDuty to page the targets on an incident
// (POST /incidents/{id}/responder_requests: requester_id, message,
// responder_request_targets of user_reference or
// escalation_policy_reference) and returns the users it is paging, as
// PagerDuty lists them in the answer's incidents_responders (a user target
// with none listed is that user). The From header is the requester's
// e-mail, as PagerDuty's older references asked.
func (c *Client) RequestResponders(ctx context.Context, from, incidentID, requesterID, message string, targets []incidentbot.ResponderTarget) ([]incidentbot.Person, error) {
	opts := pagerduty.ResponderRequestOptions{From: from, Message: message, RequesterID: requesterID}
	for _, t := range targets {
		typ := "user_reference"
		if t.Kind == "escalation_policy" {
			typ = "escalation_policy_reference"
		}
		opts.Targets = append(opts.Targets, pagerduty.ResponderRequestTargetWrapper{
			Target: pagerduty.ResponderRequestTarget{APIObject: pagerduty.APIObject{ID: t.ID, Type: typ}},
		})
	}
	res, err := c.pd.ResponderRequestWithContext(ctx, incidentID, opts)
	if err != nil {
		return nil, classify(ctx, "request responders on PagerDuty incident "+incidentID, err)
	}
	var out []incidentbot.Person
	add := func(id, name string) {
		for _, p := range out {
			if p.ID == id {
				return
			}
		}
		out = append(out, incidentbot.Person{ID: id, Name: incidentbot.CleanLine(name)})
	}
	for _, w := range res.ResponderRequest.Targets {
		for _, r := range w.Target.Responders {
			if r.User.ID != "" {
				add(r.User.ID, r.User.Summary)
			}
		}
		if len(w.Target.Responders) == 0 && (w.Target.Type == "user" || w.Target.Type == "user_reference") {
			add(w.Target.ID, w.Target.Summary)
		}
	}
	return out, nil
}
