package manifests_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// manifestKeys are the properties Slack's app manifest schema allows
// (slackapi/manifest-schema, schemas/manifest.schema.1.0.0.json: every
// object there has additionalProperties false), for the objects the two
// manifests use.
var manifestKeys = map[string][]string{
	"":                             {"$schema", "_metadata", "app_directory", "display_information", "features", "oauth_config", "settings", "functions", "workflows", "datastores", "outgoing_domains", "types", "external_auth_providers", "mcp_servers"},
	"settings":                     {"allowed_ip_address_ranges", "event_subscriptions", "incoming_webhooks", "interactivity", "org_deploy_enabled", "socket_mode_enabled", "is_hosted", "token_rotation_enabled", "siws_links", "hermes_app_type", "function_runtime", "is_mcp_enabled"},
	"settings.interactivity":       {"is_enabled", "request_url", "message_menu_options_url"},
	"settings.event_subscriptions": {"request_url", "user_events", "bot_events", "metadata_subscriptions"},
	"features.slash_commands[]":    {"command", "url", "description", "usage_hint", "should_escape"},
}

func keysOf(n *yaml.Node) []string {
	var out []string
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func checkManifestKeys(t *testing.T, file string, doc document) {
	t.Helper()
	root := doc.Node
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	objects := map[string][]*yaml.Node{
		"":                             {root},
		"settings":                     {lookup(doc.Node, "settings")},
		"settings.interactivity":       {lookup(doc.Node, "settings", "interactivity")},
		"settings.event_subscriptions": {lookup(doc.Node, "settings", "event_subscriptions")},
	}
	if cmds := lookup(doc.Node, "features", "slash_commands"); cmds != nil {
		objects["features.slash_commands[]"] = cmds.Content
	}
	for path, nodes := range objects {
		for _, n := range nodes {
			for _, k := range keysOf(n) {
				if !slices.Contains(manifestKeys[path], k) {
					t.Errorf("%s: %s.%s is not in Slack's manifest schema", file, path, k)
				}
			}
		}
	}
}

// The Socket Mode app: socket_mode_enabled, not one request URL, and the
// same command, interactivity, events and scopes as the HTTP app.
func TestTheSocketModeSlackAppHasNoRequestURLsAndEverythingElseOfTheHTTPApp(t *testing.T) {
	app, doc := slackAppIn(t, socketManifest)
	httpApp, httpDoc := theSlackApp(t)
	checkManifestKeys(t, socketManifest, doc)
	checkManifestKeys(t, slackManifest, httpDoc)
	if s := app.Settings.SocketModeEnabled; s == nil || !*s {
		t.Error("socket_mode_enabled is not true")
	}
	if len(app.Features.SlashCommands) != 1 || app.Features.SlashCommands[0].Command != "/incident" || app.Features.SlashCommands[0].URL != "" {
		t.Errorf("slash commands %+v: want /incident with no url", app.Features.SlashCommands)
	}
	if c := app.Features.SlashCommands; len(c) == 1 && (c[0].ShouldEscape == nil || !*c[0].ShouldEscape) {
		t.Error("/incident: should_escape is not true")
	}
	if app.Settings.Interactivity.RequestURL != "" || app.Settings.EventSubscriptions.RequestURL != "" || !app.Settings.Interactivity.IsEnabled {
		t.Errorf("interactivity %+v, events %+v: want enabled with no request URLs", app.Settings.Interactivity, app.Settings.EventSubscriptions)
	}
	b, err := os.ReadFile(socketManifest)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if strings.Contains(text, "https://incidentbot.example.com") {
		t.Error("the Socket Mode manifest names a request URL")
	}
	for _, want := range []string{"connections:write", "SLACK_APP_TOKEN", "xapp-"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Socket Mode manifest does not explain the app-level token (%s)", want)
		}
	}
	if !slices.Equal(app.OAuthConfig.Scopes.Bot, httpApp.OAuthConfig.Scopes.Bot) || !slices.Equal(app.Settings.EventSubscriptions.BotEvents, httpApp.Settings.EventSubscriptions.BotEvents) {
		t.Errorf("scopes %v events %v; want the HTTP app's %v %v", app.OAuthConfig.Scopes.Bot, app.Settings.EventSubscriptions.BotEvents, httpApp.OAuthConfig.Scopes.Bot, httpApp.Settings.EventSubscriptions.BotEvents)
	}
}

// The variant with no inbound port: no Service, no Ingress, Socket Mode
// and pull mode configured from the Secret, and a NetworkPolicy that lets
// nothing reach the public port.
func TestTheNoIngressVariantHasNoServiceAndRunsSocketAndPullMode(t *testing.T) {
	docs := loadAll(t)
	var k struct {
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Patch string `yaml:"patch"`
		} `yaml:"patches"`
	}
	find(t, docs, noIngressDir+"/kustomization.yaml", "Kustomization", "").decode(t, &k)
	if !slices.Contains(k.Resources, "../kubernetes") {
		t.Fatalf("resources %v: want the base", k.Resources)
	}
	deleted := map[string]bool{}
	env := map[string]string{}
	envDeleted := map[string]bool{}
	for _, p := range k.Patches {
		var doc struct {
			Kind     string `yaml:"kind"`
			Patch    string `yaml:"$patch"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Env []map[string]string `yaml:"env"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal([]byte(p.Patch), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Patch == "delete" {
			deleted[doc.Kind+"/"+doc.Metadata.Name] = true
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e["$patch"] == "delete" {
					envDeleted[e["name"]] = true
				} else {
					env[e["name"]] = e["value"]
				}
			}
		}
	}
	// Every Service and Ingress of the base is deleted, and with them the
	// ServiceMonitor that needed the admin Service.
	for _, d := range docs {
		if strings.HasPrefix(d.File, kubeDir+"/") && (d.Kind == "Service" || d.Kind == "Ingress" || d.Kind == "ServiceMonitor") && !deleted[d.Kind+"/"+d.Name] {
			t.Errorf("%s is not deleted by the no-ingress variant", d)
		}
		if strings.HasPrefix(d.File, noIngressDir+"/") && (d.Kind == "Service" || d.Kind == "Ingress") {
			t.Errorf("%s: the no-ingress variant adds a %s", d, d.Kind)
		}
	}
	if !envDeleted["SLACK_SIGNING_SECRET_FILE"] || !envDeleted["PAGERDUTY_WEBHOOK_SECRETS_FILE"] {
		t.Errorf("env deleted %v: want the signing secret and webhook secrets gone", envDeleted)
	}
	if env["SLACK_APP_TOKEN_FILE"] != secretMountDir+"/slack-app-token" {
		t.Errorf("SLACK_APP_TOKEN_FILE = %q, want the Secret's slack-app-token", env["SLACK_APP_TOKEN_FILE"])
	}
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	find(t, docs, kubeDir+"/"+secretExample, "Secret", "").decode(t, &secret)
	if !strings.HasPrefix(secret.StringData["slack-app-token"], "xapp-") {
		t.Errorf("%s has no slack-app-token placeholder starting xapp-", secretExample)
	}
	if d, err := time.ParseDuration(env["INCIDENTBOT_PAGERDUTY_POLL"]); err != nil || d < 10*time.Second {
		t.Errorf("INCIDENTBOT_PAGERDUTY_POLL = %q: want a Go duration of at least 10s", env["INCIDENTBOT_PAGERDUTY_POLL"])
	}
	var np struct {
		Spec struct {
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []struct {
				From  []any `yaml:"from"`
				Ports []struct {
					Port any `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"ingress"`
		} `yaml:"spec"`
	}
	find(t, docs, noIngressDir+"/networkpolicy.yaml", "NetworkPolicy", "").decode(t, &np)
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
		t.Error("the NetworkPolicy does not restrict ingress")
	}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Error("a NetworkPolicy rule admits every port")
		}
		for _, p := range rule.Ports {
			if p.Port != "admin" && p.Port != 9090 {
				t.Errorf("the NetworkPolicy admits port %v; only the admin port may be reached", p.Port)
			}
		}
	}
	find(t, docs, noIngressDir+"/podmonitor.yaml", "PodMonitor", "incidentbot")
}
