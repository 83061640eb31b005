// Package webhook holds what the trackers' webhook handlers
// (internal/github, internal/jira) share: reading a bounded body, and
// their one-field JSON answers.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
