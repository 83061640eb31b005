// Package export writes postmortem drafts to a directory: atomically (a
// temporary file, fsync, rename), under names that cannot leave it.
package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/incidentbot/incidentbot/internal/atomicfile"
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
	if err := atomicfile.Write(md, markdown, 0o640); err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(d.Path, name+".json"), jsonTwin, 0o640); err != nil {
		return "", err
	}
	return md, nil
}
