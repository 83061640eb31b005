package browsertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentbot/incidentbot/internal/browsertest"
)

func page(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>hello</title></head><body><p id="greeting">Hello &amp; welcome</p></body></html>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFindReturnsAnExecutableWhenItReportsOne(t *testing.T) {
	p, ok := browsertest.Find()
	if !ok {
		t.Skip("no chromium here")
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("Find() = %q, not an executable file (%v)", p, err)
	}
}

func TestDumpDOMReturnsThePageAsTheBrowserParsedIt(t *testing.T) {
	bin := browsertest.Require(t)
	srv := page(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := browsertest.DumpDOM(ctx, bin, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `<p id="greeting">Hello &amp; welcome</p>`) || !strings.Contains(dom, "<title>hello</title>") {
		t.Fatalf("DOM lacks the page:\n%s", dom)
	}
}

func TestScreenshotWritesAPNG(t *testing.T) {
	bin := browsertest.Require(t)
	srv := page(t)
	png := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := browsertest.Screenshot(ctx, bin, srv.URL, png, 400, 300); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n") {
		t.Fatalf("%s is not a PNG", png)
	}
}

func TestARunPastItsDeadlineIsKilledAndReported(t *testing.T) {
	bin := browsertest.Require(t)
	// A page that never finishes loading.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := browsertest.DumpDOM(ctx, bin, srv.URL)
	if err == nil {
		t.Fatal("DumpDOM of a page that never loads succeeded")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("DumpDOM returned after %v, long after its 3 s deadline", d)
	}
	srv.CloseClientConnections()
}
