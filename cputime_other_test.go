//go:build !linux

package incidentbot

import "time"

// ThreadCPU is not measured off Linux: 0.
func ThreadCPU() time.Duration { return 0 }
