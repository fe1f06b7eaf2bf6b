package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// Process is a process in a cgroup with its memory, from
// /proc/<pid>/status. Fields the kernel does not print (RssAnon and friends
// arrived in 4.5) are unknown; a kernel thread has no RSS at all.
type Process struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	RSS   Amount `json:"rss_bytes"`   // VmRSS
	Anon  Amount `json:"anon_bytes"`  // RssAnon
	File  Amount `json:"file_bytes"`  // RssFile
	Shmem Amount `json:"shmem_bytes"` // RssShmem
	Swap  Amount `json:"swap_bytes"`  // VmSwap
}

// Processes returns the processes in the cgroup (its cgroup.procs, not its
// descendants'), biggest RSS first: the answer to "which process inside
// used the memory". A process that exits while it is read is left out.
func (c *Cgroup) Processes() ([]Process, error) {
	pids, err := c.PIDs()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, pid := range pids {
		name := filepath.Join(c.fs.procRoot, strconv.Itoa(pid), "status")
		data, err := os.ReadFile(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue // exited meanwhile
			}
			return nil, fmt.Errorf("cgroup: read %s: %w", name, err)
		}
		p, err := parseStatus(data, name)
		if err != nil {
			return nil, err
		}
		p.PID = pid
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RSS.Bytes > out[j].RSS.Bytes })
	return out, nil
}

// PIDs returns the processes in the cgroup (its cgroup.procs, not its
// descendants'), as the kernel lists them.
func (c *Cgroup) PIDs() ([]int, error) {
	r, err := openDir(c.dir)
	if err != nil {
		return nil, err
	}
	defer r.close()
	b, err := r.required("cgroup.procs")
	if err != nil {
		return nil, err
	}
	var out []int
	line := 0
	for f := range bytes.FieldsSeq(b) {
		line++
		pid, err := strconv.Atoi(string(f))
		if err != nil || pid <= 0 {
			return nil, &ParseError{Path: r.path("cgroup.procs"), Line: line, Text: string(f), Err: strconv.ErrSyntax}
		}
		out = append(out, pid)
	}
	return out, nil
}

// parseStatus reads Name and the memory lines ("VmRSS:\t  1234 kB") of
// /proc/<pid>/status.
func parseStatus(b []byte, name string) (Process, error) {
	var p Process
	line := 0
	for len(b) > 0 {
		line++
		l := b
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			l, b = b[:nl], b[nl+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		var dst *Amount
		switch string(k) {
		case "Name":
			p.Comm = string(v)
			continue
		case "VmRSS":
			dst = &p.RSS
		case "RssAnon":
			dst = &p.Anon
		case "RssFile":
			dst = &p.File
		case "RssShmem":
			dst = &p.Shmem
		case "VmSwap":
			dst = &p.Swap
		default:
			continue
		}
		num, unit, _ := bytes.Cut(v, []byte(" "))
		n, err := parseUint(num)
		if err != nil || string(unit) != "kB" || n > 1<<53 {
			if err == nil {
				err = strconv.ErrSyntax
			}
			return Process{}, &ParseError{Path: name, Line: line, Text: string(l), Err: err}
		}
		*dst = AmountOf(Bytes(n * 1024))
	}
	return p, nil
}
