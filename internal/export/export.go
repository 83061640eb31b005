// Package export writes postmortem drafts (Markdown, JSON, HTML) to a directory: atomically (a
// temporary file, fsync, rename), under names that cannot leave it.
package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/atomicfile"
)

// Dir writes drafts into one directory. It implements incidentbot.Exporter.
type Dir struct {
	Path string
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$`)

// Export writes <name>.md, <name>.json and <name>.html (each atomically;
// the HTML only when there is one) and returns the Markdown file's path.
// A name that could leave the directory ("..", "/", anything but letters,
// digits, '.', '_' and '-') is refused.
func (d Dir) Export(_ context.Context, name string, files incidentbot.PostmortemFiles) (string, error) {
	if !safeName.MatchString(name) || name == "." || name == ".." {
		return "", fmt.Errorf("export: refusing file name %q", name)
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	md := filepath.Join(d.Path, name+".md")
	if err := atomicfile.Write(md, files.Markdown, 0o640); err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(d.Path, name+".json"), files.JSON, 0o640); err != nil {
		return "", err
	}
	if files.HTML != nil {
		if err := atomicfile.Write(filepath.Join(d.Path, name+".html"), files.HTML, 0o640); err != nil {
			return "", err
		}
	}
	return md, nil
}
