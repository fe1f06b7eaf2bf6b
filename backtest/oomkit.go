package backtest

import (
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

// ours is oomkit's Recommender with its default options.
type ours struct {
	name string
	r    *recommend.Recommender
}

// Oomkit returns oomkit's Recommender as a Strategy, with opts (none for
// the defaults the figures are about).
func Oomkit(name string, opts ...recommend.Option) (Strategy, error) {
	r, err := recommend.New(opts...)
	if err != nil {
		return nil, err
	}
	return &ours{name: name, r: r}, nil
}

func (o *ours) Name() string { return o.name }

func (o *ours) Observe(t time.Time, ws, nr float64) {
	s := cgroup.Sample{Time: t, WorkingSet: cgroup.AmountOf(cgroup.Bytes(ws))}
	if nr >= 0 {
		s.NonReclaimable = cgroup.AmountOf(cgroup.Bytes(nr))
	}
	_ = o.r.Add(s) // a bad sample is skipped, as in production
}

func (o *ours) Killed(t time.Time, limit float64) {
	_ = o.r.AddOOM(t, cgroup.Bytes(limit), cgroup.LimitOf(cgroup.Bytes(limit)))
}

func (o *ours) Limit(time.Time) (float64, bool) {
	rec, err := o.r.Recommend()
	if err != nil || rec.Memory.Bytes <= 0 {
		return 0, false
	}
	return float64(rec.Memory.Bytes), true
}
