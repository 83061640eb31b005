package slackcmd

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// conversations.list may answer fewer than limit channels per page (Slack
// documents it; private_channel listings are sparse). Here the channel
// sought is on page 25. The budget (Tier 2: 20 calls a minute) stops
// FindChannel at page 21 with ETHROTTLED; the outbox calls it again after
// RetryAfter, and it went back to page 1 each time: it never reached page
// 25, and the channel's job waited a day to become a dead letter.
func TestClient_FindChannel_ListingLongerThanTheBudget_GoesOn(t *testing.T) {
	const pages = 25
	var mu sync.Mutex
	maxPage := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		page := 1
		if c := r.Form.Get("cursor"); c != "" {
			page, _ = strconv.Atoi(c)
		}
		mu.Lock()
		maxPage = max(maxPage, page)
		mu.Unlock()
		resp := map[string]any{"ok": true, "channels": []any{}}
		if page < pages {
			resp["response_metadata"] = map[string]any{"next_cursor": strconv.Itoa(page + 1)}
		} else {
			resp["channels"] = []any{map[string]any{"id": "C9", "name": "inc-7-db", "creator": "UBOT", "created": 1}}
		}
		json.NewEncoder(w).Encode(resp)
	}))
	defer srv.Close()

	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	c := NewClient("xoxb-test", srv.URL+"/", nil)
	c.SetBudget(NewBudget(1, clock))

	for attempt := 1; attempt <= 30; attempt++ { // 30 retries over ~30 minutes
		_, ok, err := c.FindChannel(context.Background(), "inc-7-db", true)
		if err == nil {
			if !ok {
				t.Fatal("not found")
			}
			return // reached the last page
		}
		if incidentbot.ErrorCode(err) != incidentbot.ETHROTTLED {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		clockMu.Lock()
		now = now.Add(incidentbot.RetryAfter(err) + time.Millisecond) // the outbox's NextAt
		clockMu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("after 30 attempts FindChannel never got past page %d of %d", maxPage, pages)
}
