package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
	"github.com/oomkit/oomkit/recommend/fleet"
)

func rec(mem, res cgroup.Bytes) *recommend.Recommendation {
	return &recommend.Recommendation{
		Memory:            recommend.Value{Bytes: mem, Rationale: "p99 of peaks + 10%"},
		MemoryReservation: recommend.Value{Bytes: res},
		MemorySwap:        recommend.Value{Bytes: mem},
	}
}

var results = []fleet.Result{
	{Workload: fleet.Workload{Kind: fleet.KindKubernetes, Namespace: "shop", OwnerKind: "Deployment", Owner: "web", Container: "app", Pods: []string{"web-6d4cf56db6-x2x9z"}},
		Limit: cgroup.LimitOf(256 << 20), Recommendation: rec(384<<20, 200<<20), Kills: 2, Cause: oom.CauseContainerLimit},
	{Workload: fleet.Workload{Kind: fleet.KindKubernetes, Namespace: "shop", OwnerKind: "StatefulSet", Owner: "db", Container: "postgres"},
		Limit: cgroup.NoLimit(), Recommendation: rec(1<<30, 700<<20), ChildKills: 3, Cause: oom.CauseChildKilled},
	{Workload: fleet.Workload{Kind: fleet.KindDocker, ComposeProject: "stack", ComposeService: "api", Container: "api"},
		Limit: cgroup.LimitOf(128 << 20), Recommendation: rec(160<<20, 96<<20)},
	{Workload: fleet.Workload{Kind: fleet.KindDocker, ComposeProject: "stack", ComposeService: "worker", Container: "worker"},
		Limit: cgroup.LimitOf(128 << 20), Recommendation: rec(200<<20, 100<<20)},
	{Workload: fleet.Workload{Kind: fleet.KindDocker, Container: "lone", Host: "h1:8080"}, Limit: cgroup.NoLimit(), Err: "no samples"},
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	tb := fleet.NewTable(&b)
	for _, r := range results {
		require.NoError(t, tb.Write(r))
	}
	require.NoError(t, tb.Flush())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, len(results)+1)
	assert.Equal(t, []string{"WORKLOAD", "KIND", "LIMIT", "RECOMMENDED", "REQUEST", "KILLS", "CAUSE", "LEAK"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"shop/web/app", "Deployment", "256MiB", "384MiB", "200MiB", "2", "container_limit", "-"}, strings.Fields(lines[1]))
	assert.Contains(t, lines[2], "max")
	assert.Contains(t, lines[2], "0 (+3 child)")
	assert.Contains(t, lines[5], "(no samples)")
}

func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	for _, r := range results[:2] {
		require.NoError(t, fleet.WriteJSONLines(&b, r))
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	assert.EqualValues(t, 256<<20, m["limit_bytes"])
	assert.EqualValues(t, 2, m["oom_kills"])
	assert.Equal(t, "container_limit", m["cause"])
	assert.EqualValues(t, 384<<20, m["recommendation"].(map[string]any)["memory_bytes"])
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	assert.Equal(t, "max", m["limit_bytes"], "unlimited")
}

func deployment() appsv1.Deployment {
	one := int32(1)
	return appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "sidecar", Image: "envoy", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": resource.MustParse("64Mi")}}},
					{Name: "app", Image: "web:1", Resources: corev1.ResourceRequirements{
						Limits:   corev1.ResourceList{"memory": resource.MustParse("256Mi"), "cpu": resource.MustParse("1")},
						Requests: corev1.ResourceList{"memory": resource.MustParse("128Mi")}}},
				}},
			},
		},
	}
}

// TestKubernetesPatch applies the patch as kubectl patch --type strategic
// does (apimachinery's strategic merge over the apps/v1 types): the app
// container's memory changes, its CPU, the other container and the rest
// of the object stay.
func TestKubernetesPatch(t *testing.T) {
	patch, err := results[0].KubernetesPatch()
	require.NoError(t, err)
	orig, err := json.Marshal(deployment())
	require.NoError(t, err)
	merged, err := strategicpatch.StrategicMergePatch(orig, patch, appsv1.Deployment{})
	require.NoError(t, err)
	var d appsv1.Deployment
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&d))
	require.Len(t, d.Spec.Template.Spec.Containers, 2)
	app := d.Spec.Template.Spec.Containers[1]
	assert.Equal(t, "app", app.Name)
	assert.Equal(t, "web:1", app.Image)
	assert.Equal(t, int64(384<<20), app.Resources.Limits.Memory().Value())
	assert.Equal(t, int64(200<<20), app.Resources.Requests.Memory().Value())
	assert.Equal(t, "1", app.Resources.Limits.Cpu().String())
	assert.Equal(t, "64Mi", d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String())
	assert.Equal(t, "web", d.Spec.Selector.MatchLabels["app"])

	cmd, err := results[0].KubectlPatch()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(cmd, "kubectl patch deployment web -n shop --type strategic -p '{"), cmd)

	_, err = results[2].KubernetesPatch()
	assert.Error(t, err, "a Docker workload")
	_, err = results[4].KubernetesPatch()
	assert.Error(t, err, "no recommendation")
}

// TestKubernetesApply: each document decodes strictly (no unknown field)
// into the typed object kubectl apply --server-side sends.
func TestKubernetesApply(t *testing.T) {
	var b bytes.Buffer
	for _, r := range results[:2] {
		require.NoError(t, fleet.WriteKubernetesApply(&b, r))
	}
	docs := strings.Split(b.String(), "---\n")[1:]
	require.Len(t, docs, 2)
	var d appsv1.Deployment
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[0]), &d))
	assert.Equal(t, "Deployment", d.Kind)
	assert.Equal(t, "apps/v1", d.APIVersion)
	assert.Equal(t, "shop", d.Namespace)
	assert.Equal(t, int64(384<<20), d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().Value())
	var s appsv1.StatefulSet
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), &s))
	assert.Equal(t, "StatefulSet", s.Kind)
	assert.Equal(t, "postgres", s.Spec.Template.Spec.Containers[0].Name)
	assert.Equal(t, "1Gi", s.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String())
}

// TestComposeOverride: the override loads with compose-go over a base
// file and sets each service's limit, reservation and swap.
func TestComposeOverride(t *testing.T) {
	var b bytes.Buffer
	lone := fleet.Result{Workload: fleet.Workload{Kind: fleet.KindDocker, Container: "lone2", Host: "h1:8080"}, Recommendation: rec(64<<20, 32<<20)}
	require.NoError(t, fleet.WriteCompose(&b, append(results, lone)))
	out := b.String()
	assert.Contains(t, out, "# docker update --memory=64m --memory-swap=64m --memory-reservation=32m lone2\n")
	docs := strings.Split(out, "---\n")[1:]
	require.Len(t, docs, 1)
	base := "services:\n  api:\n    image: busybox\n  worker:\n    image: busybox\n    mem_limit: 64m\n"
	proj, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir: t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(base)},
			{Filename: "oomkit.override.yaml", Content: []byte(docs[0])}},
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SetProjectName("stack", true) })
	require.NoError(t, err, docs[0])
	for _, c := range []struct {
		svc      string
		mem, res int64
	}{{"api", 160 << 20, 96 << 20}, {"worker", 200 << 20, 100 << 20}} {
		svc, err := proj.GetService(c.svc)
		require.NoError(t, err)
		require.NotNil(t, svc.Deploy)
		assert.EqualValues(t, c.mem, svc.Deploy.Resources.Limits.MemoryBytes, c.svc)
		assert.EqualValues(t, c.res, svc.Deploy.Resources.Reservations.MemoryBytes, c.svc)
		assert.EqualValues(t, c.mem, svc.MemSwapLimit, c.svc)
	}
}
