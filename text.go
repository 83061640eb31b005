package incidentbot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanText removes from text that came from outside (PagerDuty, Slack)
// what no export, page or feed should carry: control characters (C0
// except tab and newline, DEL, C1), the bidirectional embedding, override
// and isolate controls (U+202A–U+202E, U+2066–U+2069) that can make a
// line read differently from what it holds, Unicode noncharacters, and
// invalid UTF-8 (replaced by U+FFFD). A carriage return becomes a newline ("\r\n" one newline).
// Text that needs none of this is returned as it is, without copying.
//
// It is the one sanitizer: the postmortem (Markdown, JSON, HTML), the
// public view (status site, feed, Statuspage) all pass text through it
// before escaping it for their format.
func CleanText(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || removedRune(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\r':
				b.WriteByte('\n')
				if i+1 < len(s) && s[i+1] == '\n' {
					i++
				}
			case c < 0x20 && c != '\t' && c != '\n' || c == 0x7f:
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case removedRune(r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// removedRune reports the non-ASCII runes CleanText drops: C1 controls,
// the bidi embeddings, overrides and isolates, and the noncharacters
// U+FDD0–U+FDEF and U+xFFFE/U+xFFFF (not for interchange; the people
// directory's in-text references use three of them, which must never
// reach an export unresolved).
func removedRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
		r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe
}

// CleanLine is CleanText on one line: runs of white space, newlines
// included, become one space, trimmed at both ends.
func CleanLine(s string) string {
	s = CleanText(s)
	if !strings.Contains(s, "  ") && !hasOtherSpace(s) && strings.TrimSpace(s) == s {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// hasOtherSpace reports a white-space rune other than the ASCII space
// (tab, newline, no-break space, ...: strings.Fields splits on them).
func hasOtherSpace(s string) bool {
	for _, r := range s {
		if r != ' ' && unicode.IsSpace(r) {
			return true
		}
	}
	return false
}
