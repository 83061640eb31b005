package store

import (
	"context"
	"encoding/json"
	"time"

	"encoding/binary"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Counts returns how many records of each kind the file holds: incidents,
// timeline entries, outbox jobs, dead letters, events waiting for their
// incident, and delivery records (incidentbot copy compares them).
func (db *DB) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := db.View(ctx, func(t incidentbot.Tx) error {
		btx := t.(*tx).btx
		out["incidents"] = btx.Bucket(bucketIncidents).Stats().KeyN
		out["outbox jobs"] = btx.Bucket(bucketOutbox).Stats().KeyN
		out["dead letters"] = btx.Bucket(bucketDead).Stats().KeyN
		out["delivery records"] = btx.Bucket(bucketDeliveries).Stats().KeyN
		out["people"] = btx.Bucket(bucketPeople).Stats().KeyN
		nested := func(root []byte) (int, error) {
			n := 0
			b := btx.Bucket(root)
			err := b.ForEachBucket(func(k []byte) error {
				return b.Bucket(k).ForEach(func(_, _ []byte) error { n++; return nil })
			})
			return n, err
		}
		var err error
		if out["timeline entries"], err = nested(bucketTimeline); err != nil {
			return err
		}
		out["pending events"], err = nested(bucketPending)
		return err
	})
	return out, err
}

// Deliveries calls fn for every delivery record in key order.
func (db *DB) Deliveries(ctx context.Context, fn func(key string, at time.Time) error) error {
	type rec struct {
		key string
		at  time.Time
	}
	var all []rec
	err := db.View(ctx, func(t incidentbot.Tx) error {
		return t.(*tx).btx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			var at time.Time
			if len(v) == 8 {
				at = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
			}
			all = append(all, rec{string(k), at})
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r.key, r.at); err != nil {
			return err
		}
	}
	return nil
}

// PendingEvents calls fn for every PagerDuty incident with events waiting
// for it, with the events in the order they were kept.
func (db *DB) PendingEvents(ctx context.Context, fn func(pdID string, evs []incidentbot.PagerEvent) error) error {
	kept := map[string][]incidentbot.PagerEvent{}
	var ids []string
	err := db.View(ctx, func(t incidentbot.Tx) error {
		root := t.(*tx).btx.Bucket(bucketPending)
		return root.ForEachBucket(func(k []byte) error {
			id := string(k)
			ids = append(ids, id)
			return root.Bucket(k).ForEach(func(_, v []byte) error {
				var ev incidentbot.PagerEvent
				if err := json.Unmarshal(v, &ev); err != nil {
					return err
				}
				kept[id] = append(kept[id], ev)
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := fn(id, kept[id]); err != nil {
			return err
		}
	}
	return nil
}

// SetIncidentSequence makes the next incident number at least n+1
// (incidentbot copy, after writing incidents with their own numbers).
func (db *DB) SetIncidentSequence(ctx context.Context, n int) error {
	return db.Update(ctx, func(t incidentbot.Tx) error {
		b := t.(*tx).btx.Bucket(bucketIncidents)
		if b.Sequence() >= uint64(n) {
			return nil
		}
		return b.SetSequence(uint64(n))
	})
}
