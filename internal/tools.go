//go:build tools

package internal

import (
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "github.com/containerd/cgroups/v3/cgroup1"
	_ "github.com/containerd/cgroups/v3/cgroup2"
	_ "github.com/docker/docker/api/types/container"
	_ "github.com/docker/docker/client"
	_ "github.com/docker/go-units"
	_ "github.com/stretchr/testify/require"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/apimachinery/pkg/api/resource"
)
