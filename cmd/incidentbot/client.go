package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/incidentbot/incidentbot/internal/export"
)

// adminFlags are the flags of commands that talk to a running server.
func adminFlags(name string, stderr io.Writer, getenv func(string) string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", orDefault(getenv("INCIDENTBOT_SERVER"), "http://127.0.0.1:8080"), "base URL of the running server's admin listener (INCIDENTBOT_ADMIN_ADDR when set)")
	return fs, server
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// adminGet fetches path from the running server with the admin token.
func adminGet(ctx context.Context, server, path, token string) (*http.Response, error) {
	if token == "" {
		return nil, errors.New("INCIDENTBOT_ADMIN_TOKEN (or INCIDENTBOT_ADMIN_TOKEN_FILE) is not set: the admin API needs it")
	}
	u, err := url.Parse(strings.TrimRight(server, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s (is `incidentbot serve` running?): %w", server, errors.Unwrap(err))
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		switch res.StatusCode {
		case http.StatusUnauthorized:
			return nil, errors.New("the server refused the admin token (INCIDENTBOT_ADMIN_TOKEN differs from the server's)")
		case http.StatusNotFound:
			if strings.Contains(string(b), "error") {
				return nil, fmt.Errorf("not found: %s", strings.TrimSpace(string(b)))
			}
			return nil, errors.New("the server's admin API is off (it has no INCIDENTBOT_ADMIN_TOKEN) or --server is not its admin listener")
		}
		return nil, fmt.Errorf("the server answered %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	return res, nil
}

// adminToken reads the admin token from the environment or its _FILE.
func adminToken(getenv func(string) string) (string, error) {
	if path := getenv("INCIDENTBOT_ADMIN_TOKEN_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("INCIDENTBOT_ADMIN_TOKEN_FILE: %v", errors.Unwrap(err))
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(getenv("INCIDENTBOT_ADMIN_TOKEN")), nil
}

// postmortemCmd is `incidentbot postmortem INC-n [-o FILE]`: it fetches the
// draft from the running server (the database file is locked by it).
func postmortemCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, server := adminFlags("postmortem", stderr, getenv)
	out := fs.String("o", "", "write the Markdown draft to this file instead of standard output")
	asJSON := fs.Bool("json", false, "fetch the JSON twin instead of Markdown")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: incidentbot postmortem [--server URL] [-o FILE] [--json] INC-n\n\nFetches the incident's draft postmortem from the running server (needs INCIDENTBOT_ADMIN_TOKEN).\n\n")
		fs.PrintDefaults()
	}
	// Accept the ID before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if id == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	token, err := adminToken(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot postmortem:", err)
		return 2
	}
	ext := ".md"
	if *asJSON {
		ext = ".json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adminGet(ctx, *server, "/api/incidents/"+url.PathEscape(id)+"/postmortem"+ext, token)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot postmortem:", err)
		return 1
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot postmortem:", err)
		return 1
	}
	if *out == "" {
		stdout.Write(body)
		return 0
	}
	if err := export.WriteAtomic(*out, body); err != nil {
		fmt.Fprintln(stderr, "incidentbot postmortem:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s\n", *out)
	return 0
}
