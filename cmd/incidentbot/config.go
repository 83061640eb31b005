package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/incidentbot/incidentbot/internal/postgres"
)

// Config is the whole configuration, read from the environment (names in
// the design's contract table). Secrets may also come from a file named by
// the variable with a _FILE suffix (a mounted Kubernetes Secret).
type Config struct {
	SlackBotToken      string
	SlackSigningSecret string
	// SlackAppToken turns on Socket Mode: the app-level token (xapp-...)
	// the bot opens its WebSocket to Slack with (SLACK_APP_TOKEN, a secret).
	SlackAppToken string
	SlackAPIURL   string
	SlackTeamID   string

	PagerDutyWebhookSecrets []string
	PagerDutyAPIToken       string
	PagerDutyFrom           string
	PagerDutyAPIURL         string
	// PagerDutyPoll turns on pull mode: PagerDuty's log entries are read
	// this often (INCIDENTBOT_PAGERDUTY_POLL; 0: webhooks only).
	PagerDutyPoll time.Duration

	Addr      string
	AdminAddr string
	DB        string
	// DatabaseURL selects the PostgreSQL store instead of the bbolt file
	// DB (INCIDENTBOT_DATABASE_URL, a secret: it holds a password).
	DatabaseURL     string
	ExportDir       string
	AnnounceChannel string
	ChannelPrefix   string
	AdminToken      string
	Responders      []string
	SlackRateScale  float64

	UpdateCadence    map[incidentbot.Severity]time.Duration
	PublicSeverities []incidentbot.Severity
	StatusDir        string
	SLO              float64

	StatuspageAPIKey string
	StatuspagePageID string
	StatuspageAPIURL string

	// Jira Cloud for action items: on when the site, e-mail, API token and
	// project are set (JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN, a secret,
	// JIRA_PROJECT); JiraIssueType defaults to Task.
	JiraURL, JiraEmail, JiraAPIToken, JiraProject, JiraIssueType string
	// JiraWebhookSecret (JIRA_WEBHOOK_SECRET, a secret), when set, serves
	// POST /webhooks/jira for an admin webhook saved with that secret.
	JiraWebhookSecret string
	// GitHub Issues for action items: on when the token and repository are
	// set (GITHUB_TOKEN, a secret; GITHUB_REPOSITORY, owner/name).
	GitHubToken, GitHubRepository, GitHubAPIURL string
	// GitHubWebhookSecret (GITHUB_WEBHOOK_SECRET, a secret), when set,
	// serves POST /webhooks/github: the repository webhook's issues events
	// reflect a close or reopen at once instead of at the next poll.
	GitHubWebhookSecret string

	// dbSet: INCIDENTBOT_DB was set (not defaulted), which conflicts with
	// INCIDENTBOT_DATABASE_URL.
	dbSet bool
}

// DefaultConfig returns the defaults of every setting that has one.
func DefaultConfig() Config {
	return Config{
		SlackAPIURL:      "https://slack.com/api/",
		PagerDutyAPIURL:  "https://api.pagerduty.com",
		Addr:             ":8080",
		DB:               "incidentbot.db",
		ExportDir:        "postmortems",
		ChannelPrefix:    "inc",
		SlackRateScale:   1,
		UpdateCadence:    map[incidentbot.Severity]time.Duration{incidentbot.Sev1: 15 * time.Minute, incidentbot.Sev2: 30 * time.Minute, incidentbot.Sev3: time.Hour, incidentbot.Sev4: 0},
		PublicSeverities: []incidentbot.Severity{incidentbot.Sev1, incidentbot.Sev2},
		SLO:              99.9,
		StatuspageAPIURL: "https://api.statuspage.io/v1",
		JiraIssueType:    "Task",
		GitHubAPIURL:     "https://api.github.com",
	}
}

// secretNames are the settings that may come from <NAME>_FILE.
var secretNames = map[string]bool{
	"SLACK_BOT_TOKEN": true, "SLACK_SIGNING_SECRET": true, "SLACK_APP_TOKEN": true, "PAGERDUTY_WEBHOOK_SECRETS": true,
	"PAGERDUTY_API_TOKEN": true, "INCIDENTBOT_ADMIN_TOKEN": true, "STATUSPAGE_API_KEY": true,
	"INCIDENTBOT_DATABASE_URL": true, "JIRA_API_TOKEN": true, "GITHUB_TOKEN": true, "GITHUB_WEBHOOK_SECRET": true, "JIRA_WEBHOOK_SECRET": true,
}

// configFilePrefix marks a name asked of a getenv made by layerConfigFile:
// the answer is the config file's value alone, never the environment's.
// LoadConfig asks it for secrets, whose value/_FILE pair is decided per
// source. A plain environment has no such names, so it answers "".
const configFilePrefix = "config file:"

// slackIDPattern is the shape of Slack's IDs (T…, U…, W…, S…).
var slackIDPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{2,}$`)

// maxSlackRateScale bounds INCIDENTBOT_SLACK_RATE_SCALE (the load tool and
// the tests use 1000 at most).
const maxSlackRateScale = 10000

// layerConfigFile returns the getenv of the environment over a config file
// (file answers by setting name, like SLACK_BOT_TOKEN). An empty
// environment value is unset and the file's value shows through. Secrets are
// the exception: their value and _FILE names are answered from the
// environment alone (and from the file under configFilePrefix), because the
// source that sets either of a secret's pair decides it as a whole: an
// environment SLACK_BOT_TOKEN wins over a file's slack_bot_token_file instead
// of colliding with it.
func layerConfigFile(env, file func(string) string) func(string) string {
	return func(name string) string {
		if name, ok := strings.CutPrefix(name, configFilePrefix); ok {
			return file(name)
		}
		v := env(name)
		if v == "" && !secretNames[strings.TrimSuffix(name, "_FILE")] {
			return file(name)
		}
		return v
	}
}

// secretSource is a secret's value and _FILE settings in one source, as
// that source spells them (for errors), with what the source sets them to.
type secretSource struct {
	name, fileName, where string
	value, file           string
}

// secretSetting returns the secret name (SLACK_BOT_TOKEN, ...) from the
// first source that sets its value or its _FILE: the environment, then the
// config file. Setting both of one source's pair is an error naming them
// (the other source is not consulted then).
// A file's content is trimmed (its trailing newline). Errors name settings
// and paths, never a value.
func secretSetting(getenv func(string) string, name string) (string, error) {
	key := strings.ToLower(name)
	for _, s := range []secretSource{
		{name: name, fileName: name + "_FILE", value: getenv(name), file: getenv(name + "_FILE")},
		{name: key, fileName: key + "_file", where: " in the config file",
			value: getenv(configFilePrefix + name), file: getenv(configFilePrefix + name + "_FILE")},
	} {
		switch {
		case s.value == "" && s.file == "":
			continue
		case s.value != "" && s.file != "":
			// The value goes back with the error only so that the secret
			// is not also reported missing.
			return strings.TrimSpace(s.value), fmt.Errorf("%s and %s are both set%s; set one", s.name, s.fileName, s.where)
		case s.file != "":
			b, err := os.ReadFile(s.file)
			if err != nil {
				return "", fmt.Errorf("%s%s: cannot read %s: %v", s.fileName, s.where, s.file, errors.Unwrap(err))
			}
			v := strings.TrimSpace(string(b))
			if v == "" {
				return "", fmt.Errorf("%s%s: %s is empty", s.fileName, s.where, s.file)
			}
			if name == "PAGERDUTY_WEBHOOK_SECRETS" {
				// One secret a line (during a rotation) as well as commas.
				v = strings.Join(strings.Fields(v), ",")
			}
			if strings.ContainsFunc(v, unicode.IsControl) {
				return "", fmt.Errorf("%s%s: %s holds more than one line (or other control characters); it must hold the secret alone", s.fileName, s.where, s.file)
			}
			return v, nil
		}
		return strings.TrimSpace(s.value), nil
	}
	return "", nil
}

// LoadConfig reads the configuration from getenv over the defaults and
// validates it. The error names every missing or invalid setting (never a
// secret's value).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	get := func(name string) string {
		if secretNames[name] {
			v, err := secretSetting(getenv, name)
			if err != nil {
				errs = append(errs, err)
			}
			return v
		}
		return strings.TrimSpace(getenv(name))
	}
	str := func(dst *string, name string) {
		if v := get(name); v != "" {
			*dst = v
		}
	}
	str(&c.SlackBotToken, "SLACK_BOT_TOKEN")
	str(&c.SlackSigningSecret, "SLACK_SIGNING_SECRET")
	str(&c.SlackAppToken, "SLACK_APP_TOKEN")
	str(&c.SlackAPIURL, "SLACK_API_URL")
	str(&c.SlackTeamID, "SLACK_TEAM_ID")
	c.PagerDutyWebhookSecrets = splitList(get("PAGERDUTY_WEBHOOK_SECRETS"))
	str(&c.PagerDutyAPIToken, "PAGERDUTY_API_TOKEN")
	str(&c.PagerDutyFrom, "PAGERDUTY_FROM")
	str(&c.PagerDutyAPIURL, "PAGERDUTY_API_URL")
	if v := get("INCIDENTBOT_PAGERDUTY_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_PAGERDUTY_POLL=%q: want a Go duration of at least 10s, like 15s", v))
		} else {
			c.PagerDutyPoll = d
		}
	}
	str(&c.Addr, "INCIDENTBOT_ADDR")
	str(&c.AdminAddr, "INCIDENTBOT_ADMIN_ADDR")
	if v := get("INCIDENTBOT_DB"); v != "" {
		c.DB, c.dbSet = v, true
	}
	str(&c.DatabaseURL, "INCIDENTBOT_DATABASE_URL")
	str(&c.ExportDir, "INCIDENTBOT_EXPORT_DIR")
	str(&c.AnnounceChannel, "INCIDENTBOT_ANNOUNCE_CHANNEL")
	str(&c.ChannelPrefix, "INCIDENTBOT_CHANNEL_PREFIX")
	str(&c.AdminToken, "INCIDENTBOT_ADMIN_TOKEN")
	c.Responders = splitList(get("INCIDENTBOT_RESPONDERS"))
	for _, id := range c.Responders {
		if !slackIDPattern.MatchString(id) || !strings.ContainsRune("UWS", rune(id[0])) {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_RESPONDERS: %q is not a Slack user ID (U…, W…) or user group ID (S…); names and @mentions do not work here", id))
		}
	}
	if c.SlackTeamID != "" && (!slackIDPattern.MatchString(c.SlackTeamID) || c.SlackTeamID[0] != 'T') {
		errs = append(errs, fmt.Errorf("SLACK_TEAM_ID=%q: want the workspace's ID (T…), not its name", c.SlackTeamID))
	}
	str(&c.StatusDir, "INCIDENTBOT_STATUS_DIR")
	str(&c.StatuspageAPIKey, "STATUSPAGE_API_KEY")
	str(&c.StatuspagePageID, "STATUSPAGE_PAGE_ID")
	str(&c.StatuspageAPIURL, "STATUSPAGE_API_URL")
	str(&c.JiraURL, "JIRA_URL")
	str(&c.JiraEmail, "JIRA_EMAIL")
	str(&c.JiraAPIToken, "JIRA_API_TOKEN")
	str(&c.JiraProject, "JIRA_PROJECT")
	str(&c.JiraIssueType, "JIRA_ISSUE_TYPE")
	str(&c.JiraWebhookSecret, "JIRA_WEBHOOK_SECRET")
	str(&c.GitHubToken, "GITHUB_TOKEN")
	str(&c.GitHubRepository, "GITHUB_REPOSITORY")
	str(&c.GitHubAPIURL, "GITHUB_API_URL")
	str(&c.GitHubWebhookSecret, "GITHUB_WEBHOOK_SECRET")
	if v := get("INCIDENTBOT_SLACK_RATE_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		// Written so that NaN fails too; the budgets' windows hold scale ×
		// the tier's calls, so the scale has a ceiling.
		if err != nil || !(f > 0 && f <= maxSlackRateScale) {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_SLACK_RATE_SCALE=%q: want a number above 0 and at most %d", v, maxSlackRateScale))
		} else {
			c.SlackRateScale = f
		}
	}
	if v := get("INCIDENTBOT_SLO"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f < 100) { // NaN fails too
			errs = append(errs, fmt.Errorf("INCIDENTBOT_SLO=%q: want a percentage between 0 and 100, like 99.9", v))
		} else {
			c.SLO = f
		}
	}
	if v := get("INCIDENTBOT_UPDATE_CADENCE"); v != "" {
		for _, part := range splitList(v) {
			k, d, ok := strings.Cut(part, "=")
			sev, okSev := incidentbot.ParseSeverity(k)
			dur, err := time.ParseDuration(strings.TrimSpace(d))
			if !ok || !okSev || err != nil || dur < 0 {
				errs = append(errs, fmt.Errorf("INCIDENTBOT_UPDATE_CADENCE: %q: want sevN=<Go duration>, like sev1=15m", part))
				continue
			}
			c.UpdateCadence[sev] = dur
		}
	}
	if v := get("INCIDENTBOT_PUBLIC_SEVERITIES"); v != "" {
		c.PublicSeverities = nil
		for _, s := range splitList(v) {
			sev, ok := incidentbot.ParseSeverity(s)
			if !ok {
				errs = append(errs, fmt.Errorf("INCIDENTBOT_PUBLIC_SEVERITIES: %q is not sev1..sev4", s))
				continue
			}
			c.PublicSeverities = append(c.PublicSeverities, sev)
		}
	}
	errs = append(errs, c.Validate()...)
	return c, errors.Join(errs...)
}

// StoreDescription says which store the configuration selects, with any
// password redacted (config check, logs).
func (c Config) StoreDescription() string {
	if c.DatabaseURL != "" {
		return "PostgreSQL at " + postgres.Redact(c.DatabaseURL)
	}
	return "bbolt file " + c.DB
}

// Validate returns one error per missing or invalid setting.
func (c Config) Validate() []error {
	var errs []error
	if c.SlackBotToken == "" {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN is required (the bot token, xoxb-...)"))
	}
	// The kinds of token are told apart by their prefixes, and each is
	// refused by the other's API: say which is which (never the value).
	switch {
	case strings.HasPrefix(c.SlackBotToken, "xapp-"):
		errs = append(errs, errors.New("SLACK_BOT_TOKEN holds an app-level token (xapp-...): it takes the bot token (xoxb-..., OAuth & Permissions); the app-level token goes in SLACK_APP_TOKEN"))
	}
	switch {
	case c.SlackAppToken == "":
	case strings.HasPrefix(c.SlackAppToken, "xoxb-") || strings.HasPrefix(c.SlackAppToken, "xoxp-"):
		errs = append(errs, errors.New("SLACK_APP_TOKEN holds a bot or user token (xox...): Socket Mode takes the app-level token (xapp-..., Basic Information → App-Level Tokens, scope connections:write); the bot token goes in SLACK_BOT_TOKEN"))
	case !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		errs = append(errs, errors.New("SLACK_APP_TOKEN is not an app-level token: want xapp-... (Basic Information → App-Level Tokens, scope connections:write)"))
	}
	if c.SlackSigningSecret == "" && c.SlackAppToken == "" {
		errs = append(errs, errors.New("SLACK_SIGNING_SECRET is required (the Slack app's signing secret, for /incident and buttons over HTTP), unless SLACK_APP_TOKEN turns on Socket Mode (no inbound port)"))
	}
	switch {
	case c.PagerDutyPoll == 0 && len(c.PagerDutyWebhookSecrets) == 0:
		errs = append(errs, errors.New("PAGERDUTY_WEBHOOK_SECRETS is required (the v3 webhook subscription's signing secret; comma-separated during rotation), unless INCIDENTBOT_PAGERDUTY_POLL turns on pull mode (no inbound port)"))
	case c.PagerDutyPoll != 0 && c.PagerDutyPoll < pager.MinPollInterval:
		errs = append(errs, fmt.Errorf("INCIDENTBOT_PAGERDUTY_POLL=%s: at least %s (PagerDuty's REST limit is shared with the bot's other calls)", c.PagerDutyPoll, pager.MinPollInterval))
	case c.PagerDutyPoll != 0 && c.PagerDutyAPIToken == "":
		errs = append(errs, errors.New("INCIDENTBOT_PAGERDUTY_POLL needs PAGERDUTY_API_TOKEN (pull mode reads PagerDuty's log entries over its REST API)"))
	}
	for name, v := range map[string]string{"SLACK_API_URL": c.SlackAPIURL, "PAGERDUTY_API_URL": c.PagerDutyAPIURL, "STATUSPAGE_API_URL": c.StatuspageAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an http(s) URL", name, v))
		}
	}
	if c.PagerDutyAPIToken != "" && c.PagerDutyFrom == "" {
		errs = append(errs, errors.New("PAGERDUTY_FROM is required with PAGERDUTY_API_TOKEN (the e-mail of a PagerDuty user that acts for the bot)"))
	}
	if c.DB == "" {
		errs = append(errs, errors.New("INCIDENTBOT_DB must not be empty"))
	}
	if c.DatabaseURL != "" {
		if c.dbSet {
			errs = append(errs, errors.New("INCIDENTBOT_DATABASE_URL and INCIDENTBOT_DB are both set: INCIDENTBOT_DATABASE_URL selects the PostgreSQL store, INCIDENTBOT_DB the bbolt file; set one"))
		}
		// The message never repeats the URL: it holds a password.
		if err := postgres.ParseURL(c.DatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_DATABASE_URL: %v (postgres://user:password@host:5432/database?sslmode=require)", err))
		}
	}
	if c.ChannelPrefix != strings.ToLower(c.ChannelPrefix) || strings.Trim(c.ChannelPrefix, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" || len(c.ChannelPrefix) > 20 {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_CHANNEL_PREFIX=%q: lowercase letters, digits, - and _ only, at most 20", c.ChannelPrefix))
	}
	if (c.StatuspageAPIKey == "") != (c.StatuspagePageID == "") {
		errs = append(errs, errors.New("STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID go together: set both or neither"))
	}
	return append(errs, c.validateTrackers()...)
}

// jiraProjectKey is Jira's default project key format.
var jiraProjectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,9}$`)

// githubRepository is owner/name as GitHub allows them.
var githubRepository = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)

// validateTrackers checks the trackers' settings: each tracker's go
// together, and their URLs and names have the services' shapes.
func (c Config) validateTrackers() []error {
	var errs []error
	jira := map[string]string{"JIRA_URL": c.JiraURL, "JIRA_EMAIL": c.JiraEmail, "JIRA_API_TOKEN": c.JiraAPIToken, "JIRA_PROJECT": c.JiraProject}
	var set, missing []string
	for _, name := range []string{"JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECT"} {
		if jira[name] != "" {
			set = append(set, name)
		} else {
			missing = append(missing, name)
		}
	}
	if len(set) > 0 && len(missing) > 0 {
		errs = append(errs, fmt.Errorf("Jira Cloud needs JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT together: %s set, %s missing", strings.Join(set, ", "), strings.Join(missing, ", ")))
	}
	if c.JiraURL != "" {
		if u, err := url.Parse(c.JiraURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("JIRA_URL=%q: want the site's URL, like https://acme.atlassian.net", c.JiraURL))
		}
	}
	if c.JiraEmail != "" && !strings.Contains(c.JiraEmail, "@") {
		errs = append(errs, fmt.Errorf("JIRA_EMAIL=%q: want the e-mail address of the Jira user the API token belongs to", c.JiraEmail))
	}
	if c.JiraProject != "" && !jiraProjectKey.MatchString(c.JiraProject) {
		errs = append(errs, fmt.Errorf("JIRA_PROJECT=%q: want a project key (upper-case letters and digits, like OPS), not its name", c.JiraProject))
	}
	if c.JiraIssueType == "" {
		errs = append(errs, errors.New("JIRA_ISSUE_TYPE must not be empty (default Task)"))
	}
	if (c.GitHubToken == "") != (c.GitHubRepository == "") {
		errs = append(errs, errors.New("GITHUB_TOKEN and GITHUB_REPOSITORY go together: set both (GitHub Issues for action items) or neither"))
	}
	if c.JiraWebhookSecret != "" && !c.JiraOn() {
		errs = append(errs, errors.New("JIRA_WEBHOOK_SECRET is set without JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT: the webhook reports changes to the issues the bot makes there"))
	}
	if c.GitHubWebhookSecret != "" && !c.GitHubOn() {
		errs = append(errs, errors.New("GITHUB_WEBHOOK_SECRET is set without GITHUB_TOKEN and GITHUB_REPOSITORY: the webhook reports changes to the issues the bot makes there"))
	}
	if c.GitHubRepository != "" && !githubRepository.MatchString(c.GitHubRepository) {
		errs = append(errs, fmt.Errorf("GITHUB_REPOSITORY=%q: want owner/name, like acme/ops", c.GitHubRepository))
	}
	if u, err := url.Parse(c.GitHubAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("GITHUB_API_URL=%q: want an http(s) URL (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server)", c.GitHubAPIURL))
	}
	return errs
}

// JiraOn and GitHubOn say whether each tracker is configured.
func (c Config) JiraOn() bool { return c.JiraURL != "" && c.JiraAPIToken != "" }

// GitHubOn says whether GitHub Issues is configured.
func (c Config) GitHubOn() bool { return c.GitHubToken != "" && c.GitHubRepository != "" }

// Trackers says where action items are tracked (config check).
func (c Config) Trackers() string {
	var out []string
	if c.JiraOn() {
		hook := ""
		if c.JiraWebhookSecret != "" {
			hook = "; its webhook at POST /webhooks/jira"
		}
		out = append(out, fmt.Sprintf("Jira Cloud (%s, project %s, issue type %s%s)", strings.TrimRight(c.JiraURL, "/"), c.JiraProject, c.JiraIssueType, hook))
	}
	if c.GitHubOn() {
		hook := ""
		if c.GitHubWebhookSecret != "" {
			hook = "; its webhook at POST /webhooks/github"
		}
		out = append(out, fmt.Sprintf("GitHub Issues (%s at %s%s)", c.GitHubRepository, c.GitHubAPIURL, hook))
	}
	if len(out) == 0 {
		return "action items: kept by the bot only (set JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN, JIRA_PROJECT and/or GITHUB_TOKEN, GITHUB_REPOSITORY to track them)"
	}
	return "action items: tracked in " + strings.Join(out, " and ")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Modes says how each side reaches the bot (config check, the start-up
// log): Slack over HTTP requests and/or Socket Mode, PagerDuty by webhooks
// and/or pull mode, and what the other mode of each side would need.
func (c Config) Modes() []string {
	var slack, pd []string
	if c.SlackSigningSecret != "" {
		slack = append(slack, "HTTP requests (POST /slack/commands, /slack/interactions, /slack/events; needs a public URL)")
	}
	if c.SlackAppToken != "" {
		slack = append(slack, "Socket Mode (an outbound WebSocket; no inbound port)")
	}
	if len(c.PagerDutyWebhookSecrets) > 0 {
		pd = append(pd, "webhooks (POST /webhooks/pagerduty; needs a public URL)")
	}
	if c.PagerDutyPoll > 0 {
		pd = append(pd, fmt.Sprintf("pull mode (reads log entries every %s; no inbound port)", c.PagerDutyPoll))
	}
	out := []string{"slack: " + strings.Join(slack, " and "), "pagerduty: " + strings.Join(pd, " and ")}
	if c.SlackAppToken == "" {
		out = append(out, "  for Slack Socket Mode: set SLACK_APP_TOKEN (xapp-..., scope connections:write) and enable Socket Mode in the app (manifests/slack-app-socket.yaml)")
	}
	if c.SlackSigningSecret == "" {
		out = append(out, "  for Slack over HTTP: set SLACK_SIGNING_SECRET and give the app request URLs (manifests/slack-app.yaml)")
	}
	if c.PagerDutyPoll == 0 {
		need := "set INCIDENTBOT_PAGERDUTY_POLL (e.g. 15s)"
		if c.PagerDutyAPIToken == "" {
			need += " and PAGERDUTY_API_TOKEN"
		}
		out = append(out, "  for PagerDuty pull mode: "+need)
	}
	if len(c.PagerDutyWebhookSecrets) == 0 {
		out = append(out, "  for PagerDuty webhooks: set PAGERDUTY_WEBHOOK_SECRETS and subscribe POST /webhooks/pagerduty at a public URL")
	}
	if c.SlackSigningSecret == "" && len(c.PagerDutyWebhookSecrets) == 0 {
		out = append(out, "no inbound port is needed: only /healthz and /readyz (and /metrics, /api) are served")
	}
	return out
}
