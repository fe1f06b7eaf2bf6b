package recommend

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// The real usage traces recorded on oomkit's test machine through the
// kernel (see testdata/traces/README.md and record.sh).
//
//go:embed testdata/traces/*.csv
var traces embed.FS

// TraceNames returns the names of the embedded traces.
func TraceNames() []string {
	es, _ := traces.ReadDir("testdata/traces")
	var out []string
	for _, e := range es {
		out = append(out, strings.TrimSuffix(e.Name(), ".csv"))
	}
	slices.Sort(out)
	return out
}

// Trace returns an embedded trace's samples, timed from base.
func Trace(name string, base time.Time) ([]cgroup.Sample, error) {
	data, err := traces.ReadFile(path.Join("testdata/traces", name+".csv"))
	if err != nil {
		return nil, fmt.Errorf("recommend: no trace %q (have %v)", name, TraceNames())
	}
	return ReadCSV(bytes.NewReader(data), base)
}
