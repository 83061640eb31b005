package pagerfake

import (
	"net/http"
	"strings"
)

// User is a PagerDuty user the Server knows. Its Email is what the From
// header of every write must carry.
type User struct {
	// ID is the user's ID; AddUser assigns one ("PUS0001"...) when empty.
	ID string
	// Name is the user's name, also the summary of every reference to them.
	Name string
	// Email is the user's login e-mail, matched case-insensitively against
	// the From header.
	Email string
}

// AddUser adds u, or replaces the user with the same ID, and returns the
// stored user (with its ID assigned when u.ID was empty).
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.nextID("PUS")
	}
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	stored := u
	s.users[u.ID] = &stored
	return u
}

// User returns the user with the given ID and whether it exists.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// UserRef returns the user_reference of a known user, for an Event's Agent,
// and whether the user exists.
func (s *Server) UserRef(id string) (Ref, bool) {
	u, ok := s.User(id)
	if !ok {
		return Ref{}, false
	}
	return UserRef(u.ID, u.Name), true
}

// userName is the summary of a user reference; an unknown user is summarised
// by its ID. The caller holds s.mu.
func (s *Server) userName(id string) string {
	if u, ok := s.users[id]; ok && u.Name != "" {
		return u.Name
	}
	return id
}

// userRefJSON is a REST user_reference. The caller holds s.mu.
func (s *Server) userRefJSON(id string) map[string]any {
	return map[string]any{
		"id":       id,
		"type":     "user_reference",
		"summary":  s.userName(id),
		"self":     s.url + "/users/" + id,
		"html_url": webURL + "/users/" + id,
	}
}

// userJSON is a REST user object.
func (s *Server) userJSON(u *User) map[string]any {
	return map[string]any{
		"id":        u.ID,
		"type":      "user",
		"summary":   u.Name,
		"self":      s.url + "/users/" + u.ID,
		"html_url":  webURL + "/users/" + u.ID,
		"name":      u.Name,
		"email":     u.Email,
		"time_zone": "Etc/UTC",
		"role":      "user",
	}
}

// getUser answers GET /users/{id}.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.PathValue("id")]
	if !ok {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.userJSON(u)})
}

// listUsers answers GET /users, filtered by query (a case-insensitive
// substring of the name or e-mail), paginated.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := page(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	needle := strings.ToLower(q.Get("query"))
	var all []map[string]any
	for _, id := range s.userOrder {
		u := s.users[id]
		if needle != "" && !strings.Contains(strings.ToLower(u.Name), needle) && !strings.Contains(strings.ToLower(u.Email), needle) {
			continue
		}
		all = append(all, s.userJSON(u))
	}
	lo, hi, out := listPage(q, len(all), offset, limit)
	out["users"] = append([]map[string]any{}, all[lo:hi]...)
	writeJSON(w, http.StatusOK, out)
}
