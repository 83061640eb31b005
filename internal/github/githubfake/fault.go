package githubfake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the Server plays for a request it matches, before the
// credentials are checked. Its fields mean what they mean in the other
// fakes (docs/testing.md).
type Fault struct {
	// Times is how many matching requests it applies to; 0 means every one
	// until ClearFaults or Reset.
	Times int
	// Status is answered instead of the real answer, with GitHub's error
	// document ({"message": ..., "documentation_url": ...}).
	Status int
	// RetryAfter is the Retry-After header, in seconds, sent with the
	// fault's status.
	RetryAfter int
	// SecondaryRateLimit answers as GitHub's secondary rate limit does:
	// 403, Retry-After (RetryAfter, else 60) and its documented message.
	SecondaryRateLimit bool
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

type faultEntry struct {
	method, prefix string
	f              Fault
	left           int
}

// Inject queues a fault for the requests whose method is method ("" for
// any) and whose path starts with pathPrefix ("" for any), such as
// Inject("POST", "/repos/acme/ops/issues", Fault{Times: 1, AfterEffect: true,
// Hangup: true}) for a create whose answer is lost. A request takes the
// oldest matching fault.
func (s *Server) Inject(method, pathPrefix string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultEntry{method: method, prefix: pathPrefix, f: f, left: f.Times})
}

// ClearFaults removes every injected fault, the unlimited ones included.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.faults {
		if (e.method != "" && !strings.EqualFold(e.method, method)) || !strings.HasPrefix(path, e.prefix) {
			continue
		}
		if e.f.Times > 0 {
			e.left--
			if e.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return e.f, true
	}
	return Fault{}, false
}

// play serves a request that took fault f; serve is the real answer.
func (s *Server) play(w http.ResponseWriter, r *http.Request, f Fault, serve http.HandlerFunc) {
	if !f.AfterEffect {
		if !s.sleep(r.Context(), f.Delay) {
			panic(http.ErrAbortHandler)
		}
		switch {
		case f.Hangup:
			hangup(w)
		case f.Status != 0 || f.SecondaryRateLimit:
			writeFault(w, f)
		default:
			serve(w, r)
		}
		return
	}
	rec := httptest.NewRecorder()
	serve(rec, r)
	if !s.sleep(r.Context(), f.Delay) {
		panic(http.ErrAbortHandler)
	}
	switch {
	case f.Hangup:
		hangup(w)
	case f.Status != 0 || f.SecondaryRateLimit:
		writeFault(w, f)
	default:
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.SecondaryRateLimit {
		writeSecondary(w, f.RetryAfter)
		return
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	writeError(w, f.Status, http.StatusText(f.Status))
}

func hangup(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}
