package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EventKind says what a watch Event reports.
type EventKind int

const (
	// EventOOM is an OOM in the cgroup: its OOM-kill counter (or, for a
	// limit hit the kernel resolved without a kill, its oom counter) moved.
	EventOOM EventKind = iota + 1
	// EventThreshold is usage crossing a fraction of the limit upward.
	EventThreshold
	// EventRemoved is the cgroup going away; its watch ends.
	EventRemoved
)

// String returns "oom", "threshold" or "removed".
func (k EventKind) String() string {
	switch k {
	case EventOOM:
		return "oom"
	case EventThreshold:
		return "threshold"
	case EventRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one notification of a watch. Delta holds the counters' change
// since the previous event of the same cgroup (or the start of the watch),
// so kills that coalesce into one wake-up are all counted; Snapshot is
// taken at once, before the cgroup can disappear.
type Event struct {
	Kind EventKind `json:"kind"`
	Path string    `json:"path"`
	Time time.Time `json:"time"`
	// Monotonic is CLOCK_MONOTONIC at the event. /dev/kmsg stamps come from
	// the kernel's local clock, which can run milliseconds apart from it on
	// a virtual machine: calibrate before comparing the two.
	Monotonic time.Duration  `json:"monotonic_ns"`
	Delta     Delta          `json:"delta"`
	Snapshot  MemorySnapshot `json:"snapshot"`
	// Fraction is the crossed fraction of the limit, for EventThreshold.
	Fraction float64 `json:"fraction,omitempty"`
	// PIDs, for EventOOM, are the processes that were in the cgroup when
	// the OOM was announced: on v1 the kernel notifies before it kills, so
	// they include the victim. A kernel report whose header was
	// rate-limited names only the victim's pid; these tie it to the cgroup
	// (oom.Evidence.PIDs).
	PIDs []int `json:"pids"`
	// Err is set when the cgroup could not be read at the event.
	Err error `json:"-"`
}

// WatchOption configures Watch.
type WatchOption func(*watchConfig) error

type watchConfig struct {
	fractions []float64
	settle    time.Duration
}

// WithThresholds sets the fractions of the limit whose upward crossing is
// reported (default 0.8 and 0.9, the common alerting practice); none
// disables them. On cgroup v1 they are kernel thresholds (eventfd on
// memory.usage_in_bytes): no polling.
func WithThresholds(fractions ...float64) WatchOption {
	return func(c *watchConfig) error {
		for _, f := range fractions {
			if !(f > 0 && f < 1) {
				return fmt.Errorf("cgroup: threshold %v outside (0,1)", f)
			}
		}
		c.fractions = fractions
		return nil
	}
}

// monotonic returns CLOCK_MONOTONIC.
func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// watched is one cgroup under watch.
type watched struct {
	cg     *Cgroup
	last   MemorySnapshot
	fds    []int           // every descriptor to close
	oomFD  int             // eventfd (v1) or inotify watch descriptor (v2), -1 none
	thresh map[int]float64 // eventfd -> fraction
	// pids are the processes read at an OOM notification whose kill is
	// not counted yet.
	pids []int
	// probeFD holds the OOM counters open (v1 memory.oom_control, v2
	// memory.events) for the cheap re-reads of a pending cgroup; -1 none.
	probeFD int
	removed bool
}

// Watch reports OOM kills, threshold crossings and removal of the cgroups
// at paths until ctx is done; the channel is closed then (and when every
// cgroup is gone). v1 uses eventfd notifications registered through
// cgroup.event_control on memory.oom_control (which never fires for a
// global OOM: a global kill shows in the next event's Delta) and on
// memory.usage_in_bytes thresholds; v2 uses inotify on memory.events and
// cgroup.events. Every wake-up is reconciled against the counters. It
// returns an error wrapping ErrNotFound for a path that does not exist.
func (fs *FS) Watch(ctx context.Context, paths []string, opts ...WatchOption) (<-chan Event, error) {
	cfg := watchConfig{fractions: []float64{0.8, 0.9}, settle: time.Second}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cgroup: epoll: %w", err)
	}
	w := &watcher{fs: fs, ep: ep, cfg: cfg, byFD: map[int]*watched{}, inotify: -1, pending: map[*watched]pend{}}
	// A pipe wakes the loop when ctx is done.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		_ = unix.Close(ep)
		return nil, fmt.Errorf("cgroup: pipe: %w", err)
	}
	w.wakeR, w.wakeW = p[0], p[1]
	if err := w.poll(w.wakeR); err != nil {
		w.close()
		return nil, err
	}
	for _, path := range paths {
		if err := w.add(path); err != nil {
			w.close()
			return nil, err
		}
	}
	out := make(chan Event, 64)
	var once sync.Once
	go func() {
		<-ctx.Done()
		once.Do(func() { _, _ = unix.Write(w.wakeW, []byte{1}) })
	}()
	go func() {
		defer close(out)
		defer w.close()
		w.loop(ctx, out)
	}()
	return out, nil
}

// pend is a cgroup being re-read: fast while an OOM notification's kill is
// not counted yet (the latency of the event), slowly for a while after an
// event (kills a coalesced notification stood for).
type pend struct {
	until time.Time
	fast  bool
}

type watcher struct {
	fs           *FS
	ep           int
	cfg          watchConfig
	byFD         map[int]*watched
	inotify      int
	inoWD        map[int]*watched
	wakeR, wakeW int
	live         int
	pending      map[*watched]pend // cgroups re-read after an OOM wake-up
	probeBuf     [512]byte
}

func (w *watcher) poll(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("cgroup: epoll add: %w", err)
	}
	return nil
}

func (w *watcher) close() {
	for _, c := range w.byFD {
		for _, fd := range c.fds {
			_ = unix.Close(fd)
		}
		c.fds = nil
	}
	if w.inotify >= 0 {
		_ = unix.Close(w.inotify)
	}
	_ = unix.Close(w.wakeR)
	_ = unix.Close(w.wakeW)
	_ = unix.Close(w.ep)
}

func (w *watcher) add(path string) error {
	cg, err := w.fs.Cgroup(path)
	if err != nil {
		return err
	}
	snap, err := cg.Snapshot()
	if err != nil {
		return err
	}
	c := &watched{cg: cg, last: snap, oomFD: -1, probeFD: -1, thresh: map[int]float64{}}
	if cg.Version() == V2 {
		err = w.addV2(c)
	} else {
		err = w.addV1(c)
	}
	if err != nil {
		for _, fd := range c.fds {
			_ = unix.Close(fd)
		}
		return err
	}
	w.live++
	return nil
}

// register makes an eventfd fire on events of file (v1 cgroup.event_control).
func register(dir, file, arg string) (efd, ffd int, err error) {
	efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, -1, fmt.Errorf("cgroup: eventfd: %w", err)
	}
	ffd, err = unix.Open(filepath.Join(dir, file), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = unix.Close(efd)
		return -1, -1, fmt.Errorf("cgroup: open %s: %w", filepath.Join(dir, file), goneErr(err))
	}
	line := strconv.Itoa(efd) + " " + strconv.Itoa(ffd)
	if arg != "" {
		line += " " + arg
	}
	ctl := filepath.Join(dir, "cgroup.event_control")
	if err := os.WriteFile(ctl, []byte(line), 0); err != nil {
		_ = unix.Close(efd)
		_ = unix.Close(ffd)
		return -1, -1, fmt.Errorf("cgroup: register %s on %s: %w", file, ctl, goneErr(err))
	}
	return efd, ffd, nil
}

func (w *watcher) addV1(c *watched) error {
	efd, ffd, err := register(c.cg.dir, "memory.oom_control", "")
	if err != nil {
		return err
	}
	c.fds = append(c.fds, efd, ffd)
	c.oomFD, c.probeFD = efd, ffd
	w.byFD[efd] = c
	if err := w.poll(efd); err != nil {
		return err
	}
	if c.last.Limit.Set() {
		for _, f := range w.cfg.fractions {
			at := strconv.FormatInt(int64(f*float64(c.last.Limit.Bytes)), 10)
			tfd, ufd, err := register(c.cg.dir, "memory.usage_in_bytes", at)
			if err != nil {
				return err
			}
			c.fds = append(c.fds, tfd, ufd)
			c.thresh[tfd] = f
			w.byFD[tfd] = c
			if err := w.poll(tfd); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *watcher) addV2(c *watched) error {
	if w.inotify < 0 {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
		if err != nil {
			return fmt.Errorf("cgroup: inotify: %w", err)
		}
		w.inotify, w.inoWD = fd, map[int]*watched{}
		if err := w.poll(fd); err != nil {
			return err
		}
	}
	for _, f := range []string{"memory.events", "cgroup.events"} {
		wd, err := unix.InotifyAddWatch(w.inotify, filepath.Join(c.cg.dir, f), unix.IN_MODIFY|unix.IN_DELETE_SELF|unix.IN_IGNORED)
		if err != nil {
			if f == "cgroup.events" && errors.Is(err, unix.ENOENT) {
				continue // older kernels
			}
			return fmt.Errorf("cgroup: inotify %s: %w", filepath.Join(c.cg.dir, f), goneErr(err))
		}
		w.inoWD[wd] = c
	}
	fd, err := unix.Open(filepath.Join(c.cg.dir, "memory.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup: open %s: %w", filepath.Join(c.cg.dir, "memory.events"), goneErr(err))
	}
	c.fds = append(c.fds, fd)
	c.probeFD = fd
	return nil
}

// unchanged reads the cgroup's OOM counters alone (one pread of the kept
// descriptor, where a snapshot reads a dozen files) and reports whether
// they still match its last snapshot. Any doubt (a read error, the cgroup
// gone, a kernel without the oom_kill count) answers false, so the caller
// takes a full snapshot.
func (w *watcher) unchanged(c *watched) bool {
	if c.probeFD < 0 {
		return false
	}
	n, err := unix.Pread(c.probeFD, w.probeBuf[:], 0)
	if err != nil || n <= 0 {
		return false
	}
	b := w.probeBuf[:n]
	if c.cg.Version() == V2 {
		var ev Events
		if parseEvents(b, "memory.events", &ev) != nil || !ev.OOMKill.Known {
			return false
		}
		return ev.OOM == c.last.Events.OOM && ev.OOMKill == c.last.Events.OOMKill
	}
	oc, err := parseOOMControl(b, "memory.oom_control")
	return err == nil && oc.oomKill.Known && oc.oomKill == c.last.LocalEvents.OOMKill
}

func (w *watcher) loop(ctx context.Context, out chan<- Event) {
	events := make([]unix.EpollEvent, 32)
	buf := make([]byte, 4096)
	for w.live > 0 {
		timeout := -1
		for _, p := range w.pending {
			timeout = 20
			if p.fast {
				timeout = 1
				break
			}
		}
		n, err := unix.EpollWait(w.ep, events, timeout)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		for _, e := range events[:n] {
			fd := int(e.Fd)
			switch fd {
			case w.wakeR:
				return
			case w.inotify:
				w.inotifyEvents(ctx, buf, out)
			default:
				c := w.byFD[fd]
				if c == nil || c.removed {
					continue
				}
				_, _ = unix.Read(fd, buf[:8]) // reset the eventfd counter
				if f, ok := c.thresh[fd]; ok {
					w.emit(ctx, c, EventThreshold, f, out)
				} else {
					w.emit(ctx, c, EventOOM, 0, out)
				}
			}
		}
		w.recheck(ctx, out)
	}
}

func (w *watcher) inotifyEvents(ctx context.Context, buf []byte, out chan<- Event) {
	n, err := unix.Read(w.inotify, buf)
	if err != nil || n < unix.SizeofInotifyEvent {
		return
	}
	seen := map[*watched]bool{}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		off += unix.SizeofInotifyEvent + int(ev.Len)
		if c := w.inoWD[int(ev.Wd)]; c != nil && !c.removed {
			seen[c] = true
		}
	}
	for c := range seen {
		w.emit(ctx, c, EventOOM, 0, out)
	}
}

// emit snapshots the cgroup and reports what changed since its last
// event. An OOM notification can come before the kill it announces is
// counted (v1 signals at the OOM, the kill follows, later still under
// load), so an OOM wake-up without a counter change leaves the cgroup
// pending: the loop re-reads it every few milliseconds for a while, and
// the next event's Delta includes whatever moved meanwhile.
func (w *watcher) emit(ctx context.Context, c *watched, kind EventKind, frac float64, out chan<- Event) {
	if kind == EventOOM && c.pids == nil {
		// First, while the victim may still be there (v1 notifies before
		// the kill); best effort, the cgroup may be going.
		c.pids, _ = c.cg.PIDs()
	}
	snap, err := c.cg.Snapshot()
	if err != nil {
		delete(w.pending, c)
		if errors.Is(err, ErrGone) || errors.Is(err, ErrNotFound) {
			w.remove(c)
			send(ctx, out, Event{Kind: EventRemoved, Path: c.cg.path, Time: w.fs.clock(), Monotonic: monotonic(), Snapshot: c.last, Err: err})
			return
		}
		send(ctx, out, Event{Kind: kind, Path: c.cg.path, Time: w.fs.clock(), Monotonic: monotonic(), Err: err})
		return
	}
	d, derr := Diff(c.last, snap)
	moved := derr == nil && (d.OOMKills().N > 0 || d.Events.OOMKill.N > 0 || d.Events.OOM.N > 0 || d.LocalEvents.OOM.N > 0)
	switch {
	case kind == EventOOM && !moved:
		if c.cg.Version() == V2 {
			if ok, _ := populated(c.cg.dir); !ok {
				delete(w.pending, c)
				w.remove(c)
				send(ctx, out, Event{Kind: EventRemoved, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Snapshot: snap})
				return
			}
		}
		if p, ok := w.pending[c]; !ok || !p.fast {
			w.pending[c] = pend{until: time.Now().Add(w.cfg.settle), fast: true}
		}
		return
	case kind == EventThreshold && snap.Limit.Set() && float64(snap.Usage.Bytes) < frac*float64(snap.Limit.Bytes):
		return // v1 thresholds fire both ways: only the upward crossing warns
	case kind == EventThreshold:
		send(ctx, out, Event{Kind: kind, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Snapshot: snap, Fraction: frac})
		return
	}
	// Keep re-reading a while: one notification can stand for several
	// OOMs whose kills land after this snapshot, and no further
	// notification will come for them.
	w.pending[c] = pend{until: time.Now().Add(w.cfg.settle)}
	c.last = snap
	pids := c.pids
	c.pids = nil
	send(ctx, out, Event{Kind: kind, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Delta: d, Snapshot: snap, Fraction: frac, PIDs: pids})
}

// recheck re-reads the pending cgroups' OOM counters, snapshotting those
// that moved, and drops those whose wait ran out.
func (w *watcher) recheck(ctx context.Context, out chan<- Event) {
	now := time.Now()
	for c, p := range w.pending {
		if c.removed || now.After(p.until) {
			delete(w.pending, c)
			continue
		}
		if w.unchanged(c) {
			continue
		}
		w.emit(ctx, c, EventOOM, 0, out)
	}
}

// populated reads v2 cgroup.events' populated line; ok false when the file
// is gone or says 0.
func populated(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	var ok bool
	_ = forEachKV(b, "cgroup.events", func(k []byte, v uint64) error {
		if string(k) == "populated" {
			ok = v == 1
		}
		return nil
	})
	return ok, nil
}

func (w *watcher) remove(c *watched) {
	if c.removed {
		return
	}
	c.removed = true
	for _, fd := range c.fds {
		_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_DEL, fd, nil)
		delete(w.byFD, fd)
		_ = unix.Close(fd)
	}
	c.fds = nil
	w.live--
}

func send(ctx context.Context, out chan<- Event, e Event) {
	select {
	case out <- e:
	case <-ctx.Done():
	}
}
