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
		"#incidents (thread)",
		"| Time to acknowledge | 1 min 30 s |",
		"| Time to resolve | 26 min |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q", want)
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
