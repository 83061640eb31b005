package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// The two modes of "no inbound port" (-mode socket, -mode pull).
//
// -mode socket: one real server with both Slack transports on (the
// signing secret and SLACK_APP_TOKEN); each round sends the command load
// of -mode commands over HTTP, then the same load over Socket Mode (each
// sender sends a slash_commands envelope to the server's connection
// through the Slack fake and waits for its acknowledgement), so the two
// are side by side on one server, one database and one machine. The
// latency of a Socket Mode command is from the envelope's send to its
// acknowledgement's arrival at the fake, which happens only after the
// note is committed.
//
// -mode pull: one real server in pull mode (INCIDENTBOT_PAGERDUTY_POLL,
// -poll) with webhooks on too. -pages incidents are paged -page-every
// apart, alternately by the log alone (added to the PagerDuty fake, which
// logs the trigger) and by webhook as well (the same, then the v3
// webhook). For each it reports the time from the trigger's log entry to
// the Slack channel's creation (conversations.create answered) and to its
// kickoff post.

// socketCommands is the command load of commands() over Socket Mode: the
// same distinct /incident note commands, as slash_commands envelopes, each
// waited for until its acknowledgement, which must carry no answer (the
// note's post in the channel is the answer).
func socketCommands(slack *slackfake.Server, chans []channelRef) workload {
	return func(*http.Client) func(uint64) func(context.Context) (string, error) {
		return func(n uint64) func(context.Context) (string, error) {
			ch := chans[n%uint64(len(chans))]
			req := slackfake.CommandRequest{Text: noteText(n),
				UserID: slackUserID, UserName: slackUserName, ChannelID: ch.ChannelID, ChannelName: ch.ChannelName}
			return func(ctx context.Context) (string, error) {
				e := slack.SocketCommand(req)
				a, err := e.Wait(ctx)
				if err != nil {
					return "no acknowledgement", err
				}
				if a.Attempt > 0 {
					return "acknowledged only after a redelivery", nil
				}
				return judgeNoted(a.Payload), nil
			}
		}
	}
}

// benchSocket runs -mode socket.
func benchSocket(ctx context.Context, o options, bin, dir, secret string, incs []incidentRef, out io.Writer) error {
	fmt.Fprintf(out, "incidentbot-load: /incident note slash commands over HTTP and over Socket Mode on one server, %d senders, %d open incidents, warm-up %s, window %s, %d rounds\n",
		o.concurrency, o.incidents, o.warmup, o.duration, o.rounds)
	type row struct {
		round     int
		transport string
		m         measurement
	}
	var rows []row
	for r := 1; r <= o.rounds; r++ {
		rdir := filepath.Join(dir, fmt.Sprintf("round%d-socket", r))
		if err := os.Mkdir(rdir, 0o700); err != nil {
			return err
		}
		s, err := startReplicas(ctx, bin, rdir, secret, o.slackScale, "", 1, func(s *realServer) string { return "SLACK_APP_TOKEN=" + s.slack.AppToken })
		if err != nil {
			return err
		}
		if err := poll(ctx, 10*time.Second, "the Socket Mode connection", func() (bool, error) { n, _ := s.slack.SocketConnections(); return n == 1, nil }); err != nil {
			s.close()
			return err
		}
		if dead, err := s.seed(ctx, secret, incs); err != nil || dead > 0 {
			s.close()
			return fmt.Errorf("round %d: opening the incidents: %v (dead letters %d)", r, err, dead)
		}
		chans, err := s.channels(ctx, incs)
		if err != nil {
			s.close()
			return err
		}
		// Alternate which goes first, so neither always meets a fuller database.
		order := []string{"http", "socket"}
		if r%2 == 0 {
			order = []string{"socket", "http"}
		}
		for _, transport := range order {
			w := commands(s.base, s.signingSecret, s.slack, chans)
			if transport == "socket" {
				w = socketCommands(s.slack, chans)
			}
			m := measurement{round: r, isReal: true}
			if m.load, err = runLoad(ctx, s.base, s.proc.pid, w, o.concurrency, o.warmup, o.duration); err != nil {
				s.close()
				return err
			}
			rows = append(rows, row{r, transport, m})
			fmt.Fprintf(out, "round %d %-6s %8.1f commands/s  p50 %s  p90 %s  p99 %s  max %s  errors %d  CPU %% server/tool/other: %s\n",
				r, transport, m.load.Rate(), ms(m.load.Pct(50)), ms(m.load.Pct(90)), ms(m.load.Pct(99)), ms(m.load.Pct(100)), m.load.Errors, cpuCell(m.load))
			fmt.Fprint(out, m.errorLines())
		}
		if p := s.slack.SocketProblems(); len(p) > 0 {
			s.close()
			return fmt.Errorf("round %d: acknowledgements Slack would refuse: %v", r, p[:min(3, len(p))])
		}
		if err := s.close(); err != nil {
			return fmt.Errorf("round %d: the server exited badly: %w", r, err)
		}
		os.Remove(filepath.Join(rdir, "incidentbot.db"))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| round | transport | commands/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU % server/tool/other |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	p99 := map[string][]float64{}
	p50 := map[string][]float64{}
	rate := map[string][]float64{}
	for _, r := range rows {
		l := r.m.load
		fmt.Fprintf(out, "| %d | %s | %.1f | %s | %s | %s | %s | %d | %s |\n", r.round, r.transport, l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, cpuCell(l))
		p99[r.transport] = append(p99[r.transport], float64(l.Pct(99))/1e6)
		p50[r.transport] = append(p50[r.transport], float64(l.Pct(50))/1e6)
		rate[r.transport] = append(rate[r.transport], l.Rate())
	}
	for _, t := range []string{"http", "socket"} {
		fmt.Fprintf(out, "| **median** | %s | **%.1f** | %.2f | | **%.2f** | | | |\n", t, median(rate[t]), median(p50[t]), median(p99[t]))
	}
	fmt.Fprintln(out)
	for _, t := range []string{"http", "socket"} {
		fmt.Fprintf(out, "%s: p99 (median of the rounds) %.2f ms (target: at most %d ms) %s\n", t, median(p99[t]), p99Target.Milliseconds(), verdict(median(p99[t]) <= float64(p99Target)/1e6))
	}
	return nil
}

// benchPull runs -mode pull.
func benchPull(ctx context.Context, o options, bin, dir, secret string, out io.Writer) error {
	fmt.Fprintf(out, "incidentbot-load: PagerDuty pull mode, poll %s, %d pages %s apart (half by the log alone, half by webhook too)\n", o.pollEvery, o.pages, o.pageEvery)
	s, err := startReplicas(ctx, bin, dir, secret, o.slackScale, "", 1, func(*realServer) string { return "INCIDENTBOT_PAGERDUTY_POLL=" + o.pollEvery.String() })
	if err != nil {
		return err
	}
	defer s.close()
	sender := &pagerfake.Sender{URL: s.base + "/webhooks/pagerduty", Secrets: []string{secret}}
	type page struct {
		id, title string
		webhook   bool
		logged    time.Time
	}
	var pages []page
	// The poller starts from one interval before its first poll: begin
	// after it has run once.
	time.Sleep(time.Second)
	for i := range o.pages {
		p := page{id: fmt.Sprintf("PPULL%03d", i+1), title: fmt.Sprintf("Queue backlog %d", i+1), webhook: i%2 == 1}
		inc := s.pd.AddIncident(pagerfake.Incident{ID: p.id, Title: p.title, Urgency: "high", PriorityName: "P2", ServiceID: "PSVLOAD", ServiceName: "Checkout", AssigneeIDs: []string{agentID}})
		p.logged = s.pd.LogEntries(inc.ID)[0].CreatedAt
		if p.webhook {
			ev, _ := s.pd.WebhookFor(s.pd.LogEntries(inc.ID)[0].ID)
			if _, err := sender.SendUntilAccepted(ctx, "", ev.JSON(), 50*time.Millisecond); err != nil {
				return err
			}
		}
		pages = append(pages, p)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.pageEvery):
		}
	}
	wait := 2*o.pollEvery + 30*time.Second
	if err := poll(ctx, wait, "every page's channel and kickoff post", func() (bool, error) {
		var list struct {
			Incidents []struct {
				ChannelID string `json:"channel_id"`
			} `json:"incidents"`
		}
		if err := s.api(ctx, "/api/incidents?limit=1000", &list); err != nil {
			return false, err
		}
		n := 0
		for _, inc := range list.Incidents {
			if inc.ChannelID != "" && len(s.slack.Messages(inc.ChannelID)) > 0 {
				n++
			}
		}
		return n == len(pages), nil
	}); err != nil {
		return err
	}
	created := map[string]time.Time{}
	for _, c := range s.slack.CallsTo("conversations.create") {
		if c.OK {
			if _, seen := created[c.Params.Get("name")]; !seen {
				created[c.Params.Get("name")] = c.At
			}
		}
	}
	posted := map[string]time.Time{}
	for _, c := range s.slack.CallsTo("chat.postMessage") {
		if ch := c.Params.Get("channel"); c.OK {
			if _, seen := posted[ch]; !seen {
				posted[ch] = c.At
			}
		}
	}
	lat := map[bool][][2]float64{}
	for _, p := range pages {
		var inc struct {
			ChannelID   string `json:"channel_id"`
			ChannelName string `json:"channel_name"`
		}
		if err := s.api(ctx, "/api/incidents/"+p.id, &inc); err != nil {
			return err
		}
		ch, ok := s.slack.Channel(inc.ChannelID)
		if !ok {
			return fmt.Errorf("%s: channel %s not in the Slack fake", p.id, inc.ChannelID)
		}
		c, k := created[ch.Name], posted[inc.ChannelID]
		if c.IsZero() || k.IsZero() {
			return fmt.Errorf("%s: no conversations.create or kickoff post recorded", p.id)
		}
		lat[p.webhook] = append(lat[p.webhook], [2]float64{c.Sub(p.logged).Seconds(), k.Sub(p.logged).Seconds()})
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| paged by | pages | to channel created: mean s | p50 s | p90 s | max s | to kickoff post: mean s | p50 s | max s |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, webhook := range []bool{false, true} {
		name := fmt.Sprintf("the log (poll %s)", o.pollEvery)
		if webhook {
			name = "webhook (pull mode on too)"
		}
		var cs, ks []float64
		for _, v := range lat[webhook] {
			cs, ks = append(cs, v[0]), append(ks, v[1])
		}
		fmt.Fprintf(out, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name, len(cs), mean(cs), pct(cs, 50), pct(cs, 90), pct(cs, 100), mean(ks), pct(ks, 50), pct(ks, 100))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "expected by the log: about half the poll (%.1f s) plus up to 1 s (PagerDuty's since/until are whole seconds) plus the channel's creation\n", o.pollEvery.Seconds()/2)
	return nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// pct is the p-th percentile of v (nearest rank; 100 is the maximum).
func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
