package cgroup

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound reports that a cgroup, process or container could not be found.
	ErrNotFound = errors.New("cgroup: not found")
	// ErrGone reports that a cgroup disappeared while it was being read
	// (ENOENT or ENODEV after it had been found).
	ErrGone = errors.New("cgroup: cgroup removed")
	// ErrUnsupported reports that the cgroup version or kernel lacks a file.
	ErrUnsupported = errors.New("cgroup: not supported by this cgroup version or kernel")
	// ErrOutsideRoot reports a path that escapes the filesystem root.
	ErrOutsideRoot = errors.New("cgroup: path outside the root")
)

// ParseError reports text in a kernel file that could not be read. Path is
// the file, Line the 1-based line number (0 when the file is a single value),
// Text the offending text and Err the cause (for example strconv.ErrSyntax).
type ParseError struct {
	Path string
	Line int
	Text string
	Err  error
}

// Error returns "cgroup: parse PATH:LINE: "TEXT": ERR".
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("cgroup: parse %s:%d: %q: %v", e.Path, e.Line, e.Text, e.Err)
	}
	return fmt.Sprintf("cgroup: parse %s: %q: %v", e.Path, e.Text, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, strconv.ErrSyntax) works.
func (e *ParseError) Unwrap() error { return e.Err }
