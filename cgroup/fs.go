package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// DefaultRoot is where the cgroup filesystems are mounted on a real host.
const DefaultRoot = "/sys/fs/cgroup"

// DefaultProcRoot is where procfs is mounted on a real host.
const DefaultProcRoot = "/proc"

// Mode is the shape of a host's cgroup mounts.
type Mode int

const (
	// ModeUnknown is the zero Mode.
	ModeUnknown Mode = iota
	// ModeV1 has only legacy (v1) hierarchies.
	ModeV1
	// ModeHybrid has the memory controller on a v1 hierarchy and an
	// (often empty) cgroup2 mount beside it, as systemd's "hybrid" setup.
	ModeHybrid
	// ModeV2 has the unified hierarchy only.
	ModeV2
)

// String returns "v1", "hybrid", "v2" or "unknown".
func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeHybrid:
		return "hybrid"
	case ModeV2:
		return "v2"
	default:
		return "unknown"
	}
}

// Layout says where the memory controller lives on a host.
type Layout struct {
	Mode Mode `json:"mode"`
	// Memory is the version the memory controller speaks (V1 on v1 and
	// hybrid hosts, V2 on unified hosts).
	Memory Version `json:"memory"`
	// MemoryDir is the directory the memory hierarchy is mounted on, as a
	// path to open: the FS root joined with the mount point's place below
	// /sys/fs/cgroup ("/sys/fs/cgroup/memory" on a v1 host,
	// "<fixture>/sys/fs/cgroup/memory" on a fixture).
	MemoryDir string `json:"memory_dir"`
	// MemoryMountRoot is the cgroup path that MemoryDir shows ("/" unless
	// the reader sits in a container whose mount exposes only its own
	// subtree, as mountinfo's root field says).
	MemoryMountRoot string `json:"memory_mount_root"`
	// UnifiedDir is the cgroup2 mount's directory (the same kind of path as
	// MemoryDir), or "" when there is none.
	UnifiedDir string `json:"unified_dir"`
}

// FS reads cgroup memory state below a root directory: /sys/fs/cgroup on a
// real host, or a fixture tree. It is safe for concurrent use.
type FS struct {
	root     string
	procRoot string
	clock    func() time.Time
	layout   Layout
	realMem  string // MemoryDir with its symlinks resolved
}

// Option configures NewFS.
type Option func(*FS) error

// WithRoot sets the cgroup root (default /sys/fs/cgroup).
func WithRoot(dir string) Option {
	return func(fs *FS) error {
		if dir == "" {
			return errors.New("cgroup: WithRoot: empty directory")
		}
		fs.root = filepath.Clean(dir)
		return nil
	}
}

// WithProcRoot sets the procfs root (default /proc). A fixture host keeps
// self/mountinfo, <pid>/cgroup, <pid>/status and pressure/memory there.
func WithProcRoot(dir string) Option {
	return func(fs *FS) error {
		if dir == "" {
			return errors.New("cgroup: WithProcRoot: empty directory")
		}
		fs.procRoot = filepath.Clean(dir)
		return nil
	}
}

// WithClock sets the clock that stamps snapshots (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(fs *FS) error {
		if now == nil {
			return errors.New("cgroup: WithClock: nil clock")
		}
		fs.clock = now
		return nil
	}
}

// NewFS returns an FS after detecting the host's layout: from
// <procroot>/self/mountinfo when it names a memory controller, else from
// the tree itself (a fixture without mountinfo). It returns an error
// wrapping ErrNotFound when no memory controller is found.
func NewFS(opts ...Option) (*FS, error) {
	fs := &FS{root: DefaultRoot, procRoot: DefaultProcRoot, clock: time.Now}
	for _, o := range opts {
		if err := o(fs); err != nil {
			return nil, err
		}
	}
	l, err := fs.detect()
	if err != nil {
		return nil, err
	}
	fs.layout = l
	if fs.realMem, err = filepath.EvalSymlinks(l.MemoryDir); err != nil {
		return nil, fmt.Errorf("cgroup: memory hierarchy %s: %w", l.MemoryDir, err)
	}
	return fs, nil
}

// inside returns ErrOutsideRoot when dir, its symlinks resolved, lies
// outside the memory hierarchy: a symlink in a tree (cgroupfs has none)
// must not lead the reader elsewhere.
func (fs *FS) inside(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, goneErr(err))
	}
	if real != fs.realMem && !strings.HasPrefix(real, fs.realMem+string(filepath.Separator)) {
		return fmt.Errorf("%s resolves to %s: %w", dir, real, ErrOutsideRoot)
	}
	return nil
}

// Layout returns the detected layout.
func (fs *FS) Layout() Layout { return fs.layout }

// Root returns the cgroup root directory.
func (fs *FS) Root() string { return fs.root }

// ProcRoot returns the procfs root directory.
func (fs *FS) ProcRoot() string { return fs.procRoot }

func (fs *FS) detect() (Layout, error) {
	mi := filepath.Join(fs.procRoot, "self", "mountinfo")
	f, err := os.Open(mi)
	if err == nil {
		defer f.Close()
		l, err := fs.layoutFromMountinfo(f, mi)
		if err != nil {
			return Layout{}, err
		}
		if l.Mode != ModeUnknown {
			return l, nil
		}
	}
	return fs.layoutFromTree()
}

// mount is one cgroup line of mountinfo.
type mount struct {
	root, point, fstype string
	memory              bool
}

// parseMountinfo returns the cgroup and cgroup2 mounts in a mountinfo file
// (proc(5): "id parent major:minor root point options [optional...] - fstype
// source superoptions").
func parseMountinfo(r io.Reader, name string) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		pre, post, ok := strings.Cut(text, " - ")
		fields := strings.Fields(pre)
		tail := strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			return nil, &ParseError{Path: name, Line: line, Text: text, Err: errMalformed}
		}
		fstype := tail[0]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		m := mount{root: unescapeMount(fields[3]), point: unescapeMount(fields[4]), fstype: fstype}
		if fstype == "cgroup" && len(tail) >= 3 {
			for opt := range strings.SplitSeq(tail[2], ",") {
				if opt == "memory" {
					m.memory = true
				}
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroup: read %s: %w", name, err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func (fs *FS) layoutFromMountinfo(r io.Reader, name string) (Layout, error) {
	mounts, err := parseMountinfo(r, name)
	if err != nil {
		return Layout{}, err
	}
	var l Layout
	var v2 *mount
	for i := range mounts {
		m := &mounts[i]
		dir, ok := fs.underRoot(m.point)
		if !ok {
			continue
		}
		switch {
		case m.fstype == "cgroup" && m.memory && l.MemoryDir == "":
			l.MemoryDir, l.MemoryMountRoot = dir, m.root
		case m.fstype == "cgroup2" && v2 == nil:
			v2 = m
			l.UnifiedDir = dir
		}
	}
	switch {
	case l.MemoryDir != "" && l.UnifiedDir != "":
		l.Mode, l.Memory = ModeHybrid, V1
	case l.MemoryDir != "":
		l.Mode, l.Memory = ModeV1, V1
	case v2 != nil:
		if !fileExists(filepath.Join(l.UnifiedDir, "memory.max")) && !controllerEnabled(l.UnifiedDir, "memory") {
			return Layout{}, nil // a cgroup2 mount without the memory controller
		}
		l.Mode, l.Memory, l.MemoryDir, l.MemoryMountRoot = ModeV2, V2, l.UnifiedDir, v2.root
	}
	return l, nil
}

// underRoot maps a mount point the kernel prints (absolute, host view) to a
// directory under the FS root. On a real host the root is /sys/fs/cgroup
// and the point is used as is; on a fixture host the /sys/fs/cgroup prefix
// is replaced by the fixture root.
func (fs *FS) underRoot(point string) (string, bool) {
	point = path.Clean(point)
	if point == DefaultRoot {
		return fs.root, true
	}
	rel, ok := strings.CutPrefix(point, DefaultRoot+"/")
	if !ok {
		return "", false
	}
	return filepath.Join(fs.root, filepath.FromSlash(rel)), true
}

func (fs *FS) layoutFromTree() (Layout, error) {
	memDir := filepath.Join(fs.root, "memory")
	hasV1 := fileExists(filepath.Join(memDir, "memory.limit_in_bytes"))
	unified := ""
	for _, d := range []string{filepath.Join(fs.root, "unified"), fs.root} {
		if fileExists(filepath.Join(d, "cgroup.controllers")) {
			unified = d
			break
		}
	}
	switch {
	case hasV1 && unified != "":
		return Layout{Mode: ModeHybrid, Memory: V1, MemoryDir: memDir, MemoryMountRoot: "/", UnifiedDir: unified}, nil
	case hasV1:
		return Layout{Mode: ModeV1, Memory: V1, MemoryDir: memDir, MemoryMountRoot: "/"}, nil
	case unified == fs.root && controllerEnabled(fs.root, "memory"):
		return Layout{Mode: ModeV2, Memory: V2, MemoryDir: fs.root, MemoryMountRoot: "/", UnifiedDir: fs.root}, nil
	}
	return Layout{}, fmt.Errorf("cgroup: no memory controller under %s (neither memory/memory.limit_in_bytes nor cgroup.controllers with memory): %w", fs.root, ErrNotFound)
}

func controllerEnabled(dir, name string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range bytes.Fields(data) {
		if string(c) == name {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// dirOf maps a cgroup path as the kernel prints it to its directory under
// the memory hierarchy. It returns ErrOutsideRoot for a path that escapes
// the hierarchy or lies outside what the mount shows.
func (fs *FS) dirOf(cgPath string) (string, string, error) {
	if cgPath == "" {
		cgPath = "/"
	}
	if !strings.HasPrefix(cgPath, "/") {
		cgPath = "/" + cgPath
	}
	for seg := range strings.SplitSeq(cgPath, "/") {
		if seg == ".." {
			return "", "", fmt.Errorf("cgroup: path %q: %w", cgPath, ErrOutsideRoot)
		}
	}
	clean := path.Clean(cgPath)
	mroot := fs.layout.MemoryMountRoot
	if mroot == "" {
		mroot = "/"
	}
	rel := clean
	if mroot != "/" {
		r, ok := strings.CutPrefix(clean, mroot)
		if !ok || (r != "" && !strings.HasPrefix(r, "/")) {
			return "", "", fmt.Errorf("cgroup: path %q is outside the mounted subtree %q: %w", clean, mroot, ErrOutsideRoot)
		}
		rel = r
	}
	return clean, filepath.Join(fs.layout.MemoryDir, filepath.FromSlash(rel)), nil
}
