package pagerfake_test

import (
	"context"
	"strings"
	"testing"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

func responderOpts(requester, message string, targets ...pagerduty.APIObject) pagerduty.ResponderRequestOptions {
	o := pagerduty.ResponderRequestOptions{RequesterID: requester, Message: message}
	for _, t := range targets {
		o.Targets = append(o.Targets, pagerduty.ResponderRequestTargetWrapper{Target: pagerduty.ResponderRequestTarget{APIObject: t}})
	}
	return o
}

// A responder request pages a user or an escalation policy's users: the
// answer lists them as pending incidents_responders, the request is kept,
// and each paged user gets a responder_request_log_entry whose webhook is
// incident.responder.added.
func TestServer_ResponderRequest_PagesUsersAndPolicies(t *testing.T) {
	srv := MustServer(t)
	client := MustClient(t, srv)
	ctx := context.Background()
	srv.AddUser(pagerfake.User{ID: "PUSER03", Name: "Linus T", Email: "linus@example.com"})
	db := srv.AddEscalationPolicy(pagerfake.EscalationPolicy{Name: "Database on-call", UserIDs: []string{"PUSER02", "PUSER03"}})
	inc := srv.AddIncident(pagerfake.Incident{Title: "Replica lag"})

	res, err := client.ResponderRequestWithContext(ctx, inc.ID, responderOpts("PUSER01", "please look at the replicas",
		pagerduty.APIObject{ID: db.ID, Type: "escalation_policy_reference"}))
	if err != nil {
		t.Fatal(err)
	}
	rr := res.ResponderRequest
	if rr.Message != "please look at the replicas" || rr.Requester.ID != "PUSER01" || len(rr.Targets) != 1 {
		t.Fatalf("responder request = %+v", rr)
	}
	tg := rr.Targets[0].Target
	if tg.ID != db.ID || tg.Type != "escalation_policy" || tg.Summary != "Database on-call" || len(tg.Responders) != 2 ||
		tg.Responders[0].User.ID != "PUSER02" || tg.Responders[1].User.Summary != "Linus T" || tg.Responders[0].State != "pending" {
		t.Fatalf("target = %+v", tg)
	}
	res, err = client.ResponderRequestWithContext(ctx, inc.ID, responderOpts("PUSER01", "you too", pagerduty.APIObject{ID: "PUSER03", Type: "user_reference"}))
	if err != nil || len(res.ResponderRequest.Targets[0].Target.Responders) != 1 {
		t.Fatalf("user target: %+v, %v", res, err)
	}
	reqs := srv.ResponderRequests(inc.ID)
	if len(reqs) != 2 || reqs[0].Targets[0] != "escalation_policy_reference:"+db.ID || strings.Join(reqs[0].ResponderIDs, ",") != "PUSER02,PUSER03" {
		t.Errorf("recorded requests = %+v", reqs)
	}
	var webhooks []string
	for _, e := range srv.LogEntries(inc.ID) {
		if e.Type == "responder_request_log_entry" {
			ev, ok := srv.WebhookFor(e.ID)
			if !ok || ev.Type != "incident.responder.added" {
				t.Errorf("log entry %+v has webhook %+v", e, ev)
			}
			webhooks = append(webhooks, e.ResponderID)
		}
	}
	if strings.Join(webhooks, ",") != "PUSER02,PUSER03,PUSER03" {
		t.Errorf("responder log entries for %v", webhooks)
	}
}

// What PagerDuty's reference makes required is required, and an unknown
// target (a policy or a user the account does not have) refuses the whole
// request with 400 ArgumentError; an unknown incident is 404.
func TestServer_ResponderRequest_RefusesWhatPagerDutyRefuses(t *testing.T) {
	srv := MustServer(t)
	client := MustClient(t, srv)
	ctx := context.Background()
	inc := srv.AddIncident(pagerfake.Incident{Title: "Replica lag"})
	user := pagerduty.APIObject{ID: "PUSER02", Type: "user_reference"}
	for name, tc := range map[string]struct {
		incident string
		opts     pagerduty.ResponderRequestOptions
		status   int
	}{
		"unknown policy":    {inc.ID, responderOpts("PUSER01", "m", pagerduty.APIObject{ID: "PNOPE", Type: "escalation_policy_reference"}), 400},
		"unknown user":      {inc.ID, responderOpts("PUSER01", "m", pagerduty.APIObject{ID: "PNOBODY", Type: "user_reference"}), 400},
		"no requester":      {inc.ID, responderOpts("", "m", user), 400},
		"unknown requester": {inc.ID, responderOpts("PGHOST", "m", user), 400},
		"no message":        {inc.ID, responderOpts("PUSER01", " ", user), 400},
		"no targets":        {inc.ID, responderOpts("PUSER01", "m"), 400},
		"wrong target type": {inc.ID, responderOpts("PUSER01", "m", pagerduty.APIObject{ID: "PUSER02", Type: "team_reference"}), 400},
		"unknown incident":  {"PMISSING", responderOpts("PUSER01", "m", user), 404},
		"known and unknown": {inc.ID, responderOpts("PUSER01", "m", user, pagerduty.APIObject{ID: "PNOPE", Type: "escalation_policy_reference"}), 400},
	} {
		_, err := client.ResponderRequestWithContext(ctx, tc.incident, tc.opts)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		MustAPIError(t, err, tc.status)
	}
	if reqs := srv.ResponderRequests(inc.ID); len(reqs) != 0 {
		t.Errorf("refused requests were kept: %+v", reqs)
	}
}

// GET /escalation_policies lists the account's policies (the default one
// first), filtered by a name substring, paginated.
func TestServer_ListEscalationPolicies_QueryAndPages(t *testing.T) {
	srv := MustServer(t)
	client := MustClient(t, srv)
	ctx := context.Background()
	for _, n := range []string{"Database on-call", "API on-call", "Payments"} {
		srv.AddEscalationPolicy(pagerfake.EscalationPolicy{Name: n, UserIDs: []string{"PUSER01"}})
	}
	res, err := client.ListEscalationPoliciesWithContext(ctx, pagerduty.ListEscalationPoliciesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ep := range res.EscalationPolicies {
		names = append(names, ep.Name)
	}
	if strings.Join(names, ",") != "Default,Database on-call,API on-call,Payments" {
		t.Errorf("policies = %v", names)
	}
	res, err = client.ListEscalationPoliciesWithContext(ctx, pagerduty.ListEscalationPoliciesOptions{Query: "ON-CALL", Limit: 1})
	if err != nil || len(res.EscalationPolicies) != 1 || res.EscalationPolicies[0].Name != "Database on-call" || !res.More {
		t.Errorf("query ON-CALL, limit 1 = %+v, %v", res, err)
	}
	if rules := res.EscalationPolicies[0].EscalationRules; len(rules) != 1 || len(rules[0].Targets) != 1 || rules[0].Targets[0].ID != "PUSER01" {
		t.Errorf("rules = %+v", rules)
	}
}
