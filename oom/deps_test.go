package oom_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoDockerDependency: a program that parses kernel reports and
// diagnoses links no Docker, OpenTelemetry or gRPC package (they came with
// the Docker client, now in package oom/docker).
func TestNoDockerDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/oomkit/oomkit/oom").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		l := strings.ToLower(p)
		if strings.Contains(l, "docker") || strings.Contains(l, "opentelemetry") || strings.Contains(l, "grpc") {
			t.Errorf("package oom depends on %s", p)
		}
	}
}
