package recommend

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

// dockerSize prints a size the way Docker's flags take it (afterkill.DockerSize).
func dockerSize(b cgroup.Bytes) string { return afterkill.DockerSize(b) }

func (r Recommendation) dockerFlags() []string {
	if r.NoLimitYet {
		return nil
	}
	f := []string{
		"--memory=" + dockerSize(r.Memory.Bytes),
		"--memory-swap=" + dockerSize(r.MemorySwap.Bytes),
		"--memory-reservation=" + dockerSize(r.MemoryReservation.Bytes),
	}
	if r.OOMScoreAdj != 0 {
		f = append(f, "--oom-score-adj="+strconv.Itoa(r.OOMScoreAdj))
	}
	for _, k := range sortedKeys(r.Runtime) {
		f = append(f, "-e "+k+"="+shellQuote(r.Runtime[k]))
	}
	return f
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " \t'\"$\\") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// DockerRun returns the docker run flags, e.g.
// "--memory=160m --memory-swap=160m --memory-reservation=96m", with the
// runtime settings as -e flags; "" when there is no limit yet (NoLimitYet).
func (r Recommendation) DockerRun() string { return strings.Join(r.dockerFlags(), " ") }

// DockerUpdate returns a docker update command for a running container.
// Runtime settings cannot be changed by docker update: they are left out
// (the container must be recreated for them).
func (r Recommendation) DockerUpdate(containerName string) string {
	if r.NoLimitYet {
		return ""
	}
	f := []string{
		"docker", "update",
		"--memory=" + dockerSize(r.Memory.Bytes),
		"--memory-swap=" + dockerSize(r.MemorySwap.Bytes),
		"--memory-reservation=" + dockerSize(r.MemoryReservation.Bytes),
		shellQuote(containerName),
	}
	return strings.Join(f, " ")
}

type composeService struct {
	MemswapLimit string            `yaml:"memswap_limit"`
	OOMScoreAdj  int               `yaml:"oom_score_adj,omitempty"`
	Environment  map[string]string `yaml:"environment,omitempty"`
	Deploy       struct {
		Resources struct {
			Limits struct {
				Memory string `yaml:"memory"`
			} `yaml:"limits"`
			Reservations struct {
				Memory string `yaml:"memory"`
			} `yaml:"reservations"`
		} `yaml:"resources"`
	} `yaml:"deploy"`
}

// Compose returns a Compose file fragment for one service: the limit and
// reservation under deploy.resources, and swap as the service-level
// memswap_limit (Compose has no memory-swap key under deploy.resources).
func (r Recommendation) Compose(service string) (string, error) {
	if r.NoLimitYet {
		// Nothing to set yet: the service with no memory keys, and why.
		b, err := yaml.Marshal(map[string]any{"services": map[string]any{service: map[string]any{}}})
		if err != nil {
			return "", fmt.Errorf("recommend: compose: %w", err)
		}
		return "# " + r.Memory.Rationale + "\n" + string(b), nil
	}
	var s composeService
	s.Deploy.Resources.Limits.Memory = dockerSize(r.Memory.Bytes)
	s.Deploy.Resources.Reservations.Memory = dockerSize(r.MemoryReservation.Bytes)
	s.MemswapLimit = dockerSize(r.MemorySwap.Bytes)
	s.OOMScoreAdj = r.OOMScoreAdj
	if len(r.Runtime) > 0 {
		s.Environment = map[string]string{}
		for k, v := range r.Runtime {
			s.Environment[k] = v
		}
	}
	doc := map[string]any{"services": map[string]any{service: s}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("recommend: compose: %w", err)
	}
	return string(b), nil
}

// K8sResources is a container's resources stanza.
type K8sResources struct {
	Requests map[string]resource.Quantity `json:"requests" yaml:"requests"`
	Limits   map[string]resource.Quantity `json:"limits" yaml:"limits"`
}

// Kubernetes returns the container resources: the reservation as the
// memory request, the limit as the memory limit (Kubernetes has no swap
// setting per container).
func (r Recommendation) Kubernetes() K8sResources {
	return K8sResources{
		Requests: map[string]resource.Quantity{"memory": *resource.NewQuantity(int64(r.MemoryReservation.Bytes), resource.BinarySI)},
		Limits:   map[string]resource.Quantity{"memory": *resource.NewQuantity(int64(r.Memory.Bytes), resource.BinarySI)},
	}
}

// KubernetesYAML returns Kubernetes() as a YAML "resources:" stanza.
func (r Recommendation) KubernetesYAML() string {
	if r.NoLimitYet {
		return "# " + r.Memory.Rationale + "\n"
	}
	k := r.Kubernetes()
	req, lim := k.Requests["memory"], k.Limits["memory"]
	s := fmt.Sprintf("resources:\n  requests:\n    memory: %s\n  limits:\n    memory: %s\n", req.String(), lim.String())
	if env := r.Runtime; len(env) > 0 {
		s += "env:\n"
		for _, k := range sortedKeys(env) {
			s += fmt.Sprintf("  - name: %s\n    value: %q\n", k, env[k])
		}
	}
	return s
}

// jsonRecommendation is the JSON form.
type jsonRecommendation struct {
	MemoryBytes            int64             `json:"memory_bytes"`
	MemorySwapBytes        int64             `json:"memory_swap_bytes"`
	MemoryReservationBytes int64             `json:"memory_reservation_bytes"`
	Memory                 string            `json:"memory"`
	OOMScoreAdj            int               `json:"oom_score_adj"`
	Runtime                map[string]string `json:"runtime,omitempty"`
	Profile                Profile           `json:"profile"`
	Confidence             float64           `json:"confidence"`
	Rationale              []string          `json:"rationale"`
	Warnings               []string          `json:"warnings"`
	Leak                   *Leak             `json:"leak"`
	Samples                int64             `json:"samples"`
	HistorySeconds         float64           `json:"history_seconds"`
	DockerRun              string            `json:"docker_run"`
}

// MarshalJSON writes the recommendation with byte sizes as numbers
// (memory_swap_bytes -1 means unlimited swap) and its rationale.
func (r Recommendation) MarshalJSON() ([]byte, error) {
	rat := append([]string{}, r.Rationale...)
	rat = append(rat, "memory-swap: "+r.MemorySwap.Rationale, "memory-reservation: "+r.MemoryReservation.Rationale)
	return json.Marshal(jsonRecommendation{
		MemoryBytes: int64(r.Memory.Bytes), MemorySwapBytes: int64(r.MemorySwap.Bytes), MemoryReservationBytes: int64(r.MemoryReservation.Bytes),
		Memory: units.BytesSize(float64(r.Memory.Bytes)), OOMScoreAdj: r.OOMScoreAdj, Runtime: r.Runtime, Profile: r.Profile,
		Confidence: r.Confidence, Rationale: rat, Warnings: r.Warnings, Leak: r.Leak, Samples: r.Samples,
		HistorySeconds: r.History.Seconds(), DockerRun: r.DockerRun(),
	})
}
