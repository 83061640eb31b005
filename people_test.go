package incidentbot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	incidentbot "github.com/incidentbot/incidentbot"
)

func directory() *incidentbot.People {
	d := &incidentbot.People{}
	at := time.Date(2025, 10, 14, 3, 0, 0, 0, time.UTC)
	d.Put(
		incidentbot.Profile{ID: "USARAH", Name: "Sarah <Kim> & co", Email: "sarah@example.com", CheckedAt: at},
		incidentbot.Profile{ID: "PSARAH", Name: "S. Kim", Email: "sarah@example.com", SlackID: "USARAH", CheckedAt: at},
		incidentbot.Profile{ID: "PCAROL", Name: "Carol Davis", Email: "carol@elsewhere.example", CheckedAt: at},
		incidentbot.Profile{ID: "UGONE", Missing: true, CheckedAt: at},
	)
	return d
}

// A PagerDuty user with a Slack account is that Slack user under the Slack
// profile's name; one without keeps PagerDuty's name; an unknown or
// missing user keeps what the record carries.
func TestPeople_Resolve_OnePersonOneName(t *testing.T) {
	d := directory()
	for _, tc := range []struct{ in, want incidentbot.Person }{
		{incidentbot.Person{ID: "PSARAH", Name: "S. Kim"}, incidentbot.Person{ID: "USARAH", Name: "Sarah <Kim> & co"}},
		{incidentbot.Person{ID: "USARAH", Name: "sarah.k"}, incidentbot.Person{ID: "USARAH", Name: "Sarah <Kim> & co"}},
		{incidentbot.Person{ID: "PCAROL"}, incidentbot.Person{ID: "PCAROL", Name: "Carol Davis"}},
		{incidentbot.Person{ID: "UGONE"}, incidentbot.Person{ID: "UGONE"}},
		{incidentbot.Person{ID: "UNEW", Name: "as written"}, incidentbot.Person{ID: "UNEW", Name: "as written"}},
		{incidentbot.Person{Name: "PagerDuty"}, incidentbot.Person{Name: "PagerDuty"}},
	} {
		if got := d.Resolve(tc.in); got != tc.want {
			t.Errorf("Resolve(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if got := d.PagerDutyIDOf("USARAH"); got != "PSARAH" {
		t.Errorf("PagerDutyIDOf(USARAH) = %q, want PSARAH", got)
	}
	if got := d.PagerDutyIDOf("UNEW"); got != "" {
		t.Errorf("PagerDutyIDOf(UNEW) = %q, want none", got)
	}
	var none *incidentbot.People
	if got := none.Resolve(incidentbot.Person{ID: "PSARAH", Name: "S. Kim"}); got.Name != "S. Kim" {
		t.Errorf("a nil directory changed the person: %+v", got)
	}
}

// References in the bot's texts read as the directory's names when shown:
// escaped for mrkdwn (the name written with a reference was escaped with
// its text), plain for the API and the postmortem.
func TestPeople_Text_ResolvesReferences(t *testing.T) {
	d := directory()
	text := "Acknowledged by " + incidentbot.Ref(incidentbot.Person{ID: "PSARAH", Name: "S. Kim"}) +
		" and " + incidentbot.Ref(incidentbot.Person{ID: "UNEW", Name: "Dana <D>"}) + " and " + incidentbot.Ref(incidentbot.Person{ID: "UGONE"})
	if got, want := d.Text(text), "Acknowledged by Sarah <Kim> & co and Dana <D> and UGONE"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got, want := d.Mrkdwn(incidentbot.EscapeMrkdwn(text)), "Acknowledged by Sarah &lt;Kim&gt; &amp; co and Dana &lt;D&gt; and UGONE"; got != want {
		t.Errorf("Mrkdwn = %q, want %q", got, want)
	}
	if got := incidentbot.Ref(incidentbot.Person{Name: "PagerDuty"}); got != "PagerDuty" {
		t.Errorf("Ref of a person without an ID = %q", got)
	}
}

func FuzzPeople_Text(f *testing.F) {
	f.Add("Acknowledged by \ufdd0USARAH\ufdd1sarah\ufdd2.")
	f.Add("\ufdd0\ufdd0U1\ufdd1\ufdd2\ufdd2 \ufdd1")
	f.Add("plain text")
	d := directory()
	f.Fuzz(func(t *testing.T, s string) {
		for _, got := range []string{d.Mrkdwn(s), d.Text(s)} {
			if strings.ContainsAny(got, "\ufdd0\ufdd1\ufdd2") {
				t.Fatalf("a reference delimiter is left: %q → %q", s, got)
			}
			if utf8.ValidString(s) && !utf8.ValidString(got) {
				t.Fatalf("valid text became invalid UTF-8: %q → %q", s, got)
			}
		}
	})
}

// Naming through the directory when a timeline is read: its cost follows
// the entries read, not the number of people the directory knows.
func BenchmarkPeople_ResolveEntries(b *testing.B) {
	at := time.Date(2025, 10, 14, 3, 0, 0, 0, time.UTC)
	for _, people := range []int{100, 10000} {
		d := &incidentbot.People{}
		for i := range people {
			d.Put(incidentbot.Profile{ID: fmt.Sprintf("U%06d", i), Name: fmt.Sprintf("Person %d", i), CheckedAt: at},
				incidentbot.Profile{ID: fmt.Sprintf("P%06d", i), Name: "PD", SlackID: fmt.Sprintf("U%06d", i), CheckedAt: at})
		}
		for _, entries := range []int{100, 1000} {
			tl := make([]incidentbot.Entry, entries)
			for i := range tl {
				p := incidentbot.Person{ID: fmt.Sprintf("P%06d", i%people)}
				tl[i] = incidentbot.Entry{Seq: uint64(i + 1), At: at, Kind: incidentbot.EntryAcknowledged, Actor: p, Text: "Acknowledged by " + incidentbot.Ref(p)}
			}
			b.Run(fmt.Sprintf("people=%d/entries=%d", people, entries), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if out := d.ResolveEntries(tl); out[0].Actor.Name != "Person 0" {
						b.Fatal(out[0])
					}
				}
			})
		}
	}
}
