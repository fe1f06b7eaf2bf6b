package cgroup

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	// EventAdded is a child cgroup of a WithChildrenOf parent, created
	// while the watch runs, now watched too.
	EventAdded
)

// String returns "oom", "threshold", "removed" or "added".
func (k EventKind) String() string {
	switch k {
	case EventOOM:
		return "oom"
	case EventThreshold:
		return "threshold"
	case EventRemoved:
		return "removed"
	case EventAdded:
		return "added"
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
	// The kernel counted the crossing; Snapshot is read when the watch
	// handles it and can show the usage back under the fraction (a climb
	// that ended in a kill before the watch looked).
	Fraction float64 `json:"fraction,omitempty"`
	// PIDs, for EventOOM, are the processes seen in the cgroup before the
	// kill: those read when the OOM was announced (v1 notifies before it
	// kills) and those read earlier (at the start of the watch, at a
	// threshold, after the previous event), minus the victims earlier
	// events named (a victim can linger in cgroup.procs, exiting, past the
	// next kill). A kernel report whose header was rate-limited names
	// only the victim's pid; these tie it to the cgroup
	// (oom.Evidence.PIDs).
	PIDs []int `json:"pids"`
	// Victims are the PIDs that were gone, dead or had a SIGKILL pending
	// when the event was taken: the kernel signals its victim before it
	// counts the kill, so these are the kills' victims (a process that
	// exited by itself in the same instant would be among them too). A
	// process is named by one event of a cgroup at most.
	Victims []int `json:"victims"`
	// VictimMissed says that PIDs may not hold every victim: the event
	// counts more kills than Victims has (a process that started and was
	// killed between two reads of cgroup.procs), or the kill count is
	// unknown. Then a rate-limited kernel report cannot be tied to the
	// cgroup by PID alone.
	VictimMissed bool `json:"victim_missed"`
	// Err is set when the cgroup could not be read at the event.
	Err error `json:"-"`
}

// WatchOption configures Watch: WithThresholds, WithChildrenOf.
type WatchOption struct{ apply func(*watchConfig) error }

type watchConfig struct {
	fractions []float64
	settle    time.Duration
	parents   []string
	workers   int
}

// WithThresholds sets the fractions of the limit whose upward crossing is
// reported (default 0.8 and 0.9, the common alerting practice); none
// disables them. On cgroup v1 they are kernel thresholds (eventfd on
// memory.usage_in_bytes): no polling. On cgroup v2 the kernel has no usage
// threshold and none is reported.
func WithThresholds(fractions ...float64) WatchOption {
	return WatchOption{func(c *watchConfig) error {
		for _, f := range fractions {
			if !(f > 0 && f < 1) {
				return fmt.Errorf("cgroup: threshold %v outside (0,1)", f)
			}
		}
		c.fractions = slices.Clone(fractions)
		slices.Sort(c.fractions)
		c.fractions = slices.Compact(c.fractions)
		return nil
	}}
}

// WithChildrenOf also watches the child cgroups of these parents (for
// example /docker, or /kubepods/burstable): those there when the watch
// starts, and those created while it runs (inotify on the parents'
// directories), each announced by an EventAdded. A parent that does not
// exist is an error wrapping ErrNotFound.
func WithChildrenOf(parents ...string) WatchOption {
	return WatchOption{func(c *watchConfig) error {
		c.parents = append(c.parents, parents...)
		return nil
	}}
}

// monotonic returns CLOCK_MONOTONIC.
func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// watched is one cgroup under watch.
type watched struct {
	cg    *Cgroup
	last  MemorySnapshot
	fds   []int // every descriptor to close
	oomFD int   // eventfd (v1), -1 none
	// thrFDs are the eventfds of the usage thresholds (v1), one per
	// fraction in order; above is where the kernel last saw the usage
	// against each: every signal of a threshold's eventfd is one crossing,
	// either way, so the count since the last read tells whether the
	// usage went above even when it came back down before the watch
	// looked (a climb to a kill).
	thrFDs []int
	above  []bool
	// known are the processes last read in the cgroup (at the start of
	// the watch, at thresholds, after an event); pids those read at OOM
	// notifications whose kill is not reported yet.
	known, pids []int
	// reported are the victims named by this cgroup's earlier events
	// that cgroup.procs still listed at the last read: an OOM victim can
	// linger there, exiting or a zombie, past the next kill (seconds under
	// CPU load), and must not be taken for that kill's victim. A pid is
	// dropped once a read no longer lists it, so a reused pid is a new
	// process again.
	reported map[int]bool
	// probeFD holds the OOM counters open (v1 memory.oom_control, v2
	// memory.events) for the cheap re-reads of a pending cgroup; -1 none.
	probeFD int
	removed bool
}

// Watch reports OOM kills, threshold crossings and removal of the cgroups
// at paths until ctx is done; the channel is closed then (and when every
// cgroup is gone). Paths are cleaned and watched once each.
//
// v1 uses eventfd notifications registered through cgroup.event_control on
// memory.oom_control (which never fires for a global OOM: a global kill
// shows in the next event's Delta) and on memory.usage_in_bytes thresholds;
// v2 uses inotify on memory.events and cgroup.events. Every wake-up is
// reconciled against the counters. Descriptors held per cgroup: v1 two
// (the OOM eventfd, memory.oom_control) and one eventfd per threshold,
// four with the default thresholds; v2 one (memory.events; the inotify
// instance is shared); plus three for the whole watch (epoll, a wake-up
// pipe) and an inotify instance on v2 or with WithChildrenOf.
//
// Registering a v1 threshold costs the kernel an RCU grace period (10-30 ms
// of waiting, little CPU), so Watch registers many cgroups side by side: a
// thousand cgroups with two thresholds each are armed in well under 2 s
// (BenchmarkWatchArm1000). Watch returns when every cgroup is armed, or
// with ctx's error, all undone, when ctx ends first.
//
// Watch writes to the tree only on v1, and only to each cgroup's existing
// cgroup.event_control, as the kernel's interface requires; it creates
// nothing. It returns an error wrapping ErrNotFound for a path that does
// not exist, and ErrUnsupported on a v1 tree whose cgroups have no
// cgroup.event_control or that is no cgroup filesystem (a fixture: the
// kernel would never notify).
func (fs *FS) Watch(ctx context.Context, paths []string, opts ...WatchOption) (<-chan Event, error) {
	cfg := watchConfig{fractions: []float64{0.8, 0.9}, settle: time.Second, workers: 64}
	for _, o := range opts {
		if o.apply == nil {
			continue // the zero WatchOption changes nothing
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cgroup: epoll: %w", err)
	}
	w := &watcher{fs: fs, ep: ep, cfg: cfg, byFD: map[int]*watched{}, byPath: map[string]*watched{}, inotify: -1, pending: map[*watched]pend{}}
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
	var cgs []*Cgroup
	seen := map[string]bool{}
	for _, path := range paths {
		cg, err := fs.Cgroup(path)
		if err != nil {
			w.close()
			return nil, err
		}
		if !seen[cg.path] {
			seen[cg.path] = true
			cgs = append(cgs, cg)
		}
	}
	for _, parent := range cfg.parents {
		cg, err := fs.Cgroup(parent)
		if err != nil {
			w.close()
			return nil, err
		}
		if err := w.watchParent(cg); err != nil {
			w.close()
			return nil, err
		}
		kids, err := cg.Children()
		if err != nil {
			w.close()
			return nil, err
		}
		for _, k := range kids {
			if !seen[k.path] {
				seen[k.path] = true
				cgs = append(cgs, k)
			}
		}
	}
	if fs.layout.Memory != V2 && len(cgs) > 0 {
		if err := notifiable(cgs[0].dir); err != nil {
			w.close()
			return nil, err
		}
	}
	if err := w.addAll(ctx, cgs); err != nil {
		w.close()
		return nil, err
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

// notifiable reports ErrUnsupported for a v1 directory that is not on the
// kernel's cgroup filesystem: cgroup.event_control there would never
// notify (a fixture tree).
func notifiable(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("cgroup: statfs %s: %w", dir, goneErr(err))
	}
	if st.Type != unix.CGROUP_SUPER_MAGIC {
		return fmt.Errorf("cgroup: watch %s: not a cgroup v1 filesystem (a fixture?): the kernel cannot notify: %w", dir, ErrUnsupported)
	}
	return nil
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
	mu           sync.Mutex // guards byFD, byPath, inoWD and live while arming
	byFD         map[int]*watched
	byPath       map[string]*watched
	inotify      int
	inoWD        map[int]*watched
	parentWD     map[int]*Cgroup
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
	for _, c := range w.byPath {
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

// initInotify creates the shared inotify instance.
func (w *watcher) initInotify() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inotify >= 0 {
		return nil
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("cgroup: inotify: %w", err)
	}
	w.inotify, w.inoWD, w.parentWD = fd, map[int]*watched{}, map[int]*Cgroup{}
	return w.poll(fd)
}

// watchParent asks inotify for the directories created in a parent.
func (w *watcher) watchParent(cg *Cgroup) error {
	if err := w.initInotify(); err != nil {
		return err
	}
	wd, err := unix.InotifyAddWatch(w.inotify, cg.dir, unix.IN_CREATE|unix.IN_ONLYDIR)
	if err != nil {
		return fmt.Errorf("cgroup: inotify %s: %w", cg.dir, goneErr(err))
	}
	w.parentWD[wd] = cg
	return nil
}

// addAll arms the cgroups side by side (a v1 threshold registration
// waits for an RCU grace period), stopping at the first error or when ctx
// ends.
func (w *watcher) addAll(ctx context.Context, cgs []*Cgroup) error {
	if len(cgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan *Cgroup)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(w.cfg.workers, len(cgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cg := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := w.add(ctx, cg); err != nil {
					errOnce.Do(func() { firstErr = err })
					cancel()
				}
			}
		}()
	}
	for _, cg := range cgs {
		select {
		case next <- cg:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (w *watcher) add(ctx context.Context, cg *Cgroup) error {
	snap, err := cg.Snapshot()
	if err != nil {
		return err
	}
	c := &watched{cg: cg, last: snap, oomFD: -1, probeFD: -1}
	c.known, _ = cg.PIDs()
	if cg.Version() == V2 {
		err = w.addV2(c)
	} else {
		err = w.addV1(ctx, c)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		if _, dup := w.byPath[cg.path]; dup {
			err = errDuplicate
		}
	}
	if err != nil {
		for _, fd := range c.fds {
			_ = unix.Close(fd)
		}
		if w.inoWD != nil {
			for wd, x := range w.inoWD {
				if x == c {
					_, _ = unix.InotifyRmWatch(w.inotify, uint32(wd))
					delete(w.inoWD, wd)
				}
			}
		}
		return err
	}
	w.byPath[cg.path] = c
	for _, fd := range append([]int{c.oomFD}, c.thrFDs...) {
		if fd >= 0 {
			w.byFD[fd] = c
		}
	}
	w.live++
	return nil
}

var errDuplicate = errors.New("cgroup: already watched")

// registrar writes cgroup.event_control lines for one v1 cgroup: the
// kernel's interface for eventfd notifications. It opens the existing file
// for writing (never creating it).
type registrar struct {
	dir string
	ctl int
}

func openRegistrar(dir string) (*registrar, error) {
	ctl := filepath.Join(dir, "cgroup.event_control")
	fd, err := unix.Open(ctl, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			if _, serr := os.Stat(dir); serr == nil {
				return nil, fmt.Errorf("cgroup: watch %s: no cgroup.event_control: %w", dir, ErrUnsupported)
			}
		}
		return nil, fmt.Errorf("cgroup: open %s: %w", ctl, goneErr(err))
	}
	return &registrar{dir: dir, ctl: fd}, nil
}

func (r *registrar) close() { _ = unix.Close(r.ctl) }

// register makes efd fire on events of the open file ffd ("<efd> <ffd>
// [args]"); the kernel keeps its own reference to efd, not to ffd.
func (r *registrar) register(efd, ffd int, file, arg string) error {
	line := strconv.Itoa(efd) + " " + strconv.Itoa(ffd)
	if arg != "" {
		line += " " + arg
	}
	if _, err := unix.Write(r.ctl, []byte(line)); err != nil {
		return fmt.Errorf("cgroup: register %s %s in %s: %w", file, arg, r.dir, goneErr(err))
	}
	return nil
}

func (w *watcher) addV1(ctx context.Context, c *watched) error {
	r, err := openRegistrar(c.cg.dir)
	if err != nil {
		return err
	}
	defer r.close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("cgroup: eventfd: %w", err)
	}
	c.fds = append(c.fds, efd)
	ofd, err := openFile(filepath.Join(c.cg.dir, "memory.oom_control"))
	if err != nil {
		return err
	}
	c.fds = append(c.fds, ofd)
	if err := r.register(efd, ofd, "memory.oom_control", ""); err != nil {
		return err
	}
	c.oomFD, c.probeFD = efd, ofd
	if err := w.poll(efd); err != nil {
		return err
	}
	if !c.last.Limit.Set() || len(w.cfg.fractions) == 0 {
		return nil
	}
	ufd, err := openFile(filepath.Join(c.cg.dir, "memory.usage_in_bytes"))
	if err != nil {
		return err
	}
	defer unix.Close(ufd) // the kernel keeps no reference to it
	c.above = make([]bool, len(w.cfg.fractions))
	for i, f := range w.cfg.fractions {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fmt.Errorf("cgroup: eventfd: %w", err)
		}
		c.fds = append(c.fds, tfd)
		at := int64(f * float64(c.last.Limit.Bytes))
		if err := r.register(tfd, ufd, "memory.usage_in_bytes", strconv.FormatInt(at, 10)); err != nil {
			return err
		}
		// The kernel placed the usage against the threshold when it
		// registered it; the closest read of that is the one right after.
		c.above[i] = c.last.Usage.Known && int64(c.last.Usage.Bytes) >= at
		var b [32]byte
		if n, err := unix.Pread(ufd, b[:], 0); err == nil {
			if usage, err := parseUint(bytes.TrimSpace(b[:n])); err == nil {
				c.above[i] = int64(usage) >= at
			}
		}
		c.thrFDs = append(c.thrFDs, tfd)
		if err := w.poll(tfd); err != nil {
			return err
		}
	}
	return nil
}

func (w *watcher) addV2(c *watched) error {
	if err := w.initInotify(); err != nil {
		return err
	}
	for _, f := range []string{"memory.events", "cgroup.events"} {
		wd, err := unix.InotifyAddWatch(w.inotify, filepath.Join(c.cg.dir, f), unix.IN_MODIFY|unix.IN_DELETE_SELF|unix.IN_IGNORED)
		if err != nil {
			if f == "cgroup.events" && errors.Is(err, unix.ENOENT) {
				continue // older kernels
			}
			return fmt.Errorf("cgroup: inotify %s: %w", filepath.Join(c.cg.dir, f), goneErr(err))
		}
		w.mu.Lock()
		w.inoWD[wd] = c
		w.mu.Unlock()
	}
	fd, err := openFile(filepath.Join(c.cg.dir, "memory.events"))
	if err != nil {
		return err
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
	nextRefresh := time.Now().Add(pidRefresh)
	for w.live > 0 || len(w.parentWD) > 0 {
		timeout := int(time.Until(nextRefresh).Milliseconds()) + 1
		for _, p := range w.pending {
			timeout = min(timeout, 20)
			if p.fast {
				timeout = 1
				break
			}
		}
		if time.Now().After(nextRefresh) {
			w.refreshPIDs()
			nextRefresh = time.Now().Add(pidRefresh)
		}
		n, err := unix.EpollWait(w.ep, events, max(timeout, 0))
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
				if slices.Contains(c.thrFDs, fd) {
					w.thresholds(ctx, c, out)
					continue
				}
				_, _ = unix.Read(fd, buf[:8]) // reset the eventfd counter
				// Crossings that came before the OOM are reported before it.
				w.thresholds(ctx, c, out)
				w.emit(ctx, c, EventOOM, out)
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
	var created []string
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := ""
		if ev.Len > 0 {
			raw := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			name = string(raw)
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
		if parent := w.parentWD[int(ev.Wd)]; parent != nil {
			if ev.Mask&unix.IN_IGNORED != 0 {
				delete(w.parentWD, int(ev.Wd)) // the parent went away
			} else if ev.Mask&unix.IN_CREATE != 0 && ev.Mask&unix.IN_ISDIR != 0 && name != "" {
				created = append(created, path.Join(parent.path, name))
			}
			continue
		}
		if c := w.inoWD[int(ev.Wd)]; c != nil && !c.removed {
			seen[c] = true
		}
	}
	for c := range seen {
		w.emit(ctx, c, EventOOM, out)
	}
	for _, p := range created {
		if w.byPath[p] != nil && !w.byPath[p].removed {
			continue
		}
		cg, err := w.fs.Cgroup(p)
		if err == nil {
			err = w.add(ctx, cg)
		}
		switch {
		case err == nil:
			c := w.byPath[p]
			send(ctx, out, Event{Kind: EventAdded, Path: p, Time: c.last.Time, Monotonic: monotonic(), Snapshot: c.last, PIDs: c.known})
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrGone):
			// created and removed at once
		default:
			send(ctx, out, Event{Kind: EventAdded, Path: p, Time: w.fs.clock(), Monotonic: monotonic(), Err: err})
		}
	}
}

// thresholds reads the counters of c's threshold eventfds and reports, in
// rising order, each fraction of the limit the usage crossed upward since
// the last read, though it may be back under it by now (after a kill). A
// counter is the number of crossings either way; from below, one or more
// include a rise, from above two or more.
func (w *watcher) thresholds(ctx context.Context, c *watched, out chan<- Event) {
	var rose []float64
	for i, fd := range c.thrFDs {
		var b [8]byte
		if n, err := unix.Read(fd, b[:]); err != nil || n != 8 {
			continue // nothing since the last read (EAGAIN)
		}
		crossings := binary.NativeEndian.Uint64(b[:])
		if crossings >= 2 || (crossings == 1 && !c.above[i]) {
			rose = append(rose, w.cfg.fractions[i])
		}
		if crossings%2 == 1 {
			c.above[i] = !c.above[i]
		}
	}
	if len(rose) == 0 {
		return
	}
	snap, err := c.cg.Snapshot()
	if err != nil {
		// Removal signals every eventfd too: emit reports the removal
		// or the error, and no crossing.
		w.emit(ctx, c, EventThreshold, out)
		return
	}
	if pids, err := c.cg.PIDs(); err == nil {
		c.known = c.present(pids)
	}
	for _, f := range rose {
		send(ctx, out, Event{Kind: EventThreshold, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Snapshot: snap, Fraction: f})
	}
}

// emit snapshots the cgroup and reports what changed since its last
// event. An OOM notification can come before the kill it announces is
// counted (v1 signals at the OOM, the kill follows, later still under
// load), so an OOM wake-up without a counter change leaves the cgroup
// pending: the loop re-reads it every few milliseconds for a while, and
// the next event's Delta includes whatever moved meanwhile.
func (w *watcher) emit(ctx context.Context, c *watched, kind EventKind, out chan<- Event) {
	if kind == EventOOM {
		// First, while the victim may still be there (v1 notifies before
		// the kill); best effort, the cgroup may be going.
		if pids, err := c.cg.PIDs(); err == nil {
			c.pids = union(c.pids, c.present(pids))
		}
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
	if kind != EventOOM || !moved {
		if kind == EventOOM && c.cg.Version() == V2 {
			if ok, _ := populated(c.cg.dir); !ok {
				delete(w.pending, c)
				w.remove(c)
				send(ctx, out, Event{Kind: EventRemoved, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Snapshot: snap})
				return
			}
		}
		if p, ok := w.pending[c]; kind == EventOOM && (!ok || !p.fast) {
			w.pending[c] = pend{until: time.Now().Add(w.cfg.settle), fast: true}
		}
		return
	}
	// Keep re-reading a while: one notification can stand for several
	// OOMs whose kills land after this snapshot, and no further
	// notification will come for them.
	w.pending[c] = pend{until: time.Now().Add(w.cfg.settle)}
	c.last = snap
	e := Event{Kind: kind, Path: c.cg.path, Time: snap.Time, Monotonic: monotonic(), Delta: d, Snapshot: snap}
	e.PIDs = slices.DeleteFunc(union(c.known, c.pids), func(p int) bool { return c.reported[p] })
	e.Victims = w.dying(e.PIDs)
	kills := d.OOMKills()
	e.VictimMissed = !kills.Known || uint64(len(e.Victims)) < kills.N
	// What is in the cgroup now, the victims of this and earlier events
	// left out (they may linger there a while), is what the next kill
	// can take.
	if c.reported == nil && len(e.Victims) > 0 {
		c.reported = map[int]bool{}
	}
	for _, v := range e.Victims {
		c.reported[v] = true
	}
	c.known = nil
	if now, err := c.cg.PIDs(); err == nil {
		c.known = c.present(now)
	}
	c.pids = nil
	send(ctx, out, e)
}

// pidRefresh is how often the processes of the cgroups at rest are read
// again, so that a process that exited long before a kill is not taken for
// its victim (about 10 µs a cgroup).
const pidRefresh = 5 * time.Second

// refreshPIDs reads again the processes of the cgroups no OOM is pending
// for.
func (w *watcher) refreshPIDs() {
	for _, c := range w.byPath {
		if c.removed {
			continue
		}
		if _, busy := w.pending[c]; busy {
			continue
		}
		if pids, err := c.cg.PIDs(); err == nil {
			c.known = c.present(pids)
		}
	}
}

// present returns pids, a fresh read of the cgroup's processes, without
// the victims earlier events named, and forgets those victims the read no
// longer lists. It filters pids in place.
func (c *watched) present(pids []int) []int {
	if len(c.reported) == 0 {
		return pids
	}
	for p := range c.reported {
		if !slices.Contains(pids, p) {
			delete(c.reported, p)
		}
	}
	return slices.DeleteFunc(pids, func(p int) bool { return c.reported[p] })
}

// dying returns the pids that are gone, dead or being killed: a SIGKILL
// pending, or exiting. The kernel sends the victim SIGKILL before it counts
// the kill, so at an event the victim is one of these.
func (w *watcher) dying(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if procDying(w.fs.procRoot, pid) {
			out = append(out, pid)
		}
	}
	return out
}

// procDying reads /proc/<pid>/status: gone, a zombie or dead, or SIGKILL
// pending (shared or private) is dying.
func procDying(procRoot string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH)
	}
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "State":
			if len(v) > 0 && (v[0] == 'Z' || v[0] == 'X') {
				return true
			}
		case "SigPnd", "ShdPnd":
			if m, err := strconv.ParseUint(string(v), 16, 64); err == nil && m&(1<<(unix.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

// union returns a with the pids of b it lacks appended.
func union(a, b []int) []int {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// recheck re-reads the pending cgroups' OOM counters, snapshotting those
// that moved, and drops those whose wait ran out (and the pids read at a
// notification that led to no event: they belong to no kill).
func (w *watcher) recheck(ctx context.Context, out chan<- Event) {
	now := time.Now()
	for c, p := range w.pending {
		if c.removed || now.After(p.until) {
			delete(w.pending, c)
			c.pids = nil
			continue
		}
		if w.unchanged(c) {
			continue
		}
		w.emit(ctx, c, EventOOM, out)
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
