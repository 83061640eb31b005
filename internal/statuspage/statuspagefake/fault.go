package statuspagefake

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot/internal/fakefault"
)

// Fault is a failure the Server plays for a request it matches, after the
// key and the rate limit were checked. A Fault with only Times set does
// nothing (the request is served normally) but is used up like any other.
type Fault struct {
	// Times is how many matching requests the fault applies to; 0 means
	// every one until ClearFaults or Reset.
	Times int
	// Status, when non-zero, is answered instead of the real answer, with
	// Statuspage's {"error": ...} document.
	Status int
	// RetryAfter, in seconds, is sent as Retry-After with the fault's
	// answer when non-zero.
	RetryAfter int
	// Delay holds the request this long before answering (and, without
	// AfterEffect, before performing it). It ends early when the client
	// goes away or the Server closes; then nothing more is performed or
	// answered.
	Delay time.Duration
	// AfterEffect performs the request first (it takes effect), then
	// waits Delay and answers Status or hangs up: the answer is lost, as
	// when a proxy or the network drops it after Statuspage committed.
	// Without Status or Hangup the real answer follows the delay.
	AfterEffect bool
	// Hangup closes the connection without an answer (after Delay): the
	// client sees a transport error.
	Hangup bool
}

// Inject queues a fault for the requests whose HTTP method is method (""
// for any), such as Inject("POST", Fault{Times: 1, AfterEffect: true,
// Hangup: true}) for a create whose answer is lost. A request takes the
// oldest matching fault.
func (s *Server) Inject(method string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Add(method, "", f.Times, f)
}

// ClearFaults removes every injected fault, the unlimited ones included.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Clear()
}

// Reset forgets the call log (and with it RateLimited's count) and every
// injected fault. The incidents, the key, the page and the interval stay,
// and so does the rate limiter's memory of each key's last request.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.faults.Clear()
}

// takeFault pops one use of the oldest fault matching method. The caller
// holds s.mu.
func (s *Server) takeFault(method string) (Fault, bool) { return s.faults.Take(method, "") }

// play serves a request that took fault f.
func (s *Server) play(w http.ResponseWriter, r *http.Request, f Fault) {
	fakefault.Play(w, r, fakefault.Plan{Delay: f.Delay, AfterEffect: f.AfterEffect, Hangup: f.Hangup, Fail: f.Status != 0}, s.closing,
		s.routeLocked, func(w http.ResponseWriter, _ *http.Request) { writeFault(w, f) })
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	writeError(w, f.Status, http.StatusText(f.Status))
}

// Call is one request the Server received, recorded in arrival order.
type Call struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, such as "/v1/pages/PAGE1/incidents".
	Path string
	// Body is the raw request body.
	Body []byte
	// Status is the HTTP status answered; 0 while the request is in flight
	// or when no answer was written (the client went away during a delay,
	// or a Fault hung up).
	Status int
	// Injected reports whether a Fault shaped the answer.
	Injected bool
	// RateLimited reports whether the rate limit answered it 429.
	RateLimited bool
	// At is when the request arrived.
	At time.Time
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call { return s.CallsTo("") }

// CallsTo returns the logged calls whose HTTP method is method ("" for
// all), oldest first.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || strings.EqualFold(method, c.Method) {
			cp := *c
			cp.Body = bytes.Clone(c.Body)
			out = append(out, cp)
		}
	}
	return out
}
