#!/usr/bin/env bash
# Writes the fixture hosts v1/, v2/, hybrid/ and nested/ (see README.md).
# Values are invented but consistent; formats follow the kernel:
# Documentation/admin-guide/cgroup-v2.rst (v2) and
# Documentation/admin-guide/cgroup-v1/memory.rst (v1), checked against
# this machine's 6.18 kernel for v1.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf v1 v2 hybrid nested

CID=3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2
KID=9b8a7f6e5d4c3b2a19f8e7d6c5b4a39281f7e6d5c4b3a2918f7e6d5c4b3a2910
POD=pod6b212546-f5dd-4fdf-bcc7-72a686638102
UNL=9223372036854771712

w() { mkdir -p "$(dirname "$1")"; printf '%b' "$2" > "$1"; }

# v1 memory cgroup: dir limit usage peak failcnt oom_kill under_oom rss cache inactive_file pids...
v1cg() {
  local d=$1 limit=$2 usage=$3 peak=$4 failcnt=$5 oomkill=$6 underoom=$7 rss=$8 cache=$9 inact=${10}; shift 10
  w "$d/memory.limit_in_bytes" "$limit\n"
  w "$d/memory.usage_in_bytes" "$usage\n"
  w "$d/memory.max_usage_in_bytes" "$peak\n"
  w "$d/memory.failcnt" "$failcnt\n"
  w "$d/memory.soft_limit_in_bytes" "$UNL\n"
  w "$d/memory.memsw.limit_in_bytes" "$UNL\n"
  w "$d/memory.memsw.usage_in_bytes" "$usage\n"
  w "$d/memory.memsw.max_usage_in_bytes" "$peak\n"
  w "$d/memory.memsw.failcnt" "0\n"
  w "$d/memory.use_hierarchy" "1\n"
  w "$d/memory.oom_control" "oom_kill_disable 0\nunder_oom $underoom\noom_kill $oomkill\n"
  local act=$((cache - inact))
  w "$d/memory.stat" "cache $cache\nrss $rss\nrss_huge 0\nshmem 0\nmapped_file 0\ndirty 0\nwriteback 0\nswap 0\npgpgin 1000\npgpgout 500\npgfault 2000\npgmajfault 0\ninactive_anon $rss\nactive_anon 0\ninactive_file $inact\nactive_file $act\nunevictable 0\nhierarchical_memory_limit $limit\nhierarchical_memsw_limit $UNL\ntotal_cache $cache\ntotal_rss $rss\ntotal_rss_huge 0\ntotal_shmem 0\ntotal_mapped_file 0\ntotal_dirty 0\ntotal_writeback 0\ntotal_swap 0\ntotal_pgpgin 1000\ntotal_pgpgout 500\ntotal_pgfault 2000\ntotal_pgmajfault 0\ntotal_inactive_anon $rss\ntotal_active_anon 0\ntotal_inactive_file $inact\ntotal_active_file $act\ntotal_unevictable 0\n"
  w "$d/cgroup.procs" "$*"
  [ $# -gt 0 ] && printf '\n' >> "$d/cgroup.procs" || true
}

status() { # file comm rss_kb anon_kb file_kb
  w "$1" "Name:\t$2\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t$3\nPid:\t$3\nVmPeak:\t  200000 kB\nVmSize:\t  190000 kB\nVmHWM:\t   $4 kB\nVmRSS:\t   $4 kB\nRssAnon:\t   $5 kB\nRssFile:\t   $6 kB\nRssShmem:\t       0 kB\nVmSwap:\t       0 kB\nThreads:\t1\n"
}

psi() { w "$1" "some avg10=$2 avg60=0.50 avg300=0.10 total=$3\nfull avg10=$4 avg60=0.20 avg300=0.05 total=$5\n"; }

v1host() { # dir mode(v1|hybrid)
  local h=$1; local m=$h/sys/fs/cgroup/memory
  local uni=""
  [ "$2" = hybrid ] && uni="35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
  w "$h/proc/self/mountinfo" "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755\n${uni}36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory\n37 25 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
  [ "$2" = hybrid ] && w "$h/sys/fs/cgroup/unified/cgroup.controllers" "" && w "$h/sys/fs/cgroup/unified/cgroup.procs" "1\n"
  # root, a slice, a Docker container (cgroupfs), a pod and its container
  v1cg "$m"                        "$UNL"     2147483648 2415919104 0  0 0 1073741824 1073741824 536870912 1
  v1cg "$m/system.slice"           "$UNL"     268435456  300000000  0  0 0 134217728 134217728 67108864 501
  v1cg "$m/docker"                 "$UNL"     33554432   33554432   0  0 0 33288192 266240 135168
  v1cg "$m/docker/$CID"            33554432   33554432   33554432   57 1 0 33288192 266240 135168 4242
  v1cg "$m/kubepods"               "$UNL"     536870912  600000000  0  0 0 500000000 36870912 10000000
  v1cg "$m/kubepods/burstable"     "$UNL"     536870912  600000000  0  0 0 500000000 36870912 10000000
  v1cg "$m/kubepods/burstable/$POD" 536870912 536870912  536870912  12 0 0 500000000 36870912 10000000
  v1cg "$m/kubepods/burstable/$POD/$KID" "$UNL" 530000000 536870912 0 1 0 495000000 35000000 9000000 4343
  psi "$h/proc/pressure/memory" 1.25 123456 0.75 65432
  for p in 1 501; do w "$h/proc/$p/cgroup" "12:cpu,cpuacct:/system.slice\n4:memory:/system.slice\n1:name=systemd:/system.slice\n0::/system.slice\n"; done
  w "$h/proc/4242/cgroup" "12:cpu,cpuacct:/docker/$CID\n4:memory:/docker/$CID\n1:name=systemd:/docker/$CID\n0::/docker/$CID\n"
  w "$h/proc/4343/cgroup" "12:cpu,cpuacct:/kubepods/burstable/$POD/$KID\n4:memory:/kubepods/burstable/$POD/$KID\n0::/\n"
  status "$h/proc/1/status" systemd 1 12000 4000 8000
  status "$h/proc/501/status" sshd 501 8000 3000 5000
  status "$h/proc/4242/status" "java app" 4242 32500 32250 250
  status "$h/proc/4343/status" postgres 4343 480000 470000 10000
}

v1host v1 v1
v1host hybrid hybrid

# v2: one unified hierarchy, systemd driver.
v2cg() { # dir max current peak high low min events(max oom oom_kill) local(max oom oom_kill) anon file inactive_file pids...
  local d=$1 mx=$2 cur=$3 peak=$4 high=$5 low=$6 min=$7 emax=$8 eoom=$9 ekill=${10} lmax=${11} loom=${12} lkill=${13} anon=${14} file=${15} inact=${16}; shift 16
  w "$d/cgroup.controllers" "cpu io memory pids\n"
  w "$d/cgroup.events" "populated 1\nfrozen 0\n"
  w "$d/memory.current" "$cur\n"
  w "$d/memory.min" "$min\n"
  w "$d/memory.low" "$low\n"
  w "$d/memory.high" "$high\n"
  w "$d/memory.max" "$mx\n"
  w "$d/memory.peak" "$peak\n"
  w "$d/memory.oom.group" "0\n"
  w "$d/memory.events" "low 0\nhigh 0\nmax $emax\noom $eoom\noom_kill $ekill\noom_group_kill 0\n"
  w "$d/memory.events.local" "low 0\nhigh 0\nmax $lmax\noom $loom\noom_kill $lkill\noom_group_kill 0\n"
  w "$d/memory.swap.current" "0\n"
  w "$d/memory.swap.high" "max\n"
  w "$d/memory.swap.max" "max\n"
  w "$d/memory.swap.peak" "0\n"
  w "$d/memory.swap.events" "high 0\nmax 0\nfail 0\n"
  local act=$((file - inact))
  w "$d/memory.stat" "anon $anon\nfile $file\nkernel 2097152\nkernel_stack 131072\npagetables 262144\nsec_pagetables 0\npercpu 0\nsock 4096\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 0\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon $anon\nactive_anon 0\ninactive_file $inact\nactive_file $act\nunevictable 0\nslab_reclaimable 1048576\nslab_unreclaimable 524288\nslab 1572864\nworkingset_refault_anon 0\nworkingset_refault_file 0\nworkingset_activate_anon 0\nworkingset_activate_file 0\nworkingset_restore_anon 0\nworkingset_restore_file 0\nworkingset_nodereclaim 0\npgscan 0\npgsteal 0\npgscan_kswapd 0\npgscan_direct 0\npgsteal_kswapd 0\npgsteal_direct 0\npgfault 1000\npgmajfault 0\npgrefill 0\npgactivate 0\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\nthp_fault_alloc 0\nthp_collapse_alloc 0\n"
  psi "$d/memory.pressure" 0.00 4200 0.00 2100
  w "$d/cgroup.procs" "$*"
  [ $# -gt 0 ] && printf '\n' >> "$d/cgroup.procs" || true
}
h=v2; r=$h/sys/fs/cgroup
w "$h/proc/self/mountinfo" "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
w "$r/cgroup.controllers" "cpuset cpu io memory hugetlb pids rdma misc\n"
w "$r/cgroup.subtree_control" "cpu io memory pids\n"
w "$r/cgroup.procs" "1\n"
w "$r/memory.stat" "anon 1073741824\nfile 1073741824\n"
psi "$r/memory.pressure" 1.25 123456 0.75 65432
v2cg "$r/system.slice" max 268435456 300000000 max 0 0  0 0 0  0 0 0  134217728 134217728 67108864 501
v2cg "$r/system.slice/docker-$CID.scope" 33554432 33554432 33554432 max 0 0  57 1 1  57 1 1  33288192 266240 135168 4242
v2cg "$r/kubepods.slice" 8589934592 536870912 600000000 max 0 0  12 1 1  0 0 0  500000000 36870912 10000000
v2cg "$r/kubepods.slice/kubepods-burstable.slice" max 536870912 600000000 max 0 0  12 1 1  0 0 0  500000000 36870912 10000000
v2cg "$r/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-${POD//-/_}.slice" 536870912 536870912 536870912 max 268435456 0  12 1 1  12 1 0  500000000 36870912 10000000
v2cg "$r/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-${POD//-/_}.slice/cri-containerd-$KID.scope" max 530000000 536870912 max 0 0  0 0 1  0 0 1  495000000 35000000 9000000 4343
psi "$h/proc/pressure/memory" 1.25 123456 0.75 65432
w "$h/proc/1/cgroup" "0::/init.scope\n"
w "$h/proc/501/cgroup" "0::/system.slice\n"
w "$h/proc/4242/cgroup" "0::/system.slice/docker-$CID.scope\n"
w "$h/proc/4343/cgroup" "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-${POD//-/_}.slice/cri-containerd-$KID.scope\n"
status "$h/proc/501/status" sshd 501 8000 3000 5000
status "$h/proc/4242/status" "java app" 4242 32500 32250 250
status "$h/proc/4343/status" postgres 4343 480000 470000 10000

# nested: the view from inside the Docker container of v1/ (no cgroup
# namespace): mountinfo's root field is the container's cgroup.
h=nested; m=$h/sys/fs/cgroup/memory
w "$h/proc/self/mountinfo" "600 500 0:90 / / rw,relatime - overlay overlay rw\n601 600 0:93 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n603 600 0:95 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n610 603 0:31 /docker/$CID /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,memory\n"
v1cg "$m" 33554432 33554432 33554432 57 1 0 33288192 266240 135168 1
w "$h/proc/self/cgroup" "12:cpu,cpuacct:/docker/$CID\n4:memory:/docker/$CID\n0::/\n"
w "$h/proc/1/cgroup" "12:cpu,cpuacct:/docker/$CID\n4:memory:/docker/$CID\n0::/\n"
status "$h/proc/1/status" "java app" 1 32500 32250 250
psi "$h/proc/pressure/memory" 1.25 123456 0.75 65432
