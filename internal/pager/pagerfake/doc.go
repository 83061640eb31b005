// Package pagerfake fakes PagerDuty for tests, the load tool and the demo.
//
// It has two halves:
//
//   - [Server], a fake of PagerDuty's REST API v2 served over real HTTP on
//     127.0.0.1, meant to be driven by the real go-pagerduty client:
//     pagerduty.NewClient(token, pagerduty.WithAPIEndpoint(srv.URL())). It
//     checks the token and the From header as PagerDuty does, keeps users,
//     incidents, notes, status updates and on-call entries in memory, records
//     every call, and can inject faults (429 with Retry-After, 5xx, delays,
//     dropped connections).
//   - The v3 webhook helpers: [Sign] for the X-PagerDuty-Signature header,
//     [Event] and the data builders ([IncidentData], [NoteData],
//     [ResponderData], [StatusUpdateData]) for payloads shaped like PagerDuty's
//     published samples, and [Sender] to deliver them and retry the way
//     PagerDuty does.
//
// Every error the fake answers is JSON with Content-Type application/json,
// shaped {"error":{"message":...,"code":...,"errors":[...]}}: go-pagerduty
// decodes an APIError only from such a response.
//
// The fake is normal (non-test) code: it never imports package testing.
package pagerfake
