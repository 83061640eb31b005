package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager/pagerfake"
	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

// demoCmd is `incidentbot demo`: the real server against in-process fakes
// of Slack and PagerDuty, playing a short incident and printing what people
// would have seen in Slack. No flags, network or accounts needed.
func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "incidentbot-demo", "directory for the demo's database and postmortem draft")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: incidentbot demo [-dir DIR]\n\nRuns the real server against built-in fakes of Slack and PagerDuty, plays a short incident\n(page, acknowledgement, commands, a status update, resolution), prints the Slack transcript\nand writes the draft postmortem. Needs no accounts and no network.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := runDemo(*dir, stdout); err != nil {
		fmt.Fprintln(stderr, "incidentbot demo:", err)
		return 1
	}
	return 0
}

func runDemo(dir string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "incidentbot.db")
	os.Remove(dbPath) // every demo starts from scratch

	slack := slackfake.New()
	defer slack.Close()
	pd := pagerfake.New()
	defer pd.Close()
	// Slack sends its legacy user names (alice, bob.m) with every command;
	// the bot shows the profiles' real names, and PagerDuty's users with
	// the same e-mail are the same people.
	slack.PutUser(slackfake.User{ID: "UALICE", Name: "alice", RealName: "Alice Chen", Email: "alice@example.com"})
	slack.PutUser(slackfake.User{ID: "UBOB", Name: "bob.m", RealName: "Bob Martinez", Email: "bob@example.com"})
	slack.PutUser(slackfake.User{ID: "UCARA", Name: "cara", RealName: "Cara Osei", Email: "cara@example.com"})
	stakeholders := slack.CreateChannelDirect("incidents", "UALICE", false)
	pd.AddUser(pagerfake.User{ID: "PALICE", Name: "A. Chen", Email: "alice@example.com"})
	pd.AddUser(pagerfake.User{ID: "PBOB", Name: "Bob Martinez", Email: "bob@example.com"})
	pd.AddUser(pagerfake.User{ID: "PCARA", Name: "Cara Osei", Email: "cara@example.com"})
	pd.AddEscalationPolicy(pagerfake.EscalationPolicy{Name: "Payments on-call", UserIDs: []string{"PCARA"}})

	const secret, signing, token = "demo-webhook-secret", "demo-signing-secret", "demo-admin-token"
	cfg := DefaultConfig()
	cfg.SlackBotToken, cfg.SlackAPIURL, cfg.SlackSigningSecret = slackfake.DefaultToken, slack.URL(), signing
	cfg.PagerDutyWebhookSecrets = []string{secret}
	cfg.PagerDutyAPIToken, cfg.PagerDutyAPIURL, cfg.PagerDutyFrom = pd.Token(), pd.URL(), "alice@example.com"
	cfg.Addr, cfg.DB, cfg.ExportDir = "127.0.0.1:0", dbPath, filepath.Join(dir, "postmortems")
	cfg.AdminToken, cfg.AnnounceChannel = token, "#incidents"
	cfg.StatusDir = filepath.Join(dir, "status")
	// The fake Slack has no rate limits: the budget (1 post a second per
	// channel at scale 1) would only make the demo wait.
	cfg.SlackRateScale = 20
	// The incident plays at its own pace: 26 minutes, ending a few minutes ago.
	start := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Minute)
	clk := &flowingClock{}
	clk.Set(start)
	m := NewMain(cfg, nil)
	m.Now = clk.Now
	m.Backoff = func(int) time.Duration { return 50 * time.Millisecond }
	if err := m.Open(); err != nil {
		return err
	}
	defer m.Close()

	tr := &transcript{out: out, slack: slack, seen: map[string]bool{}}
	say := func(format string, args ...any) { fmt.Fprintf(out, "\n▶ "+format+"\n", args...) }
	settle := func() error {
		deadline := time.Now().Add(10 * time.Second)
		for m.Outbox.Stats().Depth > 0 || !m.idle(ctx) {
			if time.Now().After(deadline) {
				return errors.New("the outbox did not drain in 10 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		tr.flush()
		return nil
	}
	sender := &pagerfake.Sender{URL: m.URL() + "/webhooks/pagerduty", Secrets: []string{secret}}
	app := &slackfake.AppClient{BaseURL: m.URL(), SigningSecret: signing, Slack: slack, Now: clk.Now}
	alice := pagerfake.UserRef("PALICE", "A. Chen")
	inc := pd.AddIncident(pagerfake.Incident{ID: "PDEMO01", Number: 1187, Title: "Checkout API error rate above 5%", Urgency: "high", PriorityName: "P2",
		ServiceID: "PCHECKOUT", ServiceName: "Checkout API", AssigneeIDs: []string{"PALICE"}, CreatedAt: start,
		ConferenceURL: "https://meet.example.com/checkout-1187"})
	deliver := func(typ string, at time.Time, data any) error {
		ev := pagerfake.Event{Type: typ, OccurredAt: at, Agent: &alice, Data: data}
		status, err := sender.SendUntilAccepted(ctx, "", ev.JSON(), 50*time.Millisecond)
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		fmt.Fprintf(out, "  (PagerDuty webhook %s → HTTP %d)\n", typ, status)
		return nil
	}
	command := func(user, channel, text string) error {
		url := slack.NewResponseURL()
		tr.urls = append(tr.urls, url)
		status, body, err := app.Command(ctx, slackfake.CommandRequest{Text: text, UserID: user, ChannelID: channel, ResponseURL: url})
		if err != nil || status != 200 {
			return fmt.Errorf("/incident %s: %d %v", text, status, err)
		}
		var r struct {
			Text         string `json:"text"`
			ResponseType string `json:"response_type"`
		}
		// Shown as Slack shows what was typed: a mention as @name.
		typed := mentionRe.ReplaceAllStringFunc(text, func(m string) string { return "@" + slackName(slack, mentionRe.FindStringSubmatch(m)[1]) })
		fmt.Fprintf(out, "  %s types: /incident %s\n", slackName(slack, user), typed)
		if len(strings.TrimSpace(string(body))) == 0 {
			return nil // answered by its post in the channel, nothing else
		}
		json.Unmarshal(body, &r)
		fmt.Fprintf(out, "  └ incidentbot (%s): %s\n", visibility(r.ResponseType), oneLine(r.Text))
		return nil
	}

	fmt.Fprintf(out, "incidentbot demo: the real server on %s, with fake Slack and PagerDuty in this process.\n", m.URL())
	say("PagerDuty pages: %q on service Checkout API (P2)", inc.Title)
	data, _ := pd.IncidentData(inc.ID)
	if err := deliver("incident.triggered", start, data); err != nil {
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	var got apiIncidentDemo
	if err := m.apiGet(ctx, "/api/incidents/PDEMO01", token, &got); err != nil {
		return err
	}
	ch := got.ChannelID
	say("Alice acknowledges in PagerDuty: nobody commands yet, so she does (the kickoff is updated in place)")
	clk.Set(start.Add(90 * time.Second))
	if err := deliver("incident.acknowledged", start.Add(90*time.Second), data); err != nil {
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	say("The responders work the incident from Slack: one message per action, the stakeholders follow in their thread")
	deploy := start.Add(-3 * time.Minute).Format("15:04")
	for _, c := range []struct {
		after      time.Duration
		user, text string
	}{
		{4 * time.Minute, "UALICE", "note error rate 7% since the " + deploy + " deploy of checkout v2.31"},
		{5 * time.Minute, "UALICE", "severity sev1"},
		{6 * time.Minute, "UALICE", "page <@UBOB|bob.m> can you look at checkout v2.31?"},
		{7 * time.Minute, "UALICE", "page Payments on-call card declines are rising"},
		{8 * time.Minute, "UALICE", "page Paymnets"},
		{9 * time.Minute, "UALICE", "title Checkout tax requests failing after v2.31"},
		{9 * time.Minute, "UALICE", "status identified v2.31 sends malformed tax requests; rolling back"},
		{10 * time.Minute, "UALICE", "handoff <@UBOB|bob.m>"},
		{12 * time.Minute, "UBOB", "update Rollback in progress; card payments fail for about 1 in 15 customers"},
		{20 * time.Minute, "UBOB", "status monitoring Rollback complete, error rate back under 0.1%"},
		{22 * time.Minute, "UALICE", "started " + start.Add(-2*time.Minute).Format(time.RFC3339)},
		{22 * time.Minute, "UALICE", "impact ~7% of checkout attempts failed for 22 minutes"},
		{23 * time.Minute, "UALICE", "rootcause v2.31 built tax requests without the region field; the tax service rejected them"},
		{24 * time.Minute, "UALICE", "action Contract test between checkout and tax service <@UBOB|bob.m> due:" + start.AddDate(0, 0, 14).Format("2006-01-02") + " p1"},
		{25 * time.Minute, "UBOB", "frobnicate"},
		{26 * time.Minute, "UBOB", "resolve Rolled back to v2.30"},
	} {
		clk.Set(start.Add(c.after))
		if err := command(c.user, ch, c.text); err != nil {
			return err
		}
		if err := settle(); err != nil {
			return err
		}
	}
	say("A security incident, declared private: a private channel, nothing in #incidents or on the status page")
	clk.Set(start.Add(27 * time.Minute))
	if err := command("UCARA", stakeholders.ID, "declare Suspected leaked API key sev1 private"); err != nil {
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	p, err := m.Service.Postmortem(ctx, "INC-1")
	if err != nil {
		return err
	}
	file := filepath.Join(cfg.ExportDir, p.FileName()+".md")
	say("Done. The draft postmortem is %s (and .json next to it); the static status page is in %s.", file, cfg.StatusDir)
	fmt.Fprintf(out, "  Its response metrics:\n")
	for _, line := range strings.Split(string(p.Markdown()), "\n") {
		if strings.HasPrefix(line, "| Time to ") {
			fmt.Fprintf(out, "    %s\n", line)
		}
	}
	return nil
}

type apiIncidentDemo struct {
	ChannelID string `json:"channel_id"`
}

func visibility(rt string) string {
	if rt == "in_channel" {
		return "to the channel"
	}
	return "only to you"
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func slackName(s *slackfake.Server, id string) string {
	for _, u := range s.Users() {
		if u.ID == id {
			return u.RealName
		}
	}
	return id
}

// flowingClock is a clock set to chosen instants that keeps running in
// real time from each, so the worker's own waits still elapse. The demo
// and the tests use it to play an incident at its own times.
type flowingClock struct {
	mu    sync.Mutex
	base  time.Time
	setAt time.Time
}

// Set moves the clock to t.
func (c *flowingClock) Set(t time.Time) {
	c.mu.Lock()
	c.base, c.setAt = t, time.Now()
	c.mu.Unlock()
}

// Now returns the clock's time.
func (c *flowingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.setAt))
}

// transcript prints Slack messages as people would have read them: new
// posts, messages edited in place (the kickoff, the announcement), pins,
// and the private answers sent to slash commands' response URLs.
type transcript struct {
	out   io.Writer
	slack *slackfake.Server
	seen  map[string]bool
	edits map[string]int  // ts → edits printed
	pins  map[string]bool // ts → pin printed
	urls  []string        // response URLs of the commands run
	said  map[string]int  // response URL → answers printed
}

func (t *transcript) flush() {
	if t.edits == nil {
		t.edits, t.pins, t.said = map[string]int{}, map[string]bool{}, map[string]int{}
	}
	for _, u := range t.urls {
		rs := t.slack.Responses(u)
		for _, r := range rs[t.said[u]:] {
			fmt.Fprintf(t.out, "  └ incidentbot (only to you, later): %s\n", unescape(oneLine(r.Text)))
		}
		t.said[u] = len(rs)
	}
	chans := t.slack.Channels()
	sort.Slice(chans, func(i, j int) bool { return chans[i].ID < chans[j].ID })
	type line struct {
		ts, text string
	}
	var lines []line
	for _, c := range chans {
		where := "#" + c.Name
		if c.IsPrivate {
			where += " (private)"
		}
		for _, m := range t.slack.Messages(c.ID) {
			at := where
			switch {
			case m.Broadcast:
				at += " (thread + channel)"
			case m.ThreadTS != "":
				at += " (thread)"
			}
			if !t.seen[m.TS] {
				t.seen[m.TS] = true
				t.edits[m.TS] = len(m.Edited)
				lines = append(lines, line{m.TS, fmt.Sprintf("  %-40s incidentbot: %s", at, renderBlocks(m))})
			} else if len(m.Edited) > t.edits[m.TS] {
				t.edits[m.TS] = len(m.Edited)
				lines = append(lines, line{m.TS, fmt.Sprintf("  %-40s (updated in place): %s", at, renderBlocks(m))})
			}
			if m.Pinned && !t.pins[m.TS] {
				t.pins[m.TS] = true
				lines = append(lines, line{m.TS + "p", fmt.Sprintf("  %-40s (pinned the message above)", at)})
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts < lines[j].ts })
	for _, l := range lines {
		fmt.Fprintln(t.out, l.text)
	}
}

// renderBlocks turns a Block Kit message into one readable line.
func renderBlocks(m slackfake.Message) string {
	var blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Text any `json:"text"`
		} `json:"elements"`
	}
	if json.Unmarshal([]byte(m.Blocks), &blocks) != nil || len(blocks) == 0 {
		return unescape(oneLine(m.Text))
	}
	var parts []string
	for _, b := range blocks {
		switch b.Type {
		case "header", "section":
			if b.Text != nil {
				parts = append(parts, b.Text.Text)
			}
			for _, f := range b.Fields {
				parts = append(parts, strings.ReplaceAll(f.Text, "\n", " "))
			}
		case "context":
			for _, e := range b.Elements {
				if s, ok := e.Text.(string); ok {
					parts = append(parts, "("+s+")")
				}
			}
		case "actions":
			var btns []string
			for _, e := range b.Elements {
				if o, ok := e.Text.(map[string]any); ok {
					btns = append(btns, fmt.Sprintf("[%v]", o["text"]))
				}
			}
			parts = append(parts, strings.Join(btns, " "))
		}
	}
	return unescape(strings.Join(parts, " · "))
}

var mentionRe = regexp.MustCompile(`<@([UW][A-Z0-9]+)(?:\|[^>]*)?>`)

var slackLink = regexp.MustCompile(`<((?:https?://|[@#][A-Z0-9])[^|>]*)\|([^>]+)>`)

func unescape(s string) string {
	s = slackLink.ReplaceAllString(s, "$2")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "*", "").Replace(s)
}
