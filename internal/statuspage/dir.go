package statuspage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/incidentbot/incidentbot/internal/atomicfile"
)

// Dir writes a rendered site into a directory any web server or bucket
// can serve.
type Dir struct {
	Path string
}

// WriteSite writes status.json, status.atom and index.html, each
// atomically (a reader sees the old file or the new one, never a part),
// creating the directory when missing. index.html is written last. The
// files are made world-readable (0644): the site is public.
func (d Dir) WriteSite(s Site) error {
	if d.Path == "" {
		return errors.New("statuspage: no site directory")
	}
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Errorf("statuspage: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"status.json", s.JSON}, {"status.atom", s.Atom}, {"index.html", s.HTML}} {
		path := filepath.Join(d.Path, f.name)
		// The site is public: a web server running as another user must
		// be able to read it.
		if err := atomicfile.Write(path, f.data, 0o644); err != nil {
			return fmt.Errorf("statuspage: %w", err)
		}
	}
	return nil
}
