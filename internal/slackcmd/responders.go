package slackcmd

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Responders decides who may change severity, assign roles and resolve:
// the Slack users and members of the user groups in INCIDENTBOT_RESPONDERS.
// Group membership is cached and refreshed in the background (Run), never
// fetched inside a request; until the first refresh succeeds only the
// listed users are allowed. With nothing configured everyone is allowed.
type Responders struct {
	users  map[string]bool
	groups []string
	fetch  func(ctx context.Context, group string) ([]string, error)
	log    *slog.Logger

	mu      sync.RWMutex
	members map[string]bool
	// byGroup is each group's last known members: a group whose refresh
	// fails keeps them, and only them.
	byGroup map[string][]string
}

// NewResponders returns the policy for ids (user IDs U…/W…, group IDs S…),
// fetching group members with fetch (usergroups.users.list).
func NewResponders(ids []string, fetch func(ctx context.Context, group string) ([]string, error), log *slog.Logger) *Responders {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Responders{users: map[string]bool{}, fetch: fetch, log: log, members: map[string]bool{}}
	for _, id := range ids {
		if strings.HasPrefix(id, "S") {
			r.groups = append(r.groups, id)
		} else {
			r.users[id] = true
		}
	}
	return r
}

// Restricted reports whether a list is configured.
func (r *Responders) Restricted() bool { return len(r.users) > 0 || len(r.groups) > 0 }

// Allowed reports whether a Slack user may do restricted things.
func (r *Responders) Allowed(userID string) bool {
	if !r.Restricted() || r.users[userID] {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.members[userID]
}

// Refresh fetches every group's members once. A group that fails keeps its
// last known members (and only that group: a member removed from a group
// that answered loses the rights it gave).
func (r *Responders) Refresh(ctx context.Context) {
	if len(r.groups) == 0 {
		return
	}
	r.mu.RLock()
	last := r.byGroup
	r.mu.RUnlock()
	byGroup := make(map[string][]string, len(r.groups))
	next := map[string]bool{}
	for _, g := range r.groups {
		ids, err := r.fetch(ctx, g)
		if err != nil {
			r.log.Warn("responders: could not refresh user group; keeping its last known members", "group", g, "err", err)
			ids = last[g]
		}
		byGroup[g] = ids
		for _, id := range ids {
			next[id] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members, r.byGroup = next, byGroup
}

// Run refreshes group membership now and then every interval until ctx ends.
func (r *Responders) Run(ctx context.Context, interval time.Duration) {
	if len(r.groups) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// GroupMembers returns a user group's members (usergroups.users.list).
func (c *Client) GroupMembers(ctx context.Context, group string) ([]string, error) {
	if err := c.take(ctx, "usergroups.users.list", ""); err != nil {
		return nil, err
	}
	ids, err := c.api.GetUserGroupMembersContext(ctx, group)
	c.budget.Done("usergroups.users.list", "")
	if err != nil {
		return nil, c.done(ctx, "usergroups.users.list", "", err)
	}
	return ids, nil
}
