// Package github is GitHub Issues for action items, through go-github
// (github.com/google/go-github/v75): an issue per action item in one
// repository, closed as completed when the item is done, and the bot's
// issues changed since a time read back (the list of a repository's
// issues, by label and since: consistent, unlike the search API).
// githubfake/ is a fake of the REST API's issues, labels and search, with
// its primary and secondary rate limits.
package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v75/github"
	incidentbot "github.com/incidentbot/incidentbot"
)

// DefaultAPIURL is GitHub's REST API (GITHUB_API_URL's default).
const DefaultAPIURL = "https://api.github.com"

// PriorityLabels maps an action item's priority to the label its issue
// carries (GitHub issues have no priority field).
var PriorityLabels = map[string]string{"p1": "priority: P1", "p2": "priority: P2", "p3": "priority: P3"}

// Client is one repository's issues. It implements incidentbot.Tracker.
// Errors are *incidentbot.Error: ETRANSIENT for rate limits (primary:
// RetryAfter until the reset; secondary: its Retry-After), 5xx, 429 and
// transport failures; EREJECTED for other 4xx (bad credentials, no
// permission, no such repository, issues disabled, validation). The token
// never appears in an error.
type Client struct {
	gh          *gh.Client
	owner, repo string
	token       string
}

// NewClient returns a client for repository ("owner/name") at apiURL (""
// means DefaultAPIURL; GitHub Enterprise Server's is
// https://HOST/api/v3), authenticated with token. hc may be nil.
func NewClient(token, repository, apiURL string, hc *http.Client) (*Client, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("GITHUB_REPOSITORY=%q: want owner/name", repository)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	c := gh.NewClient(hc).WithAuthToken(token)
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	base, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("GITHUB_API_URL=%q: want an http(s) URL", apiURL)
	}
	// Set as given: WithEnterpriseURLs would add /api/v3/ to any URL.
	c.BaseURL = base
	return &Client{gh: c, owner: owner, repo: repo, token: token}, nil
}

// Name is incidentbot.TrackerGitHub.
func (c *Client) Name() string { return incidentbot.TrackerGitHub }

// Key is the tracker key of an issue number: "#45".
func Key(number int) string { return "#" + strconv.Itoa(number) }

func number(key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(key, "#"))
	return n, err == nil && n > 0
}

// trackedIssue is what GitHub says of one of the bot's issues.
func trackedIssue(is *gh.Issue) incidentbot.TrackerIssue {
	out := incidentbot.TrackerIssue{Key: Key(is.GetNumber()), URL: is.GetHTMLURL(), Status: is.GetState(), Done: is.GetState() == "closed"}
	if is.GetStateReason() == "not_planned" {
		out.Status = "closed as not planned"
	}
	var labels []string
	for _, l := range is.Labels {
		labels = append(labels, l.GetName())
	}
	out.IncidentID, out.N, _ = incidentbot.ItemOfLabels(labels)
	out.UpdatedAt = is.GetUpdatedAt().UTC()
	return out
}

// maxPages bounds one listing: 20 pages of 100.
const maxPages = 20

// list returns the repository's issues (not pull requests) with all of
// labels, updated at or after since (zero: any), oldest update first.
func (c *Client) list(ctx context.Context, op string, labels []string, since time.Time) ([]*gh.Issue, error) {
	opts := &gh.IssueListByRepoOptions{State: "all", Labels: labels, Sort: "updated", Direction: "asc", Since: since, ListOptions: gh.ListOptions{PerPage: 100}}
	var all []*gh.Issue
	for range maxPages {
		page, res, err := c.gh.Issues.ListByRepo(ctx, c.owner, c.repo, opts)
		if err != nil {
			return nil, c.classify(ctx, op, err)
		}
		for _, is := range page {
			if !is.IsPullRequest() {
				all = append(all, is)
			}
		}
		if res.NextPage == 0 {
			break
		}
		opts.ListOptions.Page = res.NextPage
	}
	return all, nil
}

// Create makes the item's issue, unless an earlier attempt made it (found
// by the item's label). GitHub has no e-mail lookup: the owner is named
// in the body instead of assigned.
func (c *Client) Create(ctx context.Context, it incidentbot.TrackerItem) (incidentbot.TrackerIssue, error) {
	found, err := c.list(ctx, "find issue", []string{incidentbot.ItemLabel(it.IncidentID, it.N)}, time.Time{})
	if err != nil {
		return incidentbot.TrackerIssue{}, err
	}
	for _, is := range found {
		if t := trackedIssue(is); t.IncidentID == it.IncidentID && t.N == it.N {
			return t, nil
		}
	}
	labels := it.Labels()
	if l, ok := PriorityLabels[it.Priority]; ok {
		labels = append(labels, l)
	}
	title, body := it.Summary(), Body(it)
	is, _, err := c.gh.Issues.Create(ctx, c.owner, c.repo, &gh.IssueRequest{Title: &title, Body: &body, Labels: &labels})
	if err != nil {
		return incidentbot.TrackerIssue{}, c.classify(ctx, "create issue", err)
	}
	out := trackedIssue(is)
	out.IncidentID, out.N = it.IncidentID, it.N
	if it.OwnerName != "" {
		out.Unassigned = "GitHub has no e-mail lookup; the owner is named in the issue"
	}
	return out, nil
}

// Close closes an issue as completed; one closed already is left alone.
func (c *Client) Close(ctx context.Context, key string) (incidentbot.TrackerIssue, error) {
	n, ok := number(key)
	if !ok {
		return incidentbot.TrackerIssue{}, incidentbot.Errorf(incidentbot.EREJECTED, "github: %q is not an issue number", key)
	}
	is, _, err := c.gh.Issues.Get(ctx, c.owner, c.repo, n)
	if err != nil {
		return incidentbot.TrackerIssue{}, c.classify(ctx, "read issue", err)
	}
	if is.GetState() == "closed" {
		return trackedIssue(is), nil
	}
	state, reason := "closed", "completed"
	is, _, err = c.gh.Issues.Edit(ctx, c.owner, c.repo, n, &gh.IssueRequest{State: &state, StateReason: &reason})
	if err != nil {
		return incidentbot.TrackerIssue{}, c.classify(ctx, "close issue", err)
	}
	return trackedIssue(is), nil
}

// Changed returns the bot's issues (labelled incidentbot) updated at or
// after since, oldest first.
func (c *Client) Changed(ctx context.Context, since time.Time) ([]incidentbot.TrackerIssue, error) {
	found, err := c.list(ctx, "list changed issues", []string{incidentbot.TrackerLabel}, since)
	if err != nil {
		return nil, err
	}
	out := make([]incidentbot.TrackerIssue, 0, len(found))
	for _, is := range found {
		if t := trackedIssue(is); t.IncidentID != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// classify turns go-github's errors into the domain's.
func (c *Client) classify(ctx context.Context, op string, err error) error {
	prefix := "github: " + op + ": "
	if ctx.Err() != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: prefix + ctx.Err().Error(), Err: ctx.Err()}
	}
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	switch {
	case errors.As(err, &rl):
		wait := time.Until(rl.Rate.Reset.Time)
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: prefix + "GitHub's rate limit is used up until " + rl.Rate.Reset.UTC().Format(time.RFC3339), RetryAfter: max(wait, time.Second)}
	case errors.As(err, &abuse):
		wait := time.Minute // GitHub: wait at least a minute when no Retry-After comes
		if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
			wait = *abuse.RetryAfter
		}
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: prefix + "GitHub's secondary rate limit: " + c.redact(abuse.Message), RetryAfter: wait}
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		msg := fmt.Sprintf("%sGitHub answered %d: %s", prefix, code, c.redact(er.Message))
		for _, e := range er.Errors {
			msg += fmt.Sprintf("; %s %s %s", e.Resource, e.Field, e.Code)
		}
		switch {
		case code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
			return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: msg}
		case code == http.StatusUnauthorized:
			msg = prefix + "GitHub refused the token (401 Bad credentials): check GITHUB_TOKEN"
		case code == http.StatusNotFound:
			msg = fmt.Sprintf("%sGitHub answered 404: no repository %s/%s that the token can see (GITHUB_REPOSITORY, and the token's access)", prefix, c.owner, c.repo)
		case code == http.StatusGone:
			msg = fmt.Sprintf("%sissues are turned off in %s/%s (410)", prefix, c.owner, c.repo)
		}
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: msg}
	}
	text := prefix + "request failed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		text = prefix + "timed out"
	}
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: text, Err: errors.New(c.redact(err.Error()))}
}

func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// markdown escapes text for GitHub Flavored Markdown: no formatting, link,
// HTML or @mention from outside text.
func markdown(s string) string {
	s = incidentbot.CleanLine(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()<>#+-.!|~@:", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Body is an action item's issue body in Markdown: the item, the links to
// its incident, channel and postmortem, the owner (a mention by name:
// GitHub cannot find a user by e-mail), the due date and the priority.
func Body(it incidentbot.TrackerItem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Action item %d of %s:** %s\n\n", it.N, it.IncidentID, markdown(it.Text))
	for _, l := range it.Links {
		if u := l.URL; u != "" {
			fmt.Fprintf(&b, "- **%s:** [%s](<%s>)\n", l.Label, markdown(l.Text), strings.NewReplacer("<", "%3C", ">", "%3E").Replace(u))
		} else {
			fmt.Fprintf(&b, "- **%s:** %s\n", l.Label, markdown(l.Text))
		}
	}
	owner := "nobody yet"
	if it.OwnerName != "" {
		owner = markdown(it.OwnerName)
		if it.OwnerEmail != "" {
			owner += " (" + markdown(it.OwnerEmail) + ")"
		}
	}
	fmt.Fprintf(&b, "- **Owner:** %s\n", owner)
	due := "no due date"
	if it.Due != "" {
		due = markdown(it.Due)
	}
	fmt.Fprintf(&b, "- **Due:** %s\n- **Priority:** %s\n\n", due, strings.ToUpper(it.Priority))
	b.WriteString("_Created by incidentbot from the incident's action items. Closing this issue marks the action item done in the incident (and reopening it reopens the item)._\n")
	return b.String()
}
