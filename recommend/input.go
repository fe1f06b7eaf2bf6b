package recommend

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// CSVError reports a CSV row that could not be read.
type CSVError struct {
	Line int
	Err  error
}

// Error returns "recommend: csv line N: ERR".
func (e *CSVError) Error() string { return fmt.Sprintf("recommend: csv line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *CSVError) Unwrap() error { return e.Err }

// ReadCSV reads samples from CSV: a header row, then rows whose first column
// is the time (seconds, possibly fractional, or RFC 3339) and whose second
// is the working set in bytes. Optional columns named anon_bytes (or
// nonreclaimable_bytes), cache_bytes and swap_bytes are read too. Times in
// seconds are taken from base. Errors are *CSVError naming the line.
func ReadCSV(r io.Reader, base time.Time) ([]cgroup.Sample, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, &CSVError{Line: 1, Err: fmt.Errorf("no header: %w", err)}
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if len(head) < 2 {
		return nil, &CSVError{Line: 1, Err: errors.New("need at least two columns: time,bytes")}
	}
	nrCol, ok := col["anon_bytes"]
	if !ok {
		nrCol, ok = col["nonreclaimable_bytes"]
	}
	if !ok {
		nrCol = -1
	}
	cacheCol, swapCol := colOr(col, "cache_bytes"), colOr(col, "swap_bytes")
	var out []cgroup.Sample
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, &CSVError{Line: line, Err: err}
		}
		if len(rec) < 2 {
			return out, &CSVError{Line: line, Err: errors.New("fewer than two columns")}
		}
		t, err := parseTime(strings.TrimSpace(rec[0]), base)
		if err != nil {
			return out, &CSVError{Line: line, Err: err}
		}
		ws, err := parseBytes(rec[1])
		if err != nil {
			return out, &CSVError{Line: line, Err: err}
		}
		s := cgroup.Sample{Time: t, WorkingSet: cgroup.AmountOf(ws)}
		for _, c := range []struct {
			i   int
			dst *cgroup.Amount
		}{{nrCol, &s.NonReclaimable}, {cacheCol, &s.PageCache}, {swapCol, &s.Swap}} {
			if c.i >= 0 && c.i < len(rec) && strings.TrimSpace(rec[c.i]) != "" {
				v, err := parseBytes(rec[c.i])
				if err != nil {
					return out, &CSVError{Line: line, Err: err}
				}
				*c.dst = cgroup.AmountOf(v)
			}
		}
		out = append(out, s)
	}
}

func colOr(col map[string]int, name string) int {
	if i, ok := col[name]; ok {
		return i
	}
	return -1
}

func parseTime(s string, base time.Time) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		return base.Add(time.Duration(f * float64(time.Second))), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither seconds nor RFC 3339", s)
	}
	return t, nil
}

func parseBytes(s string) (cgroup.Bytes, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bytes %q: %w", s, strconv.ErrSyntax)
	}
	if n < 0 || n >= absurd {
		return 0, fmt.Errorf("bytes %q: %w", s, ErrBadSample)
	}
	return cgroup.Bytes(n), nil
}
