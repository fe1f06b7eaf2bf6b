#!/usr/bin/env bash
# Records the backtest traces through the real kernel: each workload runs in
# a memory cgroup of its own (a child of this shell's v1 memory cgroup, with
# a 1 GiB limit it never reaches), sampled every 100 ms (on a grid, so a late sample does not shift the
# next). Each CSV row is
# seconds since start, the working set (usage - total_inactive_file, as
# kubelet and docker stats compute it), usage, anon (total_rss) and page
# cache (total_cache). Needs root and a cgroup v1 memory controller; removes
# every cgroup it creates.
#   bash recommend/testdata/traces/record.sh [DURATION_SECONDS [NAME...]]
# With names, records only those (steady-server sawtooth-gc batch-spike
# slow-leak page-cache short-leak step-change compile); short-leak runs 37 s,
# step-change 60 s and compile until the build ends, whatever DURATION says.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dur=${1:-150}
shift || true
want=" ${*:-steady-server sawtooth-gc batch-spike slow-leak page-cache short-leak step-change compile} "
own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
base=/sys/fs/cgroup/memory$own
tmp=$(mktemp -d)
trap 'for d in "$base"/oomkit-trace-*; do [ -d "$d" ] && { xargs -r kill -9 < "$d/cgroup.procs" 2>/dev/null || true; sleep 0.2; rmdir "$d" 2>/dev/null || true; }; done; rm -rf "$tmp"' EXIT
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/memhog" ./internal/cmd/memhog)
hog=$tmp/memhog

# sample DIR OUT [DUR]: every 100 ms until the cgroup is empty or DUR
# passes. One perl process reads the files (a shell loop forking cat, awk
# and bc for each sample cannot keep 100 ms on a loaded machine).
sample() {
  local dir=$1 out=$2 dur=${3:-$dur}
  perl -MTime::HiRes=time,sleep -e '
    my ($dir, $dur) = @ARGV; my $start = time; my $next = $start;
    print "time_s,working_set_bytes,usage_bytes,anon_bytes,cache_bytes\n";
    while (1) {
      my $now = time;
      open(my $u, "<", "$dir/memory.usage_in_bytes") or last; my $usage = <$u>; close $u; chomp $usage;
      my %st; open(my $s, "<", "$dir/memory.stat") or last;
      while (<$s>) { my ($k, $v) = split; $st{$k} = $v } close $s;
      my $ws = $usage - $st{total_inactive_file}; $ws = 0 if $ws < 0;
      printf "%.2f,%d,%d,%d,%d\n", $now - $start, $ws, $usage, $st{total_rss}, $st{total_cache};
      last if $now - $start > $dur;
      open(my $p, "<", "$dir/cgroup.procs") or last; my $procs = join "", <$p>; close $p;
      last if $procs eq "" && $now - $start > 1;
      $next += 0.1; my $d = $next - time; sleep($d) if $d > 0;
    }' "$dir" "$dur" > "$out"
}

run() { # NAME DUR COMMAND...
  local name=$1 d=$2; shift 2
  [[ $want == *" $name "* ]] || return 0
  local dir=$base/oomkit-trace-$name
  mkdir "$dir"; echo $((1024*1024*1024)) > "$dir/memory.limit_in_bytes"
  ( echo $BASHPID > "$dir/cgroup.procs"; exec "$@" ) &
  sample "$dir" "$here/$name.csv" "$d"
  xargs -r kill -9 < "$dir/cgroup.procs" 2>/dev/null || true
  sleep 0.3; rmdir "$dir"
}

# The five run side by side (the machine has room; each has its own cgroup).
run steady-server   "$dur" "$hog" -step 1MiB -interval 20ms -total 120MiB -hold &
run sawtooth-gc     "$dur" "$hog" -step 2MiB -interval 25ms -free-every 40 -total 0 &
run batch-spike     "$dur" bash -c "$hog -step 4MiB -interval 10ms -total 60MiB -hold & sleep $((dur/2)); timeout 8 $hog -step 8MiB -interval 10ms -total 200MiB -hold; wait" &
run slow-leak       "$dur" "$hog" -step 256KiB -interval 200ms -total 0 &
run page-cache      "$dur" bash -c "$hog -step 1MiB -interval 10ms -total 40MiB -hold & sleep 20; dd if=/dev/urandom of=$tmp/cache bs=1M count=200 status=none; $hog -readfile $tmp/cache -interval 500ms" &
# A leak short enough that a 1-minute interval would not see it: 512 KiB
# every 100 ms (5 MiB/s) on top of 30 MiB, for 37 s.
run short-leak 37 bash -c "$hog -step 1MiB -interval 5ms -total 30MiB -hold & $hog -step 512KiB -interval 100ms -total 0" &
# A one-off step: 40 MiB for 25 s, then 60 MiB more for good.
run step-change 60 bash -c "$hog -step 1MiB -interval 10ms -total 40MiB -hold & sleep 25; $hog -step 2MiB -interval 10ms -total 60MiB -hold" &
# A real compile: oomkit's examples/diagnose (the Docker client and its
# dependencies) with an empty build cache, one package at a time.
run compile 300 env GOCACHE="$tmp/gocache" GOFLAGS=-p=1 go build -C "$repo" -o /dev/null ./examples/diagnose &
wait
