//go:build !unix

package store

import "os"

// mapPages gives the walk at open the file's pages to read: the file.
func mapPages(f *os.File, _ int64) (read func(off, n int64) ([]byte, error), release func()) {
	return readFile(f), func() {}
}
