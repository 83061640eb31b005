package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged marks an error from Open about a database file that cannot be
// used as it is: empty, truncated, not a bbolt file, or with damaged pages.
var ErrDamaged = errors.New("the database file is damaged")

// restoreHint says what to do about a damaged file.
const restoreHint = "restore the latest backup (made with `incidentbot backup FILE`; see docs/operations.md, \"Restoring from a backup\") or move the file away to start with an empty database"

func damaged(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s; %s", ErrDamaged, path, fmt.Sprintf(format, args...), restoreHint)
}

// bbolt's file format (go.etcd.io/bbolt internal/common): every page starts
// with a 16-byte header; pages 0 and 1 are the two meta pages, the one with
// the higher transaction ID being current.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSumOffset  = 56 // the checksum covers the meta's first 56 bytes
	metaSize       = 64
)

type metaPage struct {
	pageSize uint32
	pgid     uint64 // the high-water mark: pages below it are in use
	txid     uint64
}

// readMeta decodes and validates the meta page at off.
func readMeta(f *os.File, off int64) (metaPage, bool) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return metaPage{}, false
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian // bbolt writes its structs in host order; Go runs here on little-endian machines
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return metaPage{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	if h.Sum64() != le.Uint64(m[metaSumOffset:]) {
		return metaPage{}, false
	}
	return metaPage{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkFile looks at an existing database file before bbolt maps it: bbolt
// trusts its meta page, and a file shorter than the meta says (a truncated
// copy) kills the process with SIGBUS on the first read past its end. A
// missing file is fine (a new database); an empty one is not (it is not
// what a crashed first start leaves: bbolt writes its first pages at once).
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return damaged(path, "is empty (0 bytes), not a database")
	}
	m0, ok0 := readMeta(f, 0)
	var m metaPage
	switch {
	case ok0:
		m = m0
		if m1, ok1 := readMeta(f, int64(m0.pageSize)); ok1 && m1.txid > m.txid {
			m = m1
		}
	default:
		// The first meta page is damaged: bbolt falls back to the second,
		// which sits one page in (try the usual page sizes).
		found := false
		for _, ps := range []int64{4096, 8192, 16384, 65536} {
			if m1, ok1 := readMeta(f, ps); ok1 && int64(m1.pageSize) == ps {
				m, found = m1, true
				break
			}
		}
		if !found {
			return damaged(path, "is not an incidentbot database, or both of its meta pages are damaged")
		}
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pageSize == 0 || need > size {
		return damaged(path, "is truncated: it has %d bytes, its pages need %d", size, need)
	}
	return nil
}

// openChecked opens a checked file with bbolt and runs bbolt's consistency
// check (every page reachable once, the freelist, key order). bbolt panics
// on a page it cannot decode, in whichever goroutine reads it: here that is
// turned into an error before any other goroutine touches the file.
func openChecked(path string, opts *bolt.Options) (b *bolt.DB, err error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if b != nil {
				b.Close()
			}
			b, err = nil, damaged(path, "has damaged pages (%v)", p)
		}
	}()
	b, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the file is locked by another process (only one incidentbot may use a database file): %w", path, err)
		}
		if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
			return nil, damaged(path, "is not a usable bbolt file (%v)", err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var first error
	err = b.View(func(btx *bolt.Tx) error {
		// Drain the channel: the checker stops only when it has sent all.
		for err := range btx.Check() {
			if first == nil {
				first = err
			}
		}
		return nil
	})
	if err == nil && first != nil {
		err = damaged(path, "fails the consistency check (%v)", first)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
