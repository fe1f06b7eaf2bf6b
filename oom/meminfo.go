package oom

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/oomkit/oomkit/cgroup"
)

// MemInfo is the part of /proc/meminfo that says how much the host can
// still give.
type MemInfo struct {
	Total     cgroup.Bytes `json:"total_bytes"`
	Available cgroup.Bytes `json:"available_bytes"`
	SwapTotal cgroup.Bytes `json:"swap_total_bytes"`
	SwapFree  cgroup.Bytes `json:"swap_free_bytes"`
}

// ReadMemInfo reads <procRoot>/meminfo.
func ReadMemInfo(procRoot string) (*MemInfo, error) {
	name := filepath.Join(procRoot, "meminfo")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("oom: read %s: %w", name, err)
	}
	return parseMemInfo(data, name)
}

// parseMemInfo reads "MemTotal:       24576000 kB" lines; MemTotal and
// MemAvailable are required.
func parseMemInfo(data []byte, name string) (*MemInfo, error) {
	var m MemInfo
	seen := 0
	line := 0
	for l := range bytes.SplitSeq(data, []byte("\n")) {
		line++
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		var dst *cgroup.Bytes
		switch string(k) {
		case "MemTotal":
			dst = &m.Total
			seen++
		case "MemAvailable":
			dst = &m.Available
			seen++
		case "SwapTotal":
			dst = &m.SwapTotal
		case "SwapFree":
			dst = &m.SwapFree
		default:
			continue
		}
		num, unit, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
		n, err := strconv.ParseUint(string(num), 10, 53)
		if err != nil || string(unit) != "kB" {
			if err == nil {
				err = strconv.ErrSyntax
			}
			return nil, &cgroup.ParseError{Path: name, Line: line, Text: string(l), Err: err}
		}
		*dst = cgroup.Bytes(n * 1024)
	}
	if seen != 2 {
		return nil, &cgroup.ParseError{Path: name, Text: "MemTotal/MemAvailable", Err: cgroup.ErrNotFound}
	}
	return &m, nil
}
