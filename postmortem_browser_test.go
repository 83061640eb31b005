package incidentbot

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/browsertest"
)

var (
	h2Re    = regexp.MustCompile(`<h2>([^<]*)</h2>`)
	thRe    = regexp.MustCompile(`<th>([^<]*)</th>`)
	tableRe = regexp.MustCompile(`</?table>`)
)

// textIn returns the unescaped text of the first element after marker
// (which must hold text only).
func textIn(t *testing.T, dom, marker string) string {
	t.Helper()
	i := strings.Index(dom, marker)
	if i < 0 {
		t.Fatalf("the DOM has no %s", marker)
	}
	rest := dom[i+len(marker):]
	return html.UnescapeString(rest[:strings.IndexByte(rest, '<')])
}

// TestARealBrowserShowsThePostmortemHTML loads the HTML export in
// headless Chromium and checks the structure a paste into Google Docs or
// Confluence keeps: a flat sequence of headings, paragraphs, lists and
// tables (tables with header cells, none nested, nothing in layout
// containers), the drawn timeline, no script, nothing fetched but the
// page itself, and hostile text shown as text. UPDATE_SCREENSHOT=1 writes
// docs/postmortem-html.png.
func TestARealBrowserShowsThePostmortemHTML(t *testing.T) {
	bin := browsertest.Require(t)
	p := sampleDraft()
	hostile := hostileDraft("x <img src=x onerror=alert(2)> \u202egnp.exe", "<script>alert(1)</script> | a", "Ann <b>", "https://x.slack.com/p1")
	pages := map[string][]byte{"/pm.html": p.HTML(), "/hostile.html": hostile.HTML()}
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.Path)
		mu.Unlock()
		b, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	dom, err := browsertest.DumpDOM(ctx, bin, srv.URL+"/pm.html")
	if err != nil {
		t.Fatal(err)
	}
	if got := textIn(t, dom, "<title>"); got != "Postmortem: API health check failures" {
		t.Errorf("title = %q", got)
	}
	if got := textIn(t, dom, "<h1>"); got != "Postmortem: API health check failures" {
		t.Errorf("h1 = %q", got)
	}
	var sections []string
	for _, m := range h2Re.FindAllStringSubmatch(dom, -1) {
		sections = append(sections, m[1])
	}
	want := "Executive summary|Impact|Timeline|Root cause|Detection|Response|Resolution|Communication|Availability|Action items|Lessons learned|Participants|Related incidents|Review and sign-off"
	if got := strings.Join(sections, "|"); got != want {
		t.Errorf("sections = %s\nwant       %s", got, want)
	}
	body := dom[strings.Index(dom, "<body>"):]
	for _, bad := range []string{"<div", "<script", "<iframe", "<img", "<link", "position:", "float:", "display: grid", "display: flex"} {
		if strings.Contains(body, bad) {
			t.Errorf("the body has %q, which a paste would not keep", bad)
		}
	}
	depth := 0
	for _, m := range tableRe.FindAllString(body, -1) {
		if m == "<table>" {
			depth++
		} else {
			depth--
		}
		if depth > 1 {
			t.Fatal("a table inside a table")
		}
	}
	// The facts table: a header cell per fact, the severity history.
	if got := textIn(t, body, "<th>Severity</th><td>"); got != "SEV2, escalated to SEV1 at 03:18 UTC" {
		t.Errorf("severity cell = %q", got)
	}
	// The timeline table: its header and one row per event.
	i := strings.Index(body, "<h3>All events</h3>")
	tl := body[i : i+strings.Index(body[i:], "</table>")]
	var heads []string
	for _, m := range thRe.FindAllStringSubmatch(tl, -1) {
		heads = append(heads, m[1])
	}
	if strings.Join(heads, "|") != "Time (UTC)|Event|Actor" || strings.Count(tl, "<tr>") != len(p.Timeline)+1 {
		t.Errorf("timeline table: head %v, %d rows for %d events", heads, strings.Count(tl, "<tr>")-1, len(p.Timeline))
	}
	if !strings.Contains(tl, "<td>03:27:00</td><td>Restarted the first pod (recorded 03:33:00)</td><td>Bob</td>") {
		t.Error("the backdated note is not at its time with its recording time")
	}
	// The drawing: every phase labelled, the impact bar.
	svg := body[strings.Index(body, "<svg"):strings.Index(body, "</svg>")]
	for _, ph := range p.Phases {
		if !strings.Contains(svg, ">"+ph.Name+"</text>") || !strings.Contains(svg, ">"+hhmmss(ph.At)+"</text>") {
			t.Errorf("the drawing lacks the phase %s at %s", ph.Name, hhmmss(ph.At))
		}
	}
	if !strings.Contains(svg, ">Impact: 23 min</text>") || strings.Count(svg, "<circle") != len(p.KeyEvents) {
		t.Errorf("the drawing lacks the impact bar or its %d key events", len(p.KeyEvents))
	}

	// Hostile text is text: no element came from it.
	hdom, err := browsertest.DumpDOM(ctx, bin, srv.URL+"/hostile.html")
	if err != nil {
		t.Fatal(err)
	}
	hbody := hdom[strings.Index(hdom, "<body>"):]
	if strings.Contains(hbody, "<img") || strings.Contains(hbody, "<script") || strings.Contains(hbody, "<b>") || strings.ContainsRune(hbody, '\u202e') {
		t.Error("hostile text became markup (or kept its bidi override)")
	}
	if got := textIn(t, hbody, "<h1>"); got != "Postmortem: x <img src=x onerror=alert(2)> gnp.exe" {
		t.Errorf("hostile h1 = %q", got)
	}
	mu.Lock()
	for _, r := range requests {
		if r != "/pm.html" && r != "/hostile.html" && r != "/favicon.ico" {
			t.Errorf("the page fetched %s: it is not self-contained", r)
		}
	}
	mu.Unlock()

	shot := filepath.Join(t.TempDir(), "postmortem-html.png")
	if err := browsertest.Screenshot(ctx, bin, srv.URL+"/pm.html", shot, 1100, 1900); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("docs", "postmortem-html.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
