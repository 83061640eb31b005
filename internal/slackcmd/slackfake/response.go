package slackfake

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits of a response URL, as Slack documents them.
const (
	// ResponseURLMaxUses is how many messages a response URL accepts.
	ResponseURLMaxUses = 5
	// ResponseURLTTL is how long a response URL accepts messages, by the
	// server's clock.
	ResponseURLTTL = 30 * time.Minute
)

const responsePath = "/response/"

// Response is a message an app posted to a response URL.
type Response struct {
	// URL is the response URL, as NewResponseURL returned it.
	URL string
	// Body is the JSON the app posted (for a form post, its payload field).
	Body string
	// Text is the message text.
	Text string
	// ResponseType is "ephemeral" or "in_channel"; "ephemeral" when the app
	// left it out, as Slack treats it.
	ResponseType string
	// ReplaceOriginal reports whether the app asked to replace the message
	// the response URL belongs to.
	ReplaceOriginal bool
	// DeleteOriginal reports whether the app asked to delete that message.
	DeleteOriginal bool
	// Blocks is the raw JSON array of blocks, "" when none.
	Blocks string
	// At is when the message was accepted, by the server's clock.
	At time.Time
}

type responseURL struct {
	url    string
	issued time.Time
	uses   int
}

// NewResponseURL issues a response URL, as Slack sends with a slash command
// or an interaction: "http://127.0.0.1:PORT/response/<random>", served by
// this server. Like Slack's, it accepts ResponseURLMaxUses JSON messages
// within ResponseURLTTL; a later POST is answered 404 "used_url" (or
// "expired_url"), a POST to a URL never issued 404 "invalid_url".
func (s *Server) NewResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := randomHex(16)
	u := s.rootURL + responsePath + token
	if s.respURLs == nil {
		s.respURLs = map[string]*responseURL{}
	}
	s.respURLs[token] = &responseURL{url: u, issued: s.now()}
	return u
}

// Responses returns the messages accepted at the response URL u, oldest
// first.
func (s *Server) Responses(u string) []Response {
	token := responseToken(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Response
	for _, r := range s.responses {
		if responseToken(r.URL) == token {
			out = append(out, r)
		}
	}
	return out
}

// AllResponses returns the messages accepted at every response URL, oldest
// first.
func (s *Server) AllResponses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses...)
}

func responseToken(u string) string {
	if parsed, err := url.Parse(u); err == nil {
		u = parsed.Path
	}
	if i := strings.LastIndex(u, responsePath); i >= 0 {
		return u[i+len(responsePath):]
	}
	return u
}

// serveResponse answers a POST to a response URL like Slack: plain-text
// "ok", or an error name with a 4xx status.
func (s *Server) serveResponse(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		plain(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	status, answer := s.acceptResponse(strings.TrimPrefix(r.URL.Path, responsePath), body, r.Header.Get("Content-Type"))
	plain(w, status, answer)
}

// acceptResponse records a message posted to the response URL of token and
// returns the HTTP status and body to answer.
func (s *Server) acceptResponse(token string, body []byte, contentType string) (int, string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ru := s.respURLs[token]
	switch {
	case ru == nil:
		return http.StatusNotFound, "invalid_url"
	case now.Sub(ru.issued) >= ResponseURLTTL:
		return http.StatusNotFound, "expired_url"
	case ru.uses >= ResponseURLMaxUses:
		return http.StatusNotFound, "used_url"
	}
	resp, code := parseResponse(body, contentType)
	if code != "" {
		return http.StatusBadRequest, code
	}
	ru.uses++
	resp.URL, resp.At = ru.url, now
	s.responses = append(s.responses, resp)
	return http.StatusOK, "ok"
}

// parseResponse reads a response message, or names why Slack would refuse it.
func parseResponse(body []byte, contentType string) (Response, string) {
	body = bytes.TrimSpace(body)
	if ct, _, _ := mime.ParseMediaType(contentType); ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return Response{}, "invalid_payload"
		}
		body = []byte(strings.TrimSpace(form.Get("payload")))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return Response{}, "invalid_payload"
	}
	resp := Response{Body: string(body), ResponseType: "ephemeral"}
	for name, dst := range map[string]*string{"text": &resp.Text, "response_type": &resp.ResponseType} {
		if raw, present := fields[name]; present && string(raw) != "null" {
			if json.Unmarshal(raw, dst) != nil {
				return Response{}, "invalid_payload"
			}
		}
	}
	if resp.ResponseType == "" {
		resp.ResponseType = "ephemeral"
	}
	resp.ReplaceOriginal = jsonTrue(fields["replace_original"])
	resp.DeleteOriginal = jsonTrue(fields["delete_original"])
	blocks, atts := rawArray(fields["blocks"]), rawArray(fields["attachments"])
	switch code := contentError(resp.Text, blocks, atts); {
	case code != "":
		return Response{}, code
	case resp.Text == "" && isEmptyJSONArray(blocks) && isEmptyJSONArray(atts) && !resp.DeleteOriginal:
		return Response{}, "no_text"
	}
	resp.Blocks = nonEmpty(blocks)
	return resp, ""
}

// jsonTrue accepts true and "true", as Slack does.
func jsonTrue(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "true" || s == `"true"`
}

// rawArray returns the compact JSON of a field, "" when absent or null.
func rawArray(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
