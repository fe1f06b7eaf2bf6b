package recommend

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestAddRejects holds Add's validation field by field: a known amount
// below 0 or at 1 PiB and above is bad wherever it is, an unknown one is
// ignored whatever its bytes, the usage counts only when the working set
// is unknown; the errors name the sample (and the times when out of order),
// and a rejected sample changes nothing.
func TestAddRejects(t *testing.T) {
	ok := cgroup.AmountOf(1 << 20)
	good := cgroup.Sample{Time: t0, Usage: ok, WorkingSet: ok, NonReclaimable: ok, PageCache: ok, Swap: ok}
	fields := map[string]func(*cgroup.Sample) *cgroup.Amount{
		"working set":     func(s *cgroup.Sample) *cgroup.Amount { return &s.WorkingSet },
		"non-reclaimable": func(s *cgroup.Sample) *cgroup.Amount { return &s.NonReclaimable },
		"page cache":      func(s *cgroup.Sample) *cgroup.Amount { return &s.PageCache },
		"swap":            func(s *cgroup.Sample) *cgroup.Amount { return &s.Swap },
	}
	for name, field := range fields {
		for _, b := range []cgroup.Bytes{-1, absurd, absurd + 1, -1 << 63} {
			s := good
			*field(&s) = cgroup.AmountOf(b)
			r, _ := New()
			err := r.Add(s)
			require.ErrorIs(t, err, ErrBadSample, "%s %d", name, b)
			assert.Equal(t, fmt.Sprintf("%v: %+v", ErrBadSample, s), err.Error())
			assert.Zero(t, r.Samples())
			*field(&s) = cgroup.Amount{Bytes: b} // unknown: its bytes mean nothing
			if name == "working set" {
				continue // then the usage is the need: below
			}
			require.NoError(t, r.Add(s), "unknown %s with %d bytes", name, b)
		}
	}
	s := good
	s.WorkingSet = cgroup.Amount{Bytes: -1}
	s.Usage = cgroup.AmountOf(absurd)
	r, _ := New()
	require.ErrorIs(t, r.Add(s), ErrBadSample, "the usage is the need when the working set is unknown")
	s.Usage = cgroup.AmountOf(absurd - 1)
	require.NoError(t, r.Add(s))
	s.Usage = cgroup.Amount{Bytes: 5}
	s.Time = t0.Add(time.Second)
	require.ErrorIs(t, r.Add(s), ErrBadSample, "neither working set nor usage")
	s = good
	s.Time = time.Time{}
	require.ErrorIs(t, r.Add(s), ErrBadSample, "a zero time")
	s.Time = time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)
	err := r.Add(s)
	require.ErrorIs(t, err, ErrOutOfOrder, "a time before 1970 after one in 2026")
	assert.Equal(t, "recommend: sample out of time order: 1969-12-31T23:00:00Z after "+
		time.Unix(0, t0.UnixNano()).Format(time.RFC3339Nano), err.Error())
	assert.Equal(t, int64(1), r.Samples())

	r, _ = New()
	require.NoError(t, r.Add(s), "a first sample before 1970")
	s.Time = s.Time.Add(-time.Nanosecond)
	require.ErrorIs(t, r.Add(s), ErrOutOfOrder)
	s.Time = s.Time.Add(time.Nanosecond)
	require.NoError(t, r.Add(s), "the same time again")
	assert.Equal(t, int64(2), r.Samples())
}
