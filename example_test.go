package oomkit_test

import (
	"fmt"

	"github.com/oomkit/oomkit/cgroup"
)

// The minimal use of the package doc and the README, on the cgroup
// package's v1 fixture host (cgroup.NewFS() with no option reads the real
// one). OOMKills is the cgroup's own kill count on v1 and v2 alike; the
// hierarchical snap.Events.OOMKill is unknown on v1.
func Example() {
	if err := minimal(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// v1 32MiB 32MiB 31.87MiB 1
	// unknown
}

func minimal() error {
	fs, err := cgroup.NewFS(cgroup.WithRoot("cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("cgroup/testdata/v1/proc"))
	if err != nil {
		return err
	}
	cg, err := fs.FindByPID(4242)
	if err != nil {
		return err
	}
	snap, err := cg.Snapshot()
	if err != nil {
		return err
	}
	fmt.Println(snap.Version, snap.Limit, snap.Usage, snap.WorkingSet, snap.OOMKills())
	fmt.Println(snap.Events.OOMKill)
	return nil
}
