package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Cgroup is one memory cgroup on an FS. It holds no open files: every
// Snapshot opens what it reads and closes it, so a Cgroup needs no Close.
// It is safe for concurrent use.
type Cgroup struct {
	fs   *FS
	path string // kernel view, "/" for the root
	dir  string
}

// Path returns the cgroup path as the kernel prints it ("/" for the root).
func (c *Cgroup) Path() string { return c.path }

// Dir returns the cgroup's directory as a path to open: Layout.MemoryDir
// joined with the cgroup path ("/sys/fs/cgroup/memory/docker/<id>").
func (c *Cgroup) Dir() string { return c.dir }

// Version returns the version the cgroup's memory controller speaks.
func (c *Cgroup) Version() Version { return c.fs.layout.Memory }

// FS returns the filesystem the cgroup was found on.
func (c *Cgroup) FS() *FS { return c.fs }

// Cgroup returns the memory cgroup at a path as the kernel prints it in
// /proc/<pid>/cgroup and OOM reports ("/docker/<id>"). It returns an error
// wrapping ErrNotFound when the cgroup does not exist, and ErrOutsideRoot
// when the path escapes the hierarchy.
func (fs *FS) Cgroup(p string) (*Cgroup, error) {
	clean, dir, err := fs.dirOf(p)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("cgroup: memory cgroup %s (%s): %w", clean, dir, ErrNotFound)
	}
	if err := fs.inside(dir); err != nil {
		return nil, fmt.Errorf("cgroup: memory cgroup %s: %w", clean, err)
	}
	return &Cgroup{fs: fs, path: clean, dir: dir}, nil
}

// FindByPID returns the memory cgroup of a process, read from
// <procroot>/<pid>/cgroup: the v1 line naming the memory controller on v1
// and hybrid hosts, the "0::" line on v2 hosts. It returns an error wrapping
// ErrNotFound when the process or its cgroup does not exist.
func (fs *FS) FindByPID(pid int) (*Cgroup, error) {
	name := filepath.Join(fs.procRoot, strconv.Itoa(pid), "cgroup")
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.errNotExist()) {
			return nil, fmt.Errorf("cgroup: process %d: read %s: %w", pid, name, ErrNotFound)
		}
		return nil, fmt.Errorf("cgroup: read %s: %w", name, err)
	}
	p, err := parseProcCgroup(data, name, fs.layout.Memory)
	if err != nil {
		return nil, err
	}
	return fs.Cgroup(p)
}

func (fs *FS) errNotExist() error { return os.ErrNotExist }

// parseProcCgroup returns the memory cgroup path in /proc/<pid>/cgroup
// ("hierarchy-ID:controller-list:cgroup-path" lines).
func parseProcCgroup(data []byte, name string, v Version) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		parts := strings.SplitN(text, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			return "", &ParseError{Path: name, Line: line, Text: text, Err: errMalformed}
		}
		switch v {
		case V2:
			if parts[0] == "0" && parts[1] == "" {
				return parts[2], nil
			}
		default:
			for c := range strings.SplitSeq(parts[1], ",") {
				if c == "memory" {
					return parts[2], nil
				}
			}
		}
	}
	return "", fmt.Errorf("cgroup: %s names no %s memory cgroup: %w", name, v, ErrNotFound)
}

// FindContainer returns the memory cgroup of a Docker (or other OCI runtime)
// container from its full ID or a unique prefix of at least 4 characters. It
// knows the cgroupfs driver's /docker/<id>, the systemd driver's
// /system.slice/docker-<id>.scope, and Kubernetes' kubepods nesting
// (<id>, cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope). It
// returns an error wrapping ErrNotFound when no cgroup, or more than one,
// matches.
func (fs *FS) FindContainer(id string) (*Cgroup, error) {
	if len(id) < 4 || strings.ContainsAny(id, "/.") {
		return nil, fmt.Errorf("cgroup: container ID %q: need at least 4 characters of a hex ID: %w", id, ErrNotFound)
	}
	for _, p := range []string{"/docker/" + id, "/system.slice/docker-" + id + ".scope"} {
		if c, err := fs.Cgroup(p); err == nil {
			return c, nil
		}
	}
	var found []string
	root := fs.layout.MemoryDir
	_ = filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil //nolint:nilerr // unreadable parts of the tree are skipped, not fatal
		}
		rel, _ := filepath.Rel(root, p)
		if strings.Count(rel, string(filepath.Separator)) >= 6 {
			return filepath.SkipDir
		}
		if containerIDOf(d.Name()) != "" && strings.HasPrefix(containerIDOf(d.Name()), id) {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("cgroup: no memory cgroup for container %s under %s: %w", id, root, ErrNotFound)
	case 1:
		rel, _ := filepath.Rel(root, found[0])
		mroot := fs.layout.MemoryMountRoot
		if mroot == "" {
			mroot = "/"
		}
		return fs.Cgroup(path.Join(mroot, filepath.ToSlash(rel)))
	default:
		return nil, fmt.Errorf("cgroup: container ID prefix %s matches %d cgroups (%s, ...): %w", id, len(found), found[0], ErrNotFound)
	}
}

// containerIDOf returns the container ID a cgroup directory name carries
// ("<64 hex>", "docker-<64 hex>.scope", "cri-containerd-<hex>.scope",
// "crio-<hex>.scope"), or "".
func containerIDOf(name string) string {
	name = strings.TrimSuffix(name, ".scope")
	for _, p := range []string{"docker-", "cri-containerd-", "crio-", "libpod-"} {
		name = strings.TrimPrefix(name, p)
	}
	if len(name) != 64 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return name
}

// Parent returns the parent cgroup, or nil for the root of the mounted
// hierarchy.
func (c *Cgroup) Parent() *Cgroup {
	mroot := c.fs.layout.MemoryMountRoot
	if mroot == "" {
		mroot = "/"
	}
	if c.path == "/" || c.path == mroot {
		return nil
	}
	pp := path.Dir(c.path)
	return &Cgroup{fs: c.fs, path: pp, dir: filepath.Dir(c.dir)}
}

// Ancestors returns the cgroup's ancestors, nearest first, ending with the
// root of the mounted hierarchy. It returns nil for the root.
func (c *Cgroup) Ancestors() []*Cgroup {
	var out []*Cgroup
	for p := c.Parent(); p != nil; p = p.Parent() {
		out = append(out, p)
	}
	return out
}

// Children returns the cgroup's child cgroups (its subdirectories), sorted
// by path. It returns an error wrapping ErrGone when the cgroup was
// removed.
func (c *Cgroup) Children() ([]*Cgroup, error) {
	es, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup: children of %s: %w", c.path, goneErr(err))
	}
	var out []*Cgroup
	for _, e := range es {
		if !e.IsDir() { // a symlink is no cgroup: cgroupfs has none
			continue
		}
		out = append(out, &Cgroup{fs: c.fs, path: path.Join(c.path, e.Name()), dir: filepath.Join(c.dir, e.Name())})
	}
	return out, nil
}

// EffectiveLimit returns the limit that binds a cgroup: the smallest
// finite memory limit of the cgroup and its ancestors, and the path of the
// cgroup that sets it ("" when none does). tree is a SnapshotTree (the
// cgroup first, then its ancestors). A limit the tree does not know (a
// missing file) makes the answer unknown, unless it is the hierarchy
// root's, which no limit can bind (v2 has no memory.max there).
func EffectiveLimit(tree []MemorySnapshot) (Limit, string) {
	if len(tree) == 0 {
		return Limit{}, ""
	}
	best, by := NoLimit(), ""
	for _, s := range tree {
		switch {
		case !s.Limit.Known:
			if s.Path != "/" {
				return Limit{}, ""
			}
		case s.Limit.Set() && (!best.Set() || s.Limit.Bytes < best.Bytes):
			best, by = s.Limit, s.Path
		}
	}
	return best, by
}

// EffectiveLimit snapshots the cgroup and its ancestors and returns the
// limit that binds it (the package function EffectiveLimit).
func (c *Cgroup) EffectiveLimit() (Limit, string, error) {
	tree, err := c.SnapshotTree()
	if err != nil {
		return Limit{}, "", err
	}
	l, by := EffectiveLimit(tree)
	return l, by, nil
}
