package main

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/browsertest"
	"github.com/incidentbot/incidentbot/internal/statuspage/statuspagefake"
)

// statusHarness runs the server with Statuspage, a status directory and
// the default update cadence, at a flowing clock.
func statusHarness(t *testing.T) (*harness, *statuspagefake.Server, *flowingClock) {
	t.Helper()
	sp := statuspagefake.New("sp-key-secret", "PAGE1")
	t.Cleanup(sp.Close)
	clock := &flowingClock{}
	clock.Set(time.Now().UTC().Truncate(time.Minute))
	h := newHarnessWith(t, clock)
	h.cfg.StatuspageAPIKey, h.cfg.StatuspagePageID, h.cfg.StatuspageAPIURL = "sp-key-secret", "PAGE1", sp.URL()
	h.cfg.StatusDir = filepath.Join(t.TempDir(), "status")
	h.cfg.UpdateCadence = DefaultConfig().UpdateCadence
	h.cadenceEvery = 20 * time.Millisecond
	h.restart()
	return h, sp, clock
}

func TestStatus_PublicIncidentsOnlyUnderTheirPublicName(t *testing.T) {
	h, sp, _ := statusHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	h.command("UALICE", general.ID, "declare db-7 disk full on primary sev3")
	h.command("UALICE", general.ID, "declare minor glitch sev3")
	h.waitIdle()
	ch := h.timeline("INC-1").ChannelID
	h.command("UALICE", ch, "public Checkout errors")
	h.command("UALICE", ch, "note internal: db-7.prod.acme.internal at 100% disk")
	h.command("UALICE", ch, "severity sev1")
	h.command("UALICE", ch, "status identified We found the cause and are fixing it")
	h.waitIdle()

	incs := sp.Incidents()
	if len(incs) != 1 {
		t.Fatalf("Statuspage has %d incidents, want 1 (the sev3 one is not public)", len(incs))
	}
	if got := incs[0]; got.Name != "Checkout errors" || got.Status != "identified" || got.Impact != "critical" {
		t.Errorf("Statuspage incident = %+v", got)
	}
	if sp.RateLimited() != 0 {
		t.Errorf("Statuspage answered 429 %d times: the client must stay under 1 request/s", sp.RateLimited())
	}
	for _, f := range []string{"index.html", "status.json", "status.atom"} {
		b, err := os.ReadFile(filepath.Join(h.cfg.StatusDir, f))
		if err != nil {
			t.Fatalf("status dir: %v", err)
		}
		checkPublic(t, f, string(b))
	}
	for _, path := range []string{"/status", "/status.json", "/status.atom"} {
		body := string(mustJSON(t, h.m.URL()+path))
		checkPublic(t, path, body)
		if path == "/status.atom" {
			var feed struct {
				Entries []struct {
					ID string `xml:"id"`
				} `xml:"entry"`
			}
			if err := xml.Unmarshal([]byte(body), &feed); err != nil || len(feed.Entries) == 0 {
				t.Errorf("Atom feed: %v, %d entries", err, len(feed.Entries))
			}
		}
	}
}

func checkPublic(t *testing.T, where, body string) {
	t.Helper()
	if !strings.Contains(body, "Checkout errors") || !strings.Contains(body, "We found the cause") {
		t.Errorf("%s lacks the public name or the published update", where)
	}
	for _, secret := range []string{"db-7", "minor glitch", "100% disk", "sp-key-secret"} {
		if strings.Contains(body, secret) {
			t.Errorf("%s shows %q, which is not public", where, secret)
		}
	}
}

// A real browser loads the page from the running server.
func TestStatus_PageInARealBrowser(t *testing.T) {
	bin := browsertest.Require(t)
	h, _, _ := statusHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	h.command("UALICE", general.ID, "declare Checkout API errors sev1")
	h.waitIdle()
	ch := h.timeline("INC-1").ChannelID
	h.command("UALICE", ch, "status identified A faulty deploy is being rolled back")
	h.waitIdle()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dom, err := browsertest.DumpDOM(ctx, bin, h.m.URL()+"/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Service status</title>", "Major outage", "Checkout API errors", "Identified", "A faulty deploy is being rolled back"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	if err := browsertest.Screenshot(ctx, bin, h.m.URL()+"/status", shot, 1200, 1000); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Errorf("screenshot: %v", err)
	}
}

// The update clock runs out: a nudge in the channel, a holding update
// everywhere, a cadence_missed entry.
func TestStatus_CadenceMissed_HoldingUpdatePublished(t *testing.T) {
	h, sp, clock := statusHarness(t)
	general := h.slack.CreateChannelDirect("general", "UHUMAN", false)
	h.command("UALICE", general.ID, "declare Payments failing sev1")
	h.waitIdle()
	ch := h.timeline("INC-1").ChannelID
	clock.Set(clock.Now().Add(16 * time.Minute))
	waitFor(t, "the holding update", func() bool {
		for _, e := range h.timeline("INC-1").Timeline {
			if e.Kind == string(incidentbot.EntryCadenceMissed) {
				return true
			}
		}
		return false
	})
	h.waitIdle()
	var nudge, holding bool
	for _, m := range h.slack.Messages(ch) {
		nudge = nudge || strings.Contains(m.Text, "<@UALICE> a status update for INC-1 was due")
		holding = holding || strings.Contains(m.Text, "still working on this issue")
	}
	if !nudge || !holding {
		t.Errorf("nudge %v, holding update %v in the channel", nudge, holding)
	}
	if incs := sp.Incidents(); len(incs) != 1 || len(incs[0].Updates) < 2 || !strings.Contains(incs[0].Updates[len(incs[0].Updates)-1].Body, "Next update by") {
		t.Errorf("Statuspage = %+v, want the holding update", incs)
	}
	tl := h.timeline("INC-1")
	if n := strings.Count(strings.Join(kinds(tl), " "), "cadence_missed"); n != 1 {
		t.Errorf("%d cadence_missed entries, want 1", n)
	}
}
