package incidentbot

import "strings"

// Severity is an incident's severity, "sev1" (worst) to "sev4". It is
// persisted as this string, never as a number.
type Severity string

// The severities.
const (
	Sev1 Severity = "sev1"
	Sev2 Severity = "sev2"
	Sev3 Severity = "sev3"
	Sev4 Severity = "sev4"
)

// Severities lists the severities, worst first.
var Severities = []Severity{Sev1, Sev2, Sev3, Sev4}

// ParseSeverity reads "sev1".."sev4" (any case, "SEV-1" too) and reports
// whether s was one.
func ParseSeverity(s string) (Severity, bool) {
	v := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "")
	for _, sev := range Severities {
		if v == string(sev) {
			return sev, true
		}
	}
	return "", false
}

// SeverityFromPagerDuty maps a PagerDuty priority name and urgency to a
// severity: P1→sev1, P2→sev2, P3→sev3, P4 and P5→sev4; with no (or an
// unknown) priority, urgency high→sev2 and anything else→sev3.
func SeverityFromPagerDuty(priority, urgency string) Severity {
	switch strings.ToUpper(strings.TrimSpace(priority)) {
	case "P1":
		return Sev1
	case "P2":
		return Sev2
	case "P3":
		return Sev3
	case "P4", "P5":
		return Sev4
	}
	if strings.EqualFold(urgency, "high") {
		return Sev2
	}
	return Sev3
}
