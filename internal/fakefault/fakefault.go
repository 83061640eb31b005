// Package fakefault is what the service fakes (pagerfake, statuspagefake,
// slackfake, jirafake, githubfake) share of their injected faults: the
// queue a request takes its fault from, and how a fault is played around
// the fake's real answer. Each fake keeps its own Fault type, documented
// with the service's error document, and its own way of writing it
// (docs/testing.md lists the common fields).
package fakefault

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// Queue holds injected faults of type F, oldest first. It does no locking:
// the fake's own mutex guards it, as it guards the state the faults play
// against.
type Queue[F any] struct {
	rules []*rule[F]
}

type rule[F any] struct {
	method, prefix string
	times, left    int
	f              F
}

// Add queues f for the requests whose method is method ("" for any; HTTP
// methods compare case-insensitively) and whose path starts with prefix
// ("" for any), for times requests (0: every one until Clear).
func (q *Queue[F]) Add(method, prefix string, times int, f F) {
	q.rules = append(q.rules, &rule[F]{method: method, prefix: prefix, times: times, left: times, f: f})
}

// Clear removes every fault, the unlimited ones included.
func (q *Queue[F]) Clear() { q.rules = nil }

// Take uses the oldest fault matching a request once.
func (q *Queue[F]) Take(method, path string) (F, bool) {
	for i, e := range q.rules {
		if (e.method != "" && !strings.EqualFold(e.method, method)) || !strings.HasPrefix(path, e.prefix) {
			continue
		}
		if e.times > 0 {
			e.left--
			if e.left <= 0 {
				q.rules = append(q.rules[:i:i], q.rules[i+1:]...)
			}
		}
		return e.f, true
	}
	var zero F
	return zero, false
}

// Plan is how a fault is played, in the fields every fake's Fault has.
type Plan struct {
	// Delay holds the request first; cut short when the client goes away
	// or the fake closes, and then nothing more is performed or answered.
	Delay time.Duration
	// AfterEffect performs the request first (it takes effect), then waits
	// Delay and answers the fault or hangs up: the answer is lost. Without
	// Fail or Hangup the real answer arrives late.
	AfterEffect bool
	// Hangup closes the connection without an answer.
	Hangup bool
	// Fail answers the fault (the fake's error document) instead of the
	// real answer.
	Fail bool
}

// Play answers r as p says: serve writes the real answer, fail the
// fault's; closing ends a delay when the fake closes.
func Play(w http.ResponseWriter, r *http.Request, p Plan, closing <-chan struct{}, serve, fail http.HandlerFunc) {
	var rec *httptest.ResponseRecorder
	if p.AfterEffect {
		rec = httptest.NewRecorder()
		serve(rec, r) // it takes effect; its answer may be lost
	}
	if !Sleep(r.Context(), p.Delay, closing) {
		panic(http.ErrAbortHandler) // nothing (more) performed, nothing answered
	}
	switch {
	case p.Hangup:
		Hangup(w)
	case p.Fail:
		fail(w, r)
	case rec != nil: // the real answer, late
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	default:
		serve(w, r)
	}
}

// Hangup closes the request's connection without an answer: the client
// sees a transport error (EOF or a reset).
func Hangup(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	// No connection to hijack (HTTP/2 or a recorder): abort the answer.
	panic(http.ErrAbortHandler)
}

// Sleep waits d; it reports false when ctx ends or closing is closed
// first.
func Sleep(ctx context.Context, d time.Duration, closing <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-closing:
	}
	return false
}

// StatusWriter remembers the status a handler wrote, for a fake's call
// log; Status is 0 while nothing was written (a delay, a hang-up).
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (for Hangup).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
