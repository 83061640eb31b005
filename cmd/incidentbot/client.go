package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/incidentbot/incidentbot/internal/atomicfile"
	"github.com/incidentbot/incidentbot/internal/store"
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
	out := fs.String("o", "", "write the draft to this file instead of standard output")
	asJSON := fs.Bool("json", false, "fetch the JSON twin instead of Markdown")
	asHTML := fs.Bool("html", false, "fetch the self-contained HTML rendering (for Google Docs, Confluence) instead of Markdown")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: incidentbot postmortem [--server URL] [-o FILE] [--json|--html] INC-n\n\nFetches the incident's draft postmortem from the running server (needs INCIDENTBOT_ADMIN_TOKEN).\n\n")
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
	if *asJSON && *asHTML {
		fmt.Fprintln(stderr, "incidentbot postmortem: --json and --html ask for two formats; choose one")
		return 2
	}
	ext := ".md"
	switch {
	case *asJSON:
		ext = ".json"
	case *asHTML:
		ext = ".html"
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
	if err := atomicfile.Write(*out, body, 0o640); err != nil {
		fmt.Fprintln(stderr, "incidentbot postmortem:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s\n", *out)
	return 0
}

// backupTarget refuses a backup's target that is a database in use: the
// file of INCIDENTBOT_DB, or any file whose lock a process holds (a running
// incidentbot's). Replacing it would unlink the file the server goes on
// writing, and every delivery after the backup would be gone at its next
// start.
func backupTarget(file, db string) error {
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if db != "" {
		if dfi, err := os.Stat(db); err == nil && os.SameFile(fi, dfi) {
			return fmt.Errorf("%s is the server's database (INCIDENTBOT_DB): back up to another file", file)
		}
	}
	b, err := bolt.Open(file, 0, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%s is a database in use (a process holds its lock): back up to another file", file)
	}
	if err == nil {
		b.Close()
	}
	return nil // not in use (or not a database): the backup replaces it
}

// backupCmd is `incidentbot backup FILE`: it downloads a consistent copy of
// the running server's database, writes it atomically and verifies it.
func backupCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, server := adminFlags("backup", stderr, getenv)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: incidentbot backup [--server URL] FILE\n\nDownloads a consistent copy of the running server's database (GET /api/backup, needs\nINCIDENTBOT_ADMIN_TOKEN), writes it to FILE and checks it. Restore: stop the server and put\nthe file in place of INCIDENTBOT_DB.\n\n")
		fs.PrintDefaults()
	}
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if file == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	token, err := adminToken(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 2
	}
	if err := backupTarget(file, getenv("INCIDENTBOT_DB")); err != nil {
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := adminGet(ctx, *server, "/api/backup", token)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 1
	}
	defer res.Body.Close()
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 1
	}
	n, err := io.Copy(f, res.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && res.ContentLength >= 0 && n != res.ContentLength {
		err = fmt.Errorf("download cut short: %d of %d bytes", n, res.ContentLength)
	}
	if err != nil {
		os.Remove(tmp)
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 1
	}
	incidents, err := store.Verify(tmp)
	if err != nil {
		os.Remove(tmp)
		fmt.Fprintln(stderr, "incidentbot backup: the copy does not check out:", err)
		return 1
	}
	if err := os.Rename(tmp, file); err != nil {
		fmt.Fprintln(stderr, "incidentbot backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %d incidents, consistency check passed\n", file, n, incidents)
	return 0
}
