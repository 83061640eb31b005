// Package webhook holds what the trackers' webhook handlers
// (internal/github, internal/jira) share: reading a bounded body, refusing
// a bad signature, checking the delivery ID, and their one-field JSON
// answers.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	incidentbot "github.com/incidentbot/incidentbot"
)

// ReadBody reads r's body, at most limit bytes. When it cannot, it has
// answered (413 over the limit, 400 otherwise) and returns false.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		WriteJSON(w, http.StatusRequestEntityTooLarge, "error", fmt.Sprintf("body over %d bytes", limit))
	} else {
		WriteJSON(w, http.StatusBadRequest, "error", "could not read body")
	}
	return nil, false
}

// WriteJSON answers {key: value} with status.
func WriteJSON(w http.ResponseWriter, status int, key, value string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{key: value})
	_, _ = w.Write(append(b, '\n'))
}

// Signer names what signs a tracker's deliveries, for the refusal of a bad
// signature: the service (in capitals in the log, which operators grep),
// the setting of the secret, the header, and what a missing header likely
// means.
type Signer struct {
	Service, Setting, Header, MissingHint string
}

// RefuseSignature logs a delivery refused for its signature (sig is the
// header as sent) and answers 401.
func RefuseSignature(w http.ResponseWriter, r *http.Request, log *slog.Logger, s Signer, sig, delivery string) {
	reason := "signature does not match " + s.Setting
	if sig == "" {
		reason = "no " + s.Header + " header (" + s.MissingHint + ")"
	}
	log.Error(s.Service+" WEBHOOK REFUSED: bad signature; check "+s.Setting+" and the webhook's secret", "reason", reason,
		"delivery", incidentbot.Clip(delivery), "remote", r.RemoteAddr)
	WriteJSON(w, http.StatusUnauthorized, "error", "invalid signature")
}

// DeliveryID reports whether a delivery's ID (from header) is usable as
// its dedupe key; when not, it has answered 400.
func DeliveryID(w http.ResponseWriter, id, header string) bool {
	if id == "" || len(id) > 100 {
		WriteJSON(w, http.StatusBadRequest, "error", "missing or oversized "+header)
		return false
	}
	return true
}
