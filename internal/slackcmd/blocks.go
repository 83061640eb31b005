package slackcmd

import (
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
		var text *slack.TextBlockObject
		if msg.Body != "" {
			text = slack.NewTextBlockObject(slack.MarkdownType, truncate(msg.Body, 3000), false, false)
		}
		blocks = append(blocks, slack.NewSectionBlock(text, fields, nil))
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

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
