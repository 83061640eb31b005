package slackfake

import (
	"fmt"
	"slices"
	"time"
)

// User is a workspace member known to the fake.
type User struct {
	// ID is the user ID, e.g. "U0001".
	ID string
	// Name is the legacy user name (users.info's name, a slash command's
	// user_name, a mention's label).
	Name string
	// Email is the address users.lookupByEmail finds the user by.
	Email string
	// RealName is the full name; "" reports Name, as AddUser leaves it.
	RealName string
	// DisplayName is the profile's display name; "" reports Name.
	DisplayName string
	// TZ is the user's time zone name, e.g. "Europe/Paris"; "" reports
	// DefaultUserTZ.
	TZ string
	// IsBot reports whether the user is a bot user.
	IsBot bool
}

// Topic is the topic or purpose of a channel.
type Topic struct {
	// Value is the text.
	Value string
	// Creator is the user ID of who set it.
	Creator string
	// LastSet is when it was set, in unix seconds.
	LastSet int64
}

// Channel is a channel of the fake workspace. Accessors return copies.
type Channel struct {
	// ID is sequential: C0000001, C0000002, ...
	ID string
	// Name is the channel name, unique among all channels made through the API.
	Name string
	// Creator is the user ID of the creator.
	Creator string
	// Created is the creation time in unix seconds, by the server's clock.
	Created int64
	// IsArchived reports whether the channel is archived.
	IsArchived bool
	// IsPrivate reports whether the channel is private.
	IsPrivate bool
	// Topic is the channel topic.
	Topic Topic
	// Purpose is the channel purpose.
	Purpose Topic
	// Members are the user IDs of the members, the creator first.
	Members []string
}

// Message is a message posted in a channel.
type Message struct {
	// Channel is the channel ID.
	Channel string
	// TS is the message timestamp, unique and increasing across the server.
	TS string
	// ThreadTS is the parent's ts for a thread reply, "" otherwise.
	ThreadTS string
	// Broadcast reports a thread reply posted with reply_broadcast: Slack
	// shows it in the channel too (conversations.history lists it, subtype
	// thread_broadcast). Without thread_ts the parameter is ignored.
	Broadcast bool
	// User is the author's user ID.
	User string
	// BotID is the author's bot ID, "" for a human.
	BotID string
	// Username is the username parameter the message was posted with.
	Username string
	// Text is the message text.
	Text string
	// Blocks is the raw JSON array of blocks, "" when none.
	Blocks string
	// Attachments is the raw JSON array of attachments, "" when none.
	Attachments string
	// Pinned reports whether pins.add pinned the message.
	Pinned bool
	// Edited lists the chat.update calls applied, oldest first.
	Edited []Edit
	// Files lists the IDs of the files shared with the message by
	// files.completeUploadExternal, nil for other messages.
	Files []string
}

// Edit is one chat.update applied to a message.
type Edit struct {
	// At is when the update was applied, by the server's clock.
	At time.Time
	// Text is the message text after the update.
	Text string
	// Blocks is the message's blocks after the update.
	Blocks string
}

// AddUser adds a workspace member (or replaces the one with the same ID).
func (s *Server) AddUser(id, name, email string) {
	s.PutUser(User{ID: id, Name: name, Email: email})
}

// PutUser adds a workspace member with all its fields (or replaces the one
// with the same ID).
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.users, func(x User) bool { return x.ID == u.ID }); i >= 0 {
		s.users[i] = u
		return
	}
	s.users = append(s.users, u)
}

// AddUserGroup adds a user group (subteam), e.g. "S0001", with the given
// members, replacing the members of an existing group of that ID.
func (s *Server) AddUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userGroups == nil {
		s.userGroups = map[string][]string{}
	}
	s.userGroups[id] = slices.Clone(members)
}

// Users returns the workspace members added with AddUser or PutUser.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.users)
}

// Channels returns copies of all channels, archived ones included, in
// creation order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, c.clone())
	}
	return out
}

// Channel returns a copy of the channel with the given ID.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byID(id); c != nil {
		return c.clone(), true
	}
	return Channel{}, false
}

// ChannelByName returns a copy of the channel named name (a leading "#" is
// ignored), preferring an unarchived one.
func (s *Server) ChannelByName(name string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byName(name); c != nil {
		return c.clone(), true
	}
	return Channel{}, false
}

// Members returns the user IDs of the channel's members.
func (s *Server) Members(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byID(channelID); c != nil {
		return slices.Clone(c.Members)
	}
	return nil
}

// Topic returns the channel's topic, "" when unknown.
func (s *Server) Topic(channelID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.byID(channelID); c != nil {
		return c.Topic.Value
	}
	return ""
}

// Messages returns copies of the channel's messages (thread replies
// included) in ts order.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages[channelID]))
	for _, m := range s.messages[channelID] {
		c := *m
		c.Edited = slices.Clone(m.Edited)
		c.Files = slices.Clone(m.Files)
		out = append(out, c)
	}
	return out
}

// Pins returns the ts of the pinned messages of the channel.
func (s *Server) Pins(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.messages[channelID] {
		if m.Pinned {
			out = append(out, m.TS)
		}
	}
	return out
}

// CreateChannelDirect adds a public channel without going through the API
// or its name rules, e.g. one made by someone else (creator is its only
// member) or an archived one.
func (s *Server) CreateChannelDirect(name, creator string, archived bool) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.newChannel(name, creator, false)
	c.IsArchived = archived
	return c.clone()
}

// ArchiveChannel archives the channel; it reports whether the channel exists.
func (s *Server) ArchiveChannel(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID(id)
	if c != nil {
		c.IsArchived = true
	}
	return c != nil
}

// AddMember makes users members of the channel; it reports whether the
// channel exists.
func (s *Server) AddMember(channelID string, userIDs ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID(channelID)
	if c == nil {
		return false
	}
	for _, u := range userIDs {
		if !slices.Contains(c.Members, u) {
			c.Members = append(c.Members, u)
		}
	}
	return true
}

// PostMessageDirect records a message from userID in the channel without
// going through the API, e.g. a human's message the bot cannot update.
func (s *Server) PostMessageDirect(channelID, userID, text string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID(channelID) == nil {
		return Message{}, false
	}
	m := &Message{Channel: channelID, TS: s.nextTS(), User: userID, Text: text}
	s.messages[channelID] = append(s.messages[channelID], m)
	return *m, true
}

// The helpers below expect s.mu to be held.

func (c *Channel) clone() Channel {
	out := *c
	out.Members = slices.Clone(c.Members)
	return out
}

func (c *Channel) isMember(user string) bool { return slices.Contains(c.Members, user) }

func (s *Server) byID(id string) *Channel {
	for _, c := range s.channels {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s *Server) byName(name string) *Channel {
	if len(name) > 0 && name[0] == '#' {
		name = name[1:]
	}
	var found *Channel
	for _, c := range s.channels {
		if c.Name == name && (found == nil || found.IsArchived) {
			found = c
		}
	}
	return found
}

func (s *Server) newChannel(name, creator string, private bool) *Channel {
	s.nextChan++
	c := &Channel{
		ID:        fmt.Sprintf("C%07d", s.nextChan),
		Name:      name,
		Creator:   creator,
		Created:   s.now().Unix(),
		IsPrivate: private,
	}
	if creator != "" {
		c.Members = []string{creator}
	}
	s.channels = append(s.channels, c)
	return c
}

func (s *Server) findMessage(channelID, ts string) *Message {
	for _, m := range s.messages[channelID] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// nextTS hands out a unique, increasing message ts from the server's clock.
func (s *Server) nextTS() string {
	micros := s.now().UnixMicro()
	if micros <= s.lastTS {
		micros = s.lastTS + 1
	}
	s.lastTS = micros
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}
