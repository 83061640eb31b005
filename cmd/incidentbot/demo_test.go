package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemo_PlaysAnIncidentAndWritesThePostmortem(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if code := demoCmd([]string{"-dir", dir}, &out, &out); code != 0 {
		t.Fatalf("demo exited %d:\n%s", code, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"incident.triggered → HTTP 202",
		"#inc-1-checkout-api-error-rate-above-5",
		"[Acknowledge] [Post update] [Resolve]",
		"(pinned the message above)",
		// The kickoff kept true in place, its buttons following the state.
		"(updated in place): INC-1: Checkout API error rate above 5% · Severity SEV2 · Status acknowledged",
		"Commander Alice Chen · Assignees Alice Chen · PagerDuty #1187 Checkout API error rate above 5% · Conference bridge Join",
		"Acknowledged by Alice Chen, the first to acknowledge: now the commander",
		// The stakeholder thread.
		"#incidents (thread + channel)            incidentbot: ⏫ INC-1 escalated SEV2 → SEV1",
		"#incidents (thread)                      incidentbot: 🧑‍🚒 INC-1 commander: Bob Martinez (was Alice Chen)",
		"#incidents (thread + channel)            incidentbot: ✅ INC-1 resolved after 26 min: Rolled back to v2.30. Postmortem draft.",
		// The new subcommands.
		"Alice Chen paged Bob Martinez through PagerDuty: can you look at checkout v2.31?",
		"Alice Chen paged the escalation policy “Payments on-call” through PagerDuty (Cara Osei)",
		"(only to you, later): Nobody was paged: PagerDuty has no escalation policy “paymnets”. The closest: “Payments on-call”",
		"#inc-1-checkout-tax-requests-failing-after-v2-31",
		"Alice Chen handed command to Bob Martinez",
		"There is no subcommand “frobnicate”",
		"#inc-2-suspected-leaked-api-key (private)",
		"| Time to acknowledge | 1 min 30 s |",
		"| Time to resolve | 26 min |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	// One name per person; quiet commands; no kickoff buttons once resolved.
	for _, never := range []string{"bob.m", "A. Chen", "Noted on", "└ incidentbot (only to you): Update published"} {
		if strings.Contains(s, never) {
			t.Errorf("transcript shows %q", never)
		}
	}
	if i := strings.Index(s, "Status resolved"); i < 0 || strings.Contains(s[i:strings.Index(s[i:], "\n")+i], "[Resolve]") {
		t.Error("the resolved kickoff still has buttons (or is missing)")
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "#incidents") && strings.Contains(line, "INC-2") {
			t.Errorf("the private incident reached #incidents: %s", line)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "postmortems", "*-INC-1.md"))
	if err != nil || len(files) != 1 {
		t.Fatalf("postmortem files = %v, %v", files, err)
	}
	md, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "v2.31 built tax requests without the region field") {
		t.Error("the draft lacks the recorded root cause")
	}
}
