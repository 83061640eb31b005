package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// setDeathSignal makes the kernel kill the child if this process dies
// without stopping it (a panic in a goroutine, SIGKILL).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// cpuTime returns the user+system CPU time used so far by process pid (0:
// this process), or -1 if unknown.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return -1
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return -1
	}
	// After "pid (comm) ", utime and stime are the 12th and 13th fields, in
	// clock ticks of 1/100 s (USER_HZ).
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// machineCPU returns the CPU time all processors have spent busy (not idle
// nor waiting for I/O) since boot, or -1 if unknown.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || string(f[0]) != "cpu" {
		return -1
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return -1
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// treeCPU returns the CPU time used so far by process pid and its
// children: those running (a PostgreSQL server's backends, found through
// their parent PID in /proc) and those that exited (the cutime and cstime
// of pid). -1 if unknown.
func treeCPU(pid int) time.Duration {
	own := statFields(pid)
	if len(own) < 15 {
		return -1
	}
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, err := strconv.ParseInt(string(own[i]), 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		f := statFields(child)
		// After "(comm)": state ppid ...; utime and stime at 11 and 12.
		if len(f) < 13 || string(f[1]) != strconv.Itoa(pid) {
			continue
		}
		u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
		s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
		if err1 == nil && err2 == nil {
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// statFields returns the fields of /proc/pid/stat after "pid (comm)", or
// nil.
func statFields(pid int) [][]byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return nil
	}
	return bytes.Fields(b[i+1:])
}
