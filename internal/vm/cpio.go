package vm

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// An initramfs is a "newc" cpio archive (the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst): per entry a
// 110-byte ASCII header, the NUL-terminated name padded to 4 bytes, then
// the data padded to 4 bytes; "TRAILER!!!" ends it. The kernel unpacks an
// uncompressed archive as well as a compressed one, and skipping the
// decompression saves boot time under software emulation.

type cpioEntry struct {
	name  string // without a leading slash
	mode  uint32 // type bits and permissions
	data  []byte
	major uint32 // device nodes
	minor uint32
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChr  = 0o020000
)

type archive struct {
	entries map[string]cpioEntry
}

func newArchive() *archive { return &archive{entries: map[string]cpioEntry{}} }

// dir adds a directory and its parents.
func (a *archive) dir(name string) {
	name = strings.Trim(name, "/")
	for name != "." && name != "" {
		if _, ok := a.entries[name]; !ok {
			a.entries[name] = cpioEntry{name: name, mode: modeDir | 0o755}
		}
		name = path.Dir(name)
	}
}

// file adds a regular file (and its directories).
func (a *archive) file(name string, perm uint32, data []byte) {
	name = strings.Trim(name, "/")
	a.dir(path.Dir(name))
	a.entries[name] = cpioEntry{name: name, mode: modeFile | perm, data: data}
}

// chr adds a character device node.
func (a *archive) chr(name string, major, minor uint32) {
	name = strings.Trim(name, "/")
	a.dir(path.Dir(name))
	a.entries[name] = cpioEntry{name: name, mode: modeChr | 0o600, major: major, minor: minor}
}

// writeTo writes the archive, parents before children.
func (a *archive) writeTo(w io.Writer) error {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names) // "a" sorts before "a/b"
	ino := uint32(1)
	for _, n := range names {
		if err := writeEntry(w, ino, a.entries[n]); err != nil {
			return err
		}
		ino++
	}
	return writeEntry(w, 0, cpioEntry{name: "TRAILER!!!"})
}

func writeEntry(w io.Writer, ino uint32, e cpioEntry) error {
	nlink := uint32(1)
	if e.mode&modeDir == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(e.name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(e.name)+4)
	buf = append(buf, hdr...)
	buf = append(buf, e.name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if len(e.data) == 0 {
		return nil
	}
	if _, err := w.Write(e.data); err != nil {
		return err
	}
	if r := len(e.data) % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
