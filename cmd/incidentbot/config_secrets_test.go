package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Secret values and file contents of the precedence tests; no error may
// contain any of them.
var precedenceSecrets = []string{"env-SECRET-value", "envfile-SECRET-content", "yaml-SECRET-value", "yamlfile-SECRET-content"}

// A precedence case: the environment and the config file (by key) of one
// secret, with $ENVFILE, $YAMLFILE and $MISSING standing for paths. The
// files hold "envfile-SECRET-content\n" and "yamlfile-SECRET-content\n".
type precedenceCase struct {
	name    string
	env     map[string]string // X and X_FILE
	file    map[string]string // x and x_file
	want    string            // the secret, if no error
	wantErr []string          // what the error must contain
}

// precedenceCases is written for SLACK_BOT_TOKEN; forSecret respells a case
// for another secret.
var precedenceCases = []precedenceCase{
	{name: "env value over YAML _file",
		env: map[string]string{"SLACK_BOT_TOKEN": "env-SECRET-value"}, file: map[string]string{"slack_bot_token_file": "$YAMLFILE"},
		want: "env-SECRET-value"},
	{name: "env _FILE over YAML value",
		env: map[string]string{"SLACK_BOT_TOKEN_FILE": "$ENVFILE"}, file: map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		want: "envfile-SECRET-content"},
	{name: "env value over YAML value",
		env: map[string]string{"SLACK_BOT_TOKEN": "env-SECRET-value"}, file: map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		want: "env-SECRET-value"},
	{name: "env _FILE over YAML _file",
		env: map[string]string{"SLACK_BOT_TOKEN_FILE": "$ENVFILE"}, file: map[string]string{"slack_bot_token_file": "$YAMLFILE"},
		want: "envfile-SECRET-content"},
	{name: "env value over YAML pair that is both set",
		env:  map[string]string{"SLACK_BOT_TOKEN": "env-SECRET-value"},
		file: map[string]string{"slack_bot_token": "yaml-SECRET-value", "slack_bot_token_file": "$YAMLFILE"},
		want: "env-SECRET-value"},
	{name: "YAML value only",
		file: map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		want: "yaml-SECRET-value"},
	{name: "YAML _file only, trailing newline trimmed",
		file: map[string]string{"slack_bot_token_file": "$YAMLFILE"},
		want: "yamlfile-SECRET-content"},
	{name: "env _FILE only, trailing newline trimmed",
		env:  map[string]string{"SLACK_BOT_TOKEN_FILE": "$ENVFILE"},
		want: "envfile-SECRET-content"},
	{name: "empty env value is unset: YAML _file decides",
		env: map[string]string{"SLACK_BOT_TOKEN": ""}, file: map[string]string{"slack_bot_token_file": "$YAMLFILE"},
		want: "yamlfile-SECRET-content"},
	{name: "empty env _FILE is unset: YAML value decides",
		env: map[string]string{"SLACK_BOT_TOKEN_FILE": ""}, file: map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		want: "yaml-SECRET-value"},
	{name: "empty env value beside env _FILE is not both set",
		env:  map[string]string{"SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": "$ENVFILE"},
		want: "envfile-SECRET-content"},
	{name: "env both set",
		env:     map[string]string{"SLACK_BOT_TOKEN": "env-SECRET-value", "SLACK_BOT_TOKEN_FILE": "$ENVFILE"},
		wantErr: []string{"SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set"}},
	{name: "env both set, YAML set too: the env pair's error",
		env:     map[string]string{"SLACK_BOT_TOKEN": "env-SECRET-value", "SLACK_BOT_TOKEN_FILE": "$ENVFILE"},
		file:    map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		wantErr: []string{"SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set"}},
	{name: "YAML both set",
		file:    map[string]string{"slack_bot_token": "yaml-SECRET-value", "slack_bot_token_file": "$YAMLFILE"},
		wantErr: []string{"slack_bot_token and slack_bot_token_file are both set in the config file"}},
	{name: "env _FILE unreadable: no fallback to YAML",
		env: map[string]string{"SLACK_BOT_TOKEN_FILE": "$MISSING"}, file: map[string]string{"slack_bot_token": "yaml-SECRET-value"},
		wantErr: []string{"SLACK_BOT_TOKEN_FILE: cannot read", "missing"}},
	{name: "YAML _file unreadable",
		file:    map[string]string{"slack_bot_token_file": "$MISSING"},
		wantErr: []string{"slack_bot_token_file in the config file: cannot read", "missing"}},
}

// forSecret respells a SLACK_BOT_TOKEN case for the secret name.
func (tc precedenceCase) forSecret(name string) precedenceCase {
	out := tc
	out.env, out.file = map[string]string{}, map[string]string{}
	for k, v := range tc.env {
		out.env[strings.Replace(k, "SLACK_BOT_TOKEN", name, 1)] = v
	}
	for k, v := range tc.file {
		out.file[strings.Replace(k, "slack_bot_token", strings.ToLower(name), 1)] = v
	}
	out.wantErr = nil
	for _, w := range tc.wantErr {
		w = strings.ReplaceAll(w, "SLACK_BOT_TOKEN", name)
		out.wantErr = append(out.wantErr, strings.ReplaceAll(w, "slack_bot_token", strings.ToLower(name)))
	}
	return out
}

// secretFields reads each secret of secretNames back from a Config.
var secretFields = map[string]func(Config) string{
	"SLACK_BOT_TOKEN":           func(c Config) string { return c.SlackBotToken },
	"SLACK_SIGNING_SECRET":      func(c Config) string { return c.SlackSigningSecret },
	"SLACK_APP_TOKEN":           func(c Config) string { return strings.TrimPrefix(c.SlackAppToken, "xapp-") },
	"PAGERDUTY_WEBHOOK_SECRETS": func(c Config) string { return strings.Join(c.PagerDutyWebhookSecrets, ",") },
	"PAGERDUTY_API_TOKEN":       func(c Config) string { return c.PagerDutyAPIToken },
	"INCIDENTBOT_ADMIN_TOKEN":   func(c Config) string { return c.AdminToken },
	"STATUSPAGE_API_KEY":        func(c Config) string { return c.StatuspageAPIKey },
	"JIRA_API_TOKEN":            func(c Config) string { return c.JiraAPIToken },
	"GITHUB_TOKEN":              func(c Config) string { return c.GitHubToken },
	"GITHUB_WEBHOOK_SECRET":     func(c Config) string { return c.GitHubWebhookSecret },
	"JIRA_WEBHOOK_SECRET":       func(c Config) string { return c.JiraWebhookSecret },
	// The database URL's secret is its password (asURL wraps the values).
	"INCIDENTBOT_DATABASE_URL": func(c Config) string {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil {
			return "unparsable"
		}
		pw, _ := u.User.Password()
		return pw
	},
}

// asURL makes a precedence case's value a database URL carrying it as the
// password, when the secret under test is INCIDENTBOT_DATABASE_URL (whose
// value must be a postgres:// URL), and an app-level token for
// SLACK_APP_TOKEN (which must start with xapp-).
func asURL(secret, v string) string {
	if v == "" || strings.HasPrefix(v, "$") {
		return v
	}
	switch secret {
	case "INCIDENTBOT_DATABASE_URL":
		return "postgres://bot:" + v + "@db.example/incidents"
	case "SLACK_APP_TOKEN":
		return "xapp-" + v
	}
	return v
}

// loadLayered loads the configuration as serve --config reads it: a valid
// base environment (without the secret under test) plus the case's
// environment, over the case's config file written as YAML.
func loadLayered(t *testing.T, secret string, tc precedenceCase) (Config, error) {
	t.Helper()
	dir := t.TempDir()
	paths := strings.NewReplacer("$ENVFILE", filepath.Join(dir, "envfile"), "$YAMLFILE", filepath.Join(dir, "yamlfile"), "$MISSING", filepath.Join(dir, "missing"))
	writeFile(t, filepath.Join(dir, "envfile"), []byte(asURL(secret, "envfile-SECRET-content")+"\n"))
	writeFile(t, filepath.Join(dir, "yamlfile"), []byte(asURL(secret, "yamlfile-SECRET-content")+"\n"))
	env := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-base", "SLACK_SIGNING_SECRET": "sig-base", "PAGERDUTY_WEBHOOK_SECRETS": "wh-base",
		"PAGERDUTY_API_TOKEN": "pd-base", "PAGERDUTY_FROM": "bot@example.com", "INCIDENTBOT_ADMIN_TOKEN": "admin-base",
		"STATUSPAGE_API_KEY": "sp-base", "STATUSPAGE_PAGE_ID": "PAGE1",
		"JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "jira-base", "JIRA_PROJECT": "OPS",
		"GITHUB_TOKEN": "gh-base", "GITHUB_REPOSITORY": "acme/ops",
	}
	delete(env, secret)
	for k, v := range tc.env {
		env[k] = paths.Replace(asURL(secret, v))
	}
	file := map[string]string{}
	for k, v := range tc.file {
		file[k] = paths.Replace(asURL(secret, v))
	}
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "incidentbot.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	getenv, err := withConfigFile(path, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	return LoadConfig(getenv)
}

func checkPrecedence(t *testing.T, secret string, tc precedenceCase, c Config, err error) {
	t.Helper()
	if err != nil {
		for _, s := range precedenceSecrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows a secret (%s):\n%v", s, err)
			}
		}
	}
	if tc.wantErr != nil {
		if err == nil {
			t.Fatalf("%s = %q, want an error", secret, secretFields[secret](c))
		}
		for _, w := range tc.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not say %q:\n%v", w, err)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("want %s = %q, got error:\n%v", secret, tc.want, err)
	}
	if got := secretFields[secret](c); got != tc.want {
		t.Errorf("%s = %q, want %q", secret, got, tc.want)
	}
}

// The environment wins over the config file for a secret as a pair: the
// source that sets a secret's value or its _FILE decides it, so one
// source's value never collides with the other's _FILE.
func TestConfigSecrets_EnvironmentPairDecides(t *testing.T) {
	for _, tc := range precedenceCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadLayered(t, "SLACK_BOT_TOKEN", tc)
			checkPrecedence(t, "SLACK_BOT_TOKEN", tc, c, err)
		})
	}
}

// Every secret with a _FILE variant follows the same rule.
func TestConfigSecrets_EverySecret(t *testing.T) {
	for name := range secretNames {
		if secretFields[name] == nil {
			t.Fatalf("secretFields lacks %s", name)
		}
	}
	for name := range secretFields {
		if !secretNames[name] {
			t.Fatalf("%s is not a secret", name)
		}
		for _, tc := range precedenceCases {
			tc := tc.forSecret(name)
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				c, err := loadLayered(t, name, tc)
				checkPrecedence(t, name, tc, c, err)
			})
		}
	}
}

// Without a config file nothing changes: a plain environment's pair decides,
// both set is an error, an empty value is unset.
func TestConfigSecrets_PlainEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	writeFile(t, path, []byte("envfile-SECRET-content\n"))
	env := map[string]string{"SLACK_SIGNING_SECRET": "s", "PAGERDUTY_WEBHOOK_SECRETS": "w", "SLACK_BOT_TOKEN": "", "SLACK_BOT_TOKEN_FILE": path}
	c, err := LoadConfig(envOf(env))
	if err != nil || c.SlackBotToken != "envfile-SECRET-content" {
		t.Fatalf("token %q, %v", c.SlackBotToken, err)
	}
	env["SLACK_BOT_TOKEN"] = "env-SECRET-value"
	_, err = LoadConfig(envOf(env))
	if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("both set: %v", err)
	}
	if strings.Contains(err.Error(), "config file") {
		t.Errorf("a plain environment's error mentions a config file: %v", err)
	}
}
