// Package browsertest runs a real headless Chromium for tests: it finds
// the binary, skips (or, under CI, fails) a test when there is none, and
// loads a URL to dump its DOM or take a screenshot.
//
// It is a normal package, not a _test one, so that tests in other packages
// (cmd/ included) can use it. Chromium runs with a fresh profile, no
// sandbox (tests often run as root in containers), no GPU and no
// background networking, and is killed with its whole process tree when
// the context ends.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds a run when the context has no deadline.
const DefaultTimeout = 60 * time.Second

// candidates are where Chromium is looked for, in order.
var candidates = []string{
	"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
}

// Find locates a Chromium or Chrome binary: /usr/bin/chromium (Debian's
// package), else chromium, chromium-browser, google-chrome or
// google-chrome-stable on PATH.
func Find() (path string, ok bool) {
	for _, c := range candidates {
		if filepath.IsAbs(c) {
			if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return c, true
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, true
		}
	}
	return "", false
}

const missing = `
************************************************************************
*  NO CHROMIUM FOUND: this real-browser test did NOT run.              *
*  Install it to run it:  apt-get install -y chromium  (Debian/Ubuntu) *
*  Under CI (env CI set) a missing browser fails the test instead.     *
************************************************************************`

// Require returns Chromium's path. Without one it skips the test with a
// loud message, or fails it when the environment variable CI is set (a CI
// image without a browser must not pass silently).
func Require(t testing.TB) string {
	t.Helper()
	if p, ok := Find(); ok {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("browsertest: CI is set but no Chromium was found (/usr/bin/chromium, chromium-browser, google-chrome)" + missing)
	}
	t.Skip(missing)
	return ""
}

// DumpDOM loads url and returns the DOM Chromium serialised after loading
// it (--dump-dom).
func DumpDOM(ctx context.Context, bin, url string) (string, error) {
	out, err := run(ctx, bin, "--dump-dom", url)
	if err != nil {
		return "", err
	}
	return out, nil
}

// Screenshot loads url in a width×height window and writes a PNG of the
// viewport to pngPath.
func Screenshot(ctx context.Context, bin, url, pngPath string, width, height int) error {
	abs, err := filepath.Abs(pngPath)
	if err != nil {
		return fmt.Errorf("browsertest: %w", err)
	}
	_ = os.Remove(abs)
	if _, err := run(ctx, bin, "--screenshot="+abs, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--hide-scrollbars", url); err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return fmt.Errorf("browsertest: chromium wrote no screenshot at %s", abs)
	}
	return nil
}

// run starts Chromium headless with a fresh profile and the given
// arguments, and returns its standard output.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	profile, err := os.MkdirTemp("", "browsertest-profile-*")
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	defer os.RemoveAll(profile)

	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
		"--disable-dev-shm-usage", "--no-default-browser-check", "--user-data-dir=" + profile,
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Dir = profile
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	setProcessGroup(cmd)
	// Chromium's helpers (zygote, renderer, GPU) share its process group:
	// on timeout the whole group is killed, not only the browser.
	cmd.Cancel = func() error { return killTree(cmd) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	// Helpers may outlive a browser that exited normally.
	_ = killTree(cmd)
	if ctx.Err() != nil {
		return "", fmt.Errorf("browsertest: chromium did not finish: %w%s", ctx.Err(), tail(stderr.String()))
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("browsertest: chromium failed: %v%s", err, tail(stderr.String()))
		}
		return "", fmt.Errorf("browsertest: %w", err)
	}
	return stdout.String(), nil
}

// tail is the end of Chromium's log, for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return "\n" + s
}
