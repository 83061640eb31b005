package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	incidentbot "github.com/incidentbot/incidentbot"
)

// DefaultBaseURL is Statuspage's REST API.
const DefaultBaseURL = "https://api.statuspage.io/v1"

// DefaultMinInterval is the spacing Statuspage asks for: 1 request per
// second per API key.
const DefaultMinInterval = time.Second

// Client publishes public incidents to an Atlassian Statuspage page
// (https://developer.statuspage.io/). Errors are *incidentbot.Error:
// ETRANSIENT for 429 (and Statuspage's older 420, with RetryAfter from the
// Retry-After header), 5xx, timeouts and transport failures; EREJECTED,
// with Statuspage's error message, for any other 4xx. The API key is sent
// only in the Authorization header and never appears in an error.
//
// Requests are spaced at least MinInterval apart, measured from the end of
// one to the start of the next, and never overlap: a Client waits (until
// its context is done) rather than fail. Use one Client per API key.
type Client struct {
	// MinInterval is the least time between two requests (default 1 s).
	// Set it before the first Publish.
	MinInterval time.Duration

	apiKey, pageID, base string
	hc                   *http.Client

	slot chan struct{} // held during a request and its spacing
	last time.Time     // when the previous request ended; guarded by slot
}

// NewClient returns a client for one page. baseURL is Statuspage's API
// root ("" means DefaultBaseURL; a fake's URL in tests). hc may be nil: a
// client with a 10 s timeout is used.
func NewClient(apiKey, pageID, baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	return &Client{
		MinInterval: DefaultMinInterval,
		apiKey:      apiKey, pageID: pageID, base: strings.TrimRight(baseURL, "/"), hc: hc,
		slot: make(chan struct{}, 1),
	}
}

// incidentBody is Statuspage's incident create/update document.
type incidentBody struct {
	Incident incidentFields `json:"incident"`
}

// incidentFields is the incident sent. Body is left out when empty: an
// update that changes fields only, with no incident update posted.
type incidentFields struct {
	Name                 string    `json:"name"`
	Status               string    `json:"status"`
	ImpactOverride       string    `json:"impact_override"`
	Body                 string    `json:"body,omitempty"`
	DeliverNotifications bool      `json:"deliver_notifications"`
	Metadata             *metadata `json:"metadata,omitempty"`
}

// metadata marks the incidents the bot creates (Statuspage's incident
// metadata, which its public page does not show): {"incidentbot": {"id":
// "INC-3"}}. A create whose answer was lost is found again by it.
type metadata struct {
	IncidentBot struct {
		ID string `json:"id"`
	} `json:"incidentbot"`
}

// remoteIncident is what is read of an incident Statuspage answers.
// Metadata is kept raw: other tools' metadata, in any shape, must not make
// the answer unreadable.
type remoteIncident struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Status         string          `json:"status"`
	Impact         string          `json:"impact"`
	ImpactOverride *string         `json:"impact_override"`
	Metadata       json.RawMessage `json:"metadata"`
	Updates        []struct {
		Body      string `json:"body"`
		CreatedAt string `json:"created_at"`
	} `json:"incident_updates"`
}

// ours reports whether the incident carries the bot's mark for incident id.
func (r *remoteIncident) ours(id string) bool {
	var m metadata
	return len(r.Metadata) > 0 && json.Unmarshal(r.Metadata, &m) == nil && m.IncidentBot.ID == id
}

func (r *remoteIncident) impact() string {
	if r.ImpactOverride != nil && *r.ImpactOverride != "" {
		return *r.ImpactOverride
	}
	return r.Impact
}

// latestBody is the text of the incident's newest update that has one.
func (r *remoteIncident) latestBody() string {
	var body string
	var at time.Time
	for _, u := range r.Updates {
		if u.Body == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, u.CreatedAt)
		if body == "" || (err == nil && t.After(at)) {
			body, at = u.Body, t
		}
	}
	return body
}

// neutralBody is the update text sent when an incident has no published
// update yet.
func neutralBody(s incidentbot.Status) string {
	switch s {
	case incidentbot.StatusIdentified:
		return "The issue has been identified and a fix is being worked on."
	case incidentbot.StatusMonitoring:
		return "A fix has been put in place and we are monitoring the results."
	case incidentbot.StatusResolved:
		return "This incident has been resolved."
	}
	return "We are investigating this issue."
}

// Publish creates the incident on Statuspage (ref "") or updates it, and
// returns the ref to keep: "<Statuspage id>#<sum>", where sum is a short
// hash of the latest update sent (its id and text). The incident's name,
// status and impact are always sent. Its latest published update (or, with
// none written for its current status, a neutral text for it) is posted as an incident update,
// with subscribers notified, only when it is not the one last sent: a
// change of impact or name alone is a PATCH without a body and with
// deliver_notifications false. A plain "<Statuspage id>" ref (from before
// refs carried the sum) still works: the incident is read once to compare
// its latest update.
//
// With ref "", the page's unresolved incidents (and, for a resolved
// incident, its 100 most recent ones) are first searched for one the bot
// created for pi.ID (its metadata says so): a create that took effect but
// whose answer was lost is then updated, not made again. A first publish
// is thus two requests at least (1 s apart).
func (c *Client) Publish(ctx context.Context, pi incidentbot.PublicIncident, ref string) (string, error) {
	w := wantedState(&pi)
	if ref == "" {
		found, err := c.findOurs(ctx, pi.ID, w.fields.Status == string(incidentbot.StatusResolved))
		if err != nil {
			return "", err
		}
		if found == nil {
			return c.create(ctx, pi.ID, w)
		}
		return c.update(ctx, found.ID, found, found.latestBody() == w.body, w)
	}
	id, sums, _ := strings.Cut(ref, "#")
	sum, fieldsSum, _ := strings.Cut(sums, "#")
	if sum == "" {
		cur, err := c.get(ctx, id)
		if err != nil {
			return "", err
		}
		return c.update(ctx, id, cur, cur.latestBody() == w.body, w)
	}
	if sum == w.sum && fieldsSum == w.fieldsSum {
		// Statuspage shows this already: the same request is not sent again.
		return ref, nil
	}
	return c.update(ctx, id, nil, sum == w.sum, w)
}

// wanted is the state Publish sends.
type wanted struct {
	fields incidentFields // name, status and impact
	body   string         // the latest update's text, or a neutral one
	sum    string         // short hash of the latest update, kept in the ref
	// fieldsSum is a short hash of the fields, kept in the ref too: a
	// publication that changes neither sends nothing.
	fieldsSum string
}

func wantedState(pi *incidentbot.PublicIncident) wanted {
	status := incidentbot.PublicStatus(pi.Status)
	w := wanted{
		fields: incidentFields{Name: incidentbot.CleanLine(pi.Name), Status: string(status), ImpactOverride: impactOf(pi)},
		body:   neutralBody(status),
	}
	if w.fields.Name == "" {
		w.fields.Name = pi.ID
	}
	var updateID string
	// The latest update stands for the incident while it was written for
	// the status the incident still has; a status change with nothing new
	// said (resolved in PagerDuty) is told with the neutral text, notified.
	if latest, ok := latestUpdate(pi.Updates); ok && strings.TrimSpace(latest.Text) != "" &&
		(latest.Status == "" || incidentbot.PublicStatus(latest.Status) == status) {
		w.body, updateID = incidentbot.CleanText(latest.Text), latest.ID
	}
	h := sha256.Sum256([]byte(updateID + "\n" + w.body))
	w.sum = hex.EncodeToString(h[:6])
	h = sha256.Sum256([]byte(w.fields.Name + "\n" + w.fields.Status + "\n" + w.fields.ImpactOverride))
	w.fieldsSum = hex.EncodeToString(h[:6])
	return w
}

func (c *Client) incidentsPath() string { return "/pages/" + url.PathEscape(c.pageID) + "/incidents" }

// create posts a new incident, marked as the bot's for incident id, with
// the update as its first incident update, notified.
func (c *Client) create(ctx context.Context, id string, w wanted) (string, error) {
	f := w.fields
	f.Body, f.DeliverNotifications = w.body, true
	f.Metadata = &metadata{}
	f.Metadata.IncidentBot.ID = id
	body, err := encode(f)
	if err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "create incident", http.MethodPost, c.incidentsPath(), body, &created); err != nil {
		return "", err
	}
	if created.ID == "" {
		return "", &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "statuspage: create incident: the answer has no incident id"}
	}
	return created.ID + "#" + w.sum + "#" + w.fieldsSum, nil
}

// update patches incident id to w: with the update posted and notified
// unless sameUpdate, else the fields alone, not notified. cur, when known,
// is the incident as Statuspage has it: nothing is sent when it already
// shows w.
func (c *Client) update(ctx context.Context, id string, cur *remoteIncident, sameUpdate bool, w wanted) (string, error) {
	ref := id + "#" + w.sum + "#" + w.fieldsSum
	f := w.fields
	if !sameUpdate {
		f.Body, f.DeliverNotifications = w.body, true
	} else if cur != nil && cur.Name == f.Name && cur.Status == f.Status && cur.impact() == f.ImpactOverride {
		return ref, nil
	}
	body, err := encode(f)
	if err != nil {
		return "", err
	}
	if err := c.do(ctx, "update incident", http.MethodPatch, c.incidentsPath()+"/"+url.PathEscape(id), body, nil); err != nil {
		return "", err
	}
	return ref, nil
}

// get reads incident id.
func (c *Client) get(ctx context.Context, id string) (*remoteIncident, error) {
	var inc remoteIncident
	if err := c.do(ctx, "get incident", http.MethodGet, c.incidentsPath()+"/"+url.PathEscape(id), nil, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

func encode(f incidentFields) ([]byte, error) {
	body, err := json.Marshal(incidentBody{Incident: f})
	if err != nil {
		return nil, &incidentbot.Error{Code: incidentbot.EINTERNAL, Message: "statuspage: encode incident", Err: err}
	}
	return body, nil
}

// listPages bounds the unresolved incidents read: 10 pages of 100.
const listPages = 10

// findOurs is the incident the bot created for incident id, from the
// page's unresolved incidents and, when resolved is set, its 100 most
// recent ones (a resolved incident is not among the unresolved); nil when
// there is none.
func (c *Client) findOurs(ctx context.Context, id string, resolved bool) (*remoteIncident, error) {
	base := c.incidentsPath()
	for page := 1; page <= listPages; page++ {
		var list []remoteIncident
		if err := c.do(ctx, "list unresolved incidents", http.MethodGet, base+"/unresolved?per_page=100&page="+strconv.Itoa(page), nil, &list); err != nil {
			return nil, err
		}
		for i := range list {
			if list[i].ours(id) {
				return &list[i], nil
			}
		}
		if len(list) < 100 {
			break
		}
	}
	if !resolved {
		return nil, nil
	}
	var list []remoteIncident
	if err := c.do(ctx, "list incidents", http.MethodGet, base+"?per_page=100&page=1", nil, &list); err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ours(id) {
			return &list[i], nil
		}
	}
	return nil, nil
}

func latestUpdate(us []incidentbot.PublicUpdate) (incidentbot.PublicUpdate, bool) {
	if len(us) == 0 {
		return incidentbot.PublicUpdate{}, false
	}
	best := us[0]
	for _, u := range us[1:] {
		if u.At.After(best.At) {
			best = u
		}
	}
	return best, true
}

// acquire takes the request slot and waits out the spacing since the
// previous request.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if c.last.IsZero() {
		return nil
	}
	wait := time.Until(c.last.Add(c.MinInterval))
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		<-c.slot
		return ctx.Err()
	}
}

func (c *Client) release() {
	c.last = time.Now()
	<-c.slot
}

// do sends one request and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, out any) error {
	if err := c.acquire(ctx); err != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "statuspage: " + op + ": " + err.Error(), Err: err}
	}
	defer c.release()

	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "statuspage: " + op + ": bad request URL"}
	}
	req.Header.Set("Authorization", "OAuth "+c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: "statuspage: " + op + ": unreadable answer"}
			}
		}
		return nil
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == 420:
		return &incidentbot.Error{
			Code:       incidentbot.ETRANSIENT,
			Message:    fmt.Sprintf("statuspage: %s: rate limited (%d)", op, res.StatusCode),
			RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now()),
		}
	case res.StatusCode >= 500 || res.StatusCode == http.StatusRequestTimeout:
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: c.redact(fmt.Sprintf("statuspage: %s: Statuspage answered %d%s", op, res.StatusCode, errorText(data)))}
	}
	return &incidentbot.Error{Code: incidentbot.EREJECTED, Message: c.redact(fmt.Sprintf("statuspage: %s: Statuspage answered %d%s", op, res.StatusCode, errorText(data)))}
}

// transportError classifies a failed round trip. Its cause is kept only
// when it cannot carry the key (the URL has the page id, never the key).
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: "statuspage: " + op + ": " + ctx.Err().Error(), Err: ctx.Err()}
	}
	msg := "statuspage: " + op + ": request failed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "statuspage: " + op + ": timed out"
	}
	return &incidentbot.Error{Code: incidentbot.ETRANSIENT, Message: msg, Err: redactedError{c.redact(err.Error()), err}}
}

// redactedError is a cause whose text went through redact.
type redactedError struct {
	text  string
	cause error
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.cause }

func (c *Client) redact(s string) string {
	if c.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "[redacted]")
}

// errorText is Statuspage's error message from an answer's body: {"error":
// "..."} or {"error": ["...", ...]} (validation errors), else {"message":
// "..."}; "" when there is none.
func errorText(data []byte) string {
	var doc struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return ""
	}
	var msg string
	var list []string
	switch {
	case json.Unmarshal(doc.Error, &msg) == nil && msg != "":
	case json.Unmarshal(doc.Error, &list) == nil && len(list) > 0:
		msg = strings.Join(list, "; ")
	default:
		msg = doc.Message
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); with
// none, it is the 1 s Statuspage's limit implies.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return DefaultMinInterval
}
