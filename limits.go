package incidentbot

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxIDLength is the longest identifier accepted from PagerDuty or Slack
// (a webhook ID, an event ID, an incident or channel ID). Real ones are
// under 64 bytes; the bound keeps dedupe keys and index keys well inside
// what any store takes, so an oversized one is refused as malformed (400)
// instead of failing to record (503, and retries for two days).
const MaxIDLength = 256

// MaxClockSkew is how far in the future an event's own time may be: an
// event stamped later than this is recorded at its arrival, and its entry
// says so.
const MaxClockSkew = 5 * time.Minute

// CheckID returns an EINVALID error when an identifier is longer than
// MaxIDLength or holds control characters; what names it in the message.
func CheckID(what, id string) error {
	if len(id) > MaxIDLength {
		return Errorf(EINVALID, "%s is %d bytes long; identifiers are at most %d", what, len(id), MaxIDLength)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(id) {
		return Errorf(EINVALID, "%s holds control characters or invalid UTF-8", what)
	}
	return nil
}

// Clip returns s as a log line or an error may quote it: at most 64
// characters, with the full length said when it was cut.
func Clip(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	cut := s[:most]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s… (%d bytes)", cut, len(s))
}
