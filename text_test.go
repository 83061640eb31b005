package incidentbot

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, unchanged":                 "plain text, unchanged",
		"tab\tand\nnewline kept":                "tab\tand\nnewline kept",
		"nul\x00 esc\x1b[31m red":               "nul esc[31m red",
		"del\x7f and bell\a":                    "del and bell",
		"crlf\r\nline\rend":                     "crlf\nline\nend",
		"c1 \u0085next \u009bcsi":               "c1 next csi",
		"bidi \u202eevil\u202c \u2066iso\u2069": "bidi evil iso",
		"bad utf8 \xff\xfe":                     "bad utf8 \ufffd\ufffd",
		"emoji 📌 and accents é kept":            "emoji 📌 and accents é kept",
	} {
		if got := CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := CleanLine("  two\n lines\t\x00here  "); got != "two lines here" {
		t.Errorf("CleanLine = %q", got)
	}
}

// forbidden reports a character CleanText must have removed.
func forbidden(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || removedRune(r) || r == '\r' {
			return r, true
		}
	}
	return 0, false
}

func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "a\x00b", "\u202e\u2066x", "\r\n\r", "\xff", "é📌"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := CleanText(s)
		if !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q) = %q: invalid UTF-8", s, got)
		}
		if r, bad := forbidden(got); bad {
			t.Fatalf("CleanText(%q) = %q keeps %U", s, got, r)
		}
		if again := CleanText(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
		if l := CleanLine(s); strings.ContainsAny(l, "\n\t") {
			t.Fatalf("CleanLine(%q) = %q spans lines", s, l)
		}
	})
}

func TestPublicIncident_TextIsCleaned(t *testing.T) {
	inc := &Incident{ID: "INC-1", Title: "x\x00 <img src=x onerror=alert(2)>\u202e", Service: "API\x1b", Status: StatusIdentified}
	pi := publicIncident(inc, []Entry{{Seq: 2, Kind: EntryStatusUpdate, Text: "fix\u2066ing\x00", Status: StatusIdentified}})
	if pi.Name != "x <img src=x onerror=alert(2)>" || pi.Service != "API" || pi.Updates[0].Text != "fixing" {
		t.Errorf("public view: %q %q %q", pi.Name, pi.Service, pi.Updates[0].Text)
	}
}
