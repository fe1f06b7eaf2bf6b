package oom

import (
	"time"

	"golang.org/x/sys/unix"
)

// BootTime returns the wall time at which this host's kernel log clock
// read zero: now minus CLOCK_MONOTONIC, the clock /dev/kmsg and dmesg stamp
// records with (the kernel's local_clock, within milliseconds of it). Add a
// Report's Uptime from the live log to get its wall time, as dmesg -T does;
// like dmesg -T it is off by the time the host spent suspended. It is the
// zero Time when the clock cannot be read. A saved log may come from
// another boot or host: its uptime stamps cannot be placed with this.
func BootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Time{}
	}
	now := time.Now()
	return now.Add(-time.Duration(ts.Nano())).Round(time.Millisecond)
}
