// Package export writes postmortem drafts to a directory: atomically (a
// temporary file, fsync, rename), under names that cannot leave it.
package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Dir writes drafts into one directory. It implements incidentbot.Exporter.
type Dir struct {
	Path string
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$`)

// Export writes <name>.md and <name>.json and returns the Markdown file's
// path. A name that could leave the directory ("..", "/", anything but
// letters, digits, '.', '_' and '-') is refused.
func (d Dir) Export(_ context.Context, name string, markdown, jsonTwin []byte) (string, error) {
	if !safeName.MatchString(name) || name == "." || name == ".." {
		return "", fmt.Errorf("export: refusing file name %q", name)
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	md := filepath.Join(d.Path, name+".md")
	if err := WriteAtomic(md, markdown); err != nil {
		return "", err
	}
	if err := WriteAtomic(filepath.Join(d.Path, name+".json"), jsonTwin); err != nil {
		return "", err
	}
	return md, nil
}

// WriteAtomic replaces path with data so that readers see the old file or
// the new one, never a part: write a temporary file in the same directory,
// fsync it, rename it over path, fsync the directory.
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
