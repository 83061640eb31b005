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
	root     uint64 // the root bucket's page
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
	return metaPage{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
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
	read, release := mapPages(f, size)
	defer release()
	w := pageWalk{read: read, m: m, seen: map[uint64]bool{}}
	if err := w.page(m.root, 0); err != nil {
		return damaged(path, "has damaged pages (%v)", err)
	}
	return nil
}

// bbolt's page and element layout (go.etcd.io/bbolt internal/common).
const (
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01 // a leaf element that is a bucket
	elementSize    = 16   // branch and leaf elements alike
	bucketHeader   = 16   // a bucket value: its root page, its sequence
)

// pageWalk reads the pages of the B+trees from the file, not from bbolt's
// map, and checks that every element's key and value lie inside its page
// and every page it points to inside the file. bbolt trusts them: its
// consistency check, which runs in a goroutine of its own, followed a
// damaged element outside the map and the fault killed the process (no
// recover reaches that goroutine).
type pageWalk struct {
	read func(off, n int64) ([]byte, error) // n bytes of the file at off
	m    metaPage
	seen map[uint64]bool
}

func (w *pageWalk) page(id uint64, depth int) error {
	if depth > 64 {
		return errors.New("the tree is deeper than any bbolt tree")
	}
	if id < 2 || id >= w.m.pgid {
		return fmt.Errorf("a page points to page %d, outside the %d pages in use", id, w.m.pgid)
	}
	if w.seen[id] {
		return fmt.Errorf("page %d is reached twice", id)
	}
	w.seen[id] = true
	ps := int64(w.m.pageSize)
	buf, err := w.read(int64(id)*ps, ps)
	if err != nil {
		return fmt.Errorf("page %d: %v", id, err)
	}
	if got := binary.LittleEndian.Uint64(buf); got != id {
		return fmt.Errorf("page %d says it is page %d", id, got)
	}
	if overflow := int64(binary.LittleEndian.Uint32(buf[12:])); overflow > 0 {
		if int64(id)+overflow >= int64(w.m.pgid) {
			return fmt.Errorf("page %d runs past the pages in use", id)
		}
		if buf, err = w.read(int64(id)*ps, (overflow+1)*ps); err != nil {
			return fmt.Errorf("page %d: %v", id, err)
		}
	}
	return w.elements(buf, id, depth)
}

// elements checks the elements of a page (or of an inline bucket's page)
// held in buf and walks the pages they point to.
func (w *pageWalk) elements(buf []byte, id uint64, depth int) error {
	le := binary.LittleEndian
	if len(buf) < pageHeaderSize {
		return fmt.Errorf("page %d is cut short", id)
	}
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		return fmt.Errorf("page %d lists %d elements, more than it holds", id, count)
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := buf[at : at+elementSize]
		switch flags {
		case branchPageFlag:
			pos, ksize := int64(le.Uint32(e[0:])), int64(le.Uint32(e[4:]))
			if int64(at)+pos+ksize > int64(len(buf)) {
				return fmt.Errorf("page %d: element %d's key lies outside the page", id, i)
			}
			if err := w.page(le.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags, pos, ksize, vsize := le.Uint32(e[0:]), int64(le.Uint32(e[4:])), int64(le.Uint32(e[8:])), int64(le.Uint32(e[12:]))
			start := int64(at) + pos
			if start+ksize+vsize > int64(len(buf)) {
				return fmt.Errorf("page %d: element %d lies outside the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := buf[start+ksize : start+ksize+vsize]
			if len(v) < bucketHeader {
				return fmt.Errorf("page %d: element %d is a bucket without its header", id, i)
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.page(root, depth+1); err != nil {
					return err
				}
			} else if err := w.elements(v[bucketHeader:], id, depth+1); err != nil { // an inline bucket
				return err
			}
		default:
			return fmt.Errorf("page %d has type %#x where a branch or leaf page belongs", id, flags)
		}
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

// readFile reads n bytes of f at off (mapPages' fallback).
func readFile(f *os.File) func(off, n int64) ([]byte, error) {
	return func(off, n int64) ([]byte, error) {
		b := make([]byte, n)
		_, err := f.ReadAt(b, off)
		return b, err
	}
}
