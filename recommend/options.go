package recommend

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/oomkit/oomkit/cgroup"
)

var stateSize = int(unsafe.Sizeof(Recommender{}))

type options struct {
	profile      Profile
	interval     time.Duration
	halfLife     time.Duration
	percentile   float64
	margin       float64
	floor        cgroup.Bytes
	hostTotal    cgroup.Bytes
	hostReserve  cgroup.Bytes
	otherReserve cgroup.Bytes
	leakHorizon  time.Duration
}

func defaults() options {
	return options{
		profile:     Generic,
		interval:    time.Minute,
		halfLife:    24 * time.Hour,
		percentile:  0.99,
		margin:      0.10,
		floor:       16 << 20,
		leakHorizon: time.Hour,
	}
}

// Option configures New.
type Option struct{ apply func(*options) error }

// WithProfile sets the workload profile (default Generic).
func WithProfile(p Profile) Option {
	return Option{func(o *options) error {
		if _, ok := profiles[p]; !ok {
			return fmt.Errorf("recommend: unknown profile %q", p)
		}
		o.profile = p
		return nil
	}}
}

// WithInterval sets the interval whose peak is one histogram entry
// (default 1 minute; between 1 s and 24 h).
func WithInterval(d time.Duration) Option {
	return Option{func(o *options) error {
		if d < time.Second || d > 24*time.Hour {
			return fmt.Errorf("recommend: interval %s outside 1s..24h", d)
		}
		o.interval = d
		return nil
	}}
}

// WithHalfLife sets how fast old peaks lose weight (default 24 h, as VPA).
func WithHalfLife(d time.Duration) Option {
	return Option{func(o *options) error {
		if d < time.Minute {
			return fmt.Errorf("recommend: half-life %s below 1m", d)
		}
		o.halfLife = d
		return nil
	}}
}

// WithPercentile sets the quantile of interval peaks the limit covers
// (default 0.99; between 0.5 and 1).
func WithPercentile(q float64) Option {
	return Option{func(o *options) error {
		if !(q >= 0.5 && q <= 1) {
			return fmt.Errorf("recommend: percentile %v outside 0.5..1", q)
		}
		o.percentile = q
		return nil
	}}
}

// WithMargin sets the headroom added above the percentile (default 0.10).
func WithMargin(m float64) Option {
	return Option{func(o *options) error {
		if !(m >= 0 && m <= 2) {
			return fmt.Errorf("recommend: margin %v outside 0..2", m)
		}
		o.margin = m
		return nil
	}}
}

// WithFloor sets the smallest limit recommended (default 16 MiB; Docker
// refuses less than 6 MiB).
func WithFloor(b cgroup.Bytes) Option {
	return Option{func(o *options) error {
		if b < 6<<20 || b >= absurd {
			return fmt.Errorf("recommend: floor %s below Docker's 6MiB minimum or absurd", b)
		}
		o.floor = b
		return nil
	}}
}

// WithHost bounds recommendations by what the host can give: total memory
// minus a reserve for the system, minus what other containers reserve.
func WithHost(total, systemReserve, otherReservations cgroup.Bytes) Option {
	return Option{func(o *options) error {
		if total <= 0 || systemReserve < 0 || otherReservations < 0 || total >= absurd || systemReserve+otherReservations >= total {
			return fmt.Errorf("recommend: host total %s, reserve %s, others %s leave nothing", total, systemReserve, otherReservations)
		}
		o.hostTotal, o.hostReserve, o.otherReserve = total, systemReserve, otherReservations
		return nil
	}}
}

// WithLeakHorizon sets how far ahead a leak's growth is provisioned for
// (default 1 h): the limit holds the leak that long, no longer.
func WithLeakHorizon(d time.Duration) Option {
	return Option{func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("recommend: leak horizon %s", d)
		}
		o.leakHorizon = d
		return nil
	}}
}
