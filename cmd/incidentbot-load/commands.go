package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// The Slack user who runs the slash commands: known to the Slack fake with
// the e-mail of the PagerDuty user, so that the PagerDuty note jobs the
// commands cause act as that user.
const (
	slackUserID   = "ULOADUSR"
	slackUserName = "alice"
)

// p99Target is the target for the answer to a slash command.
const p99Target = 50 * time.Millisecond

// channelRef is an open incident and its Slack channel.
type channelRef struct{ IncidentID, ChannelID, ChannelName string }

// noteText is the text of command n: "note" and a note no other command has.
func noteText(n uint64) string {
	return fmt.Sprintf("note Load note SC%08X: p99 of checkout is back under 300 ms after the pool resize.", n)
}

// commands is the slash command load: distinct /incident note commands,
// sent as Slack sends them (the form fields of slackfake.AppClient.Command,
// with a trigger ID and a response URL issued by the Slack fake, v0-signed
// with secret at the current time) by the user slackUserID in the channels
// of chans in turn, to target/slack/commands. The expected answer is an
// empty 200: a note run in its incident's channel is answered by its post
// there, with no private confirmation besides it.
func commands(target, secret string, slack *slackfake.Server, chans []channelRef) workload {
	return func(client *http.Client) func(uint64) func(context.Context) (string, error) {
		app := &slackfake.AppClient{BaseURL: target, SigningSecret: secret, TeamID: slack.TeamID,
			TeamDomain: slack.TeamDomain, APIAppID: slack.AppID, BotUserID: slack.BotUserID, Client: client}
		return func(n uint64) func(context.Context) (string, error) {
			ch := chans[n%uint64(len(chans))]
			req := slackfake.CommandRequest{Text: noteText(n),
				UserID: slackUserID, UserName: slackUserName, ChannelID: ch.ChannelID, ChannelName: ch.ChannelName,
				TriggerID: slack.NewTriggerID(), ResponseURL: slack.NewResponseURL()}
			return func(ctx context.Context) (string, error) {
				status, body, err := app.Command(ctx, req)
				if err != nil || status != http.StatusOK {
					return failure(status, err, false)
				}
				return judgeNoted(body), nil
			}
		}
	}
}

// judgeNoted returns "" when body is empty (the note was recorded and
// its post is the whole answer), else the kind of failure, with the start
// of the body: any text is a refusal or an error.
func judgeNoted(body []byte) string {
	b := strings.TrimSpace(string(body))
	if b == "" {
		return ""
	}
	if len(b) > 100 {
		b = b[:100] + "…"
	}
	return "HTTP 200 with an answer instead of the quiet acceptance: " + b
}

// measureCommands starts the real server, opens the incidents and sends
// the slash command load in their channels.
func measureCommands(ctx context.Context, o options, bin, dir, secret string, incs []incidentRef, m *measurement) error {
	s, err := startReal(ctx, bin, dir, secret, o.slackScale)
	if err != nil {
		return err
	}
	defer s.close()
	t0 := time.Now()
	dead, err := s.seed(ctx, secret, incs)
	if err != nil {
		return fmt.Errorf("opening the incidents: %w", err)
	}
	if dead > 0 {
		return fmt.Errorf("opening the incidents left %d dead letters (GET /api/outbox)", dead)
	}
	m.seedTime = time.Since(t0)
	chans, err := s.channels(ctx, incs)
	if err != nil {
		return err
	}
	w := commands(s.base, s.signingSecret, s.slack, chans)
	if m.load, err = runLoad(ctx, s.base, s.proc.pid, w, o.concurrency, o.warmup, o.duration); err != nil {
		return err
	}
	window := m.load.End.Sub(m.load.Start).Seconds()
	m.posts = float64(s.slackPosts(m.load.Start, m.load.End)) / window
	m.pdNotes = float64(s.pagerNotes(m.load.Start, m.load.End)) / window
	m.backlog = -1
	if ob, err := s.outbox(ctx); err == nil {
		m.backlog = ob.pending
	}
	m.committed = -1
	if n, err := s.slackNotes(ctx, chans); err == nil {
		m.committed = n
	}
	m.exitErr = s.close()
	return nil
}

func (m measurement) commandLine() string {
	l := m.load
	s := fmt.Sprintf("round %d %8.1f commands/s  p50 %s  p90 %s  p99 %s  max %s  errors %d  CPU %% server/tool/other: %s",
		m.round, l.Rate(), ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, cpuCell(l))
	s += fmt.Sprintf("  (incidents opened in %s; Slack posts %.1f/s; PagerDuty notes %.1f/s; outbox backlog after the window %d; notes on the timelines %s of %d confirmed)",
		m.seedTime.Round(time.Millisecond), m.posts, m.pdNotes, m.backlog, committedCell(m.committed), l.AllOK)
	return s + m.errorLines()
}

// committedCell formats a count that is -1 when unknown.
func committedCell(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// reportCommands prints the Markdown table of every round, the medians and
// the p99 against the target.
func reportCommands(out io.Writer, all []measurement) {
	fmt.Fprintln(out, "| round | commands/s | p50 ms | p90 ms | p99 ms | max ms | errors | CPU % server/tool/other | Slack posts/s | PagerDuty notes/s | outbox backlog | notes on timelines / confirmed |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var rate, p50, p90, p99, pmax, errs, posts, notes, backlog []float64
	worst := time.Duration(0)
	for _, m := range all {
		l := m.load
		fmt.Fprintf(out, "| %d | %.1f | %s | %s | %s | %s | %d | %s | %.1f | %.1f | %d | %s / %d |\n", m.round, l.Rate(),
			ms(l.Pct(50)), ms(l.Pct(90)), ms(l.Pct(99)), ms(l.Pct(100)), l.Errors, cpuCell(l), m.posts, m.pdNotes, m.backlog,
			committedCell(m.committed), l.AllOK)
		rate = append(rate, l.Rate())
		p50 = append(p50, float64(l.Pct(50))/1e6)
		p90 = append(p90, float64(l.Pct(90))/1e6)
		p99 = append(p99, float64(l.Pct(99))/1e6)
		pmax = append(pmax, float64(l.Pct(100))/1e6)
		errs = append(errs, float64(l.Errors))
		posts = append(posts, m.posts)
		notes = append(notes, m.pdNotes)
		backlog = append(backlog, float64(m.backlog))
		worst = max(worst, l.Pct(99))
	}
	fmt.Fprintf(out, "| **median** | **%.1f** | %.2f | %.2f | **%.2f** | %.2f | %.0f | | %.1f | %.1f | %.0f | |\n",
		median(rate), median(p50), median(p90), median(p99), median(pmax), median(errs), median(posts), median(notes), median(backlog))
	fmt.Fprintln(out)
	med := median(p99)
	fmt.Fprintf(out, "p99 (median of the rounds): %.2f ms (target: at most %d ms) %s; worst round: %s ms\n",
		med, p99Target.Milliseconds(), verdict(med <= float64(p99Target)/1e6), ms(worst))
	fmt.Fprintln(out, "(no baseline in this mode: the target is absolute)")
	warnings(out, all)
	for _, m := range all {
		if m.committed >= 0 && m.committed < m.load.AllOK {
			fmt.Fprintf(out, "ERRORS: round %d: %d commands were confirmed but only %d notes are on the timelines\n", m.round, m.load.AllOK, m.committed)
		}
	}
}
