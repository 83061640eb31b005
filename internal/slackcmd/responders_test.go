package slackcmd

import (
	"context"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Two groups: S1 answers, S2 always fails (a deleted group, a missing
// scope, a budget hold). A person removed from S1 must lose the right at
// the next refresh: only S2's last known members are kept; S2's own members keep their rights.
func TestResponders_RemovedFromAGroupThatAnswered_WhileAnotherFails(t *testing.T) {
	s1 := []string{"UALICE", "UMALLORY"}
	s2fails := false
	fetch := func(_ context.Context, g string) ([]string, error) {
		if g == "S2" {
			if s2fails {
				return nil, &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "no_such_subteam"}
			}
			return []string{"UBOB"}, nil
		}
		return s1, nil
	}
	r := NewResponders([]string{"S1", "S2"}, fetch, nil)
	r.Refresh(context.Background())
	if !r.Allowed("UMALLORY") {
		t.Fatal("setup: UMALLORY should be allowed while in S1")
	}
	s1 = []string{"UALICE"} // Mallory removed from S1
	s2fails = true
	for i := 0; i < 3; i++ {
		r.Refresh(context.Background())
	}
	if r.Allowed("UMALLORY") {
		t.Error("UMALLORY was removed from S1 (which answered) yet is still allowed: S2's failure kept every group's old members")
	}
	if !r.Allowed("UBOB") || !r.Allowed("UALICE") {
		t.Error("S2's last known member (UBOB) or S1's (UALICE) lost the right")
	}
}
