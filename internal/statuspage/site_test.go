package statuspage_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/statuspage"
)

var now = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func ptr(t time.Time) *time.Time { return &t }

// activeCritical is an open sev1 incident with two updates.
func activeCritical() incidentbot.PublicIncident {
	started := now.Add(-90 * time.Minute)
	return incidentbot.PublicIncident{
		ID: "INC-7", Name: "Checkout errors for <some> customers & partners", Service: "Payments",
		Severity: incidentbot.Sev1, Impact: "critical", Status: incidentbot.StatusIdentified,
		StartedAt: started, UpdatedAt: now.Add(-10 * time.Minute), ImpactFrom: started,
		Updates: []incidentbot.PublicUpdate{
			{ID: "INC-7-4", At: now.Add(-10 * time.Minute), Status: incidentbot.StatusIdentified, Text: "We found a faulty deploy <script>alert(1)</script> and are rolling it back."},
			{ID: "INC-7-2", At: now.Add(-80 * time.Minute), Status: incidentbot.StatusInvestigating, Text: "We are investigating failed card payments."},
		},
	}
}

// resolvedOneHour is a sev2 incident resolved two days ago after one hour
// of impact.
func resolvedOneHour() incidentbot.PublicIncident {
	from := now.Add(-48 * time.Hour)
	to := from.Add(time.Hour)
	return incidentbot.PublicIncident{
		ID: "INC-5", Name: "Slow dashboard", Service: "", Severity: incidentbot.Sev2, Impact: "major",
		Status: incidentbot.StatusResolved, StartedAt: from, ResolvedAt: ptr(to), UpdatedAt: to,
		ImpactFrom: from, ImpactTo: ptr(to),
		Updates: []incidentbot.PublicUpdate{
			{ID: "INC-5-resolved", At: to, Status: incidentbot.StatusResolved, Text: "This incident has been resolved."},
			{ID: "INC-5-1", At: from.Add(5 * time.Minute), Status: incidentbot.StatusInvestigating, Text: "Dashboards load slowly."},
		},
	}
}

func render(t *testing.T, in statuspage.SiteInput) statuspage.Site {
	t.Helper()
	if in.Now.IsZero() {
		in.Now = now
	}
	if in.Title == "" {
		in.Title = "Acme status"
	}
	s, err := statuspage.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var overallRe = regexp.MustCompile(`id="overall-status"[^>]*>([^<]*)<`)

func overall(t *testing.T, html []byte) string {
	t.Helper()
	m := overallRe.FindSubmatch(html)
	if m == nil {
		t.Fatalf("no #overall-status in\n%s", html)
	}
	return string(m[1])
}

func TestTheBannerSaysAllSystemsOperationalWithNoIncidents(t *testing.T) {
	s := render(t, statuspage.SiteInput{})
	if got := overall(t, s.HTML); got != "All systems operational" {
		t.Fatalf("banner = %q", got)
	}
}

func TestTheBannerFollowsTheWorstOpenIncident(t *testing.T) {
	minor := activeCritical()
	minor.ID, minor.Impact, minor.Severity = "INC-8", "minor", incidentbot.Sev3
	major := activeCritical()
	major.ID, major.Impact, major.Severity = "INC-9", "major", incidentbot.Sev2
	for _, tc := range []struct {
		name string
		incs []incidentbot.PublicIncident
		want string
	}{
		{"critical", []incidentbot.PublicIncident{minor, activeCritical()}, "Major outage"},
		{"major", []incidentbot.PublicIncident{major, minor}, "Partial outage"},
		{"minor", []incidentbot.PublicIncident{minor}, "Degraded performance"},
		{"resolved only", []incidentbot.PublicIncident{resolvedOneHour()}, "All systems operational"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := render(t, statuspage.SiteInput{Incidents: tc.incs})
			if got := overall(t, s.HTML); got != tc.want {
				t.Fatalf("banner = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestThePageHasNoScriptsAndNoExternalAssets(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{activeCritical(), resolvedOneHour()}})
	html := string(s.HTML)
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Fatal("the page has a <script> element (or unescaped user text)")
	}
	for _, m := range regexp.MustCompile(`(?i)(src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if strings.Contains(strings.ToLower(m[2]), "//") {
			t.Errorf("%s=%q is not a relative link", m[1], m[2])
		}
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "@import") || strings.Contains(html, "url(") {
		t.Error("the page refers to something outside itself")
	}
	for _, want := range []string{
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<title>Acme status</title>`,
		`<link rel="alternate" type="application/atom+xml" title="Acme status: incident updates" href="status.atom">`,
		`Last updated <time datetime="2025-03-10T12:00:00Z">2025-03-10 12:00:00</time> UTC`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestAnActiveIncidentShowsItsPublicNameStatusAndUpdatesNewestFirst(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{activeCritical()}})
	html := string(s.HTML)
	i := strings.Index(html, `class="incident card impact-critical" id="incident-INC-7" data-id="INC-7"`)
	if i < 0 {
		t.Fatalf("no incident element for INC-7:\n%s", html)
	}
	art := html[i:]
	art = art[:strings.Index(art, "</article>")]
	for _, want := range []string{
		`Checkout errors for &lt;some&gt; customers &amp; partners`,
		`<span class="incident-status">Identified</span>`,
		`Major outage`,
	} {
		if !strings.Contains(art, want) {
			t.Errorf("incident lacks %s", want)
		}
	}
	first := regexp.MustCompile(`class="update-text">([^<]*)<`).FindStringSubmatch(art)
	if first == nil || first[1] != "We found a faulty deploy &lt;script&gt;alert(1)&lt;/script&gt; and are rolling it back." {
		t.Errorf("first update-text = %q, want the latest update, escaped", first)
	}
	if !strings.Contains(art, `<strong class="update-status">Investigating</strong> <time datetime="2025-03-10T10:40:00Z">2025-03-10 10:40 UTC</time>`) {
		t.Errorf("older update lacks its status and UTC time:\n%s", art)
	}
}

func TestResolvedIncidentsShowTheirDatesAndDurationCollapsed(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{resolvedOneHour()}})
	html := string(s.HTML)
	for _, want := range []string{
		`<details class="resolved-incident" id="incident-INC-5" data-id="INC-5">`,
		`2025-03-08 12:00 – 13:00 UTC`,
		`<span class="duration">1 h</span>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(html, `class="incident card`) {
		t.Error("a resolved incident is listed as active")
	}
}

func TestResolvedIncidentsOlderThan90DaysAreNotListed(t *testing.T) {
	old := resolvedOneHour()
	old.ID, old.Name = "INC-1", "Ancient outage"
	old.StartedAt = now.AddDate(0, 0, -100)
	old.ImpactFrom = old.StartedAt
	old.ResolvedAt = ptr(old.StartedAt.Add(time.Hour))
	old.ImpactTo = old.ResolvedAt
	old.Updates[0].ID, old.Updates[0].At = "INC-1-resolved", *old.ResolvedAt
	old.Updates[1].ID = "INC-1-1"
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{resolvedOneHour(), old}})
	for name, b := range map[string][]byte{"html": s.HTML, "json": s.JSON, "atom": s.Atom} {
		if strings.Contains(string(b), "Ancient outage") || strings.Contains(string(b), "INC-1-") {
			t.Errorf("%s lists an incident resolved 100 days ago", name)
		}
	}
	if !strings.Contains(string(s.HTML), "Slow dashboard") {
		t.Error("the recent resolved incident is missing")
	}
}

func TestTheAvailabilityBarHas90DaysPerServiceAndARightUptime(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{activeCritical(), resolvedOneHour()}})
	html := string(s.HTML)
	services := regexp.MustCompile(`(?s)<div class="service" data-service="([^"]*)">(.*?)<div class="bar-legend">`).FindAllStringSubmatch(html, -1)
	if len(services) != 2 || services[0][1] != "Payments" || services[1][1] != "Service" {
		t.Fatalf("services = %d, want Payments and Service (the unnamed one)", len(services))
	}
	for _, svc := range services {
		if n := strings.Count(svc[2], `<span class="day `); n != 90 {
			t.Errorf("%s has %d day cells, want 90", svc[1], n)
		}
	}
	// 1 h in 90 days: 1 - 1/2160 = 99.9537 %.
	if !strings.Contains(services[1][2], `<span class="uptime-percent">99.954%</span>`) {
		t.Errorf("Service uptime is not 99.954%%:\n%s", services[1][2][:300])
	}
	// 90 min of an open critical incident: 1 - 1.5/2160 = 99.9306 %.
	if !strings.Contains(services[0][2], `<span class="uptime-percent">99.931%</span>`) {
		t.Errorf("Payments uptime is not 99.931%%")
	}
	cells := regexp.MustCompile(`<span class="day day-(\w+)" title="([^"]*)">`).FindAllStringSubmatch(services[1][2], -1)
	if got := cells[87]; got[1] != "major" || !strings.HasPrefix(got[2], "2025-03-08: Partial outage") || !strings.Contains(got[2], "Slow dashboard") {
		t.Errorf("the day of the outage is %q %q", got[1], got[2])
	}
	if got := cells[88]; got[1] != "none" || got[2] != "2025-03-09: no incidents" {
		t.Errorf("the day after is %q %q", got[1], got[2])
	}
	if got := cells[0]; got[2] != "2024-12-11: no incidents" {
		t.Errorf("the first cell is %q, want 89 days before today", got[2])
	}
}

func TestStatusJSONHasTheDocumentedShape(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{activeCritical(), resolvedOneHour()}})
	var top map[string]json.RawMessage
	if err := json.Unmarshal(s.JSON, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "page", "status", "incidents", "services"} {
		if _, ok := top[k]; !ok {
			t.Errorf("status.json lacks %q", k)
		}
	}
	if len(top) != 5 {
		t.Errorf("status.json has %d top-level keys, want 5", len(top))
	}
	var doc struct {
		SchemaVersion int `json:"schema_version"`
		Page          struct {
			Title     string `json:"title"`
			UpdatedAt string `json:"updated_at"`
		} `json:"page"`
		Status    struct{ Indicator, Description string } `json:"status"`
		Incidents []map[string]any                        `json:"incidents"`
		Services  []struct {
			Name   string  `json:"name"`
			Uptime float64 `json:"uptime_90d_percent"`
			Days   []struct{ Date, Impact string }
		} `json:"services"`
	}
	if err := json.Unmarshal(s.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != 1 || doc.Page.Title != "Acme status" || doc.Page.UpdatedAt != "2025-03-10T12:00:00Z" {
		t.Errorf("schema/page = %d %+v", doc.SchemaVersion, doc.Page)
	}
	if doc.Status.Indicator != "critical" || doc.Status.Description != "Major outage" {
		t.Errorf("status = %+v", doc.Status)
	}
	if len(doc.Incidents) != 2 {
		t.Fatalf("%d incidents", len(doc.Incidents))
	}
	act := doc.Incidents[0]
	if act["id"] != "INC-7" || act["resolved_at"] != nil || act["impact_to"] != nil || act["status"] != "identified" || act["started_at"] != "2025-03-10T10:30:00Z" {
		t.Errorf("active incident = %v", act)
	}
	for _, k := range []string{"id", "name", "service", "severity", "impact", "status", "started_at", "resolved_at", "updated_at", "impact_from", "impact_to", "updates"} {
		if _, ok := act[k]; !ok {
			t.Errorf("incident lacks %q", k)
		}
	}
	if len(doc.Services) != 2 || doc.Services[1].Name != "Service" || doc.Services[1].Uptime != 99.954 || len(doc.Services[1].Days) != 90 {
		t.Errorf("services = %+v", doc.Services)
	}
	if d := doc.Services[1].Days[87]; d.Date != "2025-03-08" || d.Impact != "major" {
		t.Errorf("day 87 = %+v", d)
	}
}

type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Author struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Content struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func parseAtom(t *testing.T, b []byte) atomFeed {
	t.Helper()
	var f atomFeed
	if err := xml.Unmarshal(b, &f); err != nil {
		t.Fatalf("status.atom does not parse: %v\n%s", err, b)
	}
	return f
}

func TestTheAtomFeedHasOneEntryPerUpdateWithStableIDs(t *testing.T) {
	incs := []incidentbot.PublicIncident{activeCritical(), resolvedOneHour()}
	a := parseAtom(t, render(t, statuspage.SiteInput{Incidents: incs, BaseURL: "https://status.example.com/"}).Atom)
	b := parseAtom(t, render(t, statuspage.SiteInput{Incidents: incs, Now: now.Add(7 * time.Hour), BaseURL: "https://status.example.com/"}).Atom)
	if a.ID != "https://status.example.com/status.atom" || a.Title != "Acme status" || a.Author.Name == "" || a.Updated != "2025-03-10T11:50:00Z" {
		t.Errorf("feed = %q %q %q %q", a.ID, a.Title, a.Author.Name, a.Updated)
	}
	if len(a.Links) < 1 || a.Links[0].Rel != "self" || a.Links[0].Href != "https://status.example.com/status.atom" {
		t.Errorf("feed links = %+v", a.Links)
	}
	if len(a.Entries) != 4 || len(b.Entries) != 4 {
		t.Fatalf("entries = %d and %d, want 4", len(a.Entries), len(b.Entries))
	}
	for i := range a.Entries {
		if a.Entries[i].ID != b.Entries[i].ID {
			t.Errorf("entry %d id changed between renders: %q → %q", i, a.Entries[i].ID, b.Entries[i].ID)
		}
	}
	e := a.Entries[0]
	if e.ID != "tag:incidentbot,2025-03-10:INC-7-4" || e.Title != "Checkout errors for <some> customers & partners: Identified" ||
		e.Updated != "2025-03-10T11:50:00Z" || e.Content.Type != "text" || !strings.HasPrefix(e.Content.Text, "We found a faulty deploy <script>") {
		t.Errorf("newest entry = %+v", e)
	}
	if a.Entries[3].ID != "tag:incidentbot,2025-03-08:INC-5-1" {
		t.Errorf("oldest entry = %q", a.Entries[3].ID)
	}
}

func TestTheAtomFeedKeepsTheNewest100Updates(t *testing.T) {
	inc := activeCritical()
	inc.Updates = nil
	for i := range 150 {
		inc.Updates = append(inc.Updates, incidentbot.PublicUpdate{ID: "INC-7-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), At: now.Add(-time.Duration(i) * time.Minute), Status: incidentbot.StatusInvestigating, Text: "update"})
	}
	f := parseAtom(t, render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{inc}}).Atom)
	if len(f.Entries) != 100 || f.Entries[0].Updated != "2025-03-10T12:00:00Z" || f.Entries[99].Updated != "2025-03-10T10:21:00Z" {
		t.Fatalf("entries = %d, first %s, last %s", len(f.Entries), f.Entries[0].Updated, f.Entries[len(f.Entries)-1].Updated)
	}
}

func TestDirWritesAllThreeFilesAndLeavesNoTemporaryOnes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site", "public")
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{activeCritical()}})
	d := statuspage.Dir{Path: dir}
	for range 2 {
		if err := d.WriteSite(s); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "index.html,status.atom,status.json" {
		t.Fatalf("directory holds %v", names)
	}
	for name, want := range map[string][]byte{"index.html": s.HTML, "status.json": s.JSON, "status.atom": s.Atom} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs from the render (%v)", name, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode = %v, want world-readable 0644", name, fi.Mode().Perm())
		}
	}
}

// hostile carries NUL, ESC, a C1 control and bidi overrides in every text
// a public incident has.
func hostile() incidentbot.PublicIncident {
	pi := activeCritical()
	pi.Name = "Check\x00out \x1b[31mdown\u202e gnp.exe"
	pi.Service = "Pay\u2066ments\u2069\u0085"
	pi.Updates[0].Text = "Rolling back\x00 the \u202adeploy\u202c\x1b]0;title\a."
	return pi
}

func TestControlAndBidiCharactersReachNoPageJSONOrFeed(t *testing.T) {
	s := render(t, statuspage.SiteInput{Incidents: []incidentbot.PublicIncident{hostile()}})
	for name, b := range map[string][]byte{"index.html": s.HTML, "status.json": s.JSON, "status.atom": s.Atom} {
		for _, r := range string(b) {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Errorf("%s carries %U", name, r)
			}
		}
		if !strings.Contains(string(b), "Checkout [31mdown gnp.exe") {
			t.Errorf("%s lacks the cleaned name", name)
		}
	}
	var f struct{}
	if err := xml.Unmarshal(s.Atom, &f); err != nil {
		t.Errorf("the feed is not well-formed XML: %v", err)
	}
}
