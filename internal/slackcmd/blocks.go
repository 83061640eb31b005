package slackcmd

import (
	"fmt"
	"strings"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/slack-go/slack"
)

// Blocks renders a domain message as Block Kit: a header, a mrkdwn body,
// up to ten fields, a context line and buttons, each only when present.
// https://api.slack.com/reference/block-kit/blocks
func Blocks(msg incidentbot.Message) []slack.Block {
	var blocks []slack.Block
	if msg.Header != "" {
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(msg.Header, 150), true, false)))
	}
	var fields []*slack.TextBlockObject
	for i, f := range msg.Fields {
		if i == 10 { // Slack's limit per section
			break
		}
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+f.Label+"*\n"+f.Value, false, false))
	}
	if msg.Body != "" || len(fields) > 0 {
		// A section holds at most 3000 characters: a longer body (a storm
		// digest) is split at line ends into several sections, not cut.
		chunks := splitLines(msg.Body, 3000, maxBodySections)
		var text *slack.TextBlockObject
		if len(chunks) > 0 {
			text = slack.NewTextBlockObject(slack.MarkdownType, chunks[0], false, false)
		}
		blocks = append(blocks, slack.NewSectionBlock(text, fields, nil))
		for i := 1; i < len(chunks); i++ {
			c := chunks[i]
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, c, false, false), nil, nil))
		}
	}
	if msg.Context != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, truncate(msg.Context, 3000), false, false)))
	}
	if len(msg.Actions) > 0 {
		var elems []slack.BlockElement
		for _, a := range msg.Actions {
			b := slack.NewButtonBlockElement(a.ID, a.Value, slack.NewTextBlockObject(slack.PlainTextType, a.Text, false, false))
			if a.Style != "" {
				b = b.WithStyle(slack.Style(a.Style))
			}
			if a.Confirm != "" {
				b = b.WithConfirm(slack.NewConfirmationBlockObject(
					slack.NewTextBlockObject(slack.PlainTextType, "Are you sure?", false, false),
					slack.NewTextBlockObject(slack.MarkdownType, a.Confirm, false, false),
					slack.NewTextBlockObject(slack.PlainTextType, a.Text, false, false),
					slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
				))
			}
			elems = append(elems, b)
		}
		blocks = append(blocks, slack.NewActionBlock("incident_actions", elems...))
	}
	return blocks
}

// maxBodySections keeps a message under Slack's 50 blocks.
const maxBodySections = 45

// splitLines cuts s into pieces of at most n runes at line ends (a longer
// line is cut), at most max pieces; a last piece says what was left out.
func splitLines(s string, n, max int) []string {
	if s == "" {
		return nil
	}
	var out []string
	var cur strings.Builder
	lines := strings.SplitAfter(s, "\n")
	for i, line := range lines {
		if len([]rune(line)) > n {
			line = truncate(line, n)
		}
		if cur.Len() > 0 && len([]rune(cur.String()))+len([]rune(line)) > n {
			out = append(out, cur.String())
			cur.Reset()
			if len(out) == max-1 {
				out = append(out, fmt.Sprintf("…and %d more lines", len(lines)-i))
				return out
			}
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
