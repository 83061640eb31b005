package export_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/export"
)

func TestDir_Export_WritesBothFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "postmortems")
	d := export.Dir{Path: dir}
	where, err := d.Export(context.Background(), "2025-10-14-INC-1", incidentbot.PostmortemFiles{Markdown: []byte("# md"), JSON: []byte("{}"), HTML: []byte("<!DOCTYPE html>")})
	if err != nil {
		t.Fatal(err)
	}
	if where != filepath.Join(dir, "2025-10-14-INC-1.md") {
		t.Errorf("where = %s", where)
	}
	for name, want := range map[string]string{"2025-10-14-INC-1.md": "# md", "2025-10-14-INC-1.json": "{}", "2025-10-14-INC-1.html": "<!DOCTYPE html>"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	// Rewriting replaces, leaving no temporary files behind.
	if _, err := d.Export(context.Background(), "2025-10-14-INC-1", incidentbot.PostmortemFiles{Markdown: []byte("# md v2"), JSON: []byte("{}"), HTML: []byte("<p>")}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("directory has %d entries, want 3", len(entries))
	}
}

func TestDir_Export_RefusesEscapingNames(t *testing.T) {
	d := export.Dir{Path: t.TempDir()}
	for _, name := range []string{"../evil", "a/b", "..", ".hidden", "", "x\x00y", "/etc/passwd"} {
		if _, err := d.Export(context.Background(), name, incidentbot.PostmortemFiles{}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}
