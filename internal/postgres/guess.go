package postgres

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Guessing delivery keys (tx.SeenDelivery).
//
// The first attempt of an Update takes a delivery key to be new without
// reading it, which saves a round trip for each key of a new webhook. A
// wrong guess costs the whole attempt: the transaction rolls back and fn
// runs again, reading. So the store guesses only for the kinds of keys that
// are rarely there: it counts, per key prefix (up to the first ':', such
// as "pd-webhook:" or "person-lookup:"), how many of its keys turned out
// recorded, from the reads and from the guesses that commits confirmed, and
// reads instead of guessing for a prefix whose keys were found in more than
// one look of ten. A marker that is usually set (a pending lookup of a
// person named in every webhook) is then read, and a delivery's own keys,
// new unless PagerDuty delivers twice, are guessed.

// keyCounts are the looks at one prefix's keys and how many found the key.
type keyCounts struct{ looks, found atomic.Int64 }

// keyStats holds keyCounts by prefix; at most maxPrefixes prefixes are
// counted (others are read, never guessed).
type keyStats struct {
	mu sync.Mutex
	by map[string]*keyCounts
}

const maxPrefixes = 64

// keyPrefix is the part of key its counts go under.
func keyPrefix(key string) string {
	if i := strings.IndexByte(key, ':'); i >= 0 && i < 40 {
		return key[:i+1]
	}
	return "" // no prefix: counted together
}

func (s *keyStats) counts(key string) *keyCounts {
	p := keyPrefix(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string]*keyCounts{}
	}
	c := s.by[p]
	if c == nil && len(s.by) < maxPrefixes {
		c = &keyCounts{}
		s.by[p] = c
	}
	return c
}

// guessable reports whether keys like key are rarely found (at most one
// look in ten, or never looked at yet).
func (s *keyStats) guessable(key string) bool {
	c := s.counts(key)
	if c == nil {
		return false
	}
	return c.found.Load()*10 <= c.looks.Load()
}

// observe counts a look at key and whether it was there. The counts are
// halved now and then, so they follow what happens lately.
func (s *keyStats) observe(key string, found bool) {
	c := s.counts(key)
	if c == nil {
		return
	}
	if found {
		c.found.Add(1)
	}
	if c.looks.Add(1) > 1000 {
		c.looks.Store(c.looks.Load() / 2)
		c.found.Store(c.found.Load() / 2)
	}
}
