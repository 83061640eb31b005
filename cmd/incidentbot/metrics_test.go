package main

import (
	"net/http/httptest"
	"testing"
)

func TestAPIMethod(t *testing.T) {
	tests := []struct{ system, method, url, want string }{
		{"slack", "POST", "http://x/api/chat.postMessage", "chat.postMessage"},
		{"slack", "POST", "http://x/response/abc123", "response"},
		{"pagerduty", "POST", "http://x/incidents/PABC123/notes", "POST /incidents/{id}/notes"},
		{"pagerduty", "GET", "http://x/users/PXYZ", "GET /users/{id}"},
		{"pagerduty", "PUT", "http://x/incidents", "PUT /incidents"},
		{"statuspage", "PATCH", "http://x/v1/pages/p31zjtct2jer/incidents/k4zzxv9", "PATCH /v1/pages/{id}/incidents/{id}"},
	}
	for _, tt := range tests {
		if got := apiMethod(tt.system, httptest.NewRequest(tt.method, tt.url, nil)); got != tt.want {
			t.Errorf("apiMethod(%s %s) = %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
}
