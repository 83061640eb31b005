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
	slack.AddUser("UALICE", "alice", "alice@example.com")
	slack.AddUser("UBOB", "bob", "bob@example.com")
	stakeholders := slack.CreateChannelDirect("incidents", "UALICE", false)
	pd.AddUser(pagerfake.User{ID: "PALICE", Name: "Alice Chen", Email: "alice@example.com"})
	pd.AddUser(pagerfake.User{ID: "PBOB", Name: "Bob Martinez", Email: "bob@example.com"})

	const secret, signing, token = "demo-webhook-secret", "demo-signing-secret", "demo-admin-token"
	cfg := DefaultConfig()
	cfg.SlackBotToken, cfg.SlackAPIURL, cfg.SlackSigningSecret = slackfake.DefaultToken, slack.URL(), signing
	cfg.PagerDutyWebhookSecrets = []string{secret}
	cfg.PagerDutyAPIToken, cfg.PagerDutyAPIURL, cfg.PagerDutyFrom = pd.Token(), pd.URL(), "alice@example.com"
	cfg.Addr, cfg.DB, cfg.ExportDir = "127.0.0.1:0", dbPath, filepath.Join(dir, "postmortems")
	cfg.AdminToken, cfg.AnnounceChannel = token, "#incidents"
	cfg.StatusDir = filepath.Join(dir, "status")
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
	alice := pagerfake.UserRef("PALICE", "Alice Chen")
	inc := pd.AddIncident(pagerfake.Incident{ID: "PDEMO01", Number: 1187, Title: "Checkout API error rate above 5%", Urgency: "high", PriorityName: "P1",
		ServiceID: "PCHECKOUT", ServiceName: "Checkout API", AssigneeIDs: []string{"PALICE"}, CreatedAt: start})
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
		status, body, err := app.Command(ctx, slackfake.CommandRequest{Text: text, UserID: user, ChannelID: channel})
		if err != nil || status != 200 {
			return fmt.Errorf("/incident %s: %d %v", text, status, err)
		}
		var r struct {
			Text         string `json:"text"`
			ResponseType string `json:"response_type"`
		}
		json.Unmarshal(body, &r)
		fmt.Fprintf(out, "  %s types: /incident %s\n", slackName(slack, user), text)
		fmt.Fprintf(out, "  └ incidentbot (%s): %s\n", visibility(r.ResponseType), oneLine(r.Text))
		return nil
	}

	fmt.Fprintf(out, "incidentbot demo: the real server on %s, with fake Slack and PagerDuty in this process.\n", m.URL())
	say("PagerDuty pages: %q on service Checkout API (P1)", inc.Title)
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
	say("Alice acknowledges in PagerDuty")
	clk.Set(start.Add(90 * time.Second))
	if err := deliver("incident.acknowledged", start.Add(90*time.Second), data); err != nil {
		return err
	}
	if err := settle(); err != nil {
		return err
	}
	say("The responders work the incident from Slack")
	deploy := start.Add(-3 * time.Minute).Format("15:04")
	for _, c := range []struct {
		after      time.Duration
		user, text string
	}{
		{4 * time.Minute, "UALICE", "note error rate 7% since the " + deploy + " deploy of checkout v2.31"},
		{5 * time.Minute, "UALICE", "role comms <@UBOB|bob>"},
		{9 * time.Minute, "UALICE", "status identified v2.31 sends malformed tax requests; rolling back"},
		{12 * time.Minute, "UBOB", "update Rollback in progress; card payments fail for about 1 in 15 customers"},
		{20 * time.Minute, "UALICE", "status monitoring Rollback complete, error rate back under 0.1%"},
		{22 * time.Minute, "UALICE", "started " + start.Add(-2*time.Minute).Format(time.RFC3339)},
		{22 * time.Minute, "UALICE", "impact ~7% of checkout attempts failed for 22 minutes"},
		{23 * time.Minute, "UALICE", "rootcause v2.31 built tax requests without the region field; the tax service rejected them"},
		{24 * time.Minute, "UALICE", "action Contract test between checkout and tax service <@UBOB|bob> due:" + start.AddDate(0, 0, 14).Format("2006-01-02") + " p1"},
		{26 * time.Minute, "UALICE", "resolve Rolled back to v2.30"},
	} {
		clk.Set(start.Add(c.after))
		if err := command(c.user, ch, c.text); err != nil {
			return err
		}
		if err := settle(); err != nil {
			return err
		}
	}
	_ = stakeholders
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
			return u.Name
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

// transcript prints Slack messages as people would have read them.
type transcript struct {
	out   io.Writer
	slack *slackfake.Server
	seen  map[string]bool
}

func (t *transcript) flush() {
	chans := t.slack.Channels()
	sort.Slice(chans, func(i, j int) bool { return chans[i].ID < chans[j].ID })
	var msgs []slackfake.Message
	names := map[string]string{}
	for _, c := range chans {
		names[c.ID] = c.Name
		for _, m := range t.slack.Messages(c.ID) {
			if !t.seen[m.TS] {
				t.seen[m.TS] = true
				msgs = append(msgs, m)
			}
		}
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].TS < msgs[j].TS })
	for _, m := range msgs {
		where := "#" + names[m.Channel]
		if m.ThreadTS != "" {
			where += " (thread)"
		}
		fmt.Fprintf(t.out, "  %-34s incidentbot: %s\n", where, renderBlocks(m))
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

var slackLink = regexp.MustCompile(`<([^|>]+)\|([^>]+)>`)

func unescape(s string) string {
	s = slackLink.ReplaceAllString(s, "$2")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "*", "").Replace(s)
}
