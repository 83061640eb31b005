package incidentbot

import (
	"strconv"
	"strings"
)

// maxChannelName is Slack's limit on channel names.
const maxChannelName = 80

// ChannelName returns "<prefix>-<n>-<slug of title>" obeying Slack's rules
// for channel names: lowercase letters, digits, '-' and '_', at most 80
// characters. Runs of other characters become one '-'; the slug is cut at a
// word boundary when it can be. With suffix > 1 the name ends "-<suffix>"
// (used when the plain name is taken by a channel that is not ours).
func ChannelName(prefix string, n int, title string, suffix int) string {
	head := slug(prefix, maxChannelName)
	if head == "" {
		head = "inc"
	}
	head += "-" + strconv.Itoa(n)
	tail := ""
	if suffix > 1 {
		tail = "-" + strconv.Itoa(suffix)
	}
	room := maxChannelName - len(head) - len(tail) - 1
	if s := slug(title, room); s != "" {
		head += "-" + s
	}
	return head + tail
}

// slug lowercases s, keeps [a-z0-9_], turns runs of anything else into a
// single '-', trims '-' at the ends and cuts to at most max bytes.
func slug(s string, max int) string {
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > max {
		cut := out[:max]
		// Prefer ending at a word boundary when one is not too far back.
		if i := strings.LastIndexByte(cut, '-'); i > max/2 {
			cut = cut[:i]
		}
		out = strings.TrimRight(cut, "-")
	}
	return out
}
