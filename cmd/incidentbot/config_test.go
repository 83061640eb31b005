package main

import (
	"maps"
	"os"
	"path/filepath"
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
