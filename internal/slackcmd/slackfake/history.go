package slackfake

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	historyDefaultLimit = 100
	historyMaxLimit     = 999
	repliesDefaultLimit = 1000
	repliesMaxLimit     = 1000
)

// conversationsHistory lists the channel's messages, newest first, without
// thread replies, between oldest and latest (inclusive bounds only with
// inclusive=true), like Slack.
func (s *Server) conversationsHistory(p url.Values) reply {
	c, code := s.readableChannel(p.Get("channel"))
	if code != "" {
		return fail(code)
	}
	w, code := readWindow(p)
	if code != "" {
		return fail(code)
	}
	cursor, valid := decodeCursor(p.Get("cursor"), "next_ts:")
	upTo, err := strconv.ParseInt(cursor, 10, 64)
	if !valid || (cursor != "" && err != nil) {
		return fail("invalid_cursor")
	}
	var picked []*Message
	msgs := s.messages[c.ID]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		ts, _ := parseTS(m.TS)
		if (isReply(m) && !m.Broadcast) || !w.contains(ts) || (cursor != "" && ts > upTo) {
			continue
		}
		picked = append(picked, m)
	}
	page, more, next := paginate(picked, fetchLimit(p.Get("limit"), historyDefaultLimit, historyMaxLimit))
	fields := map[string]any{
		"messages": s.historyJSON(page), "has_more": more, "pin_count": len(s.pinned(c.ID)),
		"channel_actions_ts": nil, "channel_actions_count": 0,
		"response_metadata": map[string]any{"next_cursor": next},
	}
	if w.latestSet {
		fields["latest"] = p.Get("latest")
	}
	if w.oldestSet {
		fields["oldest"] = p.Get("oldest")
	}
	return ok(fields)
}

// conversationsReplies lists a thread oldest first: the parent, then its
// replies. A reply's ts selects its whole thread.
func (s *Server) conversationsReplies(p url.Values) reply {
	c, code := s.readableChannel(p.Get("channel"))
	if code != "" {
		return fail(code)
	}
	ts := p.Get("ts")
	if ts == "" {
		return invalidArguments("[ERROR] missing required field: ts")
	}
	root := s.findMessage(c.ID, ts)
	if root != nil && isReply(root) {
		root = s.findMessage(c.ID, root.ThreadTS)
	}
	if root == nil {
		return fail("thread_not_found")
	}
	w, code := readWindow(p)
	if code != "" {
		return fail(code)
	}
	cursor, valid := decodeCursor(p.Get("cursor"), "next_ts:")
	from, err := strconv.ParseInt(cursor, 10, 64)
	if !valid || (cursor != "" && err != nil) {
		return fail("invalid_cursor")
	}
	var picked []*Message
	for _, m := range append([]*Message{root}, s.threadReplies(root)...) {
		ts, _ := parseTS(m.TS)
		if !w.contains(ts) || (cursor != "" && ts < from) {
			continue
		}
		picked = append(picked, m)
	}
	page, more, next := paginate(picked, fetchLimit(p.Get("limit"), repliesDefaultLimit, repliesMaxLimit))
	return ok(map[string]any{
		"messages": s.historyJSON(page), "has_more": more,
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

func (s *Server) usergroupsUsersList(p url.Values) reply {
	id := p.Get("usergroup")
	if id == "" {
		return invalidArguments("[ERROR] missing required field: usergroup")
	}
	members, found := s.userGroups[id]
	if !found {
		return fail("no_such_subteam")
	}
	return ok(map[string]any{"users": append([]string{}, members...)})
}

// readableChannel finds a channel whose history the bot may read: a bot
// token reads only channels it is a member of.
func (s *Server) readableChannel(id string) (*Channel, string) {
	c := s.byID(id)
	switch {
	case c == nil || !s.visible(c):
		return nil, "channel_not_found"
	case !c.isMember(s.BotUserID):
		return nil, "not_in_channel"
	}
	return c, ""
}

// window is the latest/oldest/inclusive range of history and replies.
type window struct {
	oldest, latest       int64 // microseconds
	oldestSet, latestSet bool
	inclusive            bool
}

func readWindow(p url.Values) (window, string) {
	w := window{latest: 1<<63 - 1, inclusive: parseBool(p.Get("inclusive"))}
	if v := p.Get("latest"); v != "" {
		ts, valid := parseTS(v)
		if !valid {
			return w, "invalid_ts_latest"
		}
		w.latest, w.latestSet = ts, true
	}
	if v := p.Get("oldest"); v != "" {
		ts, valid := parseTS(v)
		if !valid {
			return w, "invalid_ts_oldest"
		}
		w.oldest, w.oldestSet = ts, true
	}
	return w, ""
}

func (w window) contains(ts int64) bool {
	if ts < w.oldest || ts > w.latest {
		return false
	}
	if !w.inclusive && ((w.oldestSet && ts == w.oldest) || (w.latestSet && ts == w.latest)) {
		return false
	}
	return true
}

// parseTS reads a Slack timestamp ("1700000000.000100", "1700000000") as
// microseconds.
func parseTS(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	if !allDigits(sec) || len(sec) > 12 || len(frac) > 6 || (frac != "" && !allDigits(frac)) {
		return 0, false
	}
	n, _ := strconv.ParseInt(sec, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return n*1e6 + f, true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func fetchLimit(s string, def, most int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

// paginate cuts msgs to limit; the cursor names the first message left out.
func paginate(msgs []*Message, limit int) ([]*Message, bool, string) {
	if len(msgs) <= limit {
		return msgs, false, ""
	}
	ts, _ := parseTS(msgs[limit].TS)
	return msgs[:limit], true, encodeCursor("next_ts:" + strconv.FormatInt(ts, 10))
}

func isReply(m *Message) bool { return m.ThreadTS != "" && m.ThreadTS != m.TS }

func (s *Server) threadReplies(root *Message) []*Message {
	var out []*Message
	for _, m := range s.messages[root.Channel] {
		if m.ThreadTS == root.TS && m.TS != root.TS {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) pinned(channelID string) []*Message {
	var out []*Message
	for _, m := range s.messages[channelID] {
		if m.Pinned {
			out = append(out, m)
		}
	}
	return out
}

// historyJSON shows messages as conversations.history does: with pins and
// thread summaries.
func (s *Server) historyJSON(msgs []*Message) []map[string]any {
	out := make([]map[string]any, 0, len(msgs))
	for _, m := range msgs {
		j := s.messageJSON(m)
		if m.Pinned {
			j["pinned_to"] = []string{m.Channel}
		}
		if isReply(m) {
			if root := s.findMessage(m.Channel, m.ThreadTS); root != nil {
				j["parent_user_id"] = root.User
			}
		} else if replies := s.threadReplies(m); len(replies) > 0 {
			var users []string
			for _, r := range replies {
				if !slices.Contains(users, r.User) {
					users = append(users, r.User)
				}
			}
			j["thread_ts"] = m.TS
			j["reply_count"] = len(replies)
			j["reply_users_count"] = len(users)
			j["reply_users"] = users
			j["latest_reply"] = replies[len(replies)-1].TS
			j["is_locked"] = false
			j["subscribed"] = false
		}
		out = append(out, j)
	}
	return out
}
