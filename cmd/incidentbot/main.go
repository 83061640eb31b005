// Command incidentbot runs an incident from the first PagerDuty page to the
// draft postmortem. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `incidentbot: PagerDuty pages to Slack incident channels, timelines and postmortems.

Usage:
  incidentbot demo           play a short incident against built-in fakes and print the Slack transcript
  incidentbot serve [--config FILE]
                             run the server (configuration from the environment over the YAML file)
  incidentbot postmortem INC-n [-o FILE]
                             fetch an incident's draft postmortem from the running server
  incidentbot backup FILE    download a consistent, checked copy of the running server's database
  incidentbot migrate [--config FILE]
                             apply the PostgreSQL schema's migrations (INCIDENTBOT_DATABASE_URL) and exit
  incidentbot copy --from SRC --to DST
                             copy every incident, timeline, job and dead letter between stores
                             (each a bbolt file path or a postgres:// URL) and check the counts
  incidentbot config check [--config FILE]
                             validate the configuration without starting
  incidentbot version        print the version

Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stdout, "usage: incidentbot version\n\nPrints the version. Exit code 0.\n")
			return 0
		}
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		fmt.Fprintln(stdout, "incidentbot", v)
		return 0
	case "config":
		if len(args) >= 3 && (args[2] == "-h" || args[2] == "--help") {
			fmt.Fprint(stdout, "usage: incidentbot config check [--config FILE]\n\nValidates the configuration (environment, over the optional YAML file) without starting.\nExit codes: 0 valid, 2 invalid.\n")
			return 0
		}
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: incidentbot config check [--config FILE]\n")
			return 2
		}
		getenv, err := configSource(args[2:], getenv)
		if err != nil {
			fmt.Fprintf(stderr, "configuration is invalid:\n%s", indent(err))
			return 2
		}
		cfg, err := LoadConfig(getenv)
		if err != nil {
			fmt.Fprintf(stderr, "configuration is invalid:\n%s\n", indent(err))
			return 2
		}
		fmt.Fprintln(stdout, "configuration is valid")
		fmt.Fprintln(stdout, "store:", cfg.StoreDescription())
		for _, line := range cfg.Modes() {
			fmt.Fprintln(stdout, line)
		}
		fmt.Fprintln(stdout, cfg.Trackers())
		return 0
	case "demo":
		return demoCmd(args[1:], stdout, stderr)
	case "postmortem":
		return postmortemCmd(args[1:], getenv, stdout, stderr)
	case "backup":
		return backupCmd(args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(args[1:], getenv, stdout, stderr)
	case "copy":
		return copyCmd(args[1:], stdout, stderr)
	case "serve":
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
			fmt.Fprint(stdout, "usage: incidentbot serve [--config FILE]\n\nRuns the server until SIGTERM or SIGINT. Configuration comes from the environment (README.md\nlists every variable) over an optional YAML file whose keys are the same names in lower case.\nExit codes: 0 stopped, 1 runtime failure, 2 invalid configuration.\n")
			return 0
		}
		getenv, err := configSource(args[1:], getenv)
		if err != nil {
			fmt.Fprintf(stderr, "incidentbot: configuration is invalid:\n%s", indent(err))
			return 2
		}
		return serve(getenv, stderr)
	}
	fmt.Fprintf(stderr, "incidentbot: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// configSource reads an optional "--config FILE" and returns the getenv to
// load the configuration with.
func configSource(args []string, getenv func(string) string) (func(string) string, error) {
	switch {
	case len(args) == 0:
		return getenv, nil
	case len(args) == 2 && (args[0] == "--config" || args[0] == "-config"):
		return withConfigFile(args[1], getenv)
	case len(args) == 1 && strings.HasPrefix(args[0], "--config="):
		return withConfigFile(strings.TrimPrefix(args[0], "--config="), getenv)
	}
	return nil, fmt.Errorf("unexpected arguments %q (want: --config FILE)", args)
}

func indent(err error) string {
	var out string
	for _, line := range splitLines(err.Error()) {
		out += "  - " + line + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	return append(lines, s[start:])
}

func serve(getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "incidentbot: configuration is invalid:\n%s", indent(err))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(cfg, log)
	if err := m.Open(); err != nil {
		log.Error("incidentbot: cannot start", "err", err)
		return 1
	}
	<-ctx.Done()
	log.Info("incidentbot: shutting down")
	if err := m.Close(); err != nil {
		log.Error("incidentbot: shutdown", "err", err)
		return 1
	}
	return 0
}
