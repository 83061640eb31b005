package slackcmd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
)

// A 429 whose Retry-After is missing (slack-go then returns a plain
// StatusCodeError{429}) is a rate limit all the same: retry, not a dead letter.
func TestClient_429WithoutRetryAfter_IsTransient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := NewClient("xoxb-test", srv.URL+"/", nil)
	_, err := c.Post(context.Background(), "C1", incidentbot.Message{Text: "hi"})
	if !incidentbot.IsTransient(err) {
		t.Fatalf("429 without Retry-After classified %q (%v): the outbox dead-letters the post instead of retrying", incidentbot.ErrorCode(err), err)
	}
}

// Slack's answers about a person are ENOTFOUND; one about the bot's token
// or scopes is not (the domain keeps the first as a fact, not the second).
func TestClient_UserLookups_NoSuchUserIsENOTFOUND(t *testing.T) {
	for code, want := range map[string]string{"users_not_found": incidentbot.ENOTFOUND, "user_not_found": incidentbot.ENOTFOUND, "invalid_auth": incidentbot.EREJECTED, "missing_scope": incidentbot.EREJECTED} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
		}))
		c := NewClient("xoxb-test", srv.URL+"/", nil)
		_, err := c.UserByEmail(context.Background(), "ada@example.com")
		_, perr := c.UserProfile(context.Background(), "UADA")
		srv.Close()
		if incidentbot.ErrorCode(err) != want || incidentbot.ErrorCode(perr) != want {
			t.Errorf("%s: users.lookupByEmail %v, users.info %v; want %s", code, err, perr, want)
		}
	}
}
