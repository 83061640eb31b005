package jira

import (
	"strconv"
	"strings"

	incidentbot "github.com/incidentbot/incidentbot"
)

// Atlassian Document Format: Jira Cloud's v3 API takes rich text
// (description) as an ADF document, not a string
// (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
// A text node must not be empty; links are a "link" mark with an href.

// node is one ADF node.
type node = map[string]any

func doc(content ...node) node {
	return node{"version": 1, "type": "doc", "content": content}
}

func paragraph(content ...node) node {
	return node{"type": "paragraph", "content": content}
}

// text is a text node, nil for an empty text (ADF refuses those).
func text(s string, marks ...node) node {
	if s == "" {
		return nil
	}
	n := node{"type": "text", "text": s}
	if len(marks) > 0 {
		n["marks"] = marks
	}
	return n
}

func strong() node { return node{"type": "strong"} }

func link(href string) node { return node{"type": "link", "attrs": node{"href": href}} }

func bulletList(items ...node) node {
	list := node{"type": "bulletList"}
	var content []node
	for _, it := range items {
		content = append(content, node{"type": "listItem", "content": []node{it}})
	}
	list["content"] = content
	return list
}

// compact drops nil nodes (empty texts).
func compact(ns ...node) []node {
	out := ns[:0:0]
	for _, n := range ns {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

func para(ns ...node) node { return paragraph(compact(ns...)...) }

// Description is an action item's issue description: the item, its
// incident, channel and postmortem linked, the owner, due date and
// priority, what the project refused, and how done travels back.
func Description(it incidentbot.TrackerItem, unassigned string, dropped []string) node {
	var links []node
	for _, l := range it.Links {
		var t node
		if l.URL != "" {
			t = text(cleanOr(l.Text, l.URL), link(l.URL))
		} else {
			t = text(cleanOr(l.Text, "—"))
		}
		links = append(links, para(text(l.Label+": ", strong()), t))
	}
	owner := cleanOr(it.OwnerName, "nobody yet")
	if unassigned != "" {
		owner += " (unassigned: " + incidentbot.CleanLine(unassigned) + ")"
	}
	facts := []node{
		para(text("Owner: ", strong()), text(owner)),
		para(text("Priority: ", strong()), text(strings.ToUpper(cleanOr(it.Priority, "p2")))),
		para(text("Due: ", strong()), text(cleanOr(it.Due, "no due date"))),
	}
	content := []node{
		para(text("Action item "+strconv.Itoa(it.N)+" of "+it.IncidentID+": ", strong()), text(incidentbot.CleanLine(it.Text))),
		bulletList(append(links, facts...)...),
	}
	if len(dropped) > 0 {
		content = append(content, para(text("This project refused the "+strings.Join(dropped, ", ")+" the bot would have set; set them by hand.")))
	}
	content = append(content, para(text("Created by incidentbot from the incident's action items. Moving this issue to done marks the action item done in the incident (and reopening it reopens the item).")))
	return doc(content...)
}

func cleanOr(s, def string) string {
	if s = incidentbot.CleanLine(s); s != "" {
		return s
	}
	return def
}
