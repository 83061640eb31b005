// Package manifests_test checks the deployment manifests against the bot
// they deploy: the public contract of names in ../../shared/design.md, the
// endpoints the server serves, and the constraints of its embedded
// database (one process per file).
package manifests_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// contract is every environment variable in design.md's contract table,
// with the _FILE variants of the secrets (cmd/incidentbot/config.go).
var contract = map[string]bool{
	"SLACK_BOT_TOKEN":               true,
	"SLACK_SIGNING_SECRET":          true,
	"SLACK_API_URL":                 true,
	"PAGERDUTY_WEBHOOK_SECRETS":     true,
	"PAGERDUTY_API_TOKEN":           true,
	"PAGERDUTY_FROM":                true,
	"PAGERDUTY_API_URL":             true,
	"INCIDENTBOT_ADDR":              true,
	"INCIDENTBOT_ADMIN_ADDR":        true,
	"INCIDENTBOT_DB":                true,
	"INCIDENTBOT_DATABASE_URL":      true,
	"INCIDENTBOT_DATABASE_URL_FILE": true,
	"INCIDENTBOT_EXPORT_DIR":        true,
	"INCIDENTBOT_ANNOUNCE_CHANNEL":  true,
	"INCIDENTBOT_CHANNEL_PREFIX":    true,
	"INCIDENTBOT_ADMIN_TOKEN":       true,
	"SLACK_TEAM_ID":                 true,
	"INCIDENTBOT_RESPONDERS":        true,
	"INCIDENTBOT_SLACK_RATE_SCALE":  true,
	"INCIDENTBOT_UPDATE_CADENCE":    true,
	"INCIDENTBOT_PUBLIC_SEVERITIES": true,
	"INCIDENTBOT_STATUS_DIR":        true,
	"INCIDENTBOT_SLO":               true,
	"STATUSPAGE_API_KEY":            true,
	"STATUSPAGE_PAGE_ID":            true,
	"STATUSPAGE_API_URL":            true,
	"SLACK_APP_TOKEN":               true,
	"INCIDENTBOT_PAGERDUTY_POLL":    true,

	"SLACK_BOT_TOKEN_FILE":           true,
	"SLACK_SIGNING_SECRET_FILE":      true,
	"PAGERDUTY_WEBHOOK_SECRETS_FILE": true,
	"PAGERDUTY_API_TOKEN_FILE":       true,
	"INCIDENTBOT_ADMIN_TOKEN_FILE":   true,
	"STATUSPAGE_API_KEY_FILE":        true,
	"SLACK_APP_TOKEN_FILE":           true,
}

// required are the settings the bot refuses to start without (either the
// variable or its _FILE variant).
var required = []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_WEBHOOK_SECRETS"}

// botScopes are the Slack bot scopes the bot needs (design.md, "Slack surface";
// files:write for the postmortem upload in worker.go).
var botScopes = []string{
	"commands", "chat:write", "chat:write.public", "channels:manage", "channels:read",
	"channels:history", "pins:read", "reactions:read", "users:read", "users:read.email",
	"usergroups:read", "files:write", "files:read", "pins:write", "groups:write", "groups:read", "groups:history",
}

const (
	kubeDir        = "kubernetes"
	secretExample  = "secret.example.yaml"
	systemdUnit    = "systemd/incidentbot.service"
	systemdEnv     = "systemd/incidentbot.env.example"
	slackManifest  = "slack-app.yaml"
	socketManifest = "slack-app-socket.yaml"
	noIngressDir   = "kubernetes-no-ingress"
	secretMountDir = "/run/secrets/incidentbot"
)

// document is one YAML document of one file under manifests/.
type document struct {
	File  string // relative to manifests/
	Index int    // position in a multi-document file
	Node  *yaml.Node
	Kind  string
	Name  string
}

func (d document) String() string {
	return fmt.Sprintf("%s#%d (%s %s)", d.File, d.Index, d.Kind, d.Name)
}

func (d document) decode(t *testing.T, v any) {
	t.Helper()
	if err := d.Node.Decode(v); err != nil {
		t.Fatalf("%s: %v", d, err)
	}
}

// loadAll parses every YAML file under manifests/, every document of each.
func loadAll(t *testing.T) []document {
	t.Helper()
	var docs []document
	var files int
	err := filepath.WalkDir(".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		files++
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: document %d: %w", p, i, err)
			}
			if n.Kind == 0 || len(n.Content) == 0 {
				continue
			}
			var meta struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := n.Decode(&meta); err != nil {
				return fmt.Errorf("%s: document %d is not a mapping: %w", p, i, err)
			}
			docs = append(docs, document{File: filepath.ToSlash(p), Index: i, Node: &n, Kind: meta.Kind, Name: meta.Metadata.Name})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 9 {
		t.Fatalf("found %d YAML files under manifests/, want the Slack manifest and the Kubernetes files", files)
	}
	return docs
}

// find returns the one document of the kind (and name, when not empty) in
// the Kustomize directory or the given file.
func find(t *testing.T, docs []document, file, kind, name string) document {
	t.Helper()
	var found []document
	for _, d := range docs {
		if d.Kind == kind && (name == "" || d.Name == name) && (file == "" || d.File == file) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q in %q, found %v", kind, name, file, found)
	}
	return found[0]
}

// Kubernetes types, only the fields the tests read.

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	FSGroup                  *int64 `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	Command []string `yaml:"command"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env     []envVar `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type deployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               securityContext `yaml:"securityContext"`
				Containers                    []container     `yaml:"containers"`
				Volumes                       []volume        `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type volume struct {
	Name                  string `yaml:"name"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	EmptyDir any `yaml:"emptyDir"`
}

// theDeployment returns the Deployment, its only container and the
// environment the container sees (the ConfigMaps of envFrom, then env).
func theDeployment(t *testing.T, docs []document) (deployment, container, map[string]string) {
	t.Helper()
	var d deployment
	find(t, docs, "", "Deployment", "incidentbot").decode(t, &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			var cm struct {
				Data map[string]string `yaml:"data"`
			}
			find(t, docs, "", "ConfigMap", from.ConfigMapRef.Name).decode(t, &cm)
			for k, v := range cm.Data {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return d, c, env
}

func TestEveryManifestIsValidYAMLWithAKindOrIsTheSlackAppManifest(t *testing.T) {
	for _, d := range loadAll(t) {
		if d.File == slackManifest || d.File == socketManifest {
			continue
		}
		if d.Kind == "" {
			t.Errorf("%s has no kind", d)
		}
		if d.Kind != "Kustomization" && d.Name == "" {
			t.Errorf("%s has no metadata.name", d)
		}
	}
}

func TestTheDeploymentRunsExactlyOneReplicaAndRecreatesIt(t *testing.T) {
	d, c, _ := theDeployment(t, loadAll(t))
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %s, want exactly 1 (bbolt holds an exclusive lock on the database file)", show(d.Spec.Replicas))
	}
	if d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("strategy.type = %q, want Recreate (a rolling update would run two pods on one database file)", d.Spec.Strategy.Type)
	}
	if !slices.Equal(c.Args, []string{"serve"}) || len(c.Command) != 0 {
		t.Errorf("command %q args %q, want args [serve] and the image's entrypoint", c.Command, c.Args)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 15 {
		t.Errorf("terminationGracePeriodSeconds = %s, want room for the 10 s graceful shutdown (30)", show(g))
	}
}

func TestTheProbesAskHealthzAndReadyzOnThePublicListener(t *testing.T) {
	_, c, env := theDeployment(t, loadAll(t))
	// The admin listener serves only /healthz, /metrics and /api/*: /readyz
	// is on the public one (INCIDENTBOT_ADDR).
	public := portOf(t, "INCIDENTBOT_ADDR", env["INCIDENTBOT_ADDR"])
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe of %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path = %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := containerPort(t, c, p.probe.HTTPGet.Port); got != public {
			t.Errorf("%s port = %v (%d), want the public listener's port %d", p.name, p.probe.HTTPGet.Port, got, public)
		}
	}
}

func TestTheContainerPortsAreTheListenAddressesPorts(t *testing.T) {
	_, c, env := theDeployment(t, loadAll(t))
	want := map[string]string{"http": "INCIDENTBOT_ADDR", "admin": "INCIDENTBOT_ADMIN_ADDR"}
	for name, setting := range want {
		if env[setting] == "" {
			t.Errorf("%s is not set in the Deployment", setting)
			continue
		}
		if got, want := containerPort(t, c, name), portOf(t, setting, env[setting]); got != want {
			t.Errorf("container port %q = %d, want %d from %s=%s", name, got, want, setting, env[setting])
		}
	}
}

func TestTheContainerRunsAsNonRootOnAReadOnlyRootFilesystemWithNoPrivileges(t *testing.T) {
	d, c, _ := theDeployment(t, loadAll(t))
	pod, sc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true")
	}
	for name, id := range map[string]*int64{"runAsUser": firstSet(sc.RunAsUser, pod.RunAsUser), "runAsGroup": firstSet(sc.RunAsGroup, pod.RunAsGroup), "fsGroup": pod.FSGroup} {
		if id == nil || *id == 0 {
			t.Errorf("%s = %s, want a non-root ID (65532)", name, show(id))
		}
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities.drop = %q, want ALL", sc.Capabilities.Drop)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" && pod.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("seccompProfile is not RuntimeDefault")
	}
}

func TestTheContainerHasResourceRequestsAndAMemoryLimit(t *testing.T) {
	_, c, _ := theDeployment(t, loadAll(t))
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("resources.requests.%s is not set", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("resources.limits.memory is not set")
	}
}

func TestTheDatabaseAndEveryWrittenDirectoryLieOnAWritableVolume(t *testing.T) {
	docs := loadAll(t)
	d, c, env := theDeployment(t, docs)
	volumes := map[string]volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	// mountOf returns the volume mounted at p's closest enclosing mount.
	mountOf := func(p string) (string, volume, bool) {
		best, name, readOnly := "", "", false
		for _, m := range c.VolumeMounts {
			if (p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")) && len(m.MountPath) > len(best) {
				best, name, readOnly = m.MountPath, m.Name, m.ReadOnly
			}
		}
		return best, volumes[name], best != "" && !readOnly
	}

	db := env["INCIDENTBOT_DB"]
	if !path.IsAbs(db) {
		t.Fatalf("INCIDENTBOT_DB = %q, want an absolute path on the data volume", db)
	}
	mount, v, writable := mountOf(path.Dir(db))
	if mount != path.Dir(db) || v.PersistentVolumeClaim == nil || !writable {
		t.Fatalf("INCIDENTBOT_DB=%s: want a PersistentVolumeClaim mounted read-write at %s, found the closest mount at %q (volume %q)", db, path.Dir(db), mount, v.Name)
	}
	var pvc struct {
		Spec struct {
			AccessModes []string `yaml:"accessModes"`
			Resources   struct {
				Requests map[string]string `yaml:"requests"`
			} `yaml:"resources"`
		} `yaml:"spec"`
	}
	find(t, docs, "", "PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName).decode(t, &pvc)
	if !slices.Equal(pvc.Spec.AccessModes, []string{"ReadWriteOnce"}) || pvc.Spec.Resources.Requests["storage"] == "" {
		t.Errorf("PVC %s: accessModes %q storage %q, want ReadWriteOnce and a size", v.PersistentVolumeClaim.ClaimName, pvc.Spec.AccessModes, pvc.Spec.Resources.Requests["storage"])
	}

	// The root filesystem is read-only: every directory the bot writes must be a volume.
	for _, setting := range []string{"INCIDENTBOT_EXPORT_DIR", "INCIDENTBOT_STATUS_DIR"} {
		p := env[setting]
		if p == "" {
			continue
		}
		if _, _, writable := mountOf(p); !path.IsAbs(p) || !writable {
			t.Errorf("%s=%s is not on a writable volume (the root filesystem is read-only)", setting, p)
		}
	}
}

func TestEverySecretIsReadFromAFileOfTheMountedSecret(t *testing.T) {
	docs := loadAll(t)
	d, c, env := theDeployment(t, docs)
	var secret struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
	}
	find(t, docs, path.Join(kubeDir, secretExample), "Secret", "").decode(t, &secret)
	for k, v := range secret.StringData {
		if !strings.Contains(v, "REPLACE-ME") {
			t.Errorf("%s: stringData.%s = %q, want a REPLACE-ME placeholder", secretExample, k, v)
		}
	}

	var mounted bool
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && m.MountPath == secretMountDir {
				mounted = v.Secret.SecretName == secret.Metadata.Name
			}
		}
	}
	if !mounted {
		t.Errorf("the Secret %q is not mounted at %s", secret.Metadata.Name, secretMountDir)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			if ref := e.ValueFrom.SecretKeyRef; ref.Name != secret.Metadata.Name || secret.StringData[ref.Key] == "" {
				t.Errorf("%s reads key %q of Secret %q, which %s does not have", e.Name, ref.Key, ref.Name, secretExample)
			}
		}
		if !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		dir, key := path.Split(e.Value)
		if path.Clean(dir) != secretMountDir || secret.StringData[key] == "" {
			t.Errorf("%s=%s: want %s/<a key of %s>", e.Name, e.Value, secretMountDir, secretExample)
		}
	}
	for _, name := range required {
		if env[name] == "" && env[name+"_FILE"] == "" {
			t.Errorf("neither %s nor %s_FILE is set: the bot would not start", name, name)
		}
	}
	if (env["PAGERDUTY_API_TOKEN"] != "" || env["PAGERDUTY_API_TOKEN_FILE"] != "") && env["PAGERDUTY_FROM"] == "" {
		t.Error("PAGERDUTY_API_TOKEN is set without PAGERDUTY_FROM: the bot would not start")
	}
}

// envName matches what looks like one of the bot's variables anywhere in a
// file, comments included (a commented-out example is copied by people).
var envName = regexp.MustCompile(`\b(?:SLACK|PAGERDUTY|INCIDENTBOT|STATUSPAGE)_[A-Z0-9_]*[A-Z0-9]\b`)

func TestEveryEnvironmentVariableNamedInTheManifestsIsInTheContract(t *testing.T) {
	docs := loadAll(t)
	_, c, _ := theDeployment(t, docs)
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	for _, d := range docs {
		if d.Kind == "ConfigMap" {
			var cm struct {
				Data map[string]string `yaml:"data"`
			}
			d.decode(t, &cm)
			for k := range cm.Data {
				names = append(names, k)
			}
		}
	}
	set, commented := readEnvFile(t, systemdEnv)
	for _, env := range []map[string]string{set, commented} {
		for k := range env {
			names = append(names, k)
		}
	}
	for _, n := range names {
		if !contract[n] {
			t.Errorf("%s is named but is not in the contract", n)
		}
	}

	// Anywhere in the text, comments included.
	files := []string{systemdUnit, systemdEnv}
	for _, d := range docs {
		if !slices.Contains(files, d.File) {
			files = append(files, d.File)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range envName.FindAllString(string(b), -1) {
			if !contract[n] {
				t.Errorf("%s mentions %s, which is not in the contract", f, n)
			}
		}
	}
}

func TestTheKustomizationListsEveryManifestThatExistsButNotTheSecretExample(t *testing.T) {
	docs := loadAll(t)
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	find(t, docs, path.Join(kubeDir, "kustomization.yaml"), "Kustomization", "").decode(t, &k)
	if k.Namespace != "incidentbot" {
		t.Errorf("namespace = %q, want incidentbot", k.Namespace)
	}
	for _, r := range k.Resources {
		if path.Base(r) == secretExample {
			t.Errorf("resources lists %s: the example Secret would overwrite the real one with placeholders", r)
		}
		if _, err := os.Stat(filepath.Join(kubeDir, filepath.FromSlash(r))); err != nil {
			t.Errorf("resources lists %s: %v", r, err)
		}
	}
	entries, err := os.ReadDir(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".yaml") && n != "kustomization.yaml" && n != secretExample && !slices.Contains(k.Resources, n) {
			t.Errorf("%s/%s is not listed in kustomization.yaml's resources", kubeDir, n)
		}
	}
	for _, d := range docs {
		var m struct {
			Metadata struct {
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		d.decode(t, &m)
		if ns := m.Metadata.Namespace; ns != "" && ns != "incidentbot" {
			t.Errorf("%s is in namespace %q, want incidentbot", d, ns)
		}
	}
}

func TestTheServicesReachTheNamedPortsAndStayInsideTheCluster(t *testing.T) {
	docs := loadAll(t)
	d, c, _ := theDeployment(t, docs)
	type service struct {
		Spec struct {
			Type     string            `yaml:"type"`
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	targets := map[string]bool{}
	for _, doc := range docs {
		if doc.Kind != "Service" {
			continue
		}
		var s service
		doc.decode(t, &s)
		if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
			t.Errorf("%s: type %s, want ClusterIP (expose the public port through an Ingress)", doc, s.Spec.Type)
		}
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod's labels", doc, k, v)
			}
		}
		for _, p := range s.Spec.Ports {
			name := fmt.Sprint(p.TargetPort)
			containerPort(t, c, p.TargetPort)
			targets[name] = true
			if name == "http" && p.Port != 80 {
				t.Errorf("%s: the http port is %d, want 80", doc, p.Port)
			}
		}
	}
	for _, want := range []string{"http", "admin"} {
		if !targets[want] {
			t.Errorf("no Service targets the %s port", want)
		}
	}
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func theAlerts(t *testing.T) []rule {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups []struct {
				Rules []rule `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	find(t, loadAll(t), path.Join(kubeDir, "prometheus-rules.yaml"), "PrometheusRule", "").decode(t, &pr)
	var rules []rule
	for _, g := range pr.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

func TestEveryAlertHasASeverityASummaryAndADescription(t *testing.T) {
	rules := theAlerts(t)
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("rule %q is not an alert", r.Expr)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s has no %s annotation", r.Alert, a)
			}
		}
	}
	// The conditions the bot's operators need to hear about.
	for _, want := range []string{
		`incidentbot_outbox_oldest_job_age_seconds`,
		`incidentbot_outbox_dead_letters`,
		`increase(incidentbot_pagerduty_signature_failures_total`,
		`incidentbot_outbox_jobs_total{job="incidentbot", result="retry"}`,
		`up{job="incidentbot"} == 0`,
		`incidentbot_database_filesystem_free_bytes`,
	} {
		if !slices.ContainsFunc(rules, func(r rule) bool { return strings.Contains(r.Expr, want) }) {
			t.Errorf("no alert on %s", want)
		}
	}
}

func TestTheAlertsUseOnlyMetricsTheBotExports(t *testing.T) {
	exported := map[string]bool{}
	literal := regexp.MustCompile(`"(incidentbot_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "manifests" || e.Name() == "vendor") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			exported[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\bincidentbot_[a-z0-9_]+`)
	for _, r := range theAlerts(t) {
		for _, m := range used.FindAllString(r.Expr, -1) {
			if !exported[m] {
				t.Errorf("%s uses %s, which the bot does not export", r.Alert, m)
			}
		}
	}
}

type slackApp struct {
	Features struct {
		BotUser *struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			URL          string `yaml:"url"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			ShouldEscape *bool  `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled  *bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled *bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func theSlackApp(t *testing.T) (slackApp, document) {
	t.Helper()
	return slackAppIn(t, slackManifest)
}

func slackAppIn(t *testing.T, file string) (slackApp, document) {
	t.Helper()
	for _, d := range loadAll(t) {
		if d.File == file {
			var app slackApp
			d.decode(t, &app)
			return app, d
		}
	}
	t.Fatalf("%s not found", file)
	return slackApp{}, document{}
}

func TestTheSlackAppHasOneIncidentCommandThatEscapesMentions(t *testing.T) {
	app, _ := theSlackApp(t)
	if app.Features.BotUser == nil {
		t.Error("features.bot_user is missing: the app needs a bot token")
	}
	cmds := app.Features.SlashCommands
	if len(cmds) != 1 || cmds[0].Command != "/incident" {
		t.Fatalf("slash commands %+v, want exactly /incident", cmds)
	}
	if cmds[0].ShouldEscape == nil || !*cmds[0].ShouldEscape {
		t.Error("/incident: should_escape is not true; mentions would arrive as plain @names, not <@U…|name>")
	}
	if cmds[0].Description == "" || cmds[0].UsageHint == "" {
		t.Error("/incident has no description or usage_hint")
	}
	s := app.Settings
	if s.OrgDeployEnabled == nil || *s.OrgDeployEnabled || s.SocketModeEnabled == nil || *s.SocketModeEnabled {
		t.Error("org_deploy_enabled and socket_mode_enabled must both be set to false")
	}
}

func TestTheSlackAppSendsRequestsToTheBotsEndpoints(t *testing.T) {
	app, _ := theSlackApp(t)
	urls := map[string]string{
		"/slack/commands":     app.Features.SlashCommands[0].URL,
		"/slack/interactions": app.Settings.Interactivity.RequestURL,
		"/slack/events":       app.Settings.EventSubscriptions.RequestURL,
	}
	host := ""
	for endpoint, u := range urls {
		if !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, endpoint) {
			t.Errorf("%q: want https://<host>%s", u, endpoint)
		}
		h := strings.TrimSuffix(strings.TrimPrefix(u, "https://"), endpoint)
		if host != "" && h != host {
			t.Errorf("%q and host %q: all requests go to one bot", u, host)
		}
		host = h
	}
	if !app.Settings.Interactivity.IsEnabled {
		t.Error("interactivity is not enabled: the kickoff message's buttons would do nothing")
	}
}

func TestTheSlackAppRequestsTheScopesTheBotNeedsEachWithAReason(t *testing.T) {
	app, doc := theSlackApp(t)
	scopes := app.OAuthConfig.Scopes.Bot
	for _, s := range botScopes {
		if !slices.Contains(scopes, s) {
			t.Errorf("bot scope %s is missing", s)
		}
	}
	// An event is delivered only with its scope.
	eventScope := map[string]string{"pin_added": "pins:read", "reaction_added": "reactions:read", "message.channels": "channels:history", "message.groups": "groups:history"}
	for event, scope := range eventScope {
		if !slices.Contains(app.Settings.EventSubscriptions.BotEvents, event) {
			t.Errorf("bot event %s is not subscribed", event)
		}
		if !slices.Contains(scopes, scope) {
			t.Errorf("bot event %s needs scope %s", event, scope)
		}
	}
	// Each scope says why, in a comment next to it.
	seq := lookup(doc.Node, "oauth_config", "scopes", "bot")
	if seq == nil {
		t.Fatal("oauth_config.scopes.bot not found")
	}
	for _, item := range seq.Content {
		if strings.TrimSpace(strings.TrimPrefix(item.LineComment, "#")) == "" {
			t.Errorf("bot scope %s has no comment saying why the bot needs it", item.Value)
		}
	}
}

func TestTheSystemdUnitServesRestartsAndKeepsItsStateInTheStateDirectory(t *testing.T) {
	unit := readUnit(t, systemdUnit)
	svc := unit["Service"]
	exec := strings.Fields(svc["ExecStart"])
	if len(exec) != 2 || !strings.HasSuffix(exec[0], "/incidentbot") || exec[1] != "serve" {
		t.Errorf("ExecStart=%s, want /usr/local/bin/incidentbot serve", svc["ExecStart"])
	}
	if r := svc["Restart"]; r == "" || r == "no" {
		t.Errorf("Restart=%q, want on-failure", r)
	}
	for k, want := range map[string]string{
		"Type": "simple", "User": "incidentbot", "EnvironmentFile": "/etc/incidentbot/incidentbot.env",
		"StateDirectory": "incidentbot", "KillSignal": "SIGTERM", "TimeoutStopSec": "30",
		"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
	} {
		if svc[k] != want {
			t.Errorf("%s=%q, want %q", k, svc[k], want)
		}
	}
	if unit["Install"]["WantedBy"] == "" {
		t.Error("[Install] WantedBy= is missing: systemctl enable would not start it at boot")
	}

	env, commented := readEnvFile(t, systemdEnv)
	state := "/var/lib/" + svc["StateDirectory"] + "/"
	for _, setting := range []string{"INCIDENTBOT_DB", "INCIDENTBOT_EXPORT_DIR", "INCIDENTBOT_STATUS_DIR"} {
		for _, e := range []map[string]string{env, commented} {
			if p, ok := e[setting]; ok && !strings.HasPrefix(p, state) {
				t.Errorf("%s=%s is outside %s, the only writable path under ProtectSystem=strict", setting, p, state)
			}
		}
	}
	if env["INCIDENTBOT_DB"] == "" {
		t.Error("the env example does not set INCIDENTBOT_DB")
	}
	for _, name := range required {
		if env[name] == "" && env[name+"_FILE"] == "" {
			t.Errorf("the env example sets neither %s nor %s_FILE: the bot would not start", name, name)
		}
	}
}

// readUnit parses a systemd unit file into section -> key -> value (the
// last assignment wins, as for the keys checked here).
func readUnit(t *testing.T, file string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			unit[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", file, n, line)
			}
			unit[section][strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// readEnvFile parses an EnvironmentFile: NAME=value lines, comments and
// blank lines. It returns the settings, and apart the commented-out
// assignments (#NAME=value), which people uncomment.
func readEnvFile(t *testing.T, file string) (set, commented map[string]string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	assignment := regexp.MustCompile(`^(#?)\s*([A-Z][A-Z0-9_]*)=(.*)$`)
	set, commented = map[string]string{}, map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		m := assignment.FindStringSubmatch(line)
		switch {
		case m != nil && m[1] == "":
			set[m[2]] = m[3]
		case m != nil:
			commented[m[2]] = m[3]
		case line != "" && !strings.HasPrefix(line, "#"):
			t.Errorf("%s:%d: %q is not NAME=value", file, n+1, line)
		}
	}
	return set, commented
}

// lookup follows mapping keys from a document node.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// containerPort resolves a probe's or Service's port (a number or a
// container port name) to the container port number.
func containerPort(t *testing.T, c container, port any) int {
	t.Helper()
	for _, p := range c.Ports {
		if fmt.Sprint(port) == p.Name || fmt.Sprint(port) == strconv.Itoa(p.ContainerPort) {
			return p.ContainerPort
		}
	}
	t.Errorf("port %v is not a port of container %s", port, c.Name)
	return 0
}

// portOf returns the port of a Go listen address like ":8080".
func portOf(t *testing.T, setting, addr string) int {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%s=%q: want host:port or :port", setting, addr)
	}
	return p
}

func firstSet(ids ...*int64) *int64 {
	for _, id := range ids {
		if id != nil {
			return id
		}
	}
	return nil
}

// show prints an optional number.
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// The HA overlay (manifests/kubernetes-ha): two or more replicas rolled
// without downtime, a disruption budget, no volume claim, and the
// database URL from the mounted Secret instead of INCIDENTBOT_DB.
func TestTheHAOverlayRunsSeveralReplicasOnPostgreSQL(t *testing.T) {
	docs := loadAll(t)
	var k struct {
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Patch  string `yaml:"patch"`
			Target struct {
				Kind string `yaml:"kind"`
			} `yaml:"target"`
		} `yaml:"patches"`
	}
	find(t, docs, "kubernetes-ha/kustomization.yaml", "Kustomization", "").decode(t, &k)
	if !slices.Contains(k.Resources, "../kubernetes") || !slices.Contains(k.Resources, "pdb.yaml") {
		t.Errorf("resources = %v, want the base (../kubernetes) and pdb.yaml", k.Resources)
	}
	var deletesPVC, deploymentPatched bool
	for _, p := range k.Patches {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(p.Patch), &doc); err != nil {
			t.Fatalf("patch is not YAML: %v", err)
		}
		switch doc["kind"] {
		case "PersistentVolumeClaim":
			deletesPVC = doc["$patch"] == "delete"
		case "Deployment":
			deploymentPatched = true
			var d struct {
				Spec struct {
					Replicas int `yaml:"replicas"`
					Strategy struct {
						Type          string `yaml:"type"`
						RollingUpdate struct {
							MaxUnavailable int `yaml:"maxUnavailable"`
						} `yaml:"rollingUpdate"`
					} `yaml:"strategy"`
					Template struct {
						Spec struct {
							Containers []struct {
								Env []map[string]string `yaml:"env"`
							} `yaml:"containers"`
							Volumes []map[string]any `yaml:"volumes"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal([]byte(p.Patch), &d); err != nil {
				t.Fatal(err)
			}
			if d.Spec.Replicas < 2 || d.Spec.Strategy.Type != "RollingUpdate" || d.Spec.Strategy.RollingUpdate.MaxUnavailable != 0 {
				t.Errorf("replicas %d, strategy %q (maxUnavailable %d): want at least 2, RollingUpdate, 0", d.Spec.Replicas, d.Spec.Strategy.Type, d.Spec.Strategy.RollingUpdate.MaxUnavailable)
			}
			var dropsDB, urlFromSecret bool
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					dropsDB = dropsDB || (e["name"] == "INCIDENTBOT_DB" && e["$patch"] == "delete")
					urlFromSecret = urlFromSecret || (e["name"] == "INCIDENTBOT_DATABASE_URL_FILE" && strings.HasPrefix(e["value"], "/run/secrets/incidentbot/"))
				}
			}
			if !dropsDB || !urlFromSecret {
				t.Errorf("env: INCIDENTBOT_DB deleted %v, INCIDENTBOT_DATABASE_URL_FILE from the Secret %v; want both", dropsDB, urlFromSecret)
			}
			noClaim := false
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v["name"] == "data" {
					pvc, _ := v["persistentVolumeClaim"].(map[string]any)
					_, empty := v["emptyDir"]
					noClaim = pvc["$patch"] == "delete" && empty
				}
			}
			if !noClaim {
				t.Error("the data volume still uses the PVC; want an emptyDir")
			}
		}
	}
	if !deletesPVC || !deploymentPatched {
		t.Errorf("PVC deleted %v, Deployment patched %v", deletesPVC, deploymentPatched)
	}
	var pdb struct {
		Spec struct {
			MinAvailable int `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	find(t, docs, "kubernetes-ha/pdb.yaml", "PodDisruptionBudget", "incidentbot").decode(t, &pdb)
	if pdb.Spec.MinAvailable < 1 || pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "incidentbot" || pdb.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "server" {
		t.Errorf("PodDisruptionBudget = %+v, want minAvailable ≥ 1 selecting the server pods", pdb.Spec)
	}
}
