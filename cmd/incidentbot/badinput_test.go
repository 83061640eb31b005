package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Slow clients are cut off by the server's timeouts; header floods get 431;
// meanwhile the bot keeps serving.
func TestBadInput_SlowClientsAndHeaderFloods(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.m.URL(), "http://")

	// A client that never finishes its headers.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("POST /webhooks/pagerduty HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// The bot still answers others meanwhile.
	res, err := http.Get(h.m.URL() + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz during a slow client: %v", err)
	}
	res.Body.Close()
	if err := slow.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(slow)
	if err != nil || time.Since(start) > 4*time.Second {
		t.Errorf("the slow client was not cut off by ReadHeaderTimeout: %v after %v", err, time.Since(start))
	}

	// A header flood.
	flood, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	var b strings.Builder
	b.WriteString("POST /webhooks/pagerduty HTTP/1.1\r\nHost: x\r\n")
	for i := range 3000 {
		b.WriteString("X-Flood-")
		b.WriteString(strings.Repeat("a", 10))
		b.WriteString(": ")
		b.WriteString(strings.Repeat("b", 40))
		b.WriteString(string(rune('0' + i%10)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if err := flood.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server stops reading once the headers are too large and may close
	// the connection before the write ends: its error is expected.
	go func() { _, _ = flood.Write([]byte(b.String())) }()
	resp, err := http.ReadResponse(bufio.NewReader(flood), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header flood answered %d, want 431", resp.StatusCode)
	}
	// Still serving, and still taking pages.
	h.deliver("W-after", h.incidentEvent("incident.triggered", t0, h.incident("PAFTER")))
	_ = context.Background
}
