package cgroup_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/internal/vm"
)

// TestVM boots the test VM once and runs this package's TestInVM* tests
// there, on a real cgroup v2 hierarchy.
func TestVM(t *testing.T) {
	vm.Run(t, vm.Config{
		Binaries: []string{"github.com/oomkit/oomkit/internal/cmd/memhog"},
	})
}

func TestInVMCgroup2(t *testing.T) {
	testenv.InVM(t)
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	require.NoError(t, err)
	require.Contains(t, strings.Fields(string(data)), "memory")
}
