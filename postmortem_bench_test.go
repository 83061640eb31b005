package incidentbot_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
)

// BenchmarkPostmortem_History drafts the postmortem of the newest incident
// with 1,000 and with 100,000 past incidents in a real bbolt store, side by
// side (docs/benchmarks.md): the team figures (medians of the last 90
// days, the service's month to date) and the related incidents (service
// and word indexes) must not cost more with more history. The history
// keeps one rate, an incident every 3 hours over 20 services, so both
// sizes have the same 720 incidents in the 90-day window: 1,000 incidents
// span 125 days, 100,000 span 34 years.
//
// Each iteration drafts once from each store, alternately, so that load
// from other processes falls on both alike; it reports the median time of
// each (ms/draft-1000, ms/draft-100000) and their ratio.
func BenchmarkPostmortem_History(b *testing.B) {
	sizes := []int{1000, 100000}
	svcs := make([]*incidentbot.Service, len(sizes))
	ids := make([]string, len(sizes))
	for i, n := range sizes {
		svcs[i], ids[i] = historyStore(b, n)
	}
	ctx := context.Background()
	wall := make([][]time.Duration, len(sizes))
	cpu := make([][]time.Duration, len(sizes))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, s := range svcs {
			start, c0 := time.Now(), incidentbot.ThreadCPU()
			if _, err := s.Postmortem(ctx, ids[i]); err != nil {
				b.Fatal(err)
			}
			wall[i] = append(wall[i], time.Since(start))
			cpu[i] = append(cpu[i], incidentbot.ThreadCPU()-c0)
		}
	}
	medWall, medCPU := make([]float64, len(sizes)), make([]float64, len(sizes))
	for i, n := range sizes {
		medWall[i], medCPU[i] = medianMs(wall[i]), medianMs(cpu[i])
		b.ReportMetric(medWall[i], fmt.Sprintf("ms/draft-%d", n))
		b.ReportMetric(medCPU[i], fmt.Sprintf("cpu-ms/draft-%d", n))
	}
	b.ReportMetric(medWall[1]/medWall[0], "ratio-100000/1000")
	if medCPU[0] > 0 {
		b.ReportMetric(medCPU[1]/medCPU[0], "cpu-ratio-100000/1000")
	}
}

func medianMs(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2]) / float64(time.Millisecond)
}

// historyStore builds a store of n past incidents and the incident to
// draft, and checks the draft sees the window and the related ones.
func historyStore(b *testing.B, n int) (*incidentbot.Service, string) {
	b.Helper()
	db := storetest.MustOpen(b)
	end := time.Date(2025, 10, 20, 9, 0, 0, 0, time.UTC)
	words := []string{"API", "errors", "latency", "Redis", "node", "down", "checkout", "timeouts", "disk", "full", "deploy", "failed", "queue", "backlog"}
	const batch = 2000
	for from := 0; from < n; from += batch {
		ps := make([]past, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			ps = append(ps, past{
				title:   fmt.Sprintf("%s %s %s", words[i%len(words)], words[(i/3)%len(words)], words[(i/7)%len(words)]),
				service: fmt.Sprintf("svc-%d", i%20), opened: end.Add(-time.Duration(n-i) * 3 * time.Hour),
				ack: time.Duration(1+i%9) * time.Minute, resolve: time.Duration(10+i%50) * time.Minute, rootCause: "cause",
			})
		}
		storeBatch(b, db, ps)
	}
	now := &incidentbot.Incident{Title: "Redis node down", Service: "svc-3", Severity: incidentbot.Sev2, Status: incidentbot.StatusResolved,
		OpenedAt: end, AcknowledgedAt: tp(end.Add(2 * time.Minute)), ResolvedAt: tp(end.Add(40 * time.Minute))}
	id := storeHistory(b, db, nil, now)
	s := &incidentbot.Service{Store: db}
	p, err := s.Postmortem(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	if c := p.Team.TimeToResolve.AllCount; c != 720 {
		b.Fatalf("%d incidents in the window, want 720", c)
	}
	if len(p.Related) != 5 || p.Team.MonthToDate == nil || p.Team.TimeToResolve.ServiceCount != 36 {
		b.Fatalf("related %d, month %v, service count %d", len(p.Related), p.Team.MonthToDate, p.Team.TimeToResolve.ServiceCount)
	}
	return s, id
}

// storeBatch stores past incidents in one transaction, numbered on.
func storeBatch(b *testing.B, db interface {
	Update(context.Context, func(incidentbot.Tx) error) error
}, ps []past) {
	b.Helper()
	err := db.Update(context.Background(), func(tx incidentbot.Tx) error {
		for _, p := range ps {
			n, err := tx.NextIncidentNumber()
			if err != nil {
				return err
			}
			ack, res := p.opened.Add(p.ack), p.opened.Add(p.resolve)
			inc := &incidentbot.Incident{ID: incidentbot.IncidentID(n), Number: n, Title: p.title, Service: p.service, Status: incidentbot.StatusResolved,
				Severity: incidentbot.Sev2, OpenedAt: p.opened, AcknowledgedAt: &ack, ResolvedAt: &res, RootCause: p.rootCause}
			if err := tx.PutIncident(inc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
