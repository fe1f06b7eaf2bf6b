package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Snapshot reads the cgroup's memory state. Files the version or kernel
// lacks leave their fields unknown; a malformed file is a *ParseError naming
// it; a cgroup removed while it is read gives an error wrapping ErrGone; a
// cgroup without its memory usage file gives one wrapping ErrNotFound.
func (c *Cgroup) Snapshot() (MemorySnapshot, error) {
	s := MemorySnapshot{Path: c.path, Version: c.Version(), Time: c.fs.clock()}
	r, err := openDir(c.dir)
	if err != nil {
		return s, err
	}
	defer r.close()
	switch s.Version {
	case V2:
		err = c.readV2(r, &s)
	default:
		err = c.readV1(r, &s)
	}
	if err != nil {
		return s, err
	}
	if s.Usage.Known && s.Stat.InactiveFile.Known {
		ws := s.Usage.Bytes - s.Stat.InactiveFile.Bytes
		s.WorkingSet = AmountOf(max(ws, 0))
	}
	return s, nil
}

func (c *Cgroup) readV1(r *dirReader, s *MemorySnapshot) error {
	b, err := r.required("memory.usage_in_bytes")
	if err != nil {
		return err
	}
	if s.Usage, err = parseBytesValue(b, r.path("memory.usage_in_bytes")); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *Limit
	}{
		{"memory.limit_in_bytes", &s.Limit},
		{"memory.memsw.limit_in_bytes", &s.MemSwLimit},
		{"memory.soft_limit_in_bytes", &s.SoftLimit},
	} {
		if err := r.readLimit(f.name, f.dst); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		dst  *Amount
	}{
		{"memory.max_usage_in_bytes", &s.Peak},
		{"memory.memsw.usage_in_bytes", &s.MemSwUsage},
	} {
		if err := r.readAmount(f.name, f.dst); err != nil {
			return err
		}
	}
	if err := r.readCount("memory.failcnt", &s.Failcnt); err != nil {
		return err
	}
	if err := r.readCount("memory.memsw.failcnt", &s.MemSwFailcnt); err != nil {
		return err
	}
	if b, ok, err := r.read("memory.oom_control"); err != nil {
		return err
	} else if ok {
		oc, err := parseOOMControl(b, r.path("memory.oom_control"))
		if err != nil {
			return err
		}
		s.OOMKillDisable, s.UnderOOM = oc.killDisable, oc.underOOM
		s.LocalEvents.OOMKill = oc.oomKill
	}
	if b, ok, err := r.read("memory.stat"); err != nil {
		return err
	} else if ok {
		if err := parseV1Stat(b, r.path("memory.stat"), &s.Stat); err != nil {
			return err
		}
	}
	// v1 limits memory+swap together; the swap-only view is derived.
	if s.MemSwUsage.Known {
		s.SwapUsage = AmountOf(max(s.MemSwUsage.Bytes-s.Usage.Bytes, 0))
	}
	switch {
	case s.MemSwLimit.Known && s.MemSwLimit.Unlimited:
		s.SwapLimit = NoLimit()
	case s.MemSwLimit.Set() && s.Limit.Set():
		s.SwapLimit = LimitOf(max(s.MemSwLimit.Bytes-s.Limit.Bytes, 0))
	}
	return c.readHostPressure(r, s)
}

// readHostPressure fills Pressure from <procroot>/pressure/memory for v1,
// whose cgroups have no pressure file of their own. Absent PSI (no
// CONFIG_PSI, or psi=0, where reads fail with EOPNOTSUPP) leaves it unknown.
func (c *Cgroup) readHostPressure(r *dirReader, s *MemorySnapshot) error {
	name := filepath.Join(c.fs.procRoot, "pressure", "memory")
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil //nolint:nilerr // no PSI on this kernel: unknown, not an error
	}
	defer unix.Close(fd)
	n, err := unix.Pread(fd, r.buf, 0)
	if err != nil || n <= 0 {
		return nil //nolint:nilerr // psi=0: unknown, not an error
	}
	p, err := parsePressure(r.buf[:n], name)
	if err != nil {
		return err
	}
	p.Host = true
	s.Pressure = p
	return nil
}

func (c *Cgroup) readV2(r *dirReader, s *MemorySnapshot) error {
	b, err := r.required("memory.current")
	if err != nil {
		if c.path == "/" || errors.Is(err, ErrGone) {
			// The v2 root has no memory.current: its usage is the host's.
			if !errors.Is(err, ErrGone) {
				s.Limit = NoLimit()
				return nil
			}
		}
		return err
	}
	if s.Usage, err = parseBytesValue(b, r.path("memory.current")); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *Limit
	}{
		{"memory.max", &s.Limit},
		{"memory.swap.max", &s.SwapLimit},
		{"memory.high", &s.High},
		{"memory.low", &s.Low},
		{"memory.min", &s.Min},
	} {
		if err := r.readLimit(f.name, f.dst); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		dst  *Amount
	}{
		{"memory.peak", &s.Peak},
		{"memory.swap.current", &s.SwapUsage},
	} {
		if err := r.readAmount(f.name, f.dst); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		dst  *Events
	}{
		{"memory.events", &s.Events},
		{"memory.events.local", &s.LocalEvents},
	} {
		if b, ok, err := r.read(f.name); err != nil {
			return err
		} else if ok {
			if err := parseEvents(b, r.path(f.name), f.dst); err != nil {
				return err
			}
		}
	}
	if b, ok, err := r.read("memory.swap.events"); err != nil {
		return err
	} else if ok {
		if err := parseSwapEvents(b, r.path("memory.swap.events"), &s.SwapEvents); err != nil {
			return err
		}
	}
	if b, ok, err := r.read("memory.oom.group"); err != nil {
		return err
	} else if ok {
		if s.OOMGroup, err = parseBoolValue(b, r.path("memory.oom.group")); err != nil {
			return err
		}
	}
	if b, ok, err := r.read("memory.stat"); err != nil {
		return err
	} else if ok {
		if err := parseV2Stat(b, r.path("memory.stat"), &s.Stat); err != nil {
			return err
		}
	}
	if s.SwapUsage.Known {
		s.Stat.Swap = s.SwapUsage
	}
	if b, ok, err := r.read("memory.pressure"); err != nil {
		return err
	} else if ok {
		p, err := parsePressure(b, r.path("memory.pressure"))
		if err != nil {
			return err
		}
		s.Pressure = p
	}
	return nil
}

// SnapshotTree returns snapshots of the cgroup and each of its ancestors,
// the cgroup first and the hierarchy root last. An ancestor that cannot be
// read ends the list with its error; the snapshots read so far are kept.
func (c *Cgroup) SnapshotTree() ([]MemorySnapshot, error) {
	s, err := c.Snapshot()
	if err != nil {
		return nil, err
	}
	out := []MemorySnapshot{s}
	for _, a := range c.Ancestors() {
		s, err := a.Snapshot()
		if err != nil {
			return out, fmt.Errorf("cgroup: ancestor %s: %w", a.path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// OOMKills returns the number of OOM kills of tasks in this cgroup: the local
// counter where the version has one (v1 oom_control, v2 memory.events.local),
// else the hierarchical one.
func (s MemorySnapshot) OOMKills() Count {
	if s.LocalEvents.OOMKill.Known {
		return s.LocalEvents.OOMKill
	}
	return s.Events.OOMKill
}

// NonReclaimable returns the part of usage reclaim cannot free without
// swap or a kill (MemoryStat.NonReclaimable). Its steady growth, unlike
// page cache's, is a leak.
func (s MemorySnapshot) NonReclaimable() Amount { return s.Stat.NonReclaimable() }
