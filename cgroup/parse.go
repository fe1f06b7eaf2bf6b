package cgroup

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"time"
)

// errMalformed is the cause of a ParseError for text of the wrong shape
// (as opposed to a number that does not parse, which wraps strconv's error).
var errMalformed = errors.New("malformed line")

// v1Unlimited is the smallest value cgroup v1 prints for "no limit": the
// kernel stores PAGE_COUNTER_MAX pages and prints it times the page size,
// 9223372036854771712 with 4 KiB pages. Nothing real comes near 2^62 bytes.
const v1Unlimited = 1 << 62

// The parsers below take a file's bytes and never touch the filesystem, so
// they are table-tested on strings and fuzzed. name is the file's path, used
// only in errors.

// trimValue drops the trailing newline (and surrounding blanks) of a
// single-value file.
func trimValue(b []byte) []byte { return bytes.TrimSpace(b) }

// parseUint parses a decimal unsigned integer without allocating.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, strconv.ErrRange
		}
		n = n*10 + d
	}
	return n, nil
}

// parseBytesValue parses a single-value file holding a byte count.
func parseBytesValue(b []byte, name string) (Amount, error) {
	v := trimValue(b)
	n, err := parseUint(v)
	if err != nil || n > 1<<63-1 {
		if err == nil {
			err = strconv.ErrRange
		}
		return Amount{}, &ParseError{Path: name, Text: string(v), Err: err}
	}
	return AmountOf(Bytes(n)), nil
}

// parseCountValue parses a single-value counter file (v1 failcnt).
func parseCountValue(b []byte, name string) (Count, error) {
	v := trimValue(b)
	n, err := parseUint(v)
	if err != nil {
		return Count{}, &ParseError{Path: name, Text: string(v), Err: err}
	}
	return CountOf(n), nil
}

// parseLimitValue parses a limit file: v2 "max" or a number; a v1 number at
// or above 2^62 is the "no limit" sentinel.
func parseLimitValue(b []byte, name string) (Limit, error) {
	v := trimValue(b)
	if string(v) == "max" {
		return NoLimit(), nil
	}
	n, err := parseUint(v)
	if err != nil {
		return Limit{}, &ParseError{Path: name, Text: string(v), Err: err}
	}
	if n >= v1Unlimited {
		return NoLimit(), nil
	}
	return LimitOf(Bytes(n)), nil
}

// parseBoolValue parses a "0"/"1" file (memory.oom.group).
func parseBoolValue(b []byte, name string) (bool, error) {
	switch v := trimValue(b); string(v) {
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, &ParseError{Path: name, Text: string(v), Err: strconv.ErrSyntax}
	}
}

// forEachKV calls fn for every "key value" line of a flat-keyed file
// (memory.stat, memory.events, memory.oom_control). A line that is not two
// fields, or whose value is not an unsigned integer, is a ParseError; a
// file that ends without a newline is truncated and so is its last line.
// An error fn returns becomes a ParseError naming the line.
func forEachKV(b []byte, name string, fn func(key []byte, val uint64) error) error {
	line := 0
	for len(b) > 0 {
		line++
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return &ParseError{Path: name, Line: line, Text: string(b), Err: errTruncated}
		}
		l := b[:nl]
		b = b[nl+1:]
		if len(l) == 0 {
			continue
		}
		sp := bytes.IndexByte(l, ' ')
		if sp <= 0 {
			return &ParseError{Path: name, Line: line, Text: string(l), Err: errMalformed}
		}
		n, err := parseUint(l[sp+1:])
		if err != nil {
			return &ParseError{Path: name, Line: line, Text: string(l), Err: err}
		}
		if err := fn(l[:sp], n); err != nil {
			return &ParseError{Path: name, Line: line, Text: string(l), Err: err}
		}
	}
	return nil
}

// amount is a byte count of a memory.stat line: beyond int64 it is no size
// the kernel can hold (a wrapped counter, a corrupt file), and an error,
// never a negative size.
func amount(v uint64) (Amount, error) {
	if v > math.MaxInt64 {
		return Amount{}, strconv.ErrRange
	}
	return AmountOf(Bytes(v)), nil
}

// errTruncated is the cause of a ParseError for a file cut off mid-line.
var errTruncated = errors.New("truncated: no final newline")

// parseV1Stat fills st from a v1 memory.stat, using the hierarchical
// total_* fields.
func parseV1Stat(b []byte, name string, st *MemoryStat) error {
	return forEachKV(b, name, func(k []byte, v uint64) error {
		var dst *Amount
		switch string(k) {
		case "total_rss":
			dst = &st.Anon
		case "total_cache":
			dst = &st.File
		case "total_active_anon":
			dst = &st.ActiveAnon
		case "total_inactive_anon":
			dst = &st.InactiveAnon
		case "total_active_file":
			dst = &st.ActiveFile
		case "total_inactive_file":
			dst = &st.InactiveFile
		case "total_shmem":
			dst = &st.Shmem
		case "total_swap":
			dst = &st.Swap
		case "total_unevictable":
			dst = &st.Unevictable
		default:
			return nil
		}
		a, err := amount(v)
		*dst = a
		return err
	})
}

// parseV2Stat fills st from a v2 memory.stat.
func parseV2Stat(b []byte, name string, st *MemoryStat) error {
	return forEachKV(b, name, func(k []byte, v uint64) error {
		var dst *Amount
		switch string(k) {
		case "anon":
			dst = &st.Anon
		case "file":
			dst = &st.File
		case "active_anon":
			dst = &st.ActiveAnon
		case "inactive_anon":
			dst = &st.InactiveAnon
		case "active_file":
			dst = &st.ActiveFile
		case "inactive_file":
			dst = &st.InactiveFile
		case "shmem":
			dst = &st.Shmem
		case "slab":
			dst = &st.Slab
		case "slab_reclaimable":
			dst = &st.SlabReclaimable
		case "slab_unreclaimable":
			dst = &st.SlabUnreclaimable
		case "sock":
			dst = &st.Sock
		case "kernel":
			dst = &st.Kernel
		case "unevictable":
			dst = &st.Unevictable
		default:
			return nil
		}
		a, err := amount(v)
		*dst = a
		return err
	})
}

// parseEvents parses v2 memory.events or memory.events.local.
func parseEvents(b []byte, name string, ev *Events) error {
	return forEachKV(b, name, func(k []byte, v uint64) error {
		c := CountOf(v)
		switch string(k) {
		case "low":
			ev.Low = c
		case "high":
			ev.High = c
		case "max":
			ev.Max = c
		case "oom":
			ev.OOM = c
		case "oom_kill":
			ev.OOMKill = c
		case "oom_group_kill":
			ev.OOMGroupKill = c
		}
		return nil
	})
}

// parseSwapEvents parses v2 memory.swap.events.
func parseSwapEvents(b []byte, name string, ev *SwapEvents) error {
	return forEachKV(b, name, func(k []byte, v uint64) error {
		c := CountOf(v)
		switch string(k) {
		case "high":
			ev.High = c
		case "max":
			ev.Max = c
		case "fail":
			ev.Fail = c
		}
		return nil
	})
}

// oomControl is v1 memory.oom_control.
type oomControl struct {
	killDisable, underOOM bool
	oomKill               Count // absent before 4.13
}

// parseOOMControl parses v1 memory.oom_control. The oom_kill line is
// optional (added in 4.13); the other two are required.
func parseOOMControl(b []byte, name string) (oomControl, error) {
	var oc oomControl
	seen := 0
	err := forEachKV(b, name, func(k []byte, v uint64) error {
		switch string(k) {
		case "oom_kill_disable":
			oc.killDisable = v != 0
			seen++
		case "under_oom":
			oc.underOOM = v != 0
			seen++
		case "oom_kill":
			oc.oomKill = CountOf(v)
		}
		return nil
	})
	if err != nil {
		return oomControl{}, err
	}
	if seen != 2 {
		return oomControl{}, &ParseError{Path: name, Text: string(b), Err: errMalformed}
	}
	return oc, nil
}

// parsePressure parses a PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00
// total=0" and a "full" line).
func parsePressure(b []byte, name string) (Pressure, error) {
	var p Pressure
	line := 0
	for len(b) > 0 {
		line++
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return Pressure{}, &ParseError{Path: name, Line: line, Text: string(b), Err: errTruncated}
		}
		l := b[:nl]
		b = b[nl+1:]
		if len(l) == 0 {
			continue
		}
		var dst *PSILine
		switch {
		case bytes.HasPrefix(l, []byte("some ")):
			dst = &p.Some
		case bytes.HasPrefix(l, []byte("full ")):
			dst = &p.Full
		default:
			return Pressure{}, &ParseError{Path: name, Line: line, Text: string(l), Err: errMalformed}
		}
		if err := parsePSILine(l[5:], dst); err != nil {
			return Pressure{}, &ParseError{Path: name, Line: line, Text: string(l), Err: err}
		}
		p.Known = true
	}
	if !p.Known {
		return Pressure{}, &ParseError{Path: name, Text: "", Err: errMalformed}
	}
	return p, nil
}

func parsePSILine(b []byte, dst *PSILine) error {
	seen := 0
	for f := range bytes.FieldsSeq(b) {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			return errMalformed
		}
		switch string(k) {
		case "avg10", "avg60", "avg300":
			x, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return err
			}
			switch string(k) {
			case "avg10":
				dst.Avg10 = x
			case "avg60":
				dst.Avg60 = x
			default:
				dst.Avg300 = x
			}
			seen++
		case "total":
			n, err := parseUint(v)
			if err != nil {
				return err
			}
			if n > uint64(1<<63-1)/uint64(time.Microsecond) {
				return strconv.ErrRange
			}
			dst.Total = time.Duration(n) * time.Microsecond
			seen++
		}
	}
	if seen != 4 {
		return errMalformed
	}
	return nil
}
