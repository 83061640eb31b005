package incidentbot

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostileSeeds are texts PagerDuty or Slack could carry that must not
// change a rendering's structure.
var hostileSeeds = []string{
	"x <img src=x onerror=alert(2)>",
	"nul\x00 esc\x1b[31m bidi\u202egnp.exe\u202c iso\u2066x\u2069 c1\u0085",
	"| a | b |", "a\\|b", "```", "~~~", "`code`", "[click](javascript:alert(1))", "![img](https://evil/x.png)",
	"- list", "1. list", "# heading", "> quote", "**bold** _it_", "\\<script>", "&lt;script&gt;alert(1)&lt;/script&gt;",
	"</td></tr></table><script>alert(1)</script>", "<br>", "line\nbreak\r\nand\rmore", "\"'><svg onload=alert(1)>",
	"https://x.example/a) [y](z", "<!-- comment -->", "]]>", "{{.P.Title}}", "javascript:alert(1)",
}

// hostileDraft puts hostile text everywhere a draft takes text from
// outside: titles, names, notes, updates, pins, links, channel names.
func hostileDraft(title, text, name, link string) *Postmortem {
	who := Person{ID: "U" + name, Name: name}
	inc := &Incident{
		ID: "INC-9", Number: 9, Title: title, Severity: Sev1, Status: StatusResolved, Service: name,
		PagerDuty:   &PagerLink{ID: text, URL: link, ServiceID: "P" + name},
		ChannelName: text, Roles: map[Role]Person{RoleCommander: who, RoleScribe: {Name: text}},
		OpenedAt: t0, ImpactStartedAt: tp(t0.Add(-time.Minute)), AcknowledgedAt: tp(t0.Add(time.Minute)), IdentifiedAt: tp(t0.Add(2 * time.Minute)),
		MitigatedAt: tp(t0.Add(3 * time.Minute)), ResolvedAt: tp(t0.Add(4 * time.Minute)), RootCause: text, Summary: text,
		DeclaredBy: &who, Actions: []ActionItem{{N: 1, Text: text, Owner: &Person{Name: name}, Priority: "p1", Status: "open"}},
	}
	tl := []Entry{
		{Seq: 1, At: t0, Kind: EntryPaged, Actor: Person{Name: "PagerDuty"}, Source: SourcePagerDuty, Text: "Paged: " + title},
		{Seq: 2, At: t0.Add(time.Minute), Kind: EntryAcknowledged, Actor: Person{ID: "P" + name, Name: name}, Source: SourcePagerDuty, Text: text},
		{Seq: 3, At: t0.Add(2 * time.Minute), Kind: EntryNote, Actor: who, Source: SourceSlack, Text: text, RecordedAt: tp(t0.Add(3 * time.Minute))},
		{Seq: 4, At: t0.Add(2 * time.Minute), Kind: EntryPinned, Actor: who, Source: SourceSlack, Text: text, Permalink: link},
		{Seq: 5, At: t0.Add(2 * time.Minute), Kind: EntryStatusUpdate, Status: StatusIdentified, Actor: who, Source: SourceSlack, Text: text},
		{Seq: 6, At: t0.Add(3 * time.Minute), Kind: EntryImpact, Actor: who, Source: SourceSlack, Text: text},
		{Seq: 7, At: t0.Add(3 * time.Minute), Kind: EntryPublicName, Actor: who, Source: SourceSlack, Text: "Public name: " + text},
		{Seq: 8, At: t0.Add(3 * time.Minute), Kind: EntryStatusUpdate, Status: StatusMonitoring, Actor: Person{Name: "incidentbot"}, Source: SourceBot, Text: text},
		{Seq: 9, At: t0.Add(3 * time.Minute), Kind: EntryRoleAssigned, Actor: who, Source: SourceSlack, Text: text, Role: RoleComms, Subject: &Person{ID: "U2", Name: text}},
		{Seq: 10, At: t0.Add(4 * time.Minute), Kind: EntryResolved, Actor: who, Source: SourceSlack, Text: "Resolved by " + name + ": " + text},
	}
	h := History{Known: true, Since: t0.Add(-HistoryWindow), Until: t0, Month: &MonthSum{Start: t0},
		Related: []Related{{ID: "INC-1", Title: CleanLine(title), RootCause: CleanLine(text), Date: "2025-01-01", Why: []string{"similar_title"}}}}
	return DraftPostmortem(DraftInput{Incident: inc, Timeline: tl, History: h, StakeholderChannel: text, Public: true, Now: t0.Add(time.Hour)})
}

// checkMarkdown fails unless md carries no control or bidi character and
// no markup from outside: outside code blocks, every unescaped '<' is one
// of the bot's own line breaks, every unescaped '[' one of its links, and
// every table row has its header's number of cells.
func checkMarkdown(t *testing.T, md string) {
	t.Helper()
	if r, bad := forbidden(md); bad {
		t.Fatalf("the Markdown carries %U", r)
	}
	fence := ""
	cols := -1
	for n, line := range strings.Split(md, "\n") {
		if fence != "" {
			if strings.HasPrefix(line, fence) && strings.Trim(line, "`") == "" {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(line, "```") {
			fence = line[:len(line)-len(strings.TrimLeft(line, "`"))]
			continue
		}
		pipes := 0
		for i := 0; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '<':
				if !strings.HasPrefix(line[i:], "<br>") {
					t.Fatalf("line %d: raw HTML %q in %q", n+1, line[i:min(len(line), i+20)], line)
				}
			case '[':
				if !strings.HasPrefix(line[i:], "[PagerDuty ") && !strings.HasPrefix(line[i:], "[message](") {
					t.Fatalf("line %d: a link from outside: %q", n+1, line)
				}
			case '|':
				pipes++
			case '`':
				// Only the bot's own code spans: commands and settings.
				j := strings.IndexByte(line[i+1:], '`')
				if j < 0 {
					t.Fatalf("line %d: an unclosed code span: %q", n+1, line)
				}
				if span := line[i+1 : i+1+j]; !strings.HasPrefix(span, "/incident ") && !strings.HasPrefix(span, "INCIDENTBOT_") {
					t.Fatalf("line %d: a code span from outside: %q", n+1, line)
				}
				i += j + 1
			}
		}
		switch {
		case strings.HasPrefix(line, "|") && cols < 0:
			cols = pipes
		case strings.HasPrefix(line, "|") && pipes != cols:
			t.Fatalf("line %d has %d cell boundaries, its table %d: %q", n+1, pipes, cols, line)
		case !strings.HasPrefix(line, "|"):
			cols = -1
		}
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# Postmortem: ") && !strings.HasPrefix(line, "## ") && !strings.HasPrefix(line, "### ") {
			t.Fatalf("line %d: a heading from outside: %q", n+1, line)
		}
	}
	if c := strings.Count(md, "\n## "); c != 14 {
		t.Fatalf("%d sections, want 14", c)
	}
}

var (
	tagRe     = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	onAttrRe  = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	hrefRe    = regexp.MustCompile(`href="([^"]*)"`)
	htmlTags  = map[string]bool{}
	htmlTagsS = "html head meta title style body h1 h2 h3 p em strong table thead tbody tr th td a ul ol li figure figcaption svg line text rect circle pre code"
)

func init() {
	for _, t := range strings.Fields(htmlTagsS) {
		htmlTags[t] = true
	}
}

// checkHTML fails unless html carries no control or bidi character, only
// the template's own tags, no event handler attributes, no links but
// http(s) ones, and its fixed number of sections.
func checkHTML(t *testing.T, html string) {
	t.Helper()
	if r, bad := forbidden(html); bad {
		t.Fatalf("the HTML carries %U", r)
	}
	for _, m := range tagRe.FindAllStringSubmatch(html, -1) {
		if !htmlTags[strings.ToLower(m[2])] {
			t.Fatalf("a tag from outside: %q", m[0])
		}
		if onAttrRe.MatchString(m[3]) {
			t.Fatalf("an event handler: %q", m[0])
		}
	}
	for _, m := range hrefRe.FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "https://") && !strings.HasPrefix(m[1], "http://") {
			t.Fatalf("a link that is not http(s): %q", m[0])
		}
	}
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Fatal("a script")
	}
	if c := strings.Count(html, "<h2>"); c != 14 {
		t.Fatalf("%d sections, want 14", c)
	}
}

// checkJSON fails unless every string in the JSON twin is clean.
func checkJSON(t *testing.T, p *Postmortem) {
	t.Helper()
	js, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if r, bad := forbidden(x); bad {
				t.Fatalf("the JSON carries %U in %q", r, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		}
	}
	walk(v)
}

func TestPostmortem_HostileText_ReachesNoExportRaw(t *testing.T) {
	for _, s := range hostileSeeds {
		p := hostileDraft(s, s, s, s)
		checkMarkdown(t, string(p.Markdown()))
		checkHTML(t, string(p.HTML()))
		checkJSON(t, p)
	}
	// The title: escaped in the Markdown, as text in the HTML.
	p := hostileDraft("x <img src=x onerror=alert(2)>", "note", "Ann", "https://x.slack.com/p1")
	if md := string(p.Markdown()); !strings.Contains(md, `# Postmortem: x \<img src=x onerror=alert(2)\>`) {
		t.Errorf("title line: %s", md[:strings.Index(md, "\n")])
	}
	if h := string(p.HTML()); !strings.Contains(h, "<h1>Postmortem: x &lt;img src=x onerror=alert(2)&gt;</h1>") {
		t.Error("the title is not escaped in the HTML")
	}
	// A link that could break out of Markdown or HTML is dropped.
	if p := hostileDraft("t", "n", "Ann", "javascript:alert(1)"); p.PagerDutyURL != "" || strings.Contains(string(p.HTML()), "javascript:") {
		t.Error("a javascript: link was kept")
	}
}

func FuzzPostmortemMarkdown(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s, s, "Ann", "https://x.slack.com/p1")
	}
	f.Fuzz(func(t *testing.T, title, text, name, link string) {
		p := hostileDraft(title, text, name, link)
		checkMarkdown(t, string(p.Markdown()))
		checkJSON(t, p)
	})
}

func FuzzPostmortemHTML(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s, s, "Ann", "https://x.slack.com/p1")
	}
	f.Fuzz(func(t *testing.T, title, text, name, link string) {
		checkHTML(t, string(hostileDraft(title, text, name, link).HTML()))
	})
}
