#!/usr/bin/env bash
# Records the backtest traces through the real kernel: each workload runs in
# a memory cgroup of its own (a child of this shell's v1 memory cgroup, with
# a 1 GiB limit it never reaches), sampled every 100 ms. Each CSV row is
# seconds since start, the working set (usage - total_inactive_file, as
# kubelet and docker stats compute it), usage, anon (total_rss) and page
# cache (total_cache). Needs root and a cgroup v1 memory controller; removes
# every cgroup it creates.
#   bash recommend/testdata/traces/record.sh [DURATION_SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dur=${1:-150}
own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
base=/sys/fs/cgroup/memory$own
tmp=$(mktemp -d)
trap 'for d in "$base"/oomkit-trace-*; do [ -d "$d" ] && { xargs -r kill -9 < "$d/cgroup.procs" 2>/dev/null || true; sleep 0.2; rmdir "$d" 2>/dev/null || true; }; done; rm -rf "$tmp"' EXIT
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/memhog" ./internal/cmd/memhog)
hog=$tmp/memhog

# sample DIR OUT: every 100 ms until the cgroup is empty or DURATION passes.
sample() {
  local dir=$1 out=$2 start now
  start=$(date +%s.%N)
  echo "time_s,working_set_bytes,usage_bytes,anon_bytes,cache_bytes" > "$out"
  while :; do
    now=$(date +%s.%N)
    awk -v t="$(echo "$now - $start" | bc)" -v u="$(cat "$dir/memory.usage_in_bytes")" '
      $1=="total_inactive_file"{i=$2} $1=="total_rss"{a=$2} $1=="total_cache"{c=$2}
      END{ws=u-i; if (ws<0) ws=0; printf "%.1f,%d,%d,%d,%d\n", t, ws, u, a, c}' "$dir/memory.stat" >> "$out"
    if (( $(echo "$now - $start > $dur" | bc) )); then break; fi
    sleep 0.1
  done
}

run() { # NAME COMMAND...
  local name=$1; shift
  local dir=$base/oomkit-trace-$name
  mkdir "$dir"; echo $((1024*1024*1024)) > "$dir/memory.limit_in_bytes"
  ( echo $BASHPID > "$dir/cgroup.procs"; exec "$@" ) &
  sample "$dir" "$here/$name.csv"
  xargs -r kill -9 < "$dir/cgroup.procs" 2>/dev/null || true
  sleep 0.3; rmdir "$dir"
}

# The five run side by side (the machine has room; each has its own cgroup).
run steady-server   "$hog" -step 1MiB -interval 20ms -total 120MiB -hold &
run sawtooth-gc     "$hog" -step 2MiB -interval 25ms -free-every 40 -total 0 &
run batch-spike     bash -c "$hog -step 4MiB -interval 10ms -total 60MiB -hold & sleep $((dur/2)); timeout 8 $hog -step 8MiB -interval 10ms -total 200MiB -hold; wait" &
run slow-leak       "$hog" -step 256KiB -interval 200ms -total 0 &
run page-cache      bash -c "$hog -step 1MiB -interval 10ms -total 40MiB -hold & sleep 20; dd if=/dev/urandom of=$tmp/cache bs=1M count=200 status=none; $hog -readfile $tmp/cache -interval 500ms" &
wait
