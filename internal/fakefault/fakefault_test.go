package fakefault

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestQueue_OldestMatchFirst_TimesThenGone_UnlimitedUntilClear(t *testing.T) {
	var q Queue[string]
	q.Add("POST", "/incidents", 2, "two posts")
	q.Add("", "", 0, "every request")
	take := func(method, path string) string {
		t.Helper()
		f, ok := q.Take(method, path)
		if !ok {
			return "none"
		}
		return f
	}
	for i, c := range []struct{ method, path, want string }{
		{"GET", "/incidents", "every request"}, // the first does not match GET
		{"post", "/incidents/P1/notes", "two posts"},
		{"POST", "/users", "every request"}, // nor another path
		{"POST", "/incidents", "two posts"},
		{"POST", "/incidents", "every request"}, // used up
		{"POST", "/incidents", "every request"},
	} {
		if got := take(c.method, c.path); got != c.want {
			t.Errorf("request %d (%s %s) took %q, want %q", i, c.method, c.path, got, c.want)
		}
	}
	q.Clear()
	if got := take("GET", "/"); got != "none" {
		t.Errorf("after Clear a request took %q", got)
	}
}

func TestPlay(t *testing.T) {
	effects := 0
	serve := func(w http.ResponseWriter, _ *http.Request) {
		effects++
		w.WriteHeader(201)
		_, _ = w.Write([]byte("real"))
	}
	fail := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }
	closing := make(chan struct{})
	for _, c := range []struct {
		name        string
		plan        Plan
		code        int
		body        string
		effects     int
		minDuration time.Duration
	}{
		{"nothing", Plan{}, 201, "real", 1, 0},
		{"fail", Plan{Fail: true}, 503, "", 0, 0},
		{"late", Plan{Delay: 30 * time.Millisecond}, 201, "real", 1, 30 * time.Millisecond},
		{"answer lost", Plan{AfterEffect: true, Fail: true}, 503, "", 1, 0},
		{"real answer late, after the effect", Plan{AfterEffect: true, Delay: 30 * time.Millisecond}, 201, "real", 1, 30 * time.Millisecond},
	} {
		effects = 0
		rec := httptest.NewRecorder()
		t0 := time.Now()
		Play(rec, httptest.NewRequest("POST", "/", nil), c.plan, closing, serve, fail)
		if rec.Code != c.code || rec.Body.String() != c.body || effects != c.effects || time.Since(t0) < c.minDuration {
			t.Errorf("%s: %d %q, %d effects after %v; want %d %q, %d effects after at least %v",
				c.name, rec.Code, rec.Body.String(), effects, time.Since(t0), c.code, c.body, c.effects, c.minDuration)
		}
	}
	// A delay cut short by the fake's closing performs and answers nothing.
	close(closing)
	effects = 0
	func() {
		defer func() {
			if r := recover(); r != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", r)
			}
		}()
		Play(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil), Plan{Delay: time.Hour}, closing, serve, fail)
	}()
	if effects != 0 {
		t.Errorf("%d effects after a delay cut short", effects)
	}
}
