package incidentbot

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// People: one name per person. Slack sends only a user ID (and a legacy
// user name the bot never shows); PagerDuty sends its own user IDs with
// names of its own. The directory maps both to one person: a Slack user
// by their profile's real name (users.info), a PagerDuty user to the
// Slack user with the same e-mail address. Requests never ask Slack or
// PagerDuty: they record the ID (with the name the directory already
// knows) and queue a lookup; what people read (channel posts, the topic,
// the kickoff, the API, the postmortem) is resolved through the
// directory when it is rendered or read.

// Profile is what the bot knows of one user ID: a Slack user (U… or W…)
// or a PagerDuty user (P…).
type Profile struct {
	ID string `json:"id"`
	// Name is a Slack user's real name (else their display name), or a
	// PagerDuty user's name.
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// SlackID is, for a PagerDuty user, the Slack user with the same
	// e-mail address ("" when there is none): the same person.
	SlackID string `json:"slack_id,omitempty"`
	// Missing is set when the service said there is no such user.
	Missing bool `json:"missing,omitempty"`
	// CheckedAt is when the service was last asked.
	CheckedAt time.Time `json:"checked_at"`
}

// IsSlackUserID reports whether id is a Slack user ID (U… or W…); other
// IDs a Person carries are PagerDuty's (P…).
func IsSlackUserID(id string) bool {
	return len(id) > 1 && (id[0] == 'U' || id[0] == 'W')
}

// People is the directory: the profiles the bot knows, in memory, filled
// from the store at start, by lookups (outbox jobs, never requests) and by
// the background refresh. Its zero value is an empty directory; a nil
// *People resolves nothing. Safe for concurrent use.
type People struct {
	mu   sync.RWMutex
	byID map[string]Profile
	// pagerOf maps a Slack user ID to the PagerDuty user mapped to it.
	pagerOf map[string]string
}

// Profile returns what the directory knows of an ID.
func (d *People) Profile(id string) (Profile, bool) {
	if d == nil || id == "" {
		return Profile{}, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	p, ok := d.byID[id]
	return p, ok
}

// Put records profiles (a newer check of an ID replaces an older one).
func (d *People) Put(ps ...Profile) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID == nil {
		d.byID, d.pagerOf = map[string]Profile{}, map[string]string{}
	}
	for _, p := range ps {
		old, ok := d.byID[p.ID]
		if ok && old.CheckedAt.After(p.CheckedAt) {
			continue
		}
		if ok && old.SlackID != "" && d.pagerOf[old.SlackID] == p.ID {
			delete(d.pagerOf, old.SlackID)
		}
		d.byID[p.ID] = p
		if p.SlackID != "" {
			d.pagerOf[p.SlackID] = p.ID
		}
	}
}

// PagerDutyIDOf returns the PagerDuty user the directory maps to a Slack
// user ("" when none).
func (d *People) PagerDutyIDOf(slackID string) string {
	if d == nil {
		return ""
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pagerOf[slackID]
}

// Len returns how many IDs the directory knows.
func (d *People) Len() int {
	if d == nil {
		return 0
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byID)
}

// stale returns up to n profiles checked before cutoff, oldest first.
func (d *People) stale(cutoff time.Time, n int) []Profile {
	if d == nil {
		return nil
	}
	d.mu.RLock()
	var out []Profile
	for _, p := range d.byID {
		if p.CheckedAt.Before(cutoff) {
			out = append(out, p)
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b Profile) int { return a.CheckedAt.Compare(b.CheckedAt) })
	return out[:min(n, len(out))]
}

// Resolve returns the person as the directory knows them: a PagerDuty
// user with a Slack account becomes that Slack user, and the name is the
// Slack profile's real name (else the PagerDuty name, else the name p
// carries). A person the directory does not know is returned as given.
func (d *People) Resolve(p Person) Person {
	if d == nil || p.ID == "" {
		return p
	}
	prof, ok := d.Profile(p.ID)
	if !ok {
		return p
	}
	if prof.SlackID != "" {
		out := Person{ID: prof.SlackID, Name: cmp.Or(prof.Name, p.Name)}
		if s, ok := d.Profile(prof.SlackID); ok && s.Name != "" {
			out.Name = s.Name
		}
		return out
	}
	return Person{ID: p.ID, Name: cmp.Or(prof.Name, p.Name)}
}

// ResolveIncident returns a copy of the incident whose people (roles,
// assignees, action owners, who declared it) carry their directory names;
// inc is not changed. Assignees that turn out to be one person appear once.
func (d *People) ResolveIncident(inc *Incident) *Incident {
	if d == nil || inc == nil {
		return inc
	}
	out := *inc
	if inc.Roles != nil {
		out.Roles = make(map[Role]Person, len(inc.Roles))
		for r, p := range inc.Roles {
			out.Roles[r] = d.Resolve(p)
		}
	}
	out.Assignees = nil
	for _, p := range inc.Assignees {
		q := d.Resolve(p)
		if !slices.ContainsFunc(out.Assignees, func(o Person) bool { return o.ID != "" && o.ID == q.ID }) {
			out.Assignees = append(out.Assignees, q)
		}
	}
	if inc.Actions != nil {
		out.Actions = slices.Clone(inc.Actions)
		for i, a := range out.Actions {
			if a.Owner != nil {
				o := d.Resolve(*a.Owner)
				out.Actions[i].Owner = &o
			}
		}
	}
	if inc.DeclaredBy != nil {
		p := d.Resolve(*inc.DeclaredBy)
		out.DeclaredBy = &p
	}
	return &out
}

// ResolveEntries returns a copy of the timeline whose actors carry their
// directory names and whose texts name the people they refer to (see
// Ref); tl is not changed.
func (d *People) ResolveEntries(tl []Entry) []Entry {
	out := slices.Clone(tl)
	for i := range out {
		out[i].Actor = d.Resolve(out[i].Actor)
		out[i].Text = d.Text(out[i].Text)
		if s := out[i].Subject; s != nil {
			p := d.Resolve(*s)
			out[i].Subject = &p
		}
	}
	return out
}

// References to people inside texts the bot writes ("Acknowledged by …",
// "… is commander") are resolved when the text is shown, so that a name
// learned later, or a PagerDuty user found to be a Slack user, reads
// right everywhere. A reference is the ID and the name known when it was
// written, between Unicode noncharacters, which people's own text never
// carries (Clean strips them).
const (
	refOpen  = '\uFDD0'
	refSep   = '\uFDD1'
	refClose = '\uFDD2'
)

// Ref returns the in-text reference to a person: their name when the text
// is shown. A person without an ID is their name as it is.
func Ref(p Person) string {
	if p.ID == "" {
		return p.Display()
	}
	return string(refOpen) + p.ID + string(refSep) + stripRefs(p.Name) + string(refClose)
}

// stripRefs removes the reference delimiters from text that did not come
// from Ref (people's words, PagerDuty's texts).
func stripRefs(s string) string {
	if !strings.ContainsAny(s, string([]rune{refOpen, refSep, refClose})) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == refOpen || r == refSep || r == refClose {
			return -1
		}
		return r
	}, s)
}

// Text resolves the references in a text to names (the directory's, else
// the one written with the reference, else the ID). A nil *People uses the
// written names.
func (d *People) Text(s string) string { return d.resolveRefs(s, func(n string) string { return n }) }

// Mrkdwn resolves the references in Slack mrkdwn, escaping the names it
// puts in (a name written with the reference was escaped with the text).
func (d *People) Mrkdwn(s string) string { return d.resolveRefs(s, EscapeMrkdwn) }

func (d *People) resolveRefs(s string, escape func(string) string) string {
	if !strings.ContainsAny(s, string([]rune{refOpen, refSep, refClose})) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexRune(s, refOpen)
		if i < 0 {
			b.WriteString(stripRefs(s))
			return b.String()
		}
		b.WriteString(stripRefs(s[:i]))
		rest := s[i+len(string(refOpen)):]
		j := strings.IndexRune(rest, refClose)
		if j < 0 {
			b.WriteString(stripRefs(rest))
			return b.String()
		}
		id, name, _ := strings.Cut(rest[:j], string(refSep))
		id, name = stripRefs(id), stripRefs(name)
		p := d.Resolve(Person{ID: id})
		switch {
		case p.Name != "":
			b.WriteString(escape(p.Name))
		case name != "":
			b.WriteString(name) // escaped (or not) with its text
		default:
			b.WriteString(escape(id))
		}
		s = rest[j+len(string(refClose)):]
	}
}

// ResolveMessage returns msg with the references in its texts resolved.
func (d *People) ResolveMessage(msg Message) Message {
	msg.Text, msg.Header = d.Mrkdwn(msg.Text), d.Text(msg.Header)
	msg.Body, msg.Context = d.Mrkdwn(msg.Body), d.Mrkdwn(msg.Context)
	if msg.Fields != nil {
		msg.Fields = slices.Clone(msg.Fields)
		for i := range msg.Fields {
			msg.Fields[i].Value = d.Mrkdwn(msg.Fields[i].Value)
		}
	}
	return msg
}

// ResolveIncident returns a copy of the incident with its people named
// as the directory knows them (see People.ResolveIncident).
func (s *Service) ResolveIncident(inc *Incident) *Incident { return s.People.ResolveIncident(inc) }

// ResolveEntries returns a copy of a timeline with its actors and the
// people its texts refer to named as the directory knows them.
func (s *Service) ResolveEntries(tl []Entry) []Entry { return s.People.ResolveEntries(tl) }

// person returns a person as the directory knows them, in a transaction
// (no remote call): their directory name, or, for an ID the directory does
// not know yet, the ID as given and a queued lookup.
func (w *txWork) person(p Person) (Person, error) {
	p.Name = stripRefs(p.Name)
	if p.ID == "" {
		return p, nil
	}
	if _, ok := w.s.People.Profile(p.ID); ok || w.s.People == nil {
		return w.s.People.Resolve(p), nil
	}
	return p, w.queueLookup(p.ID)
}

// people makes a command's people the directory's (the actor, the person
// it names, an action item's owner) and strips reference delimiters from
// its texts.
func (w *txWork) people(c *Cmd) error {
	var err error
	if c.Actor, err = w.person(c.Actor); err != nil {
		return err
	}
	if c.User != nil {
		u, err := w.person(*c.User)
		if err != nil {
			return err
		}
		c.User = &u
	}
	if c.Action != nil {
		a := *c.Action
		a.Text = stripRefs(a.Text)
		if a.Owner != nil {
			o, err := w.person(*a.Owner)
			if err != nil {
				return err
			}
			a.Owner = &o
		}
		c.Action = &a
	}
	c.Text = stripRefs(c.Text)
	return nil
}

// pagerPeople makes a PagerDuty event's people the directory's (the
// agent, the assignees, the responder) and strips reference delimiters
// from its texts.
func (w *txWork) pagerPeople(ev *PagerEvent) error {
	var err error
	if ev.Agent, err = w.person(ev.Agent); err != nil {
		return err
	}
	ev.Text = stripRefs(ev.Text)
	if ev.Responder != nil {
		r, err := w.person(*ev.Responder)
		if err != nil {
			return err
		}
		ev.Responder = &r
	}
	if pi := ev.Incident; pi != nil {
		cp := *pi
		cp.Title = stripRefs(cp.Title)
		cp.Assignees = make([]Person, len(pi.Assignees))
		for i, p := range pi.Assignees {
			if cp.Assignees[i], err = w.person(p); err != nil {
				return err
			}
		}
		ev.Incident = &cp
	}
	return nil
}

// queueLookup queues a directory lookup of an ID, once while one is
// pending.
func (w *txWork) queueLookup(id string) error {
	if !IsSlackUserID(id) && !w.s.PagerSync {
		return nil // a PagerDuty user cannot be looked up without a token
	}
	key := lookupKey(id)
	if seen, err := w.SeenDelivery(key); err != nil || seen {
		return err
	}
	if err := w.MarkDelivery(key, w.now); err != nil {
		return err
	}
	return w.enqueue(&Job{Kind: JobLookupPerson, Lane: "people", PersonID: id})
}

// lookupKey marks an ID whose directory lookup is queued.
func lookupKey(id string) string { return "person-lookup:" + id }

// LoadPeople fills the directory from the store: at start, and on every
// replica from time to time, so that what another replica learned is
// known here too. It reads the profiles, not the incidents: its cost
// follows the number of people, not history.
func (s *Service) LoadPeople(ctx context.Context) error {
	if s.People == nil {
		return nil
	}
	var ps []Profile
	err := s.Store.View(ctx, func(tx Tx) error {
		ps = ps[:0]
		return tx.Profiles(func(p *Profile) bool {
			ps = append(ps, *p)
			return true
		})
	})
	if err != nil {
		return err
	}
	s.People.Put(ps...)
	return nil
}

// remember stores profiles learned by a lookup and puts them in the
// directory.
func (w *txWork) remember(ps []Profile) error {
	for i := range ps {
		if err := w.PutProfile(&ps[i]); err != nil {
			return err
		}
	}
	w.s.People.Put(ps...)
	return nil
}

// SlackUser is a Slack user's profile as users.info gives it.
type SlackUser struct {
	ID          string
	RealName    string
	DisplayName string
	Email       string
	Deleted     bool
}

// PagerUser is a PagerDuty user as GET /users/{id} gives it.
type PagerUser struct {
	ID    string
	Name  string
	Email string
}

// lookup asks Slack (and for a PagerDuty user PagerDuty, then Slack by
// e-mail) who an ID is, and returns the profiles learned: the ID's own,
// and for a PagerDuty user with a Slack account that account's too. A user
// the service does not know is a Missing profile, not an error.
func (js *Jobs) lookup(ctx context.Context, id string) ([]Profile, error) {
	now := js.Service.now()
	if IsSlackUserID(id) {
		p, err := js.slackProfile(ctx, id, now)
		if err != nil {
			return nil, err
		}
		return []Profile{p}, nil
	}
	if js.Pager == nil {
		return nil, Errorf(EREJECTED, "PAGERDUTY_API_TOKEN is not set, so PagerDuty user %s cannot be looked up", id)
	}
	u, err := js.Pager.User(ctx, id)
	if ErrorCode(err) == EREJECTED {
		return []Profile{{ID: id, Missing: true, CheckedAt: now}}, nil
	}
	if err != nil {
		return nil, err
	}
	p := Profile{ID: id, Name: stripRefs(u.Name), Email: u.Email, CheckedAt: now}
	out := []Profile{p}
	if u.Email == "" {
		return out, nil
	}
	sid, err := js.Chat.UserByEmail(ctx, u.Email)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return out, nil // no Slack account with that address
	case err != nil:
		return nil, err
	}
	sp, err := js.slackProfile(ctx, sid, now)
	if err != nil {
		return nil, err
	}
	out[0].SlackID = sid
	return append(out, sp), nil
}

func (js *Jobs) slackProfile(ctx context.Context, id string, now time.Time) (Profile, error) {
	u, err := js.Chat.UserProfile(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		// user_not_found, user_not_visible: the ID stays as it is. Other
		// failures (a revoked token, a missing scope) are no fact about
		// the person: the lookup fails, and is asked again later.
		return Profile{ID: id, Missing: true, CheckedAt: now}, nil
	}
	if err != nil {
		return Profile{}, err
	}
	return Profile{ID: id, Name: stripRefs(cmp.Or(strings.TrimSpace(u.RealName), strings.TrimSpace(u.DisplayName))), Email: u.Email, CheckedAt: now}, nil
}

// profile returns the directory's profile of an ID, looking it up (and
// storing what it learned) when the directory does not know it yet.
func (js *Jobs) profile(ctx context.Context, id string) (Profile, error) {
	s := js.Service
	if p, ok := s.People.Profile(id); ok {
		return p, nil
	}
	ps, err := js.lookup(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	js.learned(ctx, ps)
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return Profile{ID: id}, nil
}

// learned stores profiles a lookup returned (bookkeeping that shutdown
// does not cancel) and puts them in the directory.
func (js *Jobs) learned(ctx context.Context, ps []Profile) {
	s := js.Service
	if err := s.update(context.WithoutCancel(ctx), func(w *txWork) error { return w.remember(ps) }); err != nil {
		s.logger().Warn("people: could not store what a lookup learned", "err", err)
		s.People.Put(ps...)
	}
}

// known makes sure the directory knows the IDs, looking up those it does
// not (jobs may call Slack and PagerDuty; requests may not). A failed
// lookup leaves the name the record carries, and is logged.
func (js *Jobs) known(ctx context.Context, ids []string) {
	s := js.Service
	if s.People == nil {
		return
	}
	for _, id := range ids {
		if _, ok := s.People.Profile(id); ok || id == "" {
			continue
		}
		if _, err := js.profile(ctx, id); err != nil {
			s.logger().Warn("people: lookup failed; the name written with the record is shown", "user", id, "err", ErrorMessage(err))
		}
	}
}

// refIDs lists the IDs referred to in texts.
func refIDs(texts ...string) []string {
	var ids []string
	for _, s := range texts {
		for {
			i := strings.IndexRune(s, refOpen)
			if i < 0 {
				break
			}
			s = s[i+len(string(refOpen)):]
			j := strings.IndexRune(s, refSep)
			if j < 0 {
				break
			}
			if id := s[:j]; !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// incidentIDs lists the people an incident names.
func incidentIDs(inc *Incident) []string {
	var ids []string
	add := func(p Person) {
		if p.ID != "" && !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	}
	for _, r := range Roles {
		if p, ok := inc.Roles[r]; ok {
			add(p)
		}
	}
	for _, p := range inc.Assignees {
		add(p)
	}
	return ids
}

// RefreshPeople asks again about the profiles checked longest ago (at most
// n, older than maxAge), so that renamed people read right: the
// background refresh, on the leader. It returns how many it refreshed.
func (js *Jobs) RefreshPeople(ctx context.Context, maxAge time.Duration, n int) (int, error) {
	s := js.Service
	if s.People == nil {
		return 0, nil
	}
	done := 0
	for _, p := range s.People.stale(s.now().Add(-maxAge), n) {
		ps, err := js.lookup(ctx, p.ID)
		if err != nil {
			if IsTransient(err) || ErrorCode(err) == ETHROTTLED {
				return done, err
			}
			// Refused for good (no PagerDuty token): checked, kept.
			p.CheckedAt = s.now()
			ps = []Profile{p}
		}
		if err := s.update(ctx, func(w *txWork) error { return w.remember(ps) }); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
