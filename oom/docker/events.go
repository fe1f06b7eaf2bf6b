package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Actions are the container events Follow asks for.
var Actions = []string{"oom", "die", "start", "destroy", "kill"}

// FollowOption configures Follow: WithSince, WithRetry, WithErrorHandler.
type FollowOption struct{ apply func(*follow) }

type follow struct {
	since   time.Time
	retry   time.Duration
	onError func(error)
}

// WithSince replays events from t (default: now).
func WithSince(t time.Time) FollowOption { return FollowOption{func(f *follow) { f.since = t }} }

// WithRetry sets the pause before reconnecting to an Engine that went away
// (default 500 ms).
func WithRetry(d time.Duration) FollowOption { return FollowOption{func(f *follow) { f.retry = d }} }

// WithErrorHandler is told of each lost connection before the retry.
func WithErrorHandler(fn func(error)) FollowOption {
	return FollowOption{func(f *follow) { f.onError = fn }}
}

type eventKey struct {
	t      int64
	id     string
	action events.Action
}

// Follow calls fn for every container oom, die, start, destroy and
// kill event of the Engine until ctx is done, in order. When the Engine
// restarts (or the connection breaks) it reconnects and asks again from
// the time of the last event seen, so no event is lost, and it drops the
// events it already delivered, so none is doubled. It returns ctx's error.
func Follow(ctx context.Context, cli client.APIClient, fn func(events.Message), opts ...FollowOption) error {
	f := follow{since: time.Now(), retry: 500 * time.Millisecond}
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&f)
		}
	}
	args := filters.NewArgs(filters.Arg("type", "container"))
	for _, a := range Actions {
		args.Add("event", a)
	}
	lastNano := f.since.UnixNano()
	seen := map[eventKey]bool{} // events at lastNano's second already delivered
	for {
		sctx, cancel := context.WithCancel(ctx)
		// The Engine filters by whole seconds: ask from the second of the
		// last event and drop what was delivered.
		since := strconv.FormatInt(lastNano/int64(time.Second), 10)
		msgs, errs := cli.Events(sctx, events.ListOptions{Since: since, Filters: args})
		err := func() error {
			for {
				select {
				case m := <-msgs:
					k := eventKey{m.TimeNano, m.Actor.ID, m.Action}
					if m.TimeNano < lastNano || seen[k] {
						continue
					}
					if m.TimeNano/int64(time.Second) != lastNano/int64(time.Second) {
						clear(seen)
					}
					seen[k] = true
					lastNano = m.TimeNano
					fn(m)
				case err := <-errs:
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if f.onError != nil {
			f.onError(fmt.Errorf("oom/docker: events: %w", err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.retry):
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
	}
}
