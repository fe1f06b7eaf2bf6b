package oom_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/oom"
)

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"/docker/x": "/docker/x", "/docker/x/": "/docker/x", "docker/x": "/docker/x", "//docker//x": "/docker/x",
		"/docker/./x": "/docker/x", "/": "/", "": "", "docker/x/.": "/docker/x",
	} {
		assert.Equal(t, want, oom.CleanPath(in), in)
	}
}

// TestRelationRealReports relates real reports of testdata to cgroups
// around their victims, in every spelling a user may type.
func TestRelationRealReports(t *testing.T) {
	spellings := func(p string) []string {
		return []string{p, p + "/", p[1:], "/" + p, p + "/.", "/." + p}
	}
	check := func(r oom.Report, cg string, want oom.Relation) {
		t.Helper()
		for _, s := range spellings(cg) {
			assert.Equal(t, want, r.Relation(s), "relation of %q to the report (task %s, limit %s)", s, r.TaskMemcg, r.OOMMemcg)
		}
	}
	// v1, limit on the parent, victim in the child (recorded on this host).
	rs := reportsOf(t, "this-host-6.18-v1-parent-limit.kmsg")
	require.Len(t, rs, 1)
	r := rs[0]
	require.NotEqual(t, r.OOMMemcg, r.TaskMemcg)
	check(r, r.OOMMemcg, oom.RelationOwn)
	check(r, r.TaskMemcg, oom.RelationAncestor)
	check(r, r.TaskMemcg+"/below", oom.RelationUnrelated) // below the victim: not where the kill was
	check(r, "/process_api", oom.RelationDescendant)
	check(r, "/elsewhere", oom.RelationUnrelated)
	check(r, r.OOMMemcg+"x", oom.RelationUnrelated) // a sibling sharing a prefix is no descendant

	// The gpud quote: an oom_memcg with a segment elided by "...".
	g := reportsOf(t, "gpud-70-lxc-k8s-quoted-elided-summary.log")[0]
	pod := "/lxc.payload.ny2g2r5hh3-lxc/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice"
	check(g, pod, oom.RelationOwn)
	check(g, g.TaskMemcg, oom.RelationAncestor)
	check(g, "/lxc.payload.ny2g2r5hh3-lxc", oom.RelationDescendant)
	check(g, "/lxc.payload.zzz-lxc/kubepods.slice", oom.RelationDescendant) // the elision could stand for it
	check(g, "/lxc.payload.zzz-other/kubepods.slice", oom.RelationUnrelated)
	check(g, "/system.slice", oom.RelationUnrelated)

	// A global kill: the victim's cgroup and those above it see a global
	// kill, others none.
	s := reportsOf(t, "stress-ng-177-5.x-global-session-scope.log")[0]
	check(s, "/user.slice/user-1000.slice/session-1.scope", oom.RelationGlobal)
	check(s, "/user.slice", oom.RelationGlobal)
	check(s, "/system.slice", oom.RelationUnrelated)

	// Task-in only (Paddle): the container's own limit.
	p := reportsOf(t, "paddle-21802-docker-task-in-only.log")[0]
	check(p, p.TaskMemcg, oom.RelationOwn)
	check(p, "/docker", oom.RelationDescendant)

	// A report cut to its kill line names no cgroup.
	c := reportsOf(t, "cpanel-ssp-76-el6-2.6.32-killed-uid-form-syslog.log")[0]
	assert.Equal(t, oom.RelationUnknown, c.Relation("/docker/x"))

	// Old kernels print "limit of /" for the host: global, not the root's limit.
	root := oom.Report{Scope: oom.ScopeGlobal, TaskMemcg: "/docker/a", OOMMemcg: "/"}
	check(root, "/docker/a", oom.RelationGlobal)
}

func TestRelationText(t *testing.T) {
	for _, r := range []oom.Relation{oom.RelationUnknown, oom.RelationOwn, oom.RelationAncestor, oom.RelationDescendant, oom.RelationUnrelated, oom.RelationGlobal} {
		b, err := r.MarshalText()
		require.NoError(t, err)
		var back oom.Relation
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, r, back)
	}
	var x oom.Relation
	assert.Error(t, x.UnmarshalText([]byte("cousin")))
}
