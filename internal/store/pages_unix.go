//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// mapPages gives the walk at open the file's pages to read: the file
// mapped read-only, sliced (bounds-checked: a damaged element cannot reach
// outside the slice), rather than a system call and a copy a page, which
// tripled the time to open. It falls back to reading the file.
func mapPages(f *os.File, size int64) (read func(off, n int64) ([]byte, error), release func()) {
	if size <= 0 || int64(int(size)) != size {
		return readFile(f), func() {}
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readFile(f), func() {}
	}
	return func(off, n int64) ([]byte, error) {
			if off < 0 || n < 0 || off+n > int64(len(data)) {
				return nil, errors.New("past the end of the file")
			}
			return data[off : off+n : off+n], nil
		}, func() {
			_ = syscall.Munmap(data)
		}
}
