package cgroup

import (
	"fmt"
	"strconv"
)

// Bytes is a size in bytes. Its String method prints it in Docker's binary
// units ("512MiB"), the way `docker stats` does.
type Bytes int64

// String returns the size in Docker's binary units, for example "32MiB".
func (b Bytes) String() string {
	if b < 0 {
		return "-" + Size(-float64(b))
	}
	return Size(float64(b))
}

var binaryUnits = [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}

// Size formats a size in bytes the way docker/go-units' BytesSize does
// (four significant digits, binary units: "1.5GiB"), which `docker stats`
// and Bytes.String print. It is written here rather than imported so that
// a program that only parses kernel reports links no github.com/docker
// package.
func Size(n float64) string {
	i := 0
	for n >= 1024 && i < len(binaryUnits)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", n, binaryUnits[i])
}

// Limit is a memory limit as the kernel reports it. The zero value is an
// unknown limit: the file is absent on this kernel or cgroup version.
// Unlimited is a distinct state; Bytes is meaningful only when Known and not
// Unlimited. The kernel's "no limit" spellings (v2 "max", v1's page-rounded
// 9223372036854771712) never leak out as a number.
type Limit struct {
	Bytes     Bytes
	Unlimited bool
	Known     bool
}

// LimitOf returns a known, finite limit of n bytes.
func LimitOf(n Bytes) Limit { return Limit{Bytes: n, Known: true} }

// NoLimit returns a known, unlimited limit.
func NoLimit() Limit { return Limit{Unlimited: true, Known: true} }

// Set reports whether the limit is known and finite.
func (l Limit) Set() bool { return l.Known && !l.Unlimited }

// String returns "unknown", "max" or the size in Docker's units.
func (l Limit) String() string {
	switch {
	case !l.Known:
		return "unknown"
	case l.Unlimited:
		return "max"
	default:
		return l.Bytes.String()
	}
}

// Amount is an optional byte quantity: Known is false when the kernel or the
// cgroup version does not provide it (never reported as zero).
type Amount struct {
	Bytes Bytes
	Known bool
}

// AmountOf returns a known amount of n bytes.
func AmountOf(n Bytes) Amount { return Amount{Bytes: n, Known: true} }

// String returns "unknown" or the size in Docker's units.
func (a Amount) String() string {
	if !a.Known {
		return "unknown"
	}
	return a.Bytes.String()
}

// Count is an optional event counter: Known is false when the kernel or the
// cgroup version does not provide it.
type Count struct {
	N     uint64
	Known bool
}

// CountOf returns a known count of n.
func CountOf(n uint64) Count { return Count{N: n, Known: true} }

// String returns "unknown" or the decimal count.
func (c Count) String() string {
	if !c.Known {
		return "unknown"
	}
	return strconv.FormatUint(c.N, 10)
}
