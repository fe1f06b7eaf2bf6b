// Package recommend turns a container's usage samples and OOM history into
// its memory settings: --memory, --memory-swap, --memory-reservation, a
// suggested --oom-score-adj and the runtime settings that must follow the
// limit (JVM heap, GOMEMLIMIT, Node's old space), rendered as docker run
// and docker update flags, a Compose service and Kubernetes resources.
//
// A Recommender keeps, in about 2 KiB whatever the history, a time-decayed
// histogram of per-interval peaks of the working set (buckets 5% apart: a
// quantile is never below the true one and at most 5% above), the peak of
// non-reclaimable memory, a compacting trend of its interval minima (for
// leaks), and the last OOM kills. The limit covers the 99th percentile of
// peaks plus 10%, never less than the largest working set seen plus 2% or
// the non-reclaimable peak plus 10%; an OOM doubles the limit at the kill
// (at least +256 MiB); a leak is provisioned for a horizon (at most twice
// the peak) and reported with its time to the limit; the host's capacity
// caps it all. Add costs about 12 ns and allocates nothing.
//
// Backtest replays traces against oomkit's strategy and the baselines (the
// Kubernetes VPA's published algorithm, max + 15%, 1.2 x median); the
// package README has the table.
package recommend
