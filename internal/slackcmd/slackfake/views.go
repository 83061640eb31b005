package slackfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

// Limits of views.open, as Slack documents them.
const (
	// TriggerIDTTL is how long a trigger ID from NewTriggerID can be
	// exchanged, by the server's clock.
	TriggerIDTTL = 3 * time.Second
	// MaxViewBytes is the largest view views.open accepts (view_too_large).
	MaxViewBytes = 250 * 1024
)

const (
	maxViewTitle    = 24
	maxViewBlocks   = 100
	maxViewMetadata = 3000
	maxViewID       = 255
)

// View is a modal opened with views.open.
type View struct {
	// ID is the view ID the fake answered, e.g. "V0000000001".
	ID string
	// TriggerID is the trigger ID the view was opened with.
	TriggerID string
	// CallbackID is the view's callback_id, "" when none.
	CallbackID string
	// JSON is the view as the app sent it, compacted.
	JSON string
	// At is when the view was opened, by the server's clock.
	At time.Time
}

type trigger struct {
	issued time.Time
	used   bool
}

// NewTriggerID issues a trigger ID, as Slack sends with a slash command or
// an interaction. views.open accepts it once, within TriggerIDTTL of the
// server's clock; afterwards it answers exchanged_trigger_id or
// expired_trigger_id.
func (s *Server) NewTriggerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.nextTrigger++
	id := fmt.Sprintf("%d.%d.%s", now.Unix(), s.nextTrigger, randomHex(16))
	if s.triggers == nil {
		s.triggers = map[string]*trigger{}
	}
	s.triggers[id] = &trigger{issued: now}
	return id
}

// Views returns the views opened with views.open, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.views...)
}

func (s *Server) viewsOpen(p url.Values) reply {
	trig, raw := p.Get("trigger_id"), p.Get("view")
	switch {
	case raw == "":
		return invalidArguments("[ERROR] missing required field: view")
	case trig == "":
		return invalidArguments("[ERROR] missing required field: trigger_id")
	case len(raw) > MaxViewBytes:
		return fail("view_too_large")
	}
	view, msgs := parseModal(raw)
	if len(msgs) > 0 {
		return invalidArguments(msgs...)
	}
	t := s.triggers[trig]
	switch {
	case t == nil:
		return fail("invalid_trigger_id")
	case t.used:
		return fail("exchanged_trigger_id")
	case s.now().Sub(t.issued) >= TriggerIDTTL:
		return fail("expired_trigger_id")
	}
	ext, _ := view["external_id"].(string)
	if ext != "" && s.externalIDs[ext] {
		return fail("duplicate_external_id")
	}
	t.used = true
	if ext != "" {
		if s.externalIDs == nil {
			s.externalIDs = map[string]bool{}
		}
		s.externalIDs[ext] = true
	}

	s.nextView++
	id := fmt.Sprintf("V%010d", s.nextView)
	now := s.now()
	out := map[string]any{
		"private_metadata": "", "callback_id": "", "external_id": "",
		"clear_on_close": false, "notify_on_close": false, "close": nil, "submit": nil,
	}
	for k, v := range view {
		out[k] = v
	}
	for k, v := range map[string]any{
		"id": id, "team_id": s.TeamID, "state": map[string]any{"values": map[string]any{}},
		"hash": fmt.Sprintf("%d.%s", now.Unix(), randomHex(4)), "root_view_id": id,
		"previous_view_id": nil, "app_id": s.AppID, "app_installed_team_id": s.TeamID,
		"bot_id": s.BotID,
	} {
		out[k] = v
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(raw))
	callbackID, _ := view["callback_id"].(string)
	s.views = append(s.views, View{ID: id, TriggerID: trig, CallbackID: callbackID, JSON: compact.String(), At: now})
	return ok(map[string]any{"view": out})
}

// invalidArguments answers like Slack's schema checks: the error plus
// messages in response_metadata.
func invalidArguments(msgs ...string) reply {
	return reply{err: "invalid_arguments", fields: map[string]any{
		"response_metadata": map[string]any{"messages": msgs},
	}}
}

// parseModal decodes a modal view and applies Slack's main schema rules; it
// returns the view or Slack-style error messages.
func parseModal(raw string) (map[string]any, []string) {
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var view map[string]any
	if err := dec.Decode(&view); err != nil || view == nil || dec.More() {
		return nil, []string{"[ERROR] failed to match all allowed schemas [json-pointer:/view]"}
	}
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }

	switch typ, present := view["type"]; {
	case !present:
		add("[ERROR] missing required field: type [json-pointer:/view]")
	case typ != "modal":
		add("[ERROR] must be a valid enum value [json-pointer:/view/type]")
	}
	if title, present := view["title"]; present {
		msgs = append(msgs, textObjectErrors("/view/title", title)...)
	} else {
		add("[ERROR] missing required field: title [json-pointer:/view]")
	}
	for _, field := range []string{"close", "submit"} {
		if v, present := view[field]; present && v != nil {
			msgs = append(msgs, textObjectErrors("/view/"+field, v)...)
		}
	}
	blocks, isArray := view["blocks"].([]any)
	switch _, present := view["blocks"]; {
	case !present:
		add("[ERROR] missing required field: blocks [json-pointer:/view]")
	case !isArray:
		add("[ERROR] must provide an array [json-pointer:/view/blocks]")
	case len(blocks) > maxViewBlocks:
		add("[ERROR] no more than %d items allowed [json-pointer:/view/blocks]", maxViewBlocks)
	}
	seen, hasInput := map[string]bool{}, false
	for i, b := range blocks {
		block, isObject := b.(map[string]any)
		typ, _ := block["type"].(string)
		if !isObject || typ == "" {
			add("[ERROR] missing required field: type [json-pointer:/view/blocks/%d]", i)
			continue
		}
		hasInput = hasInput || typ == "input"
		if id, isString := block["block_id"].(string); isString {
			if seen[id] {
				add("[ERROR] duplicate block_id %q [json-pointer:/view/blocks/%d/block_id]", id, i)
			}
			seen[id] = true
		}
	}
	if hasInput && view["submit"] == nil {
		add("[ERROR] must provide a submit button when including input blocks [json-pointer:/view]")
	}
	for _, f := range []struct {
		name  string
		limit int
	}{{"private_metadata", maxViewMetadata}, {"callback_id", maxViewID}, {"external_id", maxViewID}} {
		field, limit := f.name, f.limit
		v, present := view[field]
		str, isString := v.(string)
		switch {
		case !present:
		case !isString:
			add("[ERROR] must be a string [json-pointer:/view/%s]", field)
		case utf8.RuneCountInString(str) > limit:
			add("[ERROR] must be less than %d characters [json-pointer:/view/%s]", limit+1, field)
		}
	}
	return view, msgs
}

// textObjectErrors checks a plain_text object such as a view's title.
func textObjectErrors(ptr string, v any) []string {
	obj, isObject := v.(map[string]any)
	if !isObject {
		return []string{"[ERROR] must provide an object [json-pointer:" + ptr + "]"}
	}
	var msgs []string
	if obj["type"] != "plain_text" {
		msgs = append(msgs, "[ERROR] must be a valid enum value [json-pointer:"+ptr+"/type]")
	}
	text, _ := obj["text"].(string)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		msgs = append(msgs, "[ERROR] must be more than 0 characters [json-pointer:"+ptr+"/text]")
	case n > maxViewTitle:
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:%s/text]", maxViewTitle+1, ptr))
	}
	return msgs
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
