package statuspage_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/browsertest"
	"github.com/incidentbot/incidentbot/internal/statuspage"
)

// textOf returns the unescaped text of the first element whose start tag
// contains marker (the element must hold text only).
func textOf(t *testing.T, dom, marker string) string {
	t.Helper()
	i := strings.Index(dom, marker)
	if i < 0 {
		t.Fatalf("the DOM has no element with %s", marker)
	}
	rest := dom[i:]
	rest = rest[strings.IndexByte(rest, '>')+1:]
	return html.UnescapeString(rest[:strings.IndexByte(rest, '<')])
}

// TestARealBrowserShowsTheStatusPage loads the site in headless Chromium.
// UPDATE_SCREENSHOT=1 copies the desktop screenshot to
// docs/status-page.png; SCREENSHOT_DIR=<dir> keeps the phone (390 px) and
// desktop screenshots there for a look.
func TestARealBrowserShowsTheStatusPage(t *testing.T) {
	bin := browsertest.Require(t)

	active := activeCritical()
	active.Name = "Checkout & card payments failing"
	active.Updates[0].Text = "We identified a faulty deploy of the payment gateway and are rolling it back. Some card payments may fail until it completes."
	active.Updates[1].Text = "We are investigating reports of failed card payments at checkout."
	s := render(t, statuspage.SiteInput{Title: "Acme status", Incidents: []incidentbot.PublicIncident{active, resolvedOneHour()}})
	dir := t.TempDir()
	if err := (statuspage.Dir{Path: filepath.Join(dir, "site")}).WriteSite(s); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "site"))))
	defer srv.Close()

	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := browsertest.DumpDOM(c, bin, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, dom, "<title"); got != "Acme status" {
		t.Errorf("title = %q", got)
	}
	if got := textOf(t, dom, `id="overall-status"`); got != "Major outage" {
		t.Errorf("#overall-status = %q", got)
	}
	i := strings.Index(dom, `data-id="INC-7"`)
	if i < 0 {
		t.Fatal("the active incident is not in the DOM")
	}
	inc := dom[i:]
	if got := textOf(t, inc, `class="incident-status"`); got != "Identified" {
		t.Errorf("incident status = %q", got)
	}
	if got := textOf(t, inc, `class="incident-name"`); got != active.Name {
		t.Errorf("incident name = %q", got)
	}
	if got := textOf(t, inc, `class="update-text"`); got != active.Updates[0].Text {
		t.Errorf("latest update = %q", got)
	}
	if n := len(regexp.MustCompile(`class="day day-`).FindAllString(dom, -1)); n != 180 {
		t.Errorf("%d day cells, want 90 for each of 2 services", n)
	}

	phone := filepath.Join(dir, "status-page-phone.png")
	if err := browsertest.Screenshot(c, bin, srv.URL+"/", phone, 390, 1250); err != nil {
		t.Fatal(err)
	}
	desktop := filepath.Join(dir, "status-page.png")
	if err := browsertest.Screenshot(c, bin, srv.URL+"/", desktop, 1200, 1060); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s %s", phone, desktop)
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		for src, dst := range map[string]string{desktop: "../../docs/status-page.png"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
			for src, name := range map[string]string{phone: "status-page-phone.png", desktop: "status-page-desktop.png"} {
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
