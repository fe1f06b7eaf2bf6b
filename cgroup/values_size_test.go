package cgroup_test

import (
	"testing"

	units "github.com/docker/go-units"
	"github.com/stretchr/testify/assert"

	"github.com/oomkit/oomkit/cgroup"
)

// TestSizeMatchesGoUnits: cgroup.Size prints what docker/go-units'
// BytesSize prints (the library no longer links it, the tests still do).
func TestSizeMatchesGoUnits(t *testing.T) {
	for _, n := range []float64{0, 1, 1023, 1024, 1536, 32 << 20, 1<<30 + 1, 5.5 * (1 << 40), 1 << 62, 9.3e18, 1e30} {
		assert.Equal(t, units.BytesSize(n), cgroup.Size(n), "%g", n)
	}
	assert.Equal(t, "-1.5KiB", cgroup.Bytes(-1536).String())
}
