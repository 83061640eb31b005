//go:build linux

package incidentbot

import (
	"syscall"
	"time"
)

// ThreadCPU returns the CPU time (user + system) the calling OS thread
// has used; with runtime.LockOSThread it measures one goroutine's work,
// whatever else the machine runs (benchmarks on a shared machine).
func ThreadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
