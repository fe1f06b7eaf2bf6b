package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// PressureEvent is a PSI trigger firing: memory stalls exceeded the
// threshold within the window. Pressure is read at once.
type PressureEvent struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"` // the pressure file
	Pressure Pressure  `json:"pressure"`
	Err      error     `json:"-"`
}

// WatchPressure registers a kernel PSI trigger ("some" or "full" stall
// time within window) on the cgroup's memory.pressure (v2) or, on v1, the
// host's <proc>/pressure/memory, and reports each time it fires, until ctx
// is done (the channel is closed then). The kernel checks the trigger: no
// polling. Without CAP_SYS_RESOURCE (dropped in many containers, even for
// root) the kernel takes only windows that are multiples of 2 s: choose one
// to get a kernel trigger. Where the kernel refuses the trigger (and for a
// fixture file) it reads the file once per window and applies the same
// condition. It
// returns an error wrapping ErrUnsupported when the kernel has no PSI.
func (fs *FS) WatchPressure(ctx context.Context, path, kind string, stall, window time.Duration) (<-chan PressureEvent, error) {
	if kind != "some" && kind != "full" {
		return nil, fmt.Errorf("cgroup: pressure kind %q: want some or full", kind)
	}
	if window < 500*time.Millisecond || window > 10*time.Second || stall <= 0 || stall > window {
		return nil, fmt.Errorf("cgroup: pressure trigger %s in %s: the kernel takes windows of 0.5-10 s and a stall within it", stall, window)
	}
	file := filepath.Join(fs.procRoot, "pressure", "memory")
	host := true
	if fs.layout.Memory == V2 && path != "" {
		cg, err := fs.Cgroup(path)
		if err != nil {
			return nil, err
		}
		file, host = filepath.Join(cg.dir, "memory.pressure"), false
	}
	// A trigger is written only to the kernel's own file (procfs, cgroup2):
	// a fixture's plain file is read, never written.
	var sfs unix.Statfs_t
	if err := unix.Statfs(file, &sfs); err == nil && sfs.Type != unix.PROC_SUPER_MAGIC && sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("cgroup: open %s: %w (%w)", file, ErrUnsupported, err)
		}
		return fs.pollPressure(ctx, file, host, kind, stall, window)
	}
	fd, err := unix.Open(file, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("cgroup: open %s: %w (%w)", file, ErrUnsupported, err)
		}
		return nil, fmt.Errorf("cgroup: open %s: %w", file, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 0 {
		_ = unix.Close(fd) // a plain file (a fixture): nothing to register with
		return fs.pollPressure(ctx, file, host, kind, stall, window)
	}
	trig := fmt.Sprintf("%s %d %d", kind, stall.Microseconds(), window.Microseconds())
	if _, err := unix.Write(fd, append([]byte(trig), 0)); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
			// Triggers refused (no CAP_SYS_RESOURCE and a window the
			// kernel will not take unprivileged, or a kernel without
			// them): compute the same condition once per window.
			return fs.pollPressure(ctx, file, host, kind, stall, window)
		}
		return nil, fmt.Errorf("cgroup: PSI trigger %q on %s: %w", trig, file, err)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("cgroup: epoll: %w", err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		_ = unix.Close(fd)
		_ = unix.Close(ep)
		return nil, fmt.Errorf("cgroup: pipe: %w", err)
	}
	for _, e := range []unix.EpollEvent{{Events: unix.EPOLLPRI, Fd: int32(fd)}, {Events: unix.EPOLLIN, Fd: int32(p[0])}} {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(e.Fd), &e); err != nil {
			for _, c := range []int{fd, ep, p[0], p[1]} {
				_ = unix.Close(c)
			}
			return nil, fmt.Errorf("cgroup: epoll add: %w", err)
		}
	}
	out := make(chan PressureEvent, 8)
	go func() {
		<-ctx.Done()
		_, _ = unix.Write(p[1], []byte{1})
	}()
	go func() {
		defer close(out)
		defer func() {
			for _, c := range []int{fd, ep, p[0], p[1]} {
				_ = unix.Close(c)
			}
		}()
		evs := make([]unix.EpollEvent, 2)
		buf := make([]byte, 512)
		for {
			n, err := unix.EpollWait(ep, evs, -1)
			if err != nil && errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || ctx.Err() != nil {
				return
			}
			for _, e := range evs[:n] {
				if int(e.Fd) != fd {
					return
				}
				if e.Events&unix.EPOLLERR != 0 {
					send2(ctx, out, PressureEvent{Time: fs.clock(), Source: file, Err: fmt.Errorf("cgroup: %s: %w", file, ErrGone)})
					return
				}
				ev := PressureEvent{Time: fs.clock(), Source: file}
				if m, err := unix.Pread(fd, buf, 0); err == nil {
					ev.Pressure, ev.Err = parsePressure(buf[:m], file)
					ev.Pressure.Host = host
				}
				send2(ctx, out, ev)
			}
		}
	}()
	return out, nil
}

func send2(ctx context.Context, out chan<- PressureEvent, e PressureEvent) {
	select {
	case out <- e:
	case <-ctx.Done():
	}
}

// pollPressure reads the pressure file once per window and reports when
// the stall total grew by at least stall within it: the trigger's
// condition, checked in userspace at the window's pace (not busy polling).
func (fs *FS) pollPressure(ctx context.Context, file string, host bool, kind string, stall, window time.Duration) (<-chan PressureEvent, error) {
	read := func() (Pressure, error) {
		r, err := openDir(filepath.Dir(file))
		if err != nil {
			return Pressure{}, err
		}
		defer r.close()
		b, ok, err := r.read(filepath.Base(file))
		if err != nil || !ok {
			return Pressure{}, fmt.Errorf("cgroup: read %s: %w", file, ErrUnsupported)
		}
		p, err := parsePressure(b, file)
		p.Host = host
		return p, err
	}
	last, err := read()
	if err != nil {
		return nil, err
	}
	out := make(chan PressureEvent, 8)
	go func() {
		defer close(out)
		t := time.NewTicker(window)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p, err := read()
			if err != nil {
				send2(ctx, out, PressureEvent{Time: fs.clock(), Source: file, Err: err})
				return
			}
			grew := p.Some.Total - last.Some.Total
			if kind == "full" {
				grew = p.Full.Total - last.Full.Total
			}
			last = p
			if grew >= stall {
				send2(ctx, out, PressureEvent{Time: fs.clock(), Source: file, Pressure: p})
			}
		}
	}()
	return out, nil
}
