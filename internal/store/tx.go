package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	bolt "go.etcd.io/bbolt"
)

// tx implements incidentbot.Tx over one bbolt transaction. Every value it
// returns is decoded inside the transaction: bbolt's bytes are valid only
// until it ends.
type tx struct {
	btx *bolt.Tx
	// ctx is the View's context: long reads stop when it ends.
	ctx context.Context
	// reads counts incidents decoded, for the context checks.
	reads int
}

// checkCtx reports the context's error every 64 reads (a long read of a
// request that went away stops).
func (t *tx) checkCtx() error {
	t.reads++
	if t.reads%64 == 0 && t.ctx != nil {
		return t.ctx.Err()
	}
	return nil
}

var _ incidentbot.Tx = (*tx)(nil)

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func notFound(format string, args ...any) error {
	return incidentbot.Errorf(incidentbot.ENOTFOUND, format, args...)
}

func (t *tx) SeenDelivery(key string) (bool, error) {
	return t.btx.Bucket(bucketDeliveries).Get([]byte(key)) != nil, nil
}

func (t *tx) MarkDelivery(key string, at time.Time) error {
	return t.btx.Bucket(bucketDeliveries).Put([]byte(key), u64(uint64(at.UnixNano())))
}

func (t *tx) MarkAnswered(key string, at time.Time, answer []byte) error {
	return t.btx.Bucket(bucketDeliveries).Put([]byte(key), append(u64(uint64(at.UnixNano())), answer...))
}

func (t *tx) DeliveryAnswer(key string) ([]byte, bool, error) {
	v := t.btx.Bucket(bucketDeliveries).Get([]byte(key))
	if v == nil {
		return nil, false, nil
	}
	if len(v) < 8 {
		return nil, true, nil
	}
	return bytes.Clone(v[8:]), true, nil
}

func (t *tx) ForgetDelivery(key string) error {
	return t.btx.Bucket(bucketDeliveries).Delete([]byte(key))
}

func (t *tx) Cursor(name string) (string, error) {
	return string(t.btx.Bucket(bucketCursors).Get([]byte(name))), nil
}

func (t *tx) SetCursor(name, value string) error {
	return t.btx.Bucket(bucketCursors).Put([]byte(name), []byte(value))
}

func (t *tx) PutProfile(p *incidentbot.Profile) error {
	if p.ID == "" {
		return incidentbot.Errorf(incidentbot.EINVALID, "a profile needs an ID")
	}
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return t.btx.Bucket(bucketPeople).Put([]byte(p.ID), v)
}

func (t *tx) Profiles(fn func(*incidentbot.Profile) bool) error {
	c := t.btx.Bucket(bucketPeople).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := t.checkCtx(); err != nil {
			return err
		}
		p := new(incidentbot.Profile)
		if err := json.Unmarshal(v, p); err != nil {
			return fmt.Errorf("profile %q: %w", k, err)
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

func (t *tx) NextIncidentNumber() (int, error) {
	n, err := t.btx.Bucket(bucketIncidents).NextSequence()
	return int(n), err
}

func (t *tx) incidentByNumber(n uint64) (*incidentbot.Incident, error) {
	if err := t.checkCtx(); err != nil {
		return nil, err
	}
	v := t.btx.Bucket(bucketIncidents).Get(u64(n))
	if v == nil {
		return nil, notFound("incident %s not found", incidentbot.IncidentID(int(n)))
	}
	inc := new(incidentbot.Incident)
	if err := json.Unmarshal(v, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

func (t *tx) Incident(id string) (*incidentbot.Incident, error) {
	n, ok := incidentbot.ParseIncidentID(id)
	if !ok {
		return nil, notFound("incident %q not found", id)
	}
	return t.incidentByNumber(uint64(n))
}

func (t *tx) byIndex(bucket []byte, key, what string) (*incidentbot.Incident, error) {
	v := t.btx.Bucket(bucket).Get([]byte(key))
	if v == nil {
		return nil, notFound("no incident for %s %s", what, key)
	}
	return t.incidentByNumber(binary.BigEndian.Uint64(v))
}

func (t *tx) IncidentByPagerDutyID(pdID string) (*incidentbot.Incident, error) {
	return t.byIndex(bucketPagerIndex, pdID, "PagerDuty incident")
}

func (t *tx) IncidentByChannel(channelID string) (*incidentbot.Incident, error) {
	return t.byIndex(bucketChannels, channelID, "channel")
}

func (t *tx) PutIncident(inc *incidentbot.Incident) error {
	v, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	key := u64(uint64(inc.Number))
	if err := t.btx.Bucket(bucketIncidents).Put(key, v); err != nil {
		return err
	}
	// Indexes are written only when they change: a Put dirties a page even
	// when the value is the same, and every delivery passes here.
	if inc.PagerDuty != nil && inc.PagerDuty.ID != "" {
		if err := putIfChanged(t.btx.Bucket(bucketPagerIndex), []byte(inc.PagerDuty.ID), key); err != nil {
			return err
		}
	}
	if inc.ChannelID != "" {
		if err := putIfChanged(t.btx.Bucket(bucketChannels), []byte(inc.ChannelID), key); err != nil {
			return err
		}
	}
	if err := setMember(t.btx.Bucket(bucketOpen), key, inc.Status.Open()); err != nil {
		return err
	}
	if err := setMember(t.btx.Bucket(bucketStorm), key, inc.InDigest && inc.Announcement == nil); err != nil {
		return err
	}
	if err := setMember(t.btx.Bucket(bucketActions), key, incidentbot.HasOpenActions(inc)); err != nil {
		return err
	}
	if err := t.indexResolution(inc, key); err != nil {
		return err
	}
	for _, sk := range incidentbot.ServiceKeys(inc) {
		if err := setMember(t.btx.Bucket(bucketServices), serviceKey(sk, key), true); err != nil {
			return err
		}
	}
	return t.indexTitle(inc, key)
}

// indexTitle keeps the word index: the incident under each word of its
// title, the words it was indexed under dropped when the title changes.
func (t *tx) indexTitle(inc *incidentbot.Incident, num []byte) error {
	words := incidentbot.TitleWords(inc.Title)
	want := []byte(strings.Join(words, "\x00"))
	of := t.btx.Bucket(bucketWordsOf)
	have := of.Get(num)
	if have != nil && bytes.Equal(have, want) {
		return nil
	}
	idx := t.btx.Bucket(bucketWords)
	if have != nil {
		for _, w := range strings.Split(string(have), "\x00") {
			if w != "" && !slices.Contains(words, w) {
				if err := idx.Delete(serviceKey(w, num)); err != nil {
					return err
				}
			}
		}
	}
	for _, w := range words {
		if err := setMember(idx, serviceKey(w, num), true); err != nil {
			return err
		}
	}
	return of.Put(num, want)
}

// setMember adds key to a set bucket or removes it, writing only on a
// change.
func setMember(b *bolt.Bucket, key []byte, in bool) error {
	switch was := b.Get(key) != nil; {
	case in && !was:
		return b.Put(key, []byte{1})
	case !in && was:
		return b.Delete(key)
	}
	return nil
}

func serviceKey(sk string, num []byte) []byte {
	return append(append([]byte(sk), 0), num...)
}

// indexResolution keeps the resolution-time index: a resolved incident
// under its resolution time, nothing for an open one.
func (t *tx) indexResolution(inc *incidentbot.Incident, num []byte) error {
	byNum, byTime := t.btx.Bucket(bucketResolvedAt), t.btx.Bucket(bucketResolved)
	var want []byte
	if !inc.Status.Open() && inc.ResolvedAt != nil {
		want = append(u64(uint64(inc.ResolvedAt.UnixNano())), num...)
	}
	have := byNum.Get(num)
	if bytes.Equal(have, want) {
		return nil
	}
	if have != nil {
		if err := byTime.Delete(bytes.Clone(have)); err != nil {
			return err
		}
	}
	if want == nil {
		return byNum.Delete(num)
	}
	if err := byTime.Put(want, []byte{1}); err != nil {
		return err
	}
	return byNum.Put(num, want)
}

// reindex builds every index from the incidents (opening a file of an
// older layout).
func (t *tx) reindex() error {
	for _, name := range [][]byte{bucketOpen, bucketResolved, bucketResolvedAt, bucketServices, bucketStorm, bucketWords, bucketWordsOf, bucketActions} {
		if err := t.btx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := t.btx.CreateBucket(name); err != nil {
			return err
		}
	}
	var all []*incidentbot.Incident
	err := t.btx.Bucket(bucketIncidents).ForEach(func(_, v []byte) error {
		inc := new(incidentbot.Incident)
		if err := json.Unmarshal(v, inc); err != nil {
			return err
		}
		all = append(all, inc)
		return nil
	})
	if err != nil {
		return err
	}
	for _, inc := range all {
		if err := t.PutIncident(inc); err != nil {
			return err
		}
	}
	return nil
}

func putIfChanged(b *bolt.Bucket, k, v []byte) error {
	if bytes.Equal(b.Get(k), v) {
		return nil
	}
	return b.Put(k, v)
}

func (t *tx) OpenIncidents() ([]*incidentbot.Incident, error) {
	return t.members(bucketOpen)
}

func (t *tx) StormIncidents() ([]*incidentbot.Incident, error) {
	return t.members(bucketStorm)
}

func (t *tx) ActionIncidents() ([]*incidentbot.Incident, error) {
	return t.members(bucketActions)
}

// members returns the incidents of a set bucket, newest first.
func (t *tx) members(bucket []byte) ([]*incidentbot.Incident, error) {
	var nums []uint64
	c := t.btx.Bucket(bucket).Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		nums = append(nums, binary.BigEndian.Uint64(k))
	}
	out := make([]*incidentbot.Incident, 0, len(nums))
	for _, n := range nums {
		inc, err := t.incidentByNumber(n)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, nil
}

func (t *tx) ListIncidents(before, limit int, status string) ([]*incidentbot.Incident, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []*incidentbot.Incident
	if status == "open" {
		// The open set is small: walk it, not the history.
		open, err := t.OpenIncidents()
		if err != nil {
			return nil, err
		}
		for _, inc := range open {
			if (before <= 0 || inc.Number < before) && len(out) < limit {
				out = append(out, inc)
			}
		}
		return out, nil
	}
	open := t.btx.Bucket(bucketOpen)
	c := t.btx.Bucket(bucketIncidents).Cursor()
	var k, v []byte
	if before > 0 {
		k, v = c.Seek(u64(uint64(before)))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	for ; k != nil && len(out) < limit; k, v = c.Prev() {
		// Resolved ones only: skip the open ones by their key, undecoded.
		if status == "resolved" && open.Get(k) != nil {
			continue
		}
		if err := t.checkCtx(); err != nil {
			return nil, err
		}
		inc := new(incidentbot.Incident)
		if err := json.Unmarshal(v, inc); err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, nil
}

func (t *tx) ResolvedSince(since time.Time, fn func(*incidentbot.Incident) bool) error {
	from := u64(uint64(max(since.UnixNano(), 0)))
	c := t.btx.Bucket(bucketResolved).Cursor()
	for k, _ := c.Last(); k != nil && bytes.Compare(k[:8], from) >= 0; k, _ = c.Prev() {
		inc, err := t.incidentByNumber(binary.BigEndian.Uint64(k[8:]))
		if err != nil {
			return err
		}
		if !fn(inc) {
			return nil
		}
	}
	return nil
}

func (t *tx) ServiceIncidents(keys []string, before int, fn func(*incidentbot.Incident) bool) error {
	// One cursor per key, each walking its list newest first; merged
	// lazily, so a caller that wants five reads about five.
	type walk struct {
		c      *bolt.Cursor
		prefix []byte
		n      uint64
		ok     bool
	}
	step := func(w *walk, k []byte) {
		for ; k != nil && bytes.HasPrefix(k, w.prefix); k, _ = w.c.Prev() {
			if len(k) == len(w.prefix)+8 {
				w.n, w.ok = binary.BigEndian.Uint64(k[len(w.prefix):]), true
				return
			}
		}
		w.ok = false
	}
	walks := make([]*walk, 0, len(keys))
	for _, sk := range keys {
		w := &walk{c: t.btx.Bucket(bucketServices).Cursor(), prefix: append([]byte(sk), 0)}
		// Seek to the first key at or past the bound, then step back.
		bound := append(bytes.Clone(w.prefix), u64(uint64(before))...)
		if before <= 0 {
			bound = append(bytes.Clone(w.prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}
		k, _ := w.c.Seek(bound)
		if k == nil {
			k, _ = w.c.Last()
		} else {
			k, _ = w.c.Prev()
		}
		step(w, k)
		walks = append(walks, w)
	}
	last := uint64(0)
	for {
		var best *walk
		for _, w := range walks {
			if w.ok && (best == nil || w.n > best.n) {
				best = w
			}
		}
		if best == nil {
			return nil
		}
		n := best.n
		for _, w := range walks {
			if w.ok && w.n == n {
				k, _ := w.c.Prev()
				step(w, k)
			}
		}
		if n == last {
			continue
		}
		last = n
		inc, err := t.incidentByNumber(n)
		if err != nil {
			return err
		}
		if !fn(inc) {
			return nil
		}
	}
}

func (t *tx) TitleIncidents(words []string, minShared, before int, fn func(*incidentbot.Incident) bool) error {
	// One cursor per word, each walking its list newest first for at most
	// TitleScan entries; merged by number, counting the words each
	// incident has.
	type walk struct {
		c      *bolt.Cursor
		prefix []byte
		n      uint64
		ok     bool
		left   int
	}
	step := func(w *walk, k []byte) {
		for ; k != nil && w.left > 0 && bytes.HasPrefix(k, w.prefix); k, _ = w.c.Prev() {
			if len(k) == len(w.prefix)+8 {
				w.n, w.ok = binary.BigEndian.Uint64(k[len(w.prefix):]), true
				w.left--
				return
			}
		}
		w.ok = false
	}
	minShared = max(minShared, 1)
	var walks []*walk
	for _, word := range slices.Compact(slices.Sorted(slices.Values(words))) {
		w := &walk{c: t.btx.Bucket(bucketWords).Cursor(), prefix: append([]byte(word), 0), left: incidentbot.TitleScan}
		bound := append(bytes.Clone(w.prefix), u64(uint64(before))...)
		if before <= 0 {
			bound = append(bytes.Clone(w.prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}
		k, _ := w.c.Seek(bound)
		if k == nil {
			k, _ = w.c.Last()
		} else {
			k, _ = w.c.Prev()
		}
		step(w, k)
		walks = append(walks, w)
	}
	for {
		var top uint64
		any := false
		for _, w := range walks {
			if w.ok && (!any || w.n > top) {
				top, any = w.n, true
			}
		}
		if !any {
			return nil
		}
		shared := 0
		for _, w := range walks {
			if w.ok && w.n == top {
				shared++
				k, _ := w.c.Prev()
				step(w, k)
			}
		}
		if shared < minShared {
			continue
		}
		inc, err := t.incidentByNumber(top)
		if err != nil {
			return err
		}
		if !fn(inc) {
			return nil
		}
	}
}

func (t *tx) timelineBucket(incidentID string, create bool) (*bolt.Bucket, error) {
	n, ok := incidentbot.ParseIncidentID(incidentID)
	if !ok {
		return nil, notFound("incident %q not found", incidentID)
	}
	root := t.btx.Bucket(bucketTimeline)
	if !create {
		return root.Bucket(u64(uint64(n))), nil
	}
	return root.CreateBucketIfNotExists(u64(uint64(n)))
}

func (t *tx) AppendEntry(incidentID string, e *incidentbot.Entry) error {
	b, err := t.timelineBucket(incidentID, true)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

func (t *tx) Timeline(incidentID string) ([]incidentbot.Entry, error) {
	b, err := t.timelineBucket(incidentID, false)
	if err != nil || b == nil {
		return nil, err
	}
	out := make([]incidentbot.Entry, 0, b.Stats().KeyN)
	err = b.ForEach(func(_, v []byte) error {
		var e incidentbot.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func (t *tx) Enqueue(j *incidentbot.Job) error {
	b := t.btx.Bucket(bucketOutbox)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	j.ID = id
	return t.PutJob(j)
}

func (t *tx) PutJob(j *incidentbot.Job) error {
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return t.btx.Bucket(bucketOutbox).Put(u64(j.ID), v)
}

func (t *tx) DeleteJob(id uint64) error {
	return t.btx.Bucket(bucketOutbox).Delete(u64(id))
}

func (t *tx) Jobs(after uint64, fn func(*incidentbot.Job) bool) error {
	c := t.btx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		j := new(incidentbot.Job)
		if err := json.Unmarshal(v, j); err != nil {
			return err
		}
		if !fn(j) {
			return nil
		}
	}
	return nil
}

func (t *tx) PutDeadLetter(j *incidentbot.Job) error {
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return t.btx.Bucket(bucketDead).Put(u64(j.ID), v)
}

func (t *tx) DeadLetters() ([]*incidentbot.Job, error) {
	var out []*incidentbot.Job
	err := t.btx.Bucket(bucketDead).ForEach(func(_, v []byte) error {
		j := new(incidentbot.Job)
		if err := json.Unmarshal(v, j); err != nil {
			return err
		}
		out = append(out, j)
		return nil
	})
	return out, err
}

func (t *tx) AddPending(pdID string, ev incidentbot.PagerEvent) (bool, error) {
	root := t.btx.Bucket(bucketPending)
	first := root.Bucket([]byte(pdID)) == nil
	b, err := root.CreateBucketIfNotExists([]byte(pdID))
	if err != nil {
		return false, err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return false, err
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	return first, b.Put(u64(seq), v)
}

func (t *tx) TakePending(pdID string) ([]incidentbot.PagerEvent, error) {
	root := t.btx.Bucket(bucketPending)
	b := root.Bucket([]byte(pdID))
	if b == nil {
		return nil, nil
	}
	var out []incidentbot.PagerEvent
	err := b.ForEach(func(_, v []byte) error {
		var ev incidentbot.PagerEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, root.DeleteBucket([]byte(pdID))
}

// PruneDeliveries deletes dedupe records older than cutoff and returns how
// many it deleted. Keys are collected first: deleting while a cursor walks
// can skip keys.
func (db *DB) PruneDeliveries(cutoff time.Time) (int, error) {
	var n int
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketDeliveries)
		var old [][]byte
		limit := u64(uint64(cutoff.UnixNano()))
		err := b.ForEach(func(k, v []byte) error {
			if len(v) >= 8 && bytes.Compare(v[:8], limit) < 0 {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}
