package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The floor is a benchmark's yardstick: it must write what it says a
// delivery needs (three keys, the incident's seq, one entry, one job), in
// both of its modes, with consecutive timeline seqs even when one batch
// holds several deliveries of one incident, and refuse a bad signature.
func TestFloor_WritesWhatADeliveryNeeds(t *testing.T) {
	for _, batch := range []int{0, 64} {
		t.Run(map[bool]string{true: "batched", false: "one by one"}[batch > 0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			pool, err := pgxpool.New(ctx, pgtest.SchemaURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			const secret, incidents, senders, each = "floor-secret", 3, 12, 10
			h, stop, err := newFloor(ctx, pool, secret, incidents, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			srv := httptest.NewServer(h)
			defer srv.Close()

			maker := newNoteMaker(makeIncidents(incidents))
			var wg sync.WaitGroup
			errs := make(chan error, senders*each)
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sender := &pagerfake.Sender{URL: srv.URL, Secrets: []string{secret}}
					for i := range each {
						status, err := sender.Send(ctx, "", maker.body(uint64(s*each+i)))
						if err == nil && status != http.StatusAccepted {
							t.Errorf("delivery answered %d, want 202", status)
						}
						if err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			bad := &pagerfake.Sender{URL: srv.URL, Secrets: []string{"another secret"}}
			if status, err := bad.Send(ctx, "", maker.body(9999)); err != nil || status != http.StatusUnauthorized {
				t.Fatalf("a bad signature: %d %v, want 401", status, err)
			}

			const total = senders * each
			count := func(sql string) int {
				t.Helper()
				var n int
				if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if got := count("SELECT count(*) FROM deliveries"); got != 3*total {
				t.Errorf("%d delivery keys, want %d", got, 3*total)
			}
			if got := count("SELECT count(*) FROM jobs"); got != total {
				t.Errorf("%d jobs, want %d", got, total)
			}
			if got := count("SELECT count(*) FROM timeline"); got != total {
				t.Errorf("%d timeline entries, want %d", got, total)
			}
			// Every incident's entries are 1..last_seq, no gap, no repeat.
			if got := count(`SELECT count(*) FROM incidents i WHERE last_seq <> (SELECT count(*) FROM timeline t WHERE t.number = i.number)
				OR last_seq <> (SELECT coalesce(max(seq), 0) FROM timeline t WHERE t.number = i.number)`); got != 0 {
				t.Errorf("%d incidents whose timeline seqs are not 1..last_seq", got)
			}
			if got := count("SELECT coalesce(sum(last_seq), 0) FROM incidents"); got != total {
				t.Errorf("the incidents' seqs add up to %d, want %d", got, total)
			}
		})
	}
}
