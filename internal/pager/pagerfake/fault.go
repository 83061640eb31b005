package pagerfake

import (
	"net/http"
	"strconv"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// Fault is a failure the Server plays instead of (or before) answering a
// matching request. Its zero value does nothing: the request is served
// normally.
type Fault struct {
	// Times is how many matching requests the fault applies to; 0 means every
	// one until ClearFaults.
	Times int
	// Status, when non-zero, is answered instead of the real response, with
	// PagerDuty's JSON error document (429 is "Rate Limit Exceeded", code
	// 2020). Any status is allowed: 429, 500, 503, 404, 403...
	Status int
	// RetryAfter is the Retry-After header, in seconds, sent with a 429; 0
	// sends none.
	RetryAfter int
	// Delay holds the request this long before answering (with Status, or
	// normally when Status is 0), to play a slow or timing-out PagerDuty. It
	// ends early when the client gives up (its request context is done) or
	// the Server closes; then nothing more is performed or answered.
	Delay time.Duration
	// AfterEffect serves the request first (it takes effect: a note is
	// added, an incident acknowledged), then waits Delay and answers Status
	// or hangs up: the answer is lost. Without Status or Hangup the real
	// answer follows the delay.
	AfterEffect bool
	// Hangup closes the connection without any answer, after Delay: the
	// client sees a transport error (EOF or connection reset).
	Hangup bool
}

// Inject queues a fault for requests whose method is method ("" for any) and
// whose path starts with pathPrefix ("" for any), such as
// Inject("PUT", "/incidents", Fault{Times: 2, Status: 503}). Faults are
// consumed first in, first out: a request takes the oldest matching fault.
// Faults are played before the token is checked.
func (s *Server) Inject(method, pathPrefix string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(method, pathPrefix, f.Times, f)
}

// ClearFaults removes every injected fault, including the unlimited ones.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Clear()
}

// takeFault pops one use of the oldest fault matching the request.
func (s *Server) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.Take(method, path)
}

// applyFault plays f for a request that serve answers normally: before
// serving it (after Delay), or after, losing its answer (AfterEffect).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault, serve func(http.ResponseWriter)) {
	fakefault.Play(w, r, fakefault.Plan{Delay: f.Delay, AfterEffect: f.AfterEffect, Hangup: f.Hangup, Fail: f.Status != 0}, s.done,
		func(w http.ResponseWriter, _ *http.Request) { serve(w) },
		func(w http.ResponseWriter, _ *http.Request) {
			if f.Status == http.StatusTooManyRequests && f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			}
			message, code := faultError(f.Status)
			writeError(w, f.Status, message, code)
		})
}

// faultError is PagerDuty's message and error code for an HTTP status.
// https://developer.pagerduty.com/docs/rest-api-v2/errors/
func faultError(status int) (string, int) {
	switch {
	case status == http.StatusBadRequest:
		return "Invalid Input Provided", 2001
	case status == http.StatusUnauthorized:
		return "Unauthorized", 2006
	case status == http.StatusForbidden:
		return "Access Denied", 2010
	case status == http.StatusNotFound:
		return "Not Found", 2100
	case status == http.StatusTooManyRequests:
		return "Rate Limit Exceeded", 2020
	case status >= 500:
		return http.StatusText(status), 2000
	default:
		return http.StatusText(status), 0
	}
}
