package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

// Table writes results as a table, a line per workload: its current limit,
// the recommended limit and request, its kills (with child kills and
// evictions), their commonest cause and any leak. Call Flush at the end.
type Table struct {
	tw     *tabwriter.Writer
	header bool
}

// NewTable returns a Table writing to w.
func NewTable(w io.Writer) *Table {
	return &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Write adds one workload's line.
func (t *Table) Write(r Result) error {
	if !t.header {
		t.header = true
		if _, err := fmt.Fprintln(t.tw, "WORKLOAD\tKIND\tLIMIT\tRECOMMENDED\tREQUEST\tKILLS\tCAUSE\tLEAK"); err != nil {
			return err
		}
	}
	rec, req, leak := "-", "-", "-"
	if r.Recommendation != nil {
		rec, req = r.Recommendation.Memory.Bytes.String(), r.Recommendation.MemoryReservation.Bytes.String()
		if l := r.Recommendation.Leak; l != nil {
			leak = fmt.Sprintf("%s/h, %.1fh to limit", cgroup.Bytes(l.BytesPerHour), l.HoursToLimit)
		}
	} else if r.Err != "" {
		rec = "(" + r.Err + ")"
	}
	kind := r.Workload.OwnerKind
	if r.Workload.Kind == KindDocker {
		kind = "compose"
		if r.Workload.ComposeProject == "" {
			kind = "container"
		}
	}
	kills := strconv.Itoa(r.Kills)
	var extra []string
	if r.ChildKills > 0 {
		extra = append(extra, fmt.Sprintf("+%d child", r.ChildKills))
	}
	if r.Evictions > 0 {
		extra = append(extra, fmt.Sprintf("%d evicted", r.Evictions))
	}
	if len(extra) > 0 {
		kills += " (" + strings.Join(extra, ", ") + ")"
	}
	cause := string(r.Cause)
	if cause == "" {
		cause = "-"
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload.Name(), kind, r.Limit, rec, req, kills, cause, leak)
	return err
}

// Flush writes the aligned table out.
func (t *Table) Flush() error { return t.tw.Flush() }

// WriteJSONLines writes one result as a JSON object on one line.
func WriteJSONLines(w io.Writer, r Result) error {
	return json.NewEncoder(w).Encode(r)
}

var apiVersions = map[string]string{"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1"}

type k8sObject struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
	Metadata   struct {
		Name      string `json:"name" yaml:"name"`
		Namespace string `json:"namespace" yaml:"namespace"`
	} `json:"metadata" yaml:"metadata"`
	Spec k8sSpec `json:"spec" yaml:"spec"`
}

type k8sSpec struct {
	Template struct {
		Spec struct {
			Containers []k8sContainer `json:"containers" yaml:"containers"`
		} `json:"spec" yaml:"spec"`
	} `json:"template" yaml:"template"`
}

type k8sContainer struct {
	Name      string       `json:"name" yaml:"name"`
	Resources k8sResources `json:"resources" yaml:"resources"`
}

type k8sResources struct {
	Requests map[string]string `json:"requests" yaml:"requests"`
	Limits   map[string]string `json:"limits" yaml:"limits"`
}

func quantity(b cgroup.Bytes) string {
	return resource.NewQuantity(int64(b), resource.BinarySI).String()
}

func (r Result) patchable() error {
	if r.Workload.Kind != KindKubernetes {
		return fmt.Errorf("fleet: %s is not a Kubernetes workload", r.Workload.Name())
	}
	if _, ok := apiVersions[r.Workload.OwnerKind]; !ok {
		return fmt.Errorf("fleet: %s: owner kind %q cannot be patched (only %s)", r.Workload.Name(), r.Workload.OwnerKind, "Deployment, StatefulSet, DaemonSet, ReplicaSet, Job")
	}
	if r.Recommendation == nil {
		return fmt.Errorf("fleet: %s: no recommendation (%s)", r.Workload.Name(), r.Err)
	}
	return nil
}

func (r Result) object() k8sObject {
	var o k8sObject
	o.APIVersion, o.Kind = apiVersions[r.Workload.OwnerKind], r.Workload.OwnerKind
	o.Metadata.Name, o.Metadata.Namespace = r.Workload.Owner, r.Workload.Namespace
	o.Spec.Template.Spec.Containers = []k8sContainer{{Name: r.Workload.Container, Resources: k8sResources{
		Requests: map[string]string{"memory": quantity(r.Recommendation.MemoryReservation.Bytes)},
		Limits:   map[string]string{"memory": quantity(r.Recommendation.Memory.Bytes)},
	}}}
	return o
}

// KubernetesPatch returns the strategic merge patch that sets the
// workload's container memory request and limit, for
// `kubectl patch KIND NAME -n NS --type strategic -p PATCH` (containers
// merge by name: the others are left alone). It fails for Docker
// workloads, bare pods and results without a recommendation.
func (r Result) KubernetesPatch() ([]byte, error) {
	if err := r.patchable(); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]k8sSpec{"spec": r.object().Spec})
}

// KubectlPatch returns the kubectl patch command line for the result.
func (r Result) KubectlPatch() (string, error) {
	p, err := r.KubernetesPatch()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("kubectl patch %s %s -n %s --type strategic -p '%s'", strings.ToLower(r.Workload.OwnerKind), r.Workload.Owner, r.Workload.Namespace, p), nil
}

// WriteKubernetesApply writes the result as one YAML document for
// `kubectl apply --server-side --field-manager=oomkit -f -`: the
// workload's identity and its container's resources only, so the server
// merges it into the live object (add --force-conflicts to take the fields
// over from the manager that set them).
func WriteKubernetesApply(w io.Writer, r Result) error {
	if err := r.patchable(); err != nil {
		return err
	}
	b, err := yaml.Marshal(r.object())
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	_, err = fmt.Fprintf(w, "---\n# %s: %s\n%s", r.Workload.Name(), r.Recommendation.Memory.Rationale, b)
	return err
}

// dockerSize spells a size as Docker and Compose take it (afterkill.DockerSize).
func dockerSize(b cgroup.Bytes) string { return afterkill.DockerSize(b) }

type composeResources struct {
	Memory string `yaml:"memory"`
}

type composeOverride struct {
	Deploy struct {
		Resources struct {
			Limits       composeResources `yaml:"limits"`
			Reservations composeResources `yaml:"reservations"`
		} `yaml:"resources"`
	} `yaml:"deploy"`
	MemswapLimit string `yaml:"memswap_limit"`
	// The legacy keys too, equal: Compose refuses an override whose
	// deploy limit differs from a mem_limit the base file sets.
	MemLimit       string `yaml:"mem_limit"`
	MemReservation string `yaml:"mem_reservation"`
}

// WriteCompose writes Compose override files, one YAML document per
// project (`docker compose -f compose.yaml -f override.yaml up -d`): each
// service's deploy.resources limit and reservation (and the same values as
// mem_limit and mem_reservation, which a base file may use) and its
// memswap_limit;
// and for lone containers the docker update command. Kubernetes results
// are skipped.
func WriteCompose(w io.Writer, results []Result) error {
	projects := map[string]map[string]composeOverride{}
	var lone []string
	for _, r := range results {
		if r.Workload.Kind != KindDocker || r.Recommendation == nil {
			continue
		}
		rec := r.Recommendation
		if r.Workload.ComposeProject == "" {
			lone = append(lone, rec.DockerUpdate(r.Workload.Container))
			continue
		}
		var o composeOverride
		o.Deploy.Resources.Limits.Memory = dockerSize(rec.Memory.Bytes)
		o.Deploy.Resources.Reservations.Memory = dockerSize(rec.MemoryReservation.Bytes)
		o.MemLimit, o.MemReservation = o.Deploy.Resources.Limits.Memory, o.Deploy.Resources.Reservations.Memory
		o.MemswapLimit = dockerSize(rec.MemorySwap.Bytes)
		if rec.MemorySwap.Bytes < 0 {
			o.MemswapLimit = "-1"
		}
		if projects[r.Workload.ComposeProject] == nil {
			projects[r.Workload.ComposeProject] = map[string]composeOverride{}
		}
		projects[r.Workload.ComposeProject][r.Workload.ComposeService] = o
	}
	names := make([]string, 0, len(projects))
	for p := range projects {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		b, err := yaml.Marshal(map[string]any{"services": projects[p]})
		if err != nil {
			return fmt.Errorf("fleet: compose: %w", err)
		}
		if _, err := fmt.Fprintf(w, "---\n# project %s: docker compose -p %s -f compose.yaml -f oomkit.override.yaml up -d\n%s", p, p, b); err != nil {
			return err
		}
	}
	sort.Strings(lone)
	for _, l := range lone {
		if _, err := fmt.Fprintf(w, "# %s\n", l); err != nil {
			return err
		}
	}
	return nil
}
