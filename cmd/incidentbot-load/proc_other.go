//go:build !linux

package main

import (
	"os/exec"
	"time"
)

// setDeathSignal does nothing outside Linux: children are stopped by the
// deferred stops only.
func setDeathSignal(*exec.Cmd) {}

// cpuTime is unknown (-1) outside Linux.
func cpuTime(int) time.Duration { return -1 }

// machineCPU is unknown (-1) outside Linux.
func machineCPU() time.Duration { return -1 }

// treeCPU is unknown (-1) outside Linux.
func treeCPU(int) time.Duration { return -1 }
