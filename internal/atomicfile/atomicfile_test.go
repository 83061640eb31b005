package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentbot/incidentbot/internal/atomicfile"
)

func TestWrite_ReplacesWithPermissionsAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "new" {
		t.Errorf("content = %q, want new", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only status.json", len(entries))
	}
}

func TestWrite_MissingDirectory_FailsAndNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.md")
	err := atomicfile.Write(path, []byte("x"), 0o640)
	if err == nil {
		t.Fatal("no error for a missing directory")
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("the file exists after a failed write: %v", statErr)
	}
}
