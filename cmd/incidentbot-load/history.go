package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store"
)

// The history mode (-mode history) asks whether costs grow with stored
// history. For each size (-history, default 1000,10000,100000) it writes
// that many resolved incidents, older than the status page's 90 days,
// through the real store, plus the same recent ones at every size (20
// public incidents resolved in the last 90 days, 10 waiting for a storm
// digest, 3 open), then measures, side by side:
//
//   - in-process on the file, through the domain: drafting a recent
//     incident's postmortem (related incidents, team figures), reading the
//     storm digest's incidents, and /incident list;
//   - the real server on that file: its start-up (to /readyz), GET /status
//     one request at a time, webhook ingest alone, and webhook ingest while
//     64 clients read /status as fast as they can.
//
// Bars: each per-request cost at the largest size within 1.5× of its cost
// at the smallest; ingest under the readers at least 0.8× of ingest alone.

// historyRow is one size's figures.
type historyRow struct {
	size                             int
	build, startup                   time.Duration
	status, list, postmortem, digest costs
	alone, withReaders               loadResult
	readerOK, readerShed             float64 // per second, during the window
}

// costs are one operation's latencies, sorted.
type costs []time.Duration

func (c costs) p(pct float64) time.Duration { return percentile(c, pct) }

// measureOp runs op n times and returns its latencies.
func measureOp(n int, op func() error) (costs, error) {
	var out costs
	for range n {
		t0 := time.Now()
		if err := op(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	slices.Sort(out)
	return out, nil
}

var historyServices = []string{"Checkout", "Search", "Payments", "Login", "Catalog", "Inventory", "Shipping", "Email", "Reports", "Mobile API"}

// buildHistory writes size old resolved incidents and the fixed recent
// set into path and returns the ID of a recent incident to draft.
func buildHistory(ctx context.Context, path string, size int, now time.Time) (string, error) {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return "", err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	put := func(tx incidentbot.Tx, opened time.Time, each func(inc *incidentbot.Incident)) (*incidentbot.Incident, error) {
		n, err := tx.NextIncidentNumber()
		if err != nil {
			return nil, err
		}
		svc := historyServices[rng.IntN(len(historyServices))]
		inc := &incidentbot.Incident{
			ID: incidentbot.IncidentID(n), Number: n, Title: fmt.Sprintf("%s error rate above 5%% (%d)", svc, n),
			Severity: incidentbot.Severities[rng.IntN(4)], Status: incidentbot.StatusResolved, StatusAt: opened,
			Service: svc, PagerDuty: &incidentbot.PagerLink{ID: fmt.Sprintf("PH%07d", n), Number: n, ServiceID: "PS" + strings.ToUpper(svc[:3]), Urgency: "high"},
			OpenedAt: opened, RecordedAt: opened, UpdatedAt: opened, ShownPublicly: rng.IntN(2) == 0,
		}
		ack, res := opened.Add(2*time.Minute), opened.Add(47*time.Minute)
		inc.AcknowledgedAt, inc.ResolvedAt = &ack, &res
		inc.RootCause = "Connection pool exhausted after a deploy"
		each(inc)
		for _, e := range []incidentbot.Entry{
			{At: opened, Kind: incidentbot.EntryPaged, Actor: incidentbot.Person{Name: "PagerDuty"}, Source: incidentbot.SourcePagerDuty, Text: "Paged: " + inc.Title},
			{At: ack, Kind: incidentbot.EntryAcknowledged, Actor: incidentbot.Person{ID: "PALICE", Name: "Alice Chen"}, Source: incidentbot.SourcePagerDuty, Text: "Acknowledged by Alice Chen"},
			{At: ack.Add(time.Minute), Kind: incidentbot.EntryStatusUpdate, Actor: incidentbot.Person{ID: "UALICE", Name: "Alice Chen"}, Source: incidentbot.SourceSlack, Text: "We are investigating elevated errors.", Status: incidentbot.StatusInvestigating},
			{At: ack.Add(5 * time.Minute), Kind: incidentbot.EntryNote, Actor: incidentbot.Person{ID: "UALICE", Name: "Alice Chen"}, Source: incidentbot.SourceSlack, Text: "Pool at 100%, raising max connections"},
			{At: res, Kind: incidentbot.EntryResolved, Actor: incidentbot.Person{ID: "UALICE", Name: "Alice Chen"}, Source: incidentbot.SourceSlack, Text: "Resolved by Alice Chen"},
		} {
			if err := tx.AppendEntry(inc.ID, &e); err != nil {
				return nil, err
			}
		}
		return inc, tx.PutIncident(inc)
	}
	const batch = 500
	for done := 0; done < size; done += batch {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		err := db.Update(ctx, func(tx incidentbot.Tx) error {
			for i := done; i < min(done+batch, size); i++ {
				// Spread over the 4 years before the status page's window.
				opened := now.Add(-91*24*time.Hour - time.Duration(rng.Int64N(int64(4*365*24*time.Hour))))
				if _, err := put(tx, opened, func(*incidentbot.Incident) {}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("writing the history: %w", err)
		}
	}
	var draft string
	err = db.Update(ctx, func(tx incidentbot.Tx) error {
		for i := range 20 {
			inc, err := put(tx, now.Add(-time.Duration(i+1)*4*24*time.Hour), func(inc *incidentbot.Incident) {
				inc.Severity, inc.Service = incidentbot.Sev2, "Checkout"
			})
			if err != nil {
				return err
			}
			draft = inc.ID
		}
		for i := range 13 {
			if _, err := put(tx, now.Add(-time.Duration(i+1)*time.Minute), func(inc *incidentbot.Incident) {
				inc.Status, inc.ResolvedAt, inc.InDigest = incidentbot.StatusAcknowledged, nil, i < 10
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return draft, err
}

// inProcess measures the domain's reads on the file.
func inProcess(ctx context.Context, path, draftID string, now time.Time, row *historyRow) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &incidentbot.Service{Store: db, Now: func() time.Time { return now }, PublicSeverities: []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2}}
	const n = 200
	if row.postmortem, err = measureOp(n, func() error { _, err := svc.Postmortem(ctx, draftID); return err }); err != nil {
		return fmt.Errorf("postmortem: %w", err)
	}
	if row.digest, err = measureOp(n, func() error {
		return db.View(ctx, func(tx incidentbot.Tx) error {
			incs, err := tx.StormIncidents()
			if err == nil && len(incs) != 10 {
				err = fmt.Errorf("%d storm incidents, want 10", len(incs))
			}
			return err
		})
	}); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if row.list, err = measureOp(n, func() error {
		r, err := svc.Run(ctx, incidentbot.Cmd{Name: "list"})
		if err == nil && !strings.Contains(r.Text, "(13)") {
			err = fmt.Errorf("/incident list: %q, want 13 open", r.Text[:min(80, len(r.Text))])
		}
		return err
	}); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	return nil
}

// readers reads /status from 64 clients as fast as they can until ctx ends
// and counts the answers in [from, to).
func readers(ctx context.Context, base string, from, to time.Time) (ok, shed *atomic.Int64, wait func()) {
	ok, shed = &atomic.Int64{}, &atomic.Int64{}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if t := time.Now(); t.Before(from) || !t.Before(to) {
					continue
				}
				switch res.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					shed.Add(1)
				}
			}
		})
	}
	return ok, shed, func() { wg.Wait(); tr.CloseIdleConnections() }
}

func measureHistory(ctx context.Context, o options, bin, dir, secret string, size int, out io.Writer) (historyRow, error) {
	row := historyRow{size: size}
	now := time.Now().UTC()
	hdir := filepath.Join(dir, fmt.Sprintf("history-%d", size))
	if err := os.Mkdir(hdir, 0o700); err != nil {
		return row, err
	}
	path := filepath.Join(hdir, "incidentbot.db")
	t0 := time.Now()
	draftID, err := buildHistory(ctx, path, size, now)
	if err != nil {
		return row, err
	}
	row.build = time.Since(t0)
	if err := inProcess(ctx, path, draftID, now, &row); err != nil {
		return row, err
	}
	t0 = time.Now()
	s, err := startReal(ctx, bin, hdir, secret, o.slackScale)
	if err != nil {
		return row, err
	}
	defer s.close()
	row.startup = time.Since(t0)
	incs := makeIncidents(o.incidents)
	if dead, err := s.seed(ctx, secret, incs); err != nil || dead > 0 {
		return row, fmt.Errorf("opening the incidents: %v (%d dead letters)", err, dead)
	}
	get := &http.Client{Timeout: 10 * time.Second}
	if row.status, err = measureOp(500, func() error {
		res, err := get.Get(s.base + "/status")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil && (res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Checkout")) {
			err = fmt.Errorf("GET /status: HTTP %d", res.StatusCode)
		}
		return err
	}); err != nil {
		return row, err
	}
	if row.alone, err = runLoad(ctx, s.base, s.proc.pid, webhooks(s.base, secret, incs), o.concurrency, o.warmup, o.duration); err != nil {
		return row, err
	}
	rctx, stop := context.WithCancel(ctx)
	start := time.Now().Add(o.warmup)
	ok, shed, wait := readers(rctx, s.base, start, start.Add(o.duration))
	row.withReaders, err = runLoad(ctx, s.base, s.proc.pid, webhooks(s.base, secret, incs), o.concurrency, o.warmup, o.duration)
	stop()
	wait()
	if err != nil {
		return row, err
	}
	row.readerOK, row.readerShed = float64(ok.Load())/o.duration.Seconds(), float64(shed.Load())/o.duration.Seconds()
	if err := s.close(); err != nil {
		fmt.Fprintf(out, "  (the server's exit: %v)\n", err)
	}
	os.Remove(path)
	return row, nil
}

func benchHistory(ctx context.Context, o options, bin, dir, secret string, out io.Writer) error {
	fmt.Fprintf(out, "incidentbot-load: costs against stored history %v, %d senders, window %s, warm-up %s\n", o.history, o.concurrency, o.duration, o.warmup)
	var rows []historyRow
	for _, size := range o.history {
		row, err := measureHistory(ctx, o, bin, dir, secret, size, out)
		if err != nil {
			return fmt.Errorf("history of %d: %w", size, err)
		}
		fmt.Fprintf(out, "history %d: built in %s, server ready in %s; status p50 %s, list p50 %s, postmortem p50 %s, digest p50 %s; ingest %.0f/s p99 %s alone, %.0f/s p99 %s with 64 readers (%.0f pages/s served, %.0f/s shed)\n",
			size, row.build.Round(time.Millisecond), row.startup.Round(time.Millisecond), ms(row.status.p(50)), ms(row.list.p(50)), ms(row.postmortem.p(50)), ms(row.digest.p(50)),
			row.alone.Rate(), ms(row.alone.Pct(99)), row.withReaders.Rate(), ms(row.withReaders.Pct(99)), row.readerOK, row.readerShed)
		rows = append(rows, row)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| history (resolved incidents) | server ready | `GET /status` p50 / p99 ms | `/incident list` p50 / p99 ms | postmortem draft p50 / p99 ms | digest read p50 / p99 ms | webhooks alone /s, p99 ms | webhooks with 64 `/status` readers /s, p99 ms | readers: pages/s served, shed |")
	fmt.Fprintln(out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(out, "| %d | %s | %s / %s | %s / %s | %s / %s | %s / %s | %.0f, %s | %.0f, %s | %.0f, %.0f |\n", r.size, r.startup.Round(time.Millisecond),
			ms(r.status.p(50)), ms(r.status.p(99)), ms(r.list.p(50)), ms(r.list.p(99)), ms(r.postmortem.p(50)), ms(r.postmortem.p(99)),
			ms(r.digest.p(50)), ms(r.digest.p(99)), r.alone.Rate(), ms(r.alone.Pct(99)), r.withReaders.Rate(), ms(r.withReaders.Pct(99)), r.readerOK, r.readerShed)
	}
	fmt.Fprintln(out)
	first, last := rows[0], rows[len(rows)-1]
	for _, c := range []struct {
		name     string
		from, to costs
	}{{"GET /status", first.status, last.status}, {"/incident list", first.list, last.list}, {"postmortem draft", first.postmortem, last.postmortem}, {"digest read", first.digest, last.digest}} {
		ratio := float64(c.to.p(50)) / float64(c.from.p(50))
		fmt.Fprintf(out, "%-17s p50 at %d / at %d: %.2fx (bar: at most 1.5x) %s\n", c.name, last.size, first.size, ratio, verdict(ratio <= 1.5))
	}
	for _, r := range rows {
		ratio := r.withReaders.Rate() / r.alone.Rate()
		fmt.Fprintf(out, "ingest with readers / alone at %d: %.2fx (bar: at least 0.8x) %s; p99 %.2fx\n", r.size, ratio, verdict(ratio >= 0.8), float64(r.withReaders.Pct(99))/float64(r.alone.Pct(99)))
	}
	return nil
}
