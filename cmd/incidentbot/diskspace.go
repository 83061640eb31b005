package main

import (
	"path/filepath"
	"syscall"
)

// minFreeBytes is the readiness floor of free space on the database's
// filesystem: below it a replica is not ready, because a delivery it takes
// may fail to commit ("no space left on device") and PagerDuty would be
// answered 503 for it. 64 MiB holds thousands of deliveries; the
// IncidentbotDiskAlmostFull alert fires well before (docs/operations.md).
const minFreeBytes = 64 << 20

// freeBytes returns the bytes available to the process on the filesystem
// holding path's directory.
func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
