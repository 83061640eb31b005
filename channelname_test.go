package incidentbot

import (
	"strings"
	"testing"
)

func TestChannelName(t *testing.T) {
	tests := []struct {
		prefix, title string
		n, suffix     int
		want          string
	}{
		{"inc", "Database down!", 12, 0, "inc-12-database-down"},
		{"inc", "API 5xx > 10% (eu-west-1)", 3, 0, "inc-3-api-5xx-10-eu-west-1"},
		{"inc", "Ünïcödé  and   spaces", 1, 0, "inc-1-n-c-d-and-spaces"},
		{"inc", "!!!", 7, 0, "inc-7"},
		{"inc", "snake_case_title", 7, 2, "inc-7-snake_case_title-2"},
		{"", "x", 1, 0, "inc-1-x"},
	}
	for _, tt := range tests {
		if got := ChannelName(tt.prefix, tt.n, tt.title, tt.suffix); got != tt.want {
			t.Errorf("ChannelName(%q, %d, %q, %d) = %q, want %q", tt.prefix, tt.n, tt.title, tt.suffix, got, tt.want)
		}
	}
}

func TestChannelName_ObeysSlackRules(t *testing.T) {
	long := strings.Repeat("very long title word ", 20)
	for _, suffix := range []int{0, 2, 19} {
		name := ChannelName("incident", 123456, long, suffix)
		if len(name) > 80 {
			t.Errorf("len = %d > 80: %q", len(name), name)
		}
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" || strings.HasSuffix(strings.TrimSuffix(name, "-19"), "-") {
			t.Errorf("bad characters or trailing dash: %q", name)
		}
	}
	if got := suffixed(strings.Repeat("a", 80), 12); len(got) != 80 || !strings.HasSuffix(got, "-12") {
		t.Errorf("suffixed = %q", got)
	}
}

func TestSeverityFromPagerDuty(t *testing.T) {
	tests := []struct {
		priority, urgency string
		want              Severity
	}{
		{"P1", "low", Sev1}, {"P2", "high", Sev2}, {"P3", "high", Sev3}, {"P4", "high", Sev4},
		{"P5", "high", Sev4}, {"", "high", Sev2}, {"", "low", Sev3}, {"", "", Sev3}, {"Custom", "high", Sev2},
	}
	for _, tt := range tests {
		if got := SeverityFromPagerDuty(tt.priority, tt.urgency); got != tt.want {
			t.Errorf("SeverityFromPagerDuty(%q, %q) = %s, want %s", tt.priority, tt.urgency, got, tt.want)
		}
	}
}

func TestEscapeMrkdwn(t *testing.T) {
	if got, want := EscapeMrkdwn("a < b & c > <@U1>"), "a &lt; b &amp; c &gt; &lt;@U1&gt;"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
