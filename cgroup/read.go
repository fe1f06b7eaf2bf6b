package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// A snapshot opens the cgroup directory once and reads each file with
// openat + pread + close into a pooled buffer: about 2 µs a file here,
// against 5 µs for os.ReadFile and ~120 µs for a containerd/cgroups Stat()
// of the whole cgroup. No descriptor outlives the call.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// dirReader reads files of one cgroup directory.
type dirReader struct {
	dir string
	fd  int
	buf []byte
}

func openDir(dir string) (*dirReader, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: open %s: %w", dir, goneErr(err))
	}
	bp := bufPool.Get().(*[]byte)
	return &dirReader{dir: dir, fd: fd, buf: *bp}, nil
}

func (r *dirReader) close() {
	_ = unix.Close(r.fd)
	b := r.buf
	bufPool.Put(&b)
}

// goneErr maps the errors of a cgroup that was removed under us to ErrGone.
func goneErr(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%w (%w)", ErrGone, err)
	}
	return err
}

// read returns the contents of name (valid until the next read), ok=false
// when the file does not exist in a directory that still does (the kernel
// or version lacks it), or an error wrapping ErrGone when the directory
// itself went away.
func (r *dirReader) read(name string) ([]byte, bool, error) {
	fd, err := unix.Openat(r.fd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, false, fmt.Errorf("cgroup: read %s: a symlink (cgroupfs has none): %w", r.path(name), ErrOutsideRoot)
		}
		if errors.Is(err, unix.ENOENT) {
			if gerr := r.statDir(); gerr != nil {
				return nil, false, fmt.Errorf("cgroup: read %s: %w", r.path(name), gerr)
			}
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("cgroup: read %s: %w", r.path(name), goneErr(err))
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := unix.Pread(fd, r.buf[n:], int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, false, fmt.Errorf("cgroup: read %s: %w", r.path(name), goneErr(err))
		}
		if m == 0 {
			return r.buf[:n], true, nil
		}
		n += m
		// A read that leaves room in the buffer has reached the end:
		// cgroup and proc files print their whole content in one go
		// (seq_file), and a regular file (a fixture) reads short only at
		// its end. This saves a second pread per file, a fifth of a
		// snapshot's system calls.
		if n < len(r.buf) {
			return r.buf[:n], true, nil
		}
	}
}

// statDir reports ErrGone when the directory was removed (a removed cgroup
// directory stays open but loses its link count).
func (r *dirReader) statDir() error {
	var st unix.Stat_t
	if err := unix.Fstat(r.fd, &st); err != nil {
		return goneErr(err)
	}
	if st.Nlink == 0 {
		return ErrGone
	}
	if err := unix.Access(r.dir, unix.F_OK); err != nil {
		return goneErr(err)
	}
	return nil
}

func (r *dirReader) path(name string) string { return filepath.Join(r.dir, name) }

// readLimit reads an optional limit file into dst.
func (r *dirReader) readLimit(name string, dst *Limit) error {
	b, ok, err := r.read(name)
	if err != nil || !ok {
		return err
	}
	*dst, err = parseLimitValue(b, r.path(name))
	return err
}

// readAmount reads an optional byte-count file into dst.
func (r *dirReader) readAmount(name string, dst *Amount) error {
	b, ok, err := r.read(name)
	if err != nil || !ok {
		return err
	}
	*dst, err = parseBytesValue(b, r.path(name))
	return err
}

// readCount reads an optional counter file into dst.
func (r *dirReader) readCount(name string, dst *Count) error {
	b, ok, err := r.read(name)
	if err != nil || !ok {
		return err
	}
	*dst, err = parseCountValue(b, r.path(name))
	return err
}

// required turns a missing file into an error wrapping ErrNotFound.
func (r *dirReader) required(name string) ([]byte, error) {
	b, ok, err := r.read(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cgroup: read %s: %w", r.path(name), ErrNotFound)
	}
	return b, nil
}

// openFile opens a cgroup file for reading, refusing a symlink (cgroupfs
// has none: one in a tree could lead out of it) with ErrOutsideRoot, and a
// missing file of a removed cgroup with ErrGone.
func openFile(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("cgroup: open %s: a symlink (cgroupfs has none): %w", p, ErrOutsideRoot)
		}
		return -1, fmt.Errorf("cgroup: open %s: %w", p, goneErr(err))
	}
	return fd, nil
}
