package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Config is the whole configuration, read from the environment (names in
// the design's contract table). Secrets may also come from a file named by
// the variable with a _FILE suffix (a mounted Kubernetes Secret).
type Config struct {
	SlackBotToken      string
	SlackSigningSecret string
	SlackAPIURL        string
	SlackTeamID        string

	PagerDutyWebhookSecrets []string
	PagerDutyAPIToken       string
	PagerDutyFrom           string
	PagerDutyAPIURL         string

	Addr            string
	AdminAddr       string
	DB              string
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
	}
}

// secretNames are the settings that may come from <NAME>_FILE.
var secretNames = map[string]bool{
	"SLACK_BOT_TOKEN": true, "SLACK_SIGNING_SECRET": true, "PAGERDUTY_WEBHOOK_SECRETS": true,
	"PAGERDUTY_API_TOKEN": true, "INCIDENTBOT_ADMIN_TOKEN": true, "STATUSPAGE_API_KEY": true,
}

// LoadConfig reads the configuration from getenv over the defaults and
// validates it. The error names every missing or invalid setting (never a
// secret's value).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	get := func(name string) string {
		v := getenv(name)
		if secretNames[name] {
			if path := getenv(name + "_FILE"); path != "" {
				if v != "" {
					errs = append(errs, fmt.Errorf("%s and %s_FILE are both set; set one", name, name))
				}
				b, err := os.ReadFile(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: cannot read %s: %v", name, path, errors.Unwrap(err)))
					return ""
				}
				v = strings.TrimSpace(string(b))
			}
		}
		return strings.TrimSpace(v)
	}
	str := func(dst *string, name string) {
		if v := get(name); v != "" {
			*dst = v
		}
	}
	str(&c.SlackBotToken, "SLACK_BOT_TOKEN")
	str(&c.SlackSigningSecret, "SLACK_SIGNING_SECRET")
	str(&c.SlackAPIURL, "SLACK_API_URL")
	str(&c.SlackTeamID, "SLACK_TEAM_ID")
	c.PagerDutyWebhookSecrets = splitList(get("PAGERDUTY_WEBHOOK_SECRETS"))
	str(&c.PagerDutyAPIToken, "PAGERDUTY_API_TOKEN")
	str(&c.PagerDutyFrom, "PAGERDUTY_FROM")
	str(&c.PagerDutyAPIURL, "PAGERDUTY_API_URL")
	str(&c.Addr, "INCIDENTBOT_ADDR")
	str(&c.AdminAddr, "INCIDENTBOT_ADMIN_ADDR")
	str(&c.DB, "INCIDENTBOT_DB")
	str(&c.ExportDir, "INCIDENTBOT_EXPORT_DIR")
	str(&c.AnnounceChannel, "INCIDENTBOT_ANNOUNCE_CHANNEL")
	str(&c.ChannelPrefix, "INCIDENTBOT_CHANNEL_PREFIX")
	str(&c.AdminToken, "INCIDENTBOT_ADMIN_TOKEN")
	c.Responders = splitList(get("INCIDENTBOT_RESPONDERS"))
	str(&c.StatusDir, "INCIDENTBOT_STATUS_DIR")
	str(&c.StatuspageAPIKey, "STATUSPAGE_API_KEY")
	str(&c.StatuspagePageID, "STATUSPAGE_PAGE_ID")
	str(&c.StatuspageAPIURL, "STATUSPAGE_API_URL")
	if v := get("INCIDENTBOT_SLACK_RATE_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			errs = append(errs, fmt.Errorf("INCIDENTBOT_SLACK_RATE_SCALE=%q: want a number above 0", v))
		} else {
			c.SlackRateScale = f
		}
	}
	if v := get("INCIDENTBOT_SLO"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f >= 100 {
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

// Validate returns one error per missing or invalid setting.
func (c Config) Validate() []error {
	var errs []error
	if c.SlackBotToken == "" {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN is required (the bot token, xoxb-...)"))
	}
	if c.SlackSigningSecret == "" {
		errs = append(errs, errors.New("SLACK_SIGNING_SECRET is required (the Slack app's signing secret, for /incident and buttons)"))
	}
	if len(c.PagerDutyWebhookSecrets) == 0 {
		errs = append(errs, errors.New("PAGERDUTY_WEBHOOK_SECRETS is required (the v3 webhook subscription's signing secret; comma-separated during rotation)"))
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
	if c.ChannelPrefix != strings.ToLower(c.ChannelPrefix) || strings.Trim(c.ChannelPrefix, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" || len(c.ChannelPrefix) > 20 {
		errs = append(errs, fmt.Errorf("INCIDENTBOT_CHANNEL_PREFIX=%q: lowercase letters, digits, - and _ only, at most 20", c.ChannelPrefix))
	}
	if (c.StatuspageAPIKey == "") != (c.StatuspagePageID == "") {
		errs = append(errs, errors.New("STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID go together: set both or neither"))
	}
	return errs
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
