package oom

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
)

// DefaultKmsg is the kernel's log device.
const DefaultKmsg = "/dev/kmsg"

// ReadKernelLog returns the kernel log buffer as it stands: the records of
// /dev/kmsg read without blocking (the parser understands their prefix), or,
// when that device cannot be read, the output of dmesg. The error names
// both sources when neither can be read (typically: not root, and
// kernel.dmesg_restrict=1).
func ReadKernelLog() ([]byte, error) {
	data, kerr := readKmsg(DefaultKmsg)
	if kerr == nil {
		return data, nil
	}
	out, derr := exec.Command("dmesg").Output()
	if derr == nil {
		return out, nil
	}
	return nil, fmt.Errorf("oom: kernel log unreadable: %s: %w; dmesg: %w", DefaultKmsg, kerr, derr)
}

// readKmsg reads every record of a kmsg device without blocking: an
// os.File would wait on the poller at the end instead of returning EAGAIN.
func readKmsg(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out bytes.Buffer
	buf := make([]byte, 8192) // a record is at most 8 KiB
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EPIPE):
			continue // records overwritten while we read: go on with the next
		case errors.Is(err, unix.EAGAIN):
			return out.Bytes(), nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, err
		case n <= 0:
			return out.Bytes(), nil
		}
		rec := buf[:n]
		if !bytes.HasSuffix(rec, []byte("\n")) {
			rec = append(rec, '\n')
		}
		out.Write(rec)
	}
}
