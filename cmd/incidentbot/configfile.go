package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// settingNames are the environment variables of the contract; a config
// file uses the same names in lower case (slack_bot_token, ...).
var settingNames = []string{
	"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "SLACK_TEAM_ID",
	"PAGERDUTY_WEBHOOK_SECRETS", "PAGERDUTY_API_TOKEN", "PAGERDUTY_FROM", "PAGERDUTY_API_URL", "INCIDENTBOT_PAGERDUTY_POLL",
	"INCIDENTBOT_ADDR", "INCIDENTBOT_ADMIN_ADDR", "INCIDENTBOT_DB", "INCIDENTBOT_DATABASE_URL", "INCIDENTBOT_EXPORT_DIR",
	"INCIDENTBOT_ANNOUNCE_CHANNEL", "INCIDENTBOT_CHANNEL_PREFIX", "INCIDENTBOT_ADMIN_TOKEN",
	"INCIDENTBOT_RESPONDERS", "INCIDENTBOT_SLACK_RATE_SCALE", "INCIDENTBOT_UPDATE_CADENCE",
	"INCIDENTBOT_PUBLIC_SEVERITIES", "INCIDENTBOT_STATUS_DIR", "INCIDENTBOT_SLO",
	"STATUSPAGE_API_KEY", "STATUSPAGE_PAGE_ID", "STATUSPAGE_API_URL",
	"JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECT", "JIRA_ISSUE_TYPE", "JIRA_WEBHOOK_SECRET",
	"GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_WEBHOOK_SECRET",
}

// withConfigFile returns a getenv that answers from the environment first
// and from the YAML file at path second (a secret's value/_FILE pair is
// decided per source: see layerConfigFile). Keys are the setting names in
// lower case, with _file for secrets read from files; a value may be a
// string, a number or a list (joined with commas). Unknown keys are an
// error naming them, so a typo does not silently fall back to a default.
func withConfigFile(path string, getenv func(string) string) (func(string) string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %v", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("--config %s: not valid YAML: %v", path, err)
	}
	known := map[string]bool{}
	for _, n := range settingNames {
		known[strings.ToLower(n)] = true
		if secretNames[n] {
			known[strings.ToLower(n)+"_file"] = true
		}
	}
	vals := map[string]string{}
	var unknown []string
	for k, v := range raw {
		if !known[k] {
			unknown = append(unknown, k)
			continue
		}
		switch v := v.(type) {
		case nil:
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			vals[strings.ToUpper(k)] = strings.Join(parts, ",")
		case map[string]any:
			// e.g. incidentbot_update_cadence: {sev1: 15m, sev2: 30m}
			keys := make([]string, 0, len(v))
			for sk := range v {
				keys = append(keys, sk)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, sk := range keys {
				parts[i] = sk + "=" + fmt.Sprint(v[sk])
			}
			vals[strings.ToUpper(k)] = strings.Join(parts, ",")
		default:
			vals[strings.ToUpper(k)] = fmt.Sprint(v)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("--config %s: unknown keys %s (keys are the environment variable names in lower case)", path, strings.Join(unknown, ", "))
	}
	return layerConfigFile(getenv, func(name string) string { return vals[name] }), nil
}
