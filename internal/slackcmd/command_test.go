package slackcmd

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/slack-go/slack"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2025, 10, 14, 3, 40, 0, 0, time.UTC)

func TestParseCommand(t *testing.T) {
	// A mention's label is Slack's legacy user name: only the ID is kept.
	bob := &incidentbot.Person{ID: "U0BOB"}
	tests := []struct {
		text string
		want incidentbot.Cmd
	}{
		{"", incidentbot.Cmd{Name: "help"}},
		{"help", incidentbot.Cmd{Name: "help"}},
		{"declare Checkout is down sev1", incidentbot.Cmd{Name: "declare", Text: "Checkout is down", Severity: incidentbot.Sev1}},
		{"declare Checkout &amp; cart &lt;slow&gt;", incidentbot.Cmd{Name: "declare", Text: "Checkout & cart <slow>"}},
		{"ack", incidentbot.Cmd{Name: "ack"}},
		{"ACK inc-12", incidentbot.Cmd{Name: "ack", IncidentID: "INC-12"}},
		{"note INC-12 restarted <@U0BOB|bob>'s pods", incidentbot.Cmd{Name: "note", IncidentID: "INC-12", Text: "restarted @bob's pods"}},
		{"note see <https://grafana.example/d/1|the dashboard> in <#C1|ops>", incidentbot.Cmd{Name: "note", Text: "see the dashboard (https://grafana.example/d/1) in #ops"}},
		{"status identified pool exhausted", incidentbot.Cmd{Name: "status", Status: incidentbot.StatusIdentified, Text: "pool exhausted"}},
		{"status monitoring", incidentbot.Cmd{Name: "status", Status: incidentbot.StatusMonitoring}},
		{"update all green", incidentbot.Cmd{Name: "update", Text: "all green"}},
		{"severity SEV-2", incidentbot.Cmd{Name: "severity", Severity: incidentbot.Sev2}},
		{"commander", incidentbot.Cmd{Name: "commander"}},
		{"commander <@U0BOB|bob>", incidentbot.Cmd{Name: "commander", User: bob}},
		{"role comms <@U0BOB|bob>", incidentbot.Cmd{Name: "role", Role: incidentbot.RoleComms, User: bob}},
		{"commander <@U0BOB|Bob Martinez>", incidentbot.Cmd{Name: "commander", User: bob}},
		{"started 03:10", incidentbot.Cmd{Name: "started", At: time.Date(2025, 10, 14, 3, 10, 0, 0, time.UTC)}},
		{"started 23:50", incidentbot.Cmd{Name: "started", At: time.Date(2025, 10, 13, 23, 50, 0, 0, time.UTC)}},
		{"started 2025-10-14T03:00:00+02:00", incidentbot.Cmd{Name: "started", At: time.Date(2025, 10, 14, 1, 0, 0, 0, time.UTC)}},
		{"started 03:10:30", incidentbot.Cmd{Name: "started", At: time.Date(2025, 10, 14, 3, 10, 30, 0, time.UTC)}},
		{"note 03:05 Redis node down", incidentbot.Cmd{Name: "note", At: time.Date(2025, 10, 14, 3, 5, 0, 0, time.UTC), Text: "Redis node down"}},
		{"note INC-4 22:59:30 deploy <@U0BOB|bob>", incidentbot.Cmd{Name: "note", IncidentID: "INC-4", At: time.Date(2025, 10, 13, 22, 59, 30, 0, time.UTC), Text: "deploy @bob"}},
		{"note at 03:05 it broke", incidentbot.Cmd{Name: "note", Text: "at 03:05 it broke"}},
		{"mitigated", incidentbot.Cmd{Name: "mitigated"}},
		{"mitigated 03:36", incidentbot.Cmd{Name: "mitigated", At: time.Date(2025, 10, 14, 3, 36, 0, 0, time.UTC)}},
		{"mitigated INC-2 2025-10-14T03:30:00Z", incidentbot.Cmd{Name: "mitigated", IncidentID: "INC-2", At: time.Date(2025, 10, 14, 3, 30, 0, 0, time.UTC)}},
		{"affected 85%", incidentbot.Cmd{Name: "affected", Percent: 85}},
		{"affected 12.5 %", incidentbot.Cmd{Name: "affected", Percent: 12.5}},
		{"affected 100", incidentbot.Cmd{Name: "affected", Percent: 100}},
		{"impact 100% of API users", incidentbot.Cmd{Name: "impact", Text: "100% of API users"}},
		{"rootcause leak in sync job", incidentbot.Cmd{Name: "rootcause", Text: "leak in sync job"}},
		{"action Add pool alert <@U0BOB|bob> due:2025-10-20 p1", incidentbot.Cmd{Name: "action", Action: &incidentbot.ActionItem{Text: "Add pool alert", Owner: bob, Due: "2025-10-20", Priority: "p1"}}},
		{"action Review background jobs", incidentbot.Cmd{Name: "action", Action: &incidentbot.ActionItem{Text: "Review background jobs"}}},
		{"action done 2", incidentbot.Cmd{Name: "action done", N: 2}},
		{"public API degraded", incidentbot.Cmd{Name: "public", Text: "API degraded"}},
		{"timeline INC-3", incidentbot.Cmd{Name: "timeline", IncidentID: "INC-3"}},
		{"resolve restarted pods", incidentbot.Cmd{Name: "resolve", Text: "restarted pods"}},
		{"resolve", incidentbot.Cmd{Name: "resolve"}},
		{"list", incidentbot.Cmd{Name: "list"}},
		{"followups", incidentbot.Cmd{Name: "followups"}},
		{"postmortem", incidentbot.Cmd{Name: "postmortem"}},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.text, now)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCommand(%q)\n got %+v\nwant %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseCommand_BadInputShowsTheRightForm(t *testing.T) {
	tests := map[string]string{
		"frobnicate":            "• `/incident declare <title>", // nothing close: the whole help
		"notee":                 "Did you mean `/incident note [HH:MM[:SS]] <text>`",
		"sever":                 "Did you mean `/incident severity <sev1|sev2|sev3|sev4>`",
		"resovle":               "Did you mean `/incident resolve [summary]`",
		"timelime INC-2":        "Did you mean `/incident timeline`",
		"declare":               "/incident declare <title>",
		"declare sev1":          "/incident declare <title>",
		"note":                  "/incident note [HH:MM[:SS]] <text>",
		"status fixed":          "/incident status <investigating|identified|monitoring>",
		"severity critical":     "/incident severity <sev1|sev2|sev3|sev4>",
		"role boss <@U1>":       "/incident role <commander|comms|scribe>",
		"commander bob":         "Mention the person with @",
		"started yesterday":     "/incident started <HH:MM or RFC 3339, UTC>",
		"action done x":         "/incident action done <n>",
		"action due:2025-13-40": "/incident action <text>",
		"ack now please":        "/incident ack",
		"note 09:45":            "/incident note [HH:MM[:SS]] <text>",
		"note 25:61 x":          "is not a time of day",
		"mitigated soon":        "/incident mitigated [HH:MM]",
		"mitigated 03:00 03:10": "/incident mitigated [HH:MM]",
		"affected":              "/incident affected <N%>",
		"affected most":         "/incident affected <N%>",
		"affected 0%":           "above 0 and at most 100",
		"affected 150%":         "above 0 and at most 100",
	}
	for text, want := range tests {
		_, err := ParseCommand(text, now)
		if incidentbot.ErrorCode(err) != incidentbot.EINVALID || !strings.Contains(incidentbot.ErrorMessage(err), want) {
			t.Errorf("ParseCommand(%q) = %v, want EINVALID mentioning %q", text, err, want)
		}
	}
}

func TestHelp_Golden(t *testing.T) {
	golden := filepath.Join("testdata", "help.golden")
	got := incidentbot.Help()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("help changed; review and run go test ./internal/slackcmd -run Help -update\n%s", got)
	}
	for _, u := range incidentbot.Usage {
		if !strings.Contains(got, u.Form) {
			t.Errorf("help lacks %q", u.Form)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"declare x sev1", "note INC-1 <@U1|a> &amp;", "action a <@U1> due:2025-01-01 p3", "started 12:00", "role scribe <@W1>", "status identified x", "note 09:45:10 x", "mitigated 10:30", "affected 85%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCommand(text, now)
		if err != nil {
			if incidentbot.ErrorCode(err) != incidentbot.EINVALID || incidentbot.ErrorMessage(err) == "" {
				t.Fatalf("error without a usage message: %v", err)
			}
			return
		}
		if incidentbot.UsageOf(c.Name) == "" {
			t.Fatalf("parsed an unknown subcommand %q", c.Name)
		}
		if c.Name == "action" && (c.Action == nil || c.Action.Text == "") {
			t.Fatalf("action without text: %+v", c)
		}
		if c.Name == "note" && (c.Text == "" || c.At.After(now)) {
			t.Fatalf("note without text or in the future: %+v", c)
		}
		if c.Name == "affected" && !(c.Percent > 0 && c.Percent <= 100) {
			t.Fatalf("affected share out of range: %+v", c)
		}
	})
}

func TestVerifyRequest(t *testing.T) {
	body := []byte("token=x&text=ack")
	ts := "1760411700" // 2025-10-14T03:15:00Z
	good := "v0=" + hexMAC("secret", "v0:"+ts+":"+string(body))
	at := time.Unix(1760411700, 0)
	tests := []struct {
		name      string
		ts, sig   string
		now       time.Time
		wantError error
	}{
		{"valid", ts, good, at, nil},
		{"4 minutes late", ts, good, at.Add(4 * time.Minute), nil},
		{"6 minutes late", ts, good, at.Add(6 * time.Minute), ErrStale},
		{"from the future", ts, good, at.Add(-6 * time.Minute), ErrStale},
		{"wrong secret", ts, "v0=" + hexMAC("other", "v0:"+ts+":"+string(body)), at, ErrBadSig},
		{"missing", "", "", at, ErrNoSignature},
		{"not hex", ts, "v0=zz", at, ErrBadSig},
	}
	for _, tt := range tests {
		err := VerifyRequest("secret", tt.ts, tt.sig, body, tt.now)
		if err != tt.wantError {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantError)
		}
		if err != nil && strings.Contains(err.Error(), good[3:]) {
			t.Errorf("%s: error text contains the expected signature", tt.name)
		}
	}
}

func TestBlocks_LongBodySplitsIntoSections(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "• *INC-%d* SEV2 disk full on db-%d · Storage\n", i, i)
	}
	blocks := Blocks(incidentbot.Message{Text: "storm", Body: b.String()})
	if len(blocks) < 5 || len(blocks) > 50 {
		t.Fatalf("%d blocks", len(blocks))
	}
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if !strings.Contains(string(js), fmt.Sprintf("INC-%d*", i)) {
			t.Fatalf("INC-%d lost in splitting", i)
		}
	}
	for _, blk := range blocks {
		if s, ok := blk.(*slack.SectionBlock); ok && s.Text != nil && len([]rune(s.Text.Text)) > 3000 {
			t.Errorf("a section of %d characters", len([]rune(s.Text.Text)))
		}
	}
}
