package docker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// Why was a container killed? Docker's inspect state and events, the
// cgroup tree and the kernel log, then Diagnose. (It needs a Docker
// Engine, so it has no Output to check; TestRealContainerLimit runs the
// same against a real Engine.)
func ExampleCollector_Container() {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fmt.Println(err)
		return
	}
	fs, err := cgroup.NewFS()
	if err != nil {
		fmt.Println(err)
		return
	}
	col := &docker.Collector{Collector: oom.Collector{FS: fs}, Client: cli}
	ev, err := col.Container(context.Background(), "my-app")
	if err != nil {
		fmt.Println(err) // what could not be read; ev holds the rest
	}
	d := oom.Diagnose(ev)
	fmt.Println(d.Cause, d.VictimComm, d.OOMMemcg, d.Remedies)
}

// Each oom event of the Engine, paired with its evidence, as it happens.
func ExampleCollector_FollowOOMs() {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fmt.Println(err)
		return
	}
	fs, err := cgroup.NewFS()
	if err != nil {
		fmt.Println(err)
		return
	}
	col := &docker.Collector{Collector: oom.Collector{FS: fs}, Client: cli}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err = col.FollowOOMs(ctx, 5*time.Second, func(m events.Message, ev oom.Evidence) {
		d := oom.Diagnose(ev)
		fmt.Println(m.Actor.Attributes["name"], d.Cause, d.Explanation)
	})
	fmt.Println(err)
}
