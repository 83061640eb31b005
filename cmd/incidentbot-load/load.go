package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
)

// incidentRef names one PagerDuty incident the notes are about.
type incidentRef struct{ ID, Title string }

// makeIncidents returns n incidents with stable IDs and titles, the same in
// every round and for both servers.
func makeIncidents(n int) []incidentRef {
	out := make([]incidentRef, n)
	for i := range out {
		out[i] = incidentRef{ID: fmt.Sprintf("PLD%04d", i+1), Title: fmt.Sprintf("Checkout latency %d", i+1)}
	}
	return out
}

// Markers spliced out of the note templates for every delivery.
const (
	markEvent = "@EVENT-ID@"
	markNote  = "@NOTE-ID@"
)

// markAt is the occurred_at of the templates, replaced by the current time.
var markAt = time.Date(2001, 2, 3, 4, 5, 6, 789e6, time.UTC)

// noteMaker renders incident.annotated deliveries. The JSON of each incident
// is rendered once by pagerfake (Event.JSON of NoteData); each delivery gets
// a fresh event ID, note ID and occurred_at spliced in, so that rendering
// costs the load generator little and is the same for both servers.
type noteMaker struct {
	tmpl [][]byte
	atB  []byte
}

func newNoteMaker(incs []incidentRef) *noteMaker {
	m := &noteMaker{atB: []byte(markAt.Format("2006-01-02T15:04:05.000Z"))}
	agent := pagerfake.UserRef(agentID, agentName)
	for _, inc := range incs {
		ev := pagerfake.Event{
			ID: markEvent, Type: "incident.annotated", OccurredAt: markAt, Agent: &agent,
			Data: pagerfake.NoteData(inc.ID, inc.Title, markNote, "Load note "+markNote+": p99 of checkout is back under 300 ms after the pool resize."),
		}
		m.tmpl = append(m.tmpl, ev.JSON())
	}
	return m
}

// body returns delivery n, about incident n modulo the number of incidents.
func (m *noteMaker) body(n uint64) []byte {
	b := m.tmpl[n%uint64(len(m.tmpl))]
	b = bytes.Replace(b, []byte(markEvent), []byte(newUUID()), 1)
	b = bytes.ReplaceAll(b, []byte(markNote), fmt.Appendf(nil, "PN%08X", n))
	return bytes.Replace(b, m.atB, time.Now().UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z"), 1)
}

// newUUID returns a random version 4 UUID, the form of PagerDuty's IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// loadResult is what one measured window gave.
type loadResult struct {
	// OK counts the expected answers (webhooks: 2xx) that completed inside
	// the window; AllOK those that completed at any time (warm-up and tail
	// included).
	OK, AllOK int
	// Errors counts the non-2xx answers and transport errors that completed
	// inside the window; OutsideErrors those that completed during the
	// warm-up or after the window (requests in flight when it closed).
	Errors, OutsideErrors int
	// Kinds counts all the errors by kind: "HTTP 503", "transport error",
	// an unexpected answer to a slash command.
	Kinds map[string]int
	// FirstTransportErr is the text of a transport error, if there was one.
	FirstTransportErr string
	// Latencies are those of the OK answers, sorted.
	Latencies []time.Duration
	// Start and End bound the measured window.
	Start, End time.Time
	// ServerCPU and ToolCPU are the CPU the server process(es) and this
	// process (load generator and fakes) used in the window, DBCPU what the
	// PostgreSQL server used (0 without one), and OtherCPU what the rest of
	// the machine used, in cores (1.5 = 150% of one core); negative when
	// unknown.
	ServerCPU, ToolCPU, DBCPU, OtherCPU float64
}

// Rate returns the deliveries accepted per second in the window.
func (r loadResult) Rate() float64 { return float64(r.OK) / r.End.Sub(r.Start).Seconds() }

// Pct returns the p-th percentile latency (0 when there was none).
func (r loadResult) Pct(p float64) time.Duration { return percentile(r.Latencies, p) }

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of sorted
// values: the smallest value such that at least p% of the values are at or
// below it. Empty input gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// A workload makes the requests of a load. Given the HTTP client of the
// load, it returns the function that prepares request n (work that is not
// timed, such as rendering the body); the function it returns in turn sends
// the request (timed) and reports "" for an expected answer, or else the kind
// of failure ("HTTP 503", "transport error", ...) and the transport error.
type workload func(client *http.Client) func(n uint64) func(ctx context.Context) (failKind string, err error)

// webhooks is the webhook load: distinct, signed incident.annotated
// deliveries to target/webhooks/pagerduty about incs in turn, each with a
// fresh X-Webhook-Id; a 2xx answer is the expected one.
func webhooks(target, secret string, incs []incidentRef) workload {
	return func(client *http.Client) func(uint64) func(context.Context) (string, error) {
		sender := &pagerfake.Sender{URL: target + "/webhooks/pagerduty", Secrets: []string{secret}, Client: client}
		maker := newNoteMaker(incs)
		return func(n uint64) func(context.Context) (string, error) {
			body := maker.body(n)
			return func(ctx context.Context) (string, error) {
				status, err := sender.Send(ctx, "", body) // "": a fresh X-Webhook-Id
				return failure(status, err, status/100 == 2)
			}
		}
	}
}

// failure returns the kind of failure of an answer: "" when it is the
// expected one, "transport error" with err, else "HTTP <status>".
func failure(status int, err error, expected bool) (string, error) {
	switch {
	case err != nil:
		return "transport error", err
	case expected:
		return "", nil
	}
	return fmt.Sprintf("HTTP %d", status), nil
}

// runLoad sends the requests of w from concurrency senders over keep-alive
// connections to target: warmup first (not counted), then the measured
// window. Each sender stops sending when the window ends; answers that arrive
// after it are not counted, except as OutsideErrors. It only talks to
// 127.0.0.1. serverPID is the process whose CPU use is measured.
func runLoad(ctx context.Context, target string, serverPID int, w workload, concurrency int, warmup, window time.Duration) (loadResult, error) {
	return runLoadOn(ctx, meters{targets: []string{target}, server: pidsCPU(serverPID)}, w, concurrency, warmup, window)
}

// meters says where a load goes and whose CPU it measures.
type meters struct {
	// targets are the base URLs the workload sends to (each must be on
	// 127.0.0.1).
	targets []string
	// server and db return the CPU time used so far by the server(s) and
	// by the database server (nil: none), or -1 when unknown.
	server, db func() time.Duration
}

// pidsCPU returns the CPU used so far by the processes pids, added up.
func pidsCPU(pids ...int) func() time.Duration {
	return func() time.Duration {
		var sum time.Duration
		for _, pid := range pids {
			c := cpuTime(pid)
			if c < 0 {
				return -1
			}
			sum += c
		}
		return sum
	}
}

// runLoadOn is runLoad against several servers (the workload spreads the
// requests over m.targets) with the CPU of m's processes measured.
func runLoadOn(ctx context.Context, m meters, w workload, concurrency int, warmup, window time.Duration) (loadResult, error) {
	for _, target := range m.targets {
		if u, err := url.Parse(target); err != nil || u.Hostname() != "127.0.0.1" {
			return loadResult{}, fmt.Errorf("refusing to load %q: only 127.0.0.1 is allowed", target)
		}
	}
	db := m.db
	if db == nil {
		db = func() time.Duration { return 0 }
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * len(m.targets),
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	prepare := w(&http.Client{Transport: tr, Timeout: 10 * time.Second})

	start := time.Now().Add(warmup)
	end := start.Add(window)
	ctx, cancel := context.WithDeadline(ctx, end.Add(15*time.Second))
	defer cancel()

	// CPU used so far by the server, this process, the machine and the
	// database server, at start and end.
	cpu := make(chan [4]time.Duration, 2)
	sample := func() { cpu <- [4]time.Duration{m.server(), cpuTime(0), machineCPU(), db()} }
	defer time.AfterFunc(time.Until(start), sample).Stop()
	defer time.AfterFunc(time.Until(end), sample).Stop()

	type senderStats struct {
		ok, allOK, errs, outErrs int
		kinds                    map[string]int
		firstErr                 string
		lat                      []time.Duration
	}
	stats := make([]senderStats, concurrency)
	var seq atomic.Uint64
	var wg sync.WaitGroup
	for i := range stats {
		st := &stats[i]
		st.kinds = map[string]int{}
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				send := prepare(seq.Add(1) - 1)
				t0 := time.Now()
				kind, err := send(ctx)
				t1 := time.Now()
				inWindow := !t1.Before(start) && !t1.After(end)
				failed := kind != ""
				if !failed {
					st.allOK++
				}
				switch {
				case failed && !inWindow:
					st.outErrs++
				case failed:
					st.errs++
				case inWindow:
					st.ok++
					st.lat = append(st.lat, t1.Sub(t0))
				}
				if failed {
					if err != nil && st.firstErr == "" {
						st.firstErr = err.Error()
					}
					st.kinds[kind]++
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && time.Now().Before(end) {
		return loadResult{}, fmt.Errorf("load interrupted: %w", err)
	}
	c0, c1 := <-cpu, <-cpu
	cores := func(i int) float64 {
		if c0[i] < 0 || c1[i] < 0 {
			return -1
		}
		return (c1[i] - c0[i]).Seconds() / window.Seconds()
	}
	r := loadResult{Kinds: map[string]int{}, Start: start, End: end, ServerCPU: cores(0), ToolCPU: cores(1), DBCPU: cores(3), OtherCPU: -1}
	if r.ServerCPU >= 0 && r.ToolCPU >= 0 && r.DBCPU >= 0 && cores(2) >= 0 {
		r.OtherCPU = max(cores(2)-r.ServerCPU-r.ToolCPU-r.DBCPU, 0)
	}
	for _, st := range stats {
		r.OK += st.ok
		r.AllOK += st.allOK
		r.Errors += st.errs
		r.OutsideErrors += st.outErrs
		r.Latencies = append(r.Latencies, st.lat...)
		if r.FirstTransportErr == "" {
			r.FirstTransportErr = st.firstErr
		}
		for k, n := range st.kinds {
			r.Kinds[k] += n
		}
	}
	slices.Sort(r.Latencies)
	return r, nil
}
