package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// apiReference is the part of Slack's and PagerDuty's published API
// references the bot's calls must conform to, extracted into
// testdata/api-reference.json by testdata/extract-api-reference.py (its
// "sources" name the specs' commits).
type apiReference struct {
	Slack map[string]struct {
		Params map[string]bool `json:"params"` // name → required
		Errors []string        `json:"errors"` // nil: the method lists none
	} `json:"slack"`
	PagerDuty map[string]struct {
		Query         map[string]bool `json:"query"`
		Headers       map[string]bool `json:"headers"`
		Body          map[string]bool `json:"body"`
		ErrorStatuses []string        `json:"error_statuses"`
	} `json:"pagerduty"`
}

var (
	referenceOnce sync.Once
	reference     apiReference
	referenceErr  error
)

func loadReference(t *testing.T) apiReference {
	t.Helper()
	referenceOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join("testdata", "api-reference.json"))
		if err == nil {
			err = json.Unmarshal(b, &reference)
		}
		referenceErr = err
	})
	if referenceErr != nil {
		t.Fatalf("testdata/api-reference.json: %v", referenceErr)
	}
	return reference
}

// Slack methods newer than the published OpenAPI file (2021): checked
// against Slack's method pages instead, by hand.
var slackUnlisted = map[string]string{
	"files.getUploadURLExternal":   "2024 upload flow: filename, length, snippet_type, alt_txt",
	"files.completeUploadExternal": "2024 upload flow: files, channel_id, initial_comment, thread_ts",
}

// Headers the bot sends that the PagerDuty reference does not list for an
// operation, with why.
var pagerDutyExtraHeaders = map[string]string{
	"POST /incidents/{id}/responder_requests": "From: go-pagerduty sends the requester's e-mail, as PagerDuty's earlier references asked",
}

// checkAPIReference checks every call the test made to the fakes against
// the published references: the Slack method and PagerDuty operation
// exist, every parameter (query, form, JSON body key) is one the reference
// lists for it, the required ones are there, and every error the fakes
// answered (other than injected faults) is one the reference lists.
func (h *harness) checkAPIReference() {
	t := h.t
	t.Helper()
	ref := loadReference(t)
	seen := map[string]bool{}
	report := func(format string, args ...any) {
		t.Helper()
		if msg := fmt.Sprintf(format, args...); !seen[msg] {
			seen[msg] = true
			t.Error(msg)
		}
	}
	for _, c := range h.slack.Calls() {
		m, ok := ref.Slack[c.Method]
		if !ok {
			if _, ok := slackUnlisted[c.Method]; !ok {
				report("Slack method %s is not in the published reference", c.Method)
			}
			continue
		}
		for name := range c.Params {
			if _, ok := m.Params[name]; !ok {
				report("Slack %s: parameter %q is not in the reference", c.Method, name)
			}
		}
		for name, required := range m.Params {
			if required && c.Params.Get(name) == "" {
				report("Slack %s: required parameter %q missing", c.Method, name)
			}
		}
		if c.Error != "" && !c.Injected && m.Errors != nil && !slices.Contains(m.Errors, c.Error) && c.Error != "ratelimited" {
			report("slackfake answered %s with %q, an error its reference does not list", c.Method, c.Error)
		}
	}
	for _, c := range h.pd.Calls() {
		key := c.Method + " " + pagerDutyTemplate(ref, c.Method, c.Path)
		op, ok := ref.PagerDuty[key]
		if !ok {
			report("PagerDuty %s %s is not in the published reference", c.Method, c.Path)
			continue
		}
		for name := range c.Query {
			if _, ok := op.Query[name]; !ok {
				report("PagerDuty %s: query parameter %q is not in the reference", key, name)
			}
		}
		if op.Headers["From"] && c.From == "" {
			report("PagerDuty %s: the From header the reference requires is missing", key)
		}
		if _, listed := op.Headers["From"]; !listed && c.From != "" && pagerDutyExtraHeaders[key] == "" {
			report("PagerDuty %s: a From header the reference does not list", key)
		}
		if len(c.Body) > 0 {
			var body map[string]json.RawMessage
			if err := json.Unmarshal(c.Body, &body); err != nil || op.Body == nil {
				report("PagerDuty %s: a body %q the reference has no object for", key, c.Body)
			}
			for name := range body {
				if _, ok := op.Body[name]; !ok {
					report("PagerDuty %s: body field %q is not in the reference", key, name)
				}
			}
			for name, required := range op.Body {
				if _, ok := body[name]; required && !ok {
					report("PagerDuty %s: required body field %q missing", key, name)
				}
			}
		}
		if c.Status >= 400 && !c.Injected && c.Status != http.StatusTooManyRequests && !slices.Contains(op.ErrorStatuses, itoa3(c.Status)) {
			report("pagerfake answered %s with %d, a status its reference does not list", key, c.Status)
		}
	}
}

// pagerDutyTemplate finds the reference's path template a path matches
// ("/incidents/PABC/notes" is "/incidents/{id}/notes"), or the path.
func pagerDutyTemplate(ref apiReference, method, path string) string {
	parts := strings.Split(path, "/")
	for key := range ref.PagerDuty {
		m, tmpl, _ := strings.Cut(key, " ")
		tp := strings.Split(tmpl, "/")
		if m != method || len(tp) != len(parts) {
			continue
		}
		match := true
		for i := range tp {
			if tp[i] != parts[i] && !(strings.HasPrefix(tp[i], "{") && parts[i] != "") {
				match = false
				break
			}
		}
		if match {
			return tmpl
		}
	}
	return path
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
