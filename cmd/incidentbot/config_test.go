package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var minimal = map[string]string{
	"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "sig", "PAGERDUTY_WEBHOOK_SECRETS": "a, b",
}

func TestLoadConfig_DefaultsAndLists(t *testing.T) {
	c, err := LoadConfig(envOf(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DB != "incidentbot.db" || c.ChannelPrefix != "inc" || c.SLO != 99.9 || c.UpdateCadence[incidentbot.Sev1] != 15*time.Minute || len(c.PagerDutyWebhookSecrets) != 2 || c.PagerDutyWebhookSecrets[1] != "b" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadConfig_NamesEveryBadSetting(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{
		"INCIDENTBOT_SLO": "120", "INCIDENTBOT_UPDATE_CADENCE": "sev1=soon", "INCIDENTBOT_CHANNEL_PREFIX": "Inc!",
		"PAGERDUTY_API_TOKEN": "tok-secret", "STATUSPAGE_API_KEY": "k", "SLACK_API_URL": "ftp://x",
		"INCIDENTBOT_PUBLIC_SEVERITIES": "sev9",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_WEBHOOK_SECRETS", "INCIDENTBOT_SLO", "INCIDENTBOT_UPDATE_CADENCE", "INCIDENTBOT_CHANNEL_PREFIX", "PAGERDUTY_FROM", "STATUSPAGE_PAGE_ID", "SLACK_API_URL", "INCIDENTBOT_PUBLIC_SEVERITIES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "tok-secret") {
		t.Error("error shows a secret")
	}
}

// writeFile writes a file only its owner may read (0600, as secrets and
// configuration are), failing the test on an error.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig_SecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "token"), []byte("xoxb-from-file\n"))
	env := map[string]string{"SLACK_BOT_TOKEN_FILE": filepath.Join(dir, "token"), "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_WEBHOOK_SECRETS": "w"}
	c, err := LoadConfig(envOf(env))
	if err != nil || c.SlackBotToken != "xoxb-from-file" {
		t.Fatalf("token %q, %v", c.SlackBotToken, err)
	}
	env["SLACK_BOT_TOKEN"] = "xoxb-also"
	if _, err := LoadConfig(envOf(env)); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("both set: %v", err)
	}
	delete(env, "SLACK_BOT_TOKEN")
	env["SLACK_BOT_TOKEN_FILE"] = filepath.Join(dir, "missing")
	if _, err := LoadConfig(envOf(env)); err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN_FILE") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigFile_EnvironmentWins(t *testing.T) {
	file := filepath.Join(t.TempDir(), "incidentbot.yaml")
	writeFile(t, file, []byte(`
slack_bot_token: xoxb-from-yaml
slack_signing_secret: s
pagerduty_webhook_secrets: [one, two]
incidentbot_update_cadence: {sev1: 10m, sev2: 20m}
incidentbot_slo: 99.95
incidentbot_addr: ":9999"
`))
	getenv, err := withConfigFile(file, envOf(map[string]string{"INCIDENTBOT_ADDR": ":7000"}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":7000" || c.SlackBotToken != "xoxb-from-yaml" || len(c.PagerDutyWebhookSecrets) != 2 || c.UpdateCadence[incidentbot.Sev2] != 20*time.Minute || c.SLO != 99.95 {
		t.Errorf("config = %+v", c)
	}
	writeFile(t, file, []byte("slack_bot_tokn: x\n"))
	if _, err := withConfigFile(file, envOf(nil)); err == nil || !strings.Contains(err.Error(), "slack_bot_tokn") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestRun_ExitCodes(t *testing.T) {
	var out, errb strings.Builder
	tests := []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"config", "check"}, minimal, 0},
		{[]string{"config", "check"}, nil, 2},
		{[]string{"config", "check", "--config", "/nonexistent.yaml"}, minimal, 2},
		{[]string{"version"}, nil, 0},
		{[]string{"--help"}, nil, 0},
		{[]string{"frobnicate"}, nil, 2},
		{[]string{}, nil, 2},
		{[]string{"postmortem"}, nil, 2},
		{[]string{"backup"}, nil, 2},
		{[]string{"serve", "--help"}, nil, 0},
		{[]string{"demo", "--help"}, nil, 0},
		{[]string{"postmortem", "--help"}, nil, 0},
		{[]string{"backup", "--help"}, nil, 0},
		{[]string{"config", "check", "--help"}, nil, 0},
		{[]string{"version", "--help"}, nil, 0},
		{[]string{"serve"}, nil, 2},
	}
	for _, tt := range tests {
		if got := run(tt.args, envOf(tt.env), &out, &errb); got != tt.want {
			t.Errorf("incidentbot %v = %d, want %d\n%s", tt.args, got, tt.want, errb.String())
		}
	}
}

func TestLoadConfig_DatabaseURL(t *testing.T) {
	base := map[string]string{"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_WEBHOOK_SECRETS": "w"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := LoadConfig(envOf(with("INCIDENTBOT_DATABASE_URL", "postgres://bot:pw-SECRET@db.example/incidents")))
	if err != nil || c.DatabaseURL == "" {
		t.Fatalf("a postgres URL: %q, %v", c.DatabaseURL, err)
	}
	if d := c.StoreDescription(); strings.Contains(d, "pw-SECRET") || !strings.Contains(d, "db.example") {
		t.Errorf("store description %q", d)
	}
	_, err = LoadConfig(envOf(with("INCIDENTBOT_DATABASE_URL", "postgres://bot:pw-SECRET@db.example/incidents", "INCIDENTBOT_DB", "/data/incidentbot.db")))
	if err == nil || !strings.Contains(err.Error(), "INCIDENTBOT_DATABASE_URL and INCIDENTBOT_DB are both set") {
		t.Errorf("both set: %v", err)
	}
	for _, bad := range []string{"mysql://bot:pw-SECRET@db/x", "postgres://bot:pw-SECRET@db.example:port/x"} {
		_, err = LoadConfig(envOf(with("INCIDENTBOT_DATABASE_URL", bad)))
		if err == nil || !strings.Contains(err.Error(), "INCIDENTBOT_DATABASE_URL") || strings.Contains(err.Error(), "pw-SECRET") {
			t.Errorf("bad URL %q: %v", bad, err)
		}
	}
	// config check says which store, without the password.
	var out, errOut strings.Builder
	if code := run([]string{"config", "check"}, envOf(with("INCIDENTBOT_DATABASE_URL", "postgres://bot:pw-SECRET@db.example/incidents")), &out, &errOut); code != 0 {
		t.Fatalf("config check = %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "pw-SECRET") || !strings.Contains(out.String(), "store: PostgreSQL at postgres://bot:xxxxx@db.example/incidents") {
		t.Errorf("config check said %q", out.String())
	}
}

// Socket Mode and pull mode need neither inbound secret, and config check
// says which mode each side runs in and what the other mode would need.
func TestConfigCheck_NoInboundPort_SaysEachSidesMode(t *testing.T) {
	env := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A1-s3cr3t", "INCIDENTBOT_PAGERDUTY_POLL": "15s",
		"PAGERDUTY_API_TOKEN": "pd-s3cr3t", "PAGERDUTY_FROM": "bot@example.com",
	}
	var out, errOut strings.Builder
	if code := run([]string{"config", "check"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("config check = %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{"slack: Socket Mode", "pagerduty: pull mode (reads log entries every 15s", "for Slack over HTTP: set SLACK_SIGNING_SECRET", "for PagerDuty webhooks: set PAGERDUTY_WEBHOOK_SECRETS", "no inbound port is needed"} {
		if !strings.Contains(got, want) {
			t.Errorf("config check does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "s3cr3t") {
		t.Errorf("config check prints a secret:\n%s", got)
	}
	out.Reset()
	if code := run([]string{"config", "check"}, envOf(minimal), &out, &errOut); code != 0 {
		t.Fatal(errOut.String())
	}
	for _, want := range []string{"slack: HTTP requests", "pagerduty: webhooks", "for Slack Socket Mode: set SLACK_APP_TOKEN", "for PagerDuty pull mode: set INCIDENTBOT_PAGERDUTY_POLL (e.g. 15s) and PAGERDUTY_API_TOKEN"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check (HTTP only) does not say %q:\n%s", want, out.String())
		}
	}
}

// A bot token given as SLACK_APP_TOKEN, or the reverse, is a clear error
// that names both settings and never the value.
func TestLoadConfig_SlackTokensSwapped(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-SECRET"}, "SLACK_APP_TOKEN holds a bot or user token"},
		{map[string]string{"SLACK_BOT_TOKEN": "xapp-SECRET", "SLACK_APP_TOKEN": "xapp-SECRET"}, "SLACK_BOT_TOKEN holds an app-level token"},
		{map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "SECRET"}, "SLACK_APP_TOKEN is not an app-level token"},
	} {
		tc.env["PAGERDUTY_WEBHOOK_SECRETS"] = "w"
		_, err := LoadConfig(envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error repeats a token: %v", err)
		}
	}
}

// INCIDENTBOT_PAGERDUTY_POLL is a Go duration of at least 10 s and needs
// the API token.
func TestLoadConfig_PagerDutyPoll(t *testing.T) {
	base := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "PAGERDUTY_API_TOKEN": "t", "PAGERDUTY_FROM": "bot@example.com"}
	for v, want := range map[string]string{"5s": "at least 10s", "soon": "want a Go duration", "-1m": "at least 10s"} {
		_, err := LoadConfig(envOf(with2(base, "INCIDENTBOT_PAGERDUTY_POLL", v)))
		if err == nil || !strings.Contains(err.Error(), "INCIDENTBOT_PAGERDUTY_POLL") || !strings.Contains(err.Error(), want) {
			t.Errorf("INCIDENTBOT_PAGERDUTY_POLL=%s: %v, want %q", v, err, want)
		}
	}
	noToken := with2(base, "INCIDENTBOT_PAGERDUTY_POLL", "15s")
	delete(noToken, "PAGERDUTY_API_TOKEN")
	if _, err := LoadConfig(envOf(noToken)); err == nil || !strings.Contains(err.Error(), "needs PAGERDUTY_API_TOKEN") {
		t.Errorf("pull mode without a token: %v", err)
	}
	c, err := LoadConfig(envOf(with2(base, "INCIDENTBOT_PAGERDUTY_POLL", "15s")))
	if err != nil || c.PagerDutyPoll != 15*time.Second {
		t.Errorf("15s: %v, %v", c.PagerDutyPoll, err)
	}
}

func with2(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}

func TestLoadConfig_Trackers_OnWhenTheirSettingsAreSet(t *testing.T) {
	c, err := LoadConfig(envOf(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.JiraOn() || c.GitHubOn() || c.JiraIssueType != "Task" || c.GitHubAPIURL != "https://api.github.com" || !strings.Contains(c.Trackers(), "kept by the bot only") {
		t.Fatalf("defaults: %+v, %s", c, c.Trackers())
	}
	env := maps.Clone(minimal)
	maps.Copy(env, map[string]string{
		"JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.com", "JIRA_API_TOKEN": "jira-secret-token", "JIRA_PROJECT": "OPS",
		"GITHUB_TOKEN": "ghp_secret", "GITHUB_REPOSITORY": "acme/ops", "GITHUB_API_URL": "https://ghe.acme.com/api/v3",
	})
	c, err = LoadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := "action items: tracked in Jira Cloud (https://acme.atlassian.net, project OPS, issue type Task) and GitHub Issues (acme/ops at https://ghe.acme.com/api/v3)"
	if !c.JiraOn() || !c.GitHubOn() || c.Trackers() != want {
		t.Fatalf("trackers = %q", c.Trackers())
	}
	if strings.Contains(c.Trackers(), "secret") {
		t.Error("config check shows a tracker's secret")
	}
	env["GITHUB_WEBHOOK_SECRET"], env["JIRA_WEBHOOK_SECRET"] = "gh-hook-secret", "jira-hook-secret"
	if c, err = LoadConfig(envOf(env)); err != nil {
		t.Fatal(err)
	}
	got := c.Trackers()
	for _, want := range []string{"GitHub Issues (acme/ops at https://ghe.acme.com/api/v3; its webhook at POST /webhooks/github)", "issue type Task; its webhook at POST /webhooks/jira)"} {
		if !strings.Contains(got, want) {
			t.Errorf("trackers with the webhooks = %q, want %q in it", got, want)
		}
	}
	if strings.Contains(got, "hook-secret") {
		t.Errorf("config check shows a webhook secret: %q", got)
	}
	delete(env, "JIRA_URL")
	if _, err := LoadConfig(envOf(env)); err == nil || !strings.Contains(err.Error(), "JIRA_WEBHOOK_SECRET is set without") {
		t.Errorf("JIRA_WEBHOOK_SECRET without Jira: %v", err)
	}
}

func TestLoadConfig_Trackers_NamesEveryBadSetting(t *testing.T) {
	env := maps.Clone(minimal)
	maps.Copy(env, map[string]string{
		"JIRA_URL": "https://acme.atlassian.net/jira/software", "JIRA_API_TOKEN": "jira-secret-token", "JIRA_PROJECT": "Operations",
		"GITHUB_REPOSITORY": "acme", "GITHUB_API_URL": "ftp://x", "GITHUB_WEBHOOK_SECRET": "gh-hook-secret",
	})
	_, err := LoadConfig(envOf(env))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"JIRA_EMAIL missing", "JIRA_URL=", "JIRA_PROJECT=\"Operations\"", "GITHUB_TOKEN and GITHUB_REPOSITORY go together", "GITHUB_REPOSITORY=\"acme\"", "GITHUB_API_URL=", "GITHUB_WEBHOOK_SECRET is set without GITHUB_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "jira-secret-token") {
		t.Error("error shows the token")
	}
}

// Values that parse but cannot work are refused, each naming its setting:
// a rate scale of NaN or Inf passed and crashed the first Slack call
// (makeslice); NaN passed as an SLO; a name where a Slack ID belongs locked
// every responder out, or every command ("another Slack workspace").
func TestLoadConfig_RefusesValuesThatCannotWork(t *testing.T) {
	for _, c := range []struct{ name, value, says string }{
		{"INCIDENTBOT_SLACK_RATE_SCALE", "NaN", "INCIDENTBOT_SLACK_RATE_SCALE"},
		{"INCIDENTBOT_SLACK_RATE_SCALE", "+Inf", "INCIDENTBOT_SLACK_RATE_SCALE"},
		{"INCIDENTBOT_SLACK_RATE_SCALE", "1e300", "at most 10000"},
		{"INCIDENTBOT_SLO", "NaN", "INCIDENTBOT_SLO"},
		{"INCIDENTBOT_RESPONDERS", "U012ABCDEF,@alice", `"@alice" is not a Slack user ID`},
		{"INCIDENTBOT_RESPONDERS", "bob", `"bob" is not a Slack user ID`},
		{"SLACK_TEAM_ID", "acme-corp", "SLACK_TEAM_ID"},
	} {
		env := maps.Clone(minimal)
		env[c.name] = c.value
		_, err := LoadConfig(envOf(env))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s=%s: %v; want an error saying %q", c.name, c.value, err, c.says)
		}
	}
	env := maps.Clone(minimal)
	env["INCIDENTBOT_RESPONDERS"], env["SLACK_TEAM_ID"], env["INCIDENTBOT_SLACK_RATE_SCALE"] = "U012ABCDEF, W0123ABCD, S0614TZR7", "T024BE7LD", "1000"
	if _, err := LoadConfig(envOf(env)); err != nil {
		t.Errorf("well-formed IDs and scale: %v", err)
	}
}

// A secret's file must hold the secret: an empty file was taken as unset
// (the admin API or a webhook endpoint quietly off), and PagerDuty's
// secrets one a line (a rotation) became one secret with a newline, every
// webhook answered 401.
func TestLoadConfig_SecretFilesHoldTheSecret(t *testing.T) {
	dir := t.TempDir()
	empty, rotation, twoLines := filepath.Join(dir, "empty"), filepath.Join(dir, "rotation"), filepath.Join(dir, "two")
	writeFile(t, empty, []byte("\n"))
	writeFile(t, rotation, []byte("old-secret\nnew-secret\n"))
	writeFile(t, twoLines, []byte("xoxb-one\nxoxb-two\n"))
	env := maps.Clone(minimal)
	delete(env, "PAGERDUTY_WEBHOOK_SECRETS")
	env["PAGERDUTY_WEBHOOK_SECRETS_FILE"] = rotation
	c, err := LoadConfig(envOf(env))
	if err != nil || !slices.Equal(c.PagerDutyWebhookSecrets, []string{"old-secret", "new-secret"}) {
		t.Errorf("secrets one a line: %q, %v; want both", c.PagerDutyWebhookSecrets, err)
	}
	env = maps.Clone(minimal)
	env["INCIDENTBOT_ADMIN_TOKEN_FILE"] = empty
	if _, err := LoadConfig(envOf(env)); err == nil || !strings.Contains(err.Error(), "INCIDENTBOT_ADMIN_TOKEN_FILE") || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty token file: %v; want an error naming INCIDENTBOT_ADMIN_TOKEN_FILE", err)
	}
	env = maps.Clone(minimal)
	delete(env, "SLACK_BOT_TOKEN")
	env["SLACK_BOT_TOKEN_FILE"] = twoLines
	_, err = LoadConfig(envOf(env))
	if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN_FILE") || strings.Contains(err.Error(), "xoxb-one") {
		t.Errorf("a two-line token file: %v; want an error naming SLACK_BOT_TOKEN_FILE, without the secret", err)
	}
}
