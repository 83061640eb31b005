package slackfake

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// methods are the built-in API methods; they run with s.mu held.
var methods = map[string]func(*Server, url.Values) reply{
	"auth.test":               (*Server).authTest,
	"apps.connections.open":   (*Server).appsConnectionsOpen,
	"users.info":              (*Server).usersInfo,
	"users.lookupByEmail":     (*Server).usersLookupByEmail,
	"conversations.create":    (*Server).conversationsCreate,
	"conversations.info":      (*Server).conversationsInfo,
	"conversations.list":      (*Server).conversationsList,
	"conversations.members":   (*Server).conversationsMembers,
	"conversations.setTopic":  (*Server).conversationsSetTopic,
	"conversations.rename":    (*Server).conversationsRename,
	"conversations.invite":    (*Server).conversationsInvite,
	"conversations.join":      (*Server).conversationsJoin,
	"conversations.archive":   (*Server).conversationsArchive,
	"conversations.unarchive": (*Server).conversationsUnarchive,
	"chat.postMessage":        (*Server).chatPostMessage,
	"chat.update":             (*Server).chatUpdate,
	"chat.getPermalink":       (*Server).chatGetPermalink,
	"pins.add":                (*Server).pinsAdd,
	"conversations.history":   (*Server).conversationsHistory,
	"conversations.replies":   (*Server).conversationsReplies,
	"usergroups.users.list":   (*Server).usergroupsUsersList,
	"views.open":              (*Server).viewsOpen,

	"files.getUploadURLExternal":   (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal": (*Server).filesCompleteUploadExternal,
	"files.info":                   (*Server).filesInfo,
}

const (
	maxNameLen  = 80
	maxTopicLen = 250
	maxTextLen  = 40000
	maxLimit    = 1000
)

func (s *Server) authTest(url.Values) reply {
	return ok(map[string]any{
		"url":     "https://" + s.TeamDomain + ".slack.com/",
		"team":    s.TeamName,
		"user":    s.BotName,
		"team_id": s.TeamID,
		"user_id": s.BotUserID,
		"bot_id":  s.BotID,
	})
}

func (s *Server) usersInfo(p url.Values) reply {
	id := p.Get("user")
	if id == s.BotUserID {
		return ok(map[string]any{"user": s.userJSON(User{ID: id, Name: s.BotName, IsBot: true})})
	}
	for _, u := range s.users {
		if u.ID == id {
			return ok(map[string]any{"user": s.userJSON(u)})
		}
	}
	return fail("user_not_found")
}

func (s *Server) usersLookupByEmail(p url.Values) reply {
	email := p.Get("email")
	for _, u := range s.users {
		if email != "" && strings.EqualFold(u.Email, email) {
			return ok(map[string]any{"user": s.userJSON(u)})
		}
	}
	return fail("users_not_found")
}

func (s *Server) conversationsCreate(p url.Values) reply {
	name := p.Get("name")
	if code := nameError(name); code != "" {
		return fail(code)
	}
	if s.byName(name) != nil { // archived channels keep their names
		return fail("name_taken")
	}
	c := s.newChannel(name, s.BotUserID, parseBool(p.Get("is_private")))
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

// nameError applies Slack's channel naming rules.
func nameError(name string) string {
	switch {
	case name == "":
		return "invalid_name_required"
	case utf8.RuneCountInString(name) > maxNameLen:
		return "invalid_name_maxlength"
	}
	onlyPunct := true
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			onlyPunct = false
		case r == '-', r == '_':
		default:
			return "invalid_name_specials"
		}
	}
	if onlyPunct {
		return "invalid_name_punctuation"
	}
	return ""
}

func (s *Server) conversationsInfo(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil || !s.visible(c) {
		return fail("channel_not_found")
	}
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

func (s *Server) conversationsList(p url.Values) reply {
	types := p.Get("types")
	if types == "" {
		types = "public_channel"
	}
	var public, private bool
	for _, t := range strings.Split(types, ",") {
		switch strings.TrimSpace(t) {
		case "public_channel":
			public = true
		case "private_channel":
			private = true
		case "mpim", "im": // the fake has no direct messages
		default:
			return fail("invalid_types")
		}
	}
	start, valid := decodeCursor(p.Get("cursor"), "channel:")
	if !valid {
		return fail("invalid_cursor")
	}
	limit := pageLimit(p.Get("limit"))
	excludeArchived := parseBool(p.Get("exclude_archived"))

	page, next := []map[string]any{}, ""
	for _, c := range s.channels {
		switch {
		case c.ID < start, excludeArchived && c.IsArchived, !s.visible(c),
			c.IsPrivate && !private, !c.IsPrivate && !public:
			continue
		}
		if len(page) == limit {
			next = encodeCursor("channel:" + c.ID)
			break
		}
		page = append(page, s.channelJSON(c))
	}
	return ok(map[string]any{"channels": page, "response_metadata": map[string]any{"next_cursor": next}})
}

func (s *Server) conversationsMembers(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil || !s.visible(c) {
		return fail("channel_not_found")
	}
	offset, valid := decodeCursor(p.Get("cursor"), "offset:")
	n, err := strconv.Atoi(offset)
	if !valid || (offset != "" && (err != nil || n < 0 || n > len(c.Members))) {
		return fail("invalid_cursor")
	}
	end, next := min(n+pageLimit(p.Get("limit")), len(c.Members)), ""
	if end < len(c.Members) {
		next = encodeCursor("offset:" + strconv.Itoa(end))
	}
	return ok(map[string]any{
		"members":           append([]string{}, c.Members[n:end]...),
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

// conversationsRename renames a channel as Slack does: the bot must be in
// it, and only the channel's creator (or an admin, which the bot is not)
// may rename it (not_authorized); the name follows the naming rules and
// must be free among all channels, archived ones included (name_taken).
// Renaming a channel to its own name changes nothing.
func (s *Server) conversationsRename(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	switch {
	case c == nil || !s.visible(c):
		return fail("channel_not_found")
	case !c.isMember(s.BotUserID):
		return fail("not_in_channel")
	case c.Creator != s.BotUserID:
		return fail("not_authorized")
	}
	name := p.Get("name")
	if code := nameError(name); code != "" {
		return fail(code)
	}
	if other := s.byName(name); other != nil && other != c {
		return fail("name_taken")
	}
	c.Name = name
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

func (s *Server) conversationsSetTopic(p url.Values) reply {
	c, code := s.writableChannel(p.Get("channel"))
	if code != "" {
		return fail(code)
	}
	topic := p.Get("topic")
	if utf8.RuneCountInString(topic) > maxTopicLen {
		return fail("too_long")
	}
	c.Topic = Topic{Value: topic, Creator: s.BotUserID, LastSet: s.now().Unix()}
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

func (s *Server) conversationsInvite(p url.Values) reply {
	c, code := s.writableChannel(p.Get("channel"))
	if code != "" {
		return fail(code)
	}
	var users []string
	for _, u := range strings.Split(p.Get("users"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return fail("no_user")
	}
	for _, u := range users {
		switch {
		case u == s.BotUserID:
			return inviteError("cant_invite_self", u)
		case !s.userExists(u):
			return inviteError("user_not_found", u)
		}
	}
	var errs []map[string]any
	added := 0
	for _, u := range users {
		if c.isMember(u) {
			errs = append(errs, map[string]any{"user": u, "ok": false, "error": "already_in_channel"})
			continue
		}
		c.Members = append(c.Members, u)
		added++
	}
	if added == 0 {
		return reply{err: "already_in_channel", fields: map[string]any{"errors": errs}}
	}
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

// inviteError answers like Slack: the error plus a per-user errors list.
func inviteError(code, user string) reply {
	return reply{err: code, fields: map[string]any{
		"errors": []map[string]any{{"user": user, "ok": false, "error": code}},
	}}
}

func (s *Server) conversationsJoin(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	switch {
	case c == nil || !s.visible(c):
		return fail("channel_not_found")
	case c.IsArchived:
		return fail("is_archived")
	case c.IsPrivate:
		return fail("method_not_supported_for_channel_type")
	case c.isMember(s.BotUserID):
		return ok(map[string]any{
			"channel":           s.channelJSON(c),
			"warning":           "already_in_channel",
			"response_metadata": map[string]any{"warnings": []string{"already_in_channel"}},
		})
	}
	c.Members = append(c.Members, s.BotUserID)
	return ok(map[string]any{"channel": s.channelJSON(c)})
}

func (s *Server) conversationsArchive(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	switch {
	case c == nil || !s.visible(c):
		return fail("channel_not_found")
	case c.IsArchived:
		return fail("already_archived")
	}
	c.IsArchived = true
	return ok(nil)
}

func (s *Server) conversationsUnarchive(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	switch {
	case c == nil || !s.visible(c):
		return fail("channel_not_found")
	case !c.IsArchived:
		return fail("not_archived")
	}
	c.IsArchived = false
	return ok(nil)
}

func (s *Server) chatPostMessage(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil {
		c = s.byName(p.Get("channel"))
	}
	switch {
	case c == nil:
		return fail("channel_not_found")
	case c.IsArchived:
		return fail("is_archived")
	case c.IsPrivate && !c.isMember(s.BotUserID):
		return fail("not_in_channel")
	}
	text, blocks, atts := p.Get("text"), p.Get("blocks"), p.Get("attachments")
	if code := contentError(text, blocks, atts); code != "" {
		return fail(code)
	}
	if text == "" && isEmptyJSONArray(blocks) && isEmptyJSONArray(atts) {
		return fail("no_text")
	}
	m := &Message{
		Channel: c.ID, TS: s.nextTS(), ThreadTS: p.Get("thread_ts"),
		User: s.BotUserID, BotID: s.BotID, Username: p.Get("username"),
		Text: text, Blocks: nonEmpty(blocks), Attachments: nonEmpty(atts),
	}
	m.Broadcast = m.ThreadTS != "" && parseBool(p.Get("reply_broadcast"))
	s.messages[c.ID] = append(s.messages[c.ID], m)
	return ok(map[string]any{"channel": c.ID, "ts": m.TS, "message": s.messageJSON(m)})
}

func (s *Server) chatUpdate(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil {
		return fail("channel_not_found")
	}
	m := s.findMessage(c.ID, p.Get("ts"))
	switch {
	case m == nil:
		return fail("message_not_found")
	case m.User != s.BotUserID:
		return fail("cant_update_message")
	}
	_, hasText := p["text"]
	_, hasBlocks := p["blocks"]
	_, hasAtts := p["attachments"]
	if !hasText && !hasBlocks && !hasAtts {
		return fail("no_text")
	}
	if code := contentError(p.Get("text"), p.Get("blocks"), p.Get("attachments")); code != "" {
		return fail(code)
	}
	// Like Slack, fields left out keep their previous value; "[]" clears.
	if hasText {
		m.Text = p.Get("text")
	}
	if hasBlocks {
		m.Blocks = nonEmpty(p.Get("blocks"))
	}
	if hasAtts {
		m.Attachments = nonEmpty(p.Get("attachments"))
	}
	m.Edited = append(m.Edited, Edit{At: s.now(), Text: m.Text, Blocks: m.Blocks})
	return ok(map[string]any{"channel": c.ID, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)})
}

func (s *Server) chatGetPermalink(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil || !s.visible(c) {
		return fail("channel_not_found")
	}
	m := s.findMessage(c.ID, p.Get("message_ts"))
	if m == nil {
		return fail("message_not_found")
	}
	return ok(map[string]any{"channel": c.ID, "permalink": permalink(s.TeamDomain, c.ID, m.TS, m.ThreadTS)})
}

func (s *Server) pinsAdd(p url.Values) reply {
	c := s.byID(p.Get("channel"))
	if c == nil || !s.visible(c) {
		return fail("channel_not_found")
	}
	if p.Get("timestamp") == "" {
		return fail("no_item_specified")
	}
	m := s.findMessage(c.ID, p.Get("timestamp"))
	switch {
	case m == nil:
		return fail("message_not_found")
	case m.Pinned:
		return fail("already_pinned")
	}
	m.Pinned = true
	return ok(nil)
}

// visible reports whether the bot can see c: private channels are hidden
// from non-members, as in Slack.
func (s *Server) visible(c *Channel) bool { return !c.IsPrivate || c.isMember(s.BotUserID) }

// writableChannel finds a channel the bot may change, or the Slack error.
func (s *Server) writableChannel(id string) (*Channel, string) {
	c := s.byID(id)
	switch {
	case c == nil:
		return nil, "channel_not_found"
	case c.IsArchived:
		return nil, "is_archived"
	case !c.isMember(s.BotUserID):
		return nil, "not_in_channel"
	}
	return c, ""
}

func (s *Server) userExists(id string) bool {
	for _, u := range s.users {
		if u.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) channelJSON(c *Channel) map[string]any {
	topic := func(t Topic) map[string]any {
		return map[string]any{"value": t.Value, "creator": t.Creator, "last_set": t.LastSet}
	}
	return map[string]any{
		"id": c.ID, "name": c.Name, "name_normalized": c.Name,
		"is_channel": true, "is_group": false, "is_im": false, "is_mpim": false,
		"is_private": c.IsPrivate, "is_archived": c.IsArchived, "is_general": false,
		"is_shared": false, "is_ext_shared": false, "is_org_shared": false,
		"created": c.Created, "creator": c.Creator, "context_team_id": s.TeamID,
		"is_member": c.isMember(s.BotUserID), "num_members": len(c.Members),
		"topic": topic(c.Topic), "purpose": topic(c.Purpose),
	}
}

func (s *Server) messageJSON(m *Message) map[string]any {
	out := messageFields(m, s.TeamID)
	if len(m.Files) > 0 {
		files := make([]map[string]any, 0, len(m.Files))
		for _, id := range m.Files {
			files = append(files, s.fileJSON(id))
		}
		out["files"] = files
	}
	return out
}

// messageFields is a message as Slack's API and events show it.
func messageFields(m *Message, teamID string) map[string]any {
	out := map[string]any{
		"type": "message", "user": m.User, "text": m.Text, "ts": m.TS, "team": teamID,
	}
	if m.BotID != "" {
		out["bot_id"] = m.BotID
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Broadcast {
		out["subtype"] = "thread_broadcast"
	}
	if m.Username != "" {
		out["username"] = m.Username
	}
	if m.Blocks != "" {
		out["blocks"] = json.RawMessage(m.Blocks)
	}
	if m.Attachments != "" {
		out["attachments"] = json.RawMessage(m.Attachments)
	}
	if len(m.Files) > 0 {
		files := make([]map[string]any, 0, len(m.Files))
		for _, id := range m.Files {
			files = append(files, map[string]any{"id": id})
		}
		out["files"], out["upload"], out["display_as_bot"] = files, true, false
	}
	if n := len(m.Edited); n > 0 {
		out["edited"] = map[string]any{"user": m.User, "ts": strconv.FormatInt(m.Edited[n-1].At.Unix(), 10) + ".000000"}
	}
	return out
}

// permalink is Slack's link to a message: the ts without its dot, plus the
// thread for a reply.
func permalink(domain, channel, ts, threadTS string) string {
	link := "https://" + domain + ".slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
	if threadTS != "" && threadTS != ts {
		link += "?thread_ts=" + threadTS + "&cid=" + channel
	}
	return link
}

func (s *Server) userJSON(u User) map[string]any {
	realName := u.RealName
	if realName == "" {
		realName = u.Name
	}
	display := u.DisplayName
	if display == "" {
		display = u.Name
	}
	tz := u.TZ
	if tz == "" {
		tz = DefaultUserTZ
	}
	label, offset := tzInfo(tz, s.now())
	profile := map[string]any{
		"email": u.Email, "real_name": realName, "real_name_normalized": realName,
		"display_name": display, "display_name_normalized": display, "team": s.TeamID,
	}
	if u.IsBot {
		delete(profile, "email") // bots have no address
		if u.ID == s.BotUserID {
			profile["bot_id"] = s.BotID
		}
	}
	return map[string]any{
		"id": u.ID, "team_id": s.TeamID, "name": u.Name, "real_name": realName,
		"deleted": false, "is_bot": u.IsBot, "is_app_user": false,
		"tz": tz, "tz_label": label, "tz_offset": offset,
		"profile": profile,
	}
}

// tzInfo returns the zone abbreviation and UTC offset in seconds of the
// named zone at t; without zone data it reports the name and 0.
func tzInfo(name string, t time.Time) (string, int) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return name, 0
	}
	abbr, offset := t.In(loc).Zone()
	return abbr, offset
}

// contentError checks a message's length and the JSON of its blocks and
// attachments.
func contentError(text, blocks, atts string) string {
	switch {
	case utf8.RuneCountInString(text) > maxTextLen:
		return "msg_too_long"
	case !isJSONArray(blocks):
		return "invalid_blocks"
	case !isJSONArray(atts):
		return "invalid_attachments"
	}
	return ""
}

func isJSONArray(s string) bool {
	var v []json.RawMessage
	return strings.TrimSpace(s) == "" || json.Unmarshal([]byte(s), &v) == nil
}

func isEmptyJSONArray(s string) bool {
	var v []json.RawMessage
	return strings.TrimSpace(s) == "" || (json.Unmarshal([]byte(s), &v) == nil && len(v) == 0)
}

// nonEmpty returns s, or "" for an empty JSON array.
func nonEmpty(s string) string {
	if isEmptyJSONArray(s) {
		return ""
	}
	return s
}

func parseBool(s string) bool { return s == "true" || s == "1" }

func pageLimit(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 100
	}
	return min(n, maxLimit)
}

// Cursors are opaque base64 strings, like Slack's ("dGVhbTpDMDYx...").
func encodeCursor(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// decodeCursor returns the value after prefix; "" for no cursor.
func decodeCursor(cursor, prefix string) (string, bool) {
	if cursor == "" {
		return "", true
	}
	b, err := base64.StdEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", false
	}
	return strings.TrimPrefix(string(b), prefix), true
}
