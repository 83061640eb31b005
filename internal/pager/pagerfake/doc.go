// Package pagerfake fakes PagerDuty for tests, the load tool and the demo.
//
// It has two halves:
//
//   - [Server], a fake of PagerDuty's REST API v2 served over real HTTP on
//     127.0.0.1, meant to be driven by the real go-pagerduty client:
//     pagerduty.NewClient(token, pagerduty.WithAPIEndpoint(srv.URL())). It
//     checks the token and the From header as PagerDuty does, keeps users,
//     incidents, notes, status updates, on-call entries, escalation
//     policies (GET /escalation_policies) and responder requests (POST
//     /incidents/{id}/responder_requests) in memory, keeps
//     each incident's log entries as its changes happen (GET /log_entries,
//     GET /incidents/{id}/log_entries, GET /log_entries/{id}, with
//     Server.WebhookFor giving the webhook of the same happening), can
//     enforce PagerDuty's rate limit with its ratelimit-* headers
//     (Server.SetRateLimit), records
//     every call, and can inject faults (429 with Retry-After, 5xx, delays,
//     dropped connections, answers lost after the request took effect).
//   - The v3 webhook helpers: [Sign] for the X-PagerDuty-Signature header,
//     [Event] and the data builders ([IncidentData], [NoteData],
//     [ResponderData], [StatusUpdateData]) for payloads shaped like PagerDuty's
//     published samples, and [Sender] to deliver them and retry the way
//     PagerDuty does.
//
// # Conventions shared with slackfake and statuspagefake
//
//   - [New] starts a Server on 127.0.0.1 with a random port and panics if it
//     cannot listen, like httptest.NewServer; [NewAt] listens on a chosen
//     address and returns the error instead. [Server.URL] is what to give
//     the client; [Server.Close] stops it, ends injected delays and may be
//     called more than once.
//   - [Server.Inject] queues a [Fault] for the requests it matches (here: an
//     HTTP method and a path prefix, "" for any). A request takes the
//     oldest matching fault; one with Times 0 applies until
//     [Server.ClearFaults]. Fault's fields mean the same in the three fakes:
//     Times, Status, RetryAfter, Delay, AfterEffect (perform the request,
//     then lose its answer) and Hangup (close the connection without an
//     answer). Here faults are played before the token is checked.
//   - [Server.Calls] and [Server.CallsTo] (with the same matcher as Inject)
//     return the call log.
//   - [Server.Reset] forgets the call log and the faults but keeps the
//     stored data (users, incidents, notes, on-call entries) and the
//     settings (token, clock).
//
// Every error the fake answers is JSON with Content-Type application/json,
// shaped {"error":{"message":...,"code":...,"errors":[...]}}: go-pagerduty
// decodes an APIError only from such a response.
//
// The fake is normal (non-test) code: it never imports package testing.
package pagerfake
