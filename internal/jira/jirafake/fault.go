package jirafake

import (
	"net/http"
	"strconv"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// Fault is a failure the Server plays for a request it matches, before the
// credentials are checked. Its fields mean what they mean in the other
// fakes (docs/testing.md).
type Fault struct {
	// Times is how many matching requests it applies to; 0 means every one
	// until ClearFaults or Reset.
	Times int
	// Status is answered instead of the real answer, with Jira's
	// ErrorCollection ({"errorMessages": [...], "errors": {}}).
	Status int
	// RetryAfter is the Retry-After header, in seconds, sent with the
	// fault's status (Jira sends it with 429 and some 503s).
	RetryAfter int
	// Delay holds the request this long first; cut short when the client
	// goes away or the fake closes, and then nothing more is performed.
	Delay time.Duration
	// AfterEffect performs the request first, then (after Delay) answers
	// Status or hangs up: the answer is lost, the effect is not. With
	// neither, the real answer arrives late.
	AfterEffect bool
	// Hangup closes the connection without an answer.
	Hangup bool
}

// Inject queues a fault for the requests whose method is method ("" for
// any) and whose path starts with pathPrefix ("" for any), such as
// Inject("POST", "/rest/api/3/issue", Fault{Times: 1, AfterEffect: true,
// Hangup: true}) for a create whose answer is lost. A request takes the
// oldest matching fault.
func (s *Server) Inject(method, pathPrefix string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(method, pathPrefix, f.Times, f)
}

// ClearFaults removes every injected fault, the unlimited ones included.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Clear()
}

func (s *Server) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.Take(method, path)
}

// play serves a request that took fault f; serve is the real answer.
func (s *Server) play(w http.ResponseWriter, r *http.Request, f Fault, serve http.HandlerFunc) {
	fakefault.Play(w, r, fakefault.Plan{Delay: f.Delay, AfterEffect: f.AfterEffect, Hangup: f.Hangup, Fail: f.Status != 0},
		s.closing, serve, func(w http.ResponseWriter, _ *http.Request) { writeFault(w, f) })
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	msg := http.StatusText(f.Status)
	if f.Status == http.StatusTooManyRequests {
		msg = "Rate limit exceeded."
	}
	writeErrors(w, f.Status, []string{msg}, nil)
}
