package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The precedence cases end to end, as serve --config reads them: the
// environment over a real YAML file parsed by withConfigFile.
func TestConfigFile_SecretPairPerSource(t *testing.T) {
	for name := range secretFields {
		for _, tc := range precedenceCases {
			tc := tc.forSecret(name)
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				paths := strings.NewReplacer("$ENVFILE", filepath.Join(dir, "envfile"), "$YAMLFILE", filepath.Join(dir, "yamlfile"), "$MISSING", filepath.Join(dir, "missing"))
				os.WriteFile(filepath.Join(dir, "envfile"), []byte("envfile-SECRET-content\n"), 0o600)
				os.WriteFile(filepath.Join(dir, "yamlfile"), []byte("yamlfile-SECRET-content\n"), 0o600)
				env := map[string]string{
					"SLACK_BOT_TOKEN": "xoxb-base", "SLACK_SIGNING_SECRET": "sig-base", "PAGERDUTY_WEBHOOK_SECRETS": "wh-base",
					"PAGERDUTY_API_TOKEN": "pd-base", "PAGERDUTY_FROM": "bot@example.com", "INCIDENTBOT_ADMIN_TOKEN": "admin-base",
					"STATUSPAGE_API_KEY": "sp-base", "STATUSPAGE_PAGE_ID": "PAGE1",
				}
				delete(env, name)
				for k, v := range tc.env {
					env[k] = paths.Replace(v)
				}
				file := map[string]string{}
				for k, v := range tc.file {
					file[k] = paths.Replace(v)
				}
				b, _ := yaml.Marshal(file)
				path := filepath.Join(dir, "incidentbot.yaml")
				os.WriteFile(path, b, 0o600)
				getenv, err := withConfigFile(path, envOf(env))
				if err != nil {
					t.Fatal(err)
				}
				c, err := LoadConfig(getenv)
				checkPrecedence(t, name, tc, c, err)
			})
		}
	}
}
